package outerpattern

import (
	"net/http/httptest"
	"testing"
)

func TestWithFrom(t *testing.T) {
	r := httptest.NewRequest("GET", "/t/acme/rooms/a", nil)
	if got := From(r.Context()); got != "" {
		t.Errorf("a request without one carries %q", got)
	}
	r2 := With(r, "/t/{tenant}/")
	if got := From(r2.Context()); got != "/t/{tenant}/" {
		t.Errorf("From = %q, want /t/{tenant}/", got)
	}
	if From(r.Context()) != "" {
		t.Error("With changed the original request's context")
	}
}
