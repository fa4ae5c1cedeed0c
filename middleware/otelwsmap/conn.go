package otelwsmap

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Conn returns connection middleware that makes each connection's span
// (see the package doc), from the handshake Handshake saw to the close,
// counts its messages and bytes each way, and records its duration and
// close. The handler runs with the span in its ctx. It closes the
// connection as the handler's return says, so that it sees the
// outcome. Without Handshake in front, the span starts when the
// connection does, from the trace context of its request.
func (t *Telemetry) Conn() func(service.Handler) service.Handler {
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			return t.serve(ctx, c, next)
		})
	}
}

func (t *Telemetry) serve(ctx context.Context, c *service.Conn, next service.Handler) (err error) {
	r := c.Request()
	st := stateFrom(ctx)
	if st == nil {
		ctx = t.extract(ctx, r)
		st = &connState{start: time.Now(), parent: trace.SpanContextFromContext(ctx)}
		ctx = context.WithValue(ctx, stateKey{}, st)
	}
	route, proto := r.Pattern, c.Subprotocol()
	attrs := requestAttrs(r, route, remoteString(c.RemoteAddr()))
	attrs = append(attrs, semconv.HTTPResponseStatusCode(http.StatusSwitchingProtocols))
	if proto != "" {
		attrs = append(attrs, AttrSubprotocol.String(proto))
	}
	ctx, span := t.tracer.Start(trace.ContextWithSpanContext(ctx, st.parent), spanName(route),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(st.start), trace.WithAttributes(attrs...))
	st.route = route
	st.span.Store(&span)

	rs := t.stats(route, proto)
	rs.open.Add(1)
	obs := &connObserver{rs: rs}
	if t.events > 0 && span.IsRecording() {
		c.Observe(&eventObserver{connObserver: obs, span: span, every: int64(t.events)})
	} else {
		c.Observe(obs)
	}
	returned := false
	defer func() {
		if !returned {
			// The handler's goroutine ended without its return
			// (runtime.Goexit): a failure, closed as one.
			err = errNoReturn
			c.CloseWithError(err)
		}
		t.ended(ctx, c, st, rs, obs, span, err)
	}()
	err = service.Invoke(ctx, c, next)
	returned = true
	c.CloseWithError(err)
	return err
}

// errNoReturn stands for the error of a handler whose goroutine ended
// without its return, by runtime.Goexit.
var errNoReturn = errors.New("otelwsmap: the handler exited without returning (runtime.Goexit)")

// extract returns ctx with what the propagator reads of r's headers
// (the client's trace context, baggage), or ctx itself when it carries
// a span already (an otelhttp's around the router, say): the
// connection's span is then that span's child, as the client's
// traceparent already is its parent's.
func (t *Telemetry) extract(ctx context.Context, r *http.Request) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
}

// ended records the end of the connection c, whose handler returned
// err, on its metrics and its span, which it ends.
func (t *Telemetry) ended(ctx context.Context, c *service.Conn, st *connState, rs *routeStats, obs *connObserver, span trace.Span, err error) {
	defer span.End()
	rs.open.Add(-1)
	code, reason := service.CloseStatus(c.Err())
	by := initiator(c.ClosedBy())
	mctx := context.WithoutCancel(ctx)
	t.duration.Record(mctx, time.Since(st.start).Seconds(), metric.WithAttributeSet(rs.set))
	t.closes.Add(mctx, 1, metric.WithAttributes(semconv.HTTPRoute(st.route), AttrSubprotocol.String(c.Subprotocol()),
		AttrCloseCode.String(closeCodeLabel(code, c.ClosedBy())), AttrCloseInitiator.String(by)))

	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		AttrCloseCode.Int(int(code)),
		AttrCloseReason.String(reason),
		AttrCloseInitiator.String(by),
		AttrRecvMessages.Int64(obs.msgsIn.Load()),
		AttrRecvBytes.Int64(obs.bytesIn.Load()),
		AttrSentMessages.Int64(obs.msgsOut.Load()),
		AttrSentBytes.Int64(obs.bytesOut.Load()),
	)
	if et := failureType(err, code, c.ClosedBy()); et != "" {
		span.SetAttributes(semconv.ErrorTypeKey.String(et))
		desc := "closed with " + code.String()
		if et != "1011" {
			desc = err.Error()
		}
		span.SetStatus(codes.Error, desc)
	}
}

