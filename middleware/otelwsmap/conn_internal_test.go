package otelwsmap

import (
	"sync"
	"sync/atomic"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/message/ocppj"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func newObserver(tb testing.TB) *connObserver {
	tb.Helper()
	tel, err := New(&Options{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	if err != nil {
		tb.Fatal(err)
	}
	return &connObserver{rs: tel.stats("/echo", "echo")}
}

// TestMessageCostsNoAllocation: with message events off, counting a
// message each way allocates nothing.
func TestMessageCostsNoAllocation(t *testing.T) {
	o := newObserver(t)
	if n := testing.AllocsPerRun(1000, func() {
		_ = o.Received(protocol.Text, 128)
		o.Sent(protocol.Text, 128)
	}); n != 0 {
		t.Errorf("%v allocations a round trip, want 0", n)
	}
	if o.msgsIn.Load() != o.rs.msgsIn.Load() || o.bytesOut.Load() != o.rs.bytesOut.Load() {
		t.Error("the connection's counts and its route's differ")
	}
}

// BenchmarkMessage is the instrumentation's cost of a round trip (a
// message each way) with message events off.
func BenchmarkMessage(b *testing.B) {
	o := newObserver(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = o.Received(protocol.Text, 128)
		o.Sent(protocol.Text, 128)
	}
}

// countingSpan counts the events added to it.
type countingSpan struct {
	tracenoop.Span
	events atomic.Int64
}

func (s *countingSpan) AddEvent(string, ...trace.EventOption) { s.events.Add(1) }

// TestMessageEventsConcurrentSends: messages sent from several
// goroutines at once make exactly every n-th an event: each send sees
// its own count.
func TestMessageEventsConcurrentSends(t *testing.T) {
	const goroutines, each, every = 8, 5000, 2
	for round := range 5 {
		span := &countingSpan{}
		o := &eventObserver{connObserver: newObserver(t), span: span, every: every}
		var wg sync.WaitGroup
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					o.Sent(protocol.Text, 1)
				}
			}()
		}
		wg.Wait()
		if got, want := span.events.Load(), int64(goroutines*each/every); got != want {
			t.Fatalf("round %d: %d events for %d messages, want %d", round, got, goroutines*each, want)
		}
	}
}

// TestDefinedCode: the metrics keep the error codes the protocol
// defines and fold the rest into "_OTHER".
func TestDefinedCode(t *testing.T) {
	for _, tc := range []struct {
		codec message.Codec
		code  string
		want  string
	}{
		{jsonrpc.Codec{}, "-32601", "-32601"},
		{jsonrpc.Codec{}, "-32000", "-32000"},
		{jsonrpc.Codec{}, "-32768", "-32768"},
		{jsonrpc.Codec{}, "-32769", "_OTHER"},
		{jsonrpc.Codec{}, "-31999", "_OTHER"},
		{jsonrpc.Codec{}, "7", "_OTHER"},
		{jsonrpc.Codec{}, "x", "_OTHER"},
		{ocppj.V16, ocppj.FormationViolation, ocppj.FormationViolation},
		{ocppj.V16, ocppj.FormatViolation, "_OTHER"},
		{ocppj.V201, ocppj.RpcFrameworkError, ocppj.RpcFrameworkError},
		{ocppj.V201, "MadeUp", "_OTHER"},
	} {
		if got := definedCode(tc.codec, systemOf(tc.codec), tc.code); got != tc.want {
			t.Errorf("%v %q: %q, want %q", tc.codec, tc.code, got, tc.want)
		}
	}
	if s := systemOf(jsonrpc.Codec{}); s != "jsonrpc" {
		t.Errorf("jsonrpc's system %q", s)
	}
	if s := systemOf(ocppj.V201); s != "ocpp" {
		t.Errorf("ocppj's system %q", s)
	}
}

// TestCloseCodeLabel: close codes the peer chooses outside RFC 6455's
// and IANA's registry are "_OTHER" on the metrics; this side's are
// kept.
func TestCloseCodeLabel(t *testing.T) {
	for _, tc := range []struct {
		code protocol.CloseCode
		by   service.Initiator
		want string
	}{
		{1000, service.InitiatorPeer, "1000"},
		{1011, service.InitiatorPeer, "1011"},
		{1015, service.InitiatorPeer, "1015"},
		{1004, service.InitiatorPeer, "_OTHER"},
		{1016, service.InitiatorPeer, "_OTHER"},
		{2999, service.InitiatorPeer, "_OTHER"},
		{3000, service.InitiatorPeer, "_OTHER"},
		{4999, service.InitiatorPeer, "_OTHER"},
		{4000, service.InitiatorLocal, "4000"},
		{1006, service.InitiatorNone, "1006"},
	} {
		if got := closeCodeLabel(tc.code, tc.by); got != tc.want {
			t.Errorf("%d by %v: %q, want %q", tc.code, tc.by, got, tc.want)
		}
	}
}
