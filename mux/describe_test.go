package mux

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/service"
)

func TestRoutesDocs(t *testing.T) {
	t.Parallel()
	h := service.HandlerFunc(func(context.Context, *service.Conn) error { return nil })
	routeDoc := &Doc{Title: "Echo"}
	v2 := &Doc{Summary: "replies v2:", Messages: []MessageDoc{{Name: "text", From: FromEither}}}
	m := MustNew(
		Route{Pattern: `/echo`, Doc: routeDoc, NoProtocol: h, Protocols: []Protocol{
			{Name: "echo.v1", Handler: h},
			{Name: "echo.v2", Handler: h, Doc: v2},
		}},
		Route{Pattern: `/plain`, NoProtocol: h, Protocols: []Protocol{{Name: "p", Handler: h}}},
	)
	got := m.Routes()
	if got[0].Doc != routeDoc {
		t.Errorf("route 0: Doc %p, want %p", got[0].Doc, routeDoc)
	}
	if diff := cmp.Diff([]*Doc{nil, v2}, got[0].ProtocolDocs); diff != "" {
		t.Errorf("route 0: ProtocolDocs (-want +got):\n%s", diff)
	}
	if got[1].Doc != nil || got[1].ProtocolDocs != nil {
		t.Errorf("route 1: Doc %v, ProtocolDocs %v; want nil", got[1].Doc, got[1].ProtocolDocs)
	}
}

func TestDirectionString(t *testing.T) {
	t.Parallel()
	for d, want := range map[Direction]string{FromClient: "client", FromServer: "server", FromEither: "either", 7: "Direction(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}