// closeCodeLabel is a close code as the metrics label it, in decimal. A
// code the peer chose (it began the close) is kept if RFC 6455 or IANA's
// registry of close codes defines it (1000 to 1015 but the reserved
// 1004), else it is "_OTHER": codes 3000 to 4999 are anyone's to use,
// and a peer would make a series of each. This side's codes are its
// handlers' own, and kept.
func closeCodeLabel(code protocol.CloseCode, by service.Initiator) string {
	if by == service.InitiatorPeer && (code < 1000 || code > 1015 || code == 1004) {
		return "_OTHER"
	}
	return strconv.Itoa(int(code))
}

// failureType is the error.type of a connection whose handler returned
// err and that closed with code, the close begun by by: "panic" or
// "handler_error" for a handler's failure, "1011" for a close with an
// internal error that this side began, "" for none of these. A peer
// that closes with 1011 says it failed, not this server.
func failureType(err error, code protocol.CloseCode, by service.Initiator) string {
	var pe *service.PanicError
	switch {
	case errors.As(err, &pe):
		return "panic"
	case err != nil && !errors.Is(err, service.ErrClosed) && !errors.Is(err, context.Canceled):
		return "handler_error"
	case code == protocol.CloseInternalError && by == service.InitiatorLocal:
		return "1011"
	}
	return ""
}

// initiator names the end that began the close, from the server's side.
func initiator(i service.Initiator) string {
	switch i {
	case service.InitiatorLocal:
		return "server"
	case service.InitiatorPeer:
		return "client"
	}
	return "none"
}

// remoteString returns addr as host:port.
func remoteString(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		return net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port))
	}
	return addr.String()
}

// connObserver counts a connection's messages and bytes each way, for
// its span, and its route's, for the metrics.
type connObserver struct {
	rs                                 *routeStats
	msgsIn, bytesIn, msgsOut, bytesOut atomic.Int64
}

func (o *connObserver) Received(_ protocol.MessageType, size int) error {
	o.received(size)
	return nil
}

func (o *connObserver) Sent(_ protocol.MessageType, size int) { o.sent(size) }

// received counts a message received and returns how many the
// connection has received, this one included.
func (o *connObserver) received(size int) int64 {
	n := o.msgsIn.Add(1)
	o.bytesIn.Add(int64(size))
	o.rs.msgsIn.Add(1)
	o.rs.bytesIn.Add(int64(size))
	return n
}

// sent counts a message sent and returns how many the connection has
// sent, this one included: Sent runs on the goroutines of the writers,
// several at once, so each call must see its own count.
func (o *connObserver) sent(size int) int64 {
	n := o.msgsOut.Add(1)
	o.bytesOut.Add(int64(size))
	o.rs.msgsOut.Add(1)
	o.rs.bytesOut.Add(int64(size))
	return n
}

// eventObserver also records every n-th message each way as an event
// of the connection's span.
type eventObserver struct {
	*connObserver
	span  trace.Span
	every int64
}

func (o *eventObserver) Received(typ protocol.MessageType, size int) error {
	if o.received(size)%o.every == 0 {
		o.event(semconv.NetworkIODirectionReceive, typ, size)
	}
	return nil
}

func (o *eventObserver) Sent(typ protocol.MessageType, size int) {
	if o.sent(size)%o.every == 0 {
		o.event(semconv.NetworkIODirectionTransmit, typ, size)
	}
}

func (o *eventObserver) event(dir attribute.KeyValue, typ protocol.MessageType, size int) {
	o.span.AddEvent("websocket.message", trace.WithAttributes(dir,
		AttrMessageType.String(typ.String()), AttrMessageSize.Int(size)))
}
