package otelwsmap

import (
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/wsmap/wsmap/protocol"
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
