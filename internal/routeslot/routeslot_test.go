package routeslot

import (
	"net/http/httptest"
	"testing"
)

// TestWithReusesSlot checks that nested layers share one slot, so that
// the outermost reads the pattern the router records.
func TestWithReusesSlot(t *testing.T) {
	r := httptest.NewRequest("GET", "/a", nil)
	outerReq, outer := With(r)
	innerReq, inner := With(outerReq)
	if inner != outer {
		t.Fatal("the inner layer made a slot of its own")
	}
	if innerReq != outerReq {
		t.Error("With copied a request that already carries a slot")
	}
	Set(innerReq.Context(), "/a")
	if outer.Pattern != "/a" {
		t.Errorf("outer slot holds %q, want /a", outer.Pattern)
	}
	Set(r.Context(), "/b") // no slot: nothing to fill, and no panic
	if outer.Pattern != "/a" {
		t.Errorf("a request without a slot changed one: %q", outer.Pattern)
	}
}
