package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
)

// TestIdleConnHeap holds 1,000 idle connections and checks that the rows
// account for the live heap measured without recording, within 5%, and
// that little of it is left to the "other" row: a row that no longer
// matches what the service allocates shows up there.
func TestIdleConnHeap(t *testing.T) {
	wstest.Long(t)
	bin, err := wstest.BuildPackage(t.TempDir(), ".", false) // the race detector would change the figures
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-conns", "1000", "-hold", "1s", "-json").Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n := float64(res.Plain.Conns)
	var sum, other float64
	for _, r := range res.Rows {
		switch r.Group {
		case groupTool:
			continue
		case groupOther:
			other += r.Bytes
		}
		sum += r.Bytes
	}
	heap := float64(res.Plain.HeapAlloc) / n
	t.Logf("live heap per connection: %.0f B measured, %.0f B in the rows (%.0f B in other)", heap, sum, other)
	if sum < heap*0.95 || sum > heap*1.05 {
		t.Errorf("the rows hold %.0f B per connection, the live heap %.0f B: more than 5%% apart", sum, heap)
	}
	if other > sum*0.05 {
		t.Errorf("%.0f B per connection in other, more than 5%% of %.0f B", other, sum)
	}
	if g := float64(res.Plain.Goroutines) / n; g < 0.9 || g > 1.1 {
		t.Errorf("%.2f goroutines per connection, want 1 (the handler's)", g)
	}
	if s := float64(res.Plain.StackInuse) / n; s < 2048 {
		t.Errorf("%.0f B of stack per connection, less than the smallest stack", s)
	}
}

// TestRowOf checks which row a few stacks go to.
func TestRowOf(t *testing.T) {
	stack := func(fns ...string) []string {
		var out []string
		for _, f := range fns {
			out = append(out, f+" /src/x.go:1")
		}
		return out
	}
	tests := []struct {
		name  string
		stack []string
		want  string // the row's what; "" for no row
	}{
		{"the Conn", stack("runtime.newobject", "github.com/wsmap/wsmap/service.newConn", "github.com/wsmap/wsmap/service.accept"),
			"the Conn itself, and the parent of its context (the values of the one it was opened with, and its prepared.Sender)"},
		{"the writer, not the Conn", stack("runtime.newobject", "github.com/wsmap/wsmap/service/internal/wire.NewWriter", "github.com/wsmap/wsmap/service.newConn"),
			"the frame writer (wire.Writer) and its method value for writes that must not wait"},
		{"the kept headers", stack("internal/bytealg.MakeNoZero", "strings.(*Builder).grow", "github.com/wsmap/wsmap/service.headerLines", "github.com/wsmap/wsmap/service.keepRequest"),
			"the headers, in one string"},
		{"the keepalive schedule", stack("runtime.newobject", "github.com/wsmap/wsmap/service.(*pingSchedule).add", "github.com/wsmap/wsmap/service.(*Conn).startKeepaliveLocked"),
			"its place in the server's schedule of keepalive pings"},
		{"the Conn's context", stack("runtime.newobject", "context.withCancel", "context.WithCancelCause", "github.com/wsmap/wsmap/service.newConn"),
			"the context (context.WithCancelCause)"},
		{"the request's context", stack("runtime.makechan", "context.(*cancelCtx).Done", "context.withCancel", "net/http.(*conn).readRequest"),
			"its context: the request's cancelCtx, and the Done channel of the one above"},
		{"gorilla's reader", stack("runtime.makeslice", "bufio.NewReaderSize", "github.com/gorilla/websocket.newConn"),
			"its bufio.Reader and 256-byte buffer"},
		{"a package's prefix is not a package", stack("runtime.newobject", "contextual.New", "github.com/wsmap/wsmap/service.newConn"),
			"the Conn itself, and the parent of its context (the values of the one it was opened with, and its prepared.Sender)"},
		{"nothing known", stack("runtime.newobject", "example.com/x.f"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := rowOf(tt.stack)
			if diff := cmp.Diff(tt.want, r.what); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
		})
	}
}
