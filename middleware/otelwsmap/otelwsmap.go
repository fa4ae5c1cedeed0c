package otelwsmap

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/wsmap/wsmap/middleware/otelwsmap"

// The attributes this package defines where OpenTelemetry's semantic
// conventions have none for WebSocket (see docs/observability.md).
const (
	AttrSubprotocol    = attribute.Key("websocket.subprotocol")
	AttrCloseCode      = attribute.Key("websocket.close.code")
	AttrCloseReason    = attribute.Key("websocket.close.reason")
	AttrCloseInitiator = attribute.Key("websocket.close.initiator")
	AttrRecvMessages   = attribute.Key("websocket.received.messages")
	AttrRecvBytes      = attribute.Key("websocket.received.bytes")
	AttrSentMessages   = attribute.Key("websocket.sent.messages")
	AttrSentBytes      = attribute.Key("websocket.sent.bytes")
	AttrRefusalReason  = attribute.Key("websocket.refusal.reason")
	AttrMessageType    = attribute.Key("websocket.message.type")
	AttrMessageSize    = attribute.Key("websocket.message.size")
	AttrCallID         = attribute.Key("websocket.call.id")
	AttrCallKind       = attribute.Key("websocket.call.kind")
)

// Options configures New.
type Options struct {
	// TracerProvider makes the tracer. Defaults to otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// MeterProvider makes the meter. Defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider

	// Propagator reads the trace context of the handshake's request.
	// Defaults to otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator

	// MessageEvents, when n > 0, records every n-th message each way as
	// an event of the connection's span (on sampled spans). Defaults to
	// 0: none.
	MessageEvents int

	// DurationBuckets are the connection-duration histogram's bucket
	// boundaries, in seconds. Defaults to 0.1 s to about 7 hours, by
	// factors of 4.
	DurationBuckets []float64

	// CallBuckets are the call-duration histograms' bucket boundaries,
	// in seconds. Defaults to those RPC's semantic conventions advise,
	// 5 ms to 10 s.
	CallBuckets []float64
}

// Telemetry makes the spans and records the metrics. Its Handshake and
// Conn middleware go together, on the same mux; OnCall goes in
// message.Options.
type Telemetry struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	events int

	refusals    metric.Int64Counter
	closes      metric.Int64Counter
	duration    metric.Float64Histogram
	serverCalls metric.Float64Histogram
	clientCalls metric.Float64Histogram
	active      metric.Int64ObservableUpDownCounter
	messages    metric.Int64ObservableCounter
	io          metric.Int64ObservableCounter

	mu     sync.Mutex
	routes map[routeKey]*routeStats
}

type routeKey struct{ route, proto string }

// routeStats holds the counts of one route and subprotocol that the
// metrics' callback reads.
type routeStats struct {
	open                               atomic.Int64
	msgsIn, msgsOut, bytesIn, bytesOut atomic.Int64

	set, setIn, setOut attribute.Set
}

// New makes a Telemetry with the tracer and the instruments of opts'
// providers (nil options mean the defaults). It fails if an instrument
// cannot be made.
func New(opts *Options) (*Telemetry, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.MeterProvider == nil {
		o.MeterProvider = otel.GetMeterProvider()
	}
	if o.Propagator == nil {
		o.Propagator = otel.GetTextMapPropagator()
	}
	if o.DurationBuckets == nil {
		o.DurationBuckets = []float64{0.1, 0.4, 1.6, 6.4, 25.6, 102.4, 409.6, 1638.4, 6553.6, 26214.4}
	}
	if o.CallBuckets == nil {
		o.CallBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	}
	t := &Telemetry{
		tracer: o.TracerProvider.Tracer(ScopeName),
		prop:   o.Propagator,
		events: max(o.MessageEvents, 0),
		routes: map[routeKey]*routeStats{},
	}
	m := o.MeterProvider.Meter(ScopeName)
	var err error
	mk := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	mk(func() (e error) {
		t.refusals, e = m.Int64Counter("websocket.server.handshake.refusals", metric.WithUnit("{handshake}"),
			metric.WithDescription("WebSocket handshakes refused, by HTTP status."))
		return
	})
	mk(func() (e error) {
		t.closes, e = m.Int64Counter("websocket.server.closes", metric.WithUnit("{connection}"),
			metric.WithDescription("WebSocket connections ended, by close code (1006: without a close frame) and the end that began the close."))
		return
	})
	mk(func() (e error) {
		t.duration, e = m.Float64Histogram("websocket.server.connection.duration", metric.WithUnit("s"),
			metric.WithDescription("How long WebSocket connections stayed open."),
			metric.WithExplicitBucketBoundaries(o.DurationBuckets...))
		return
	})
	mk(func() (e error) {
		t.serverCalls, e = m.Float64Histogram("rpc.server.call.duration", metric.WithUnit("s"),
			metric.WithDescription("Duration of the peer's calls and notifications, handled."),
			metric.WithExplicitBucketBoundaries(o.CallBuckets...))
		return
	})
	mk(func() (e error) {
		t.clientCalls, e = m.Float64Histogram("rpc.client.call.duration", metric.WithUnit("s"),
			metric.WithDescription("Duration of calls made to the peer, until their answer."),
			metric.WithExplicitBucketBoundaries(o.CallBuckets...))
		return
	})
	mk(func() (e error) {
		t.active, e = m.Int64ObservableUpDownCounter("websocket.server.active_connections", metric.WithUnit("{connection}"),
			metric.WithDescription("WebSocket connections open now."))
		return
	})
	mk(func() (e error) {
		t.messages, e = m.Int64ObservableCounter("websocket.server.messages", metric.WithUnit("{message}"),
			metric.WithDescription("WebSocket messages received and sent."))
		return
	})
	mk(func() (e error) {
		t.io, e = m.Int64ObservableCounter("websocket.server.io", metric.WithUnit("By"),
			metric.WithDescription("Payload bytes of WebSocket messages received and sent."))
		return
	})
	mk(func() error {
		_, e := m.RegisterCallback(t.observe, t.active, t.messages, t.io)
		return e
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// observe reports the counts of every route and subprotocol seen.
func (t *Telemetry) observe(_ context.Context, o metric.Observer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, rs := range t.routes {
		o.ObserveInt64(t.active, rs.open.Load(), metric.WithAttributeSet(rs.set))
		o.ObserveInt64(t.messages, rs.msgsIn.Load(), metric.WithAttributeSet(rs.setIn))
		o.ObserveInt64(t.messages, rs.msgsOut.Load(), metric.WithAttributeSet(rs.setOut))
		o.ObserveInt64(t.io, rs.bytesIn.Load(), metric.WithAttributeSet(rs.setIn))
		o.ObserveInt64(t.io, rs.bytesOut.Load(), metric.WithAttributeSet(rs.setOut))
	}
	return nil
}

// stats returns the counts of route and proto, made on first use. Their
// number is bounded by the route table's routes and subprotocols.
func (t *Telemetry) stats(route, proto string) *routeStats {
	k := routeKey{route, proto}
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := t.routes[k]
	if rs == nil {
		base := []attribute.KeyValue{semconv.HTTPRoute(route), AttrSubprotocol.String(proto)}
		rs = &routeStats{
			set:    attribute.NewSet(base...),
			setIn:  attribute.NewSet(append(base[:2:2], semconv.NetworkIODirectionReceive)...),
			setOut: attribute.NewSet(append(base[:2:2], semconv.NetworkIODirectionTransmit)...),
		}
		t.routes[k] = rs
	}
	return rs
}
