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

func (t *Telemetry) serve(ctx context.Context, c *service.Conn, next service.Handler) error {
	r := c.Request()
	st := stateFrom(ctx)
	if st == nil {
		st = &connState{start: time.Now()}
		st.parent = trace.SpanContextFromContext(t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header)))
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
	err := service.Invoke(ctx, c, next)
	c.CloseWithError(err)

	code, reason := service.CloseStatus(c.Err())
	by := initiator(c.ClosedBy())
	set := attribute.NewSet(semconv.HTTPRoute(route), AttrSubprotocol.String(proto),
		AttrCloseCode.Int(int(code)), AttrCloseInitiator.String(by))
	mctx := context.WithoutCancel(ctx)
	t.duration.Record(mctx, time.Since(st.start).Seconds(), metric.WithAttributeSet(rs.set))
	rs.open.Add(-1)
	t.closes.Add(mctx, 1, metric.WithAttributeSet(set))

	if span.IsRecording() {
		span.SetAttributes(
			AttrCloseCode.Int(int(code)),
			AttrCloseReason.String(reason),
			AttrCloseInitiator.String(by),
			AttrRecvMessages.Int64(obs.msgsIn.Load()),
			AttrRecvBytes.Int64(obs.bytesIn.Load()),
			AttrSentMessages.Int64(obs.msgsOut.Load()),
			AttrSentBytes.Int64(obs.bytesOut.Load()),
		)
		if et := failureType(err, code); et != "" {
			span.SetAttributes(semconv.ErrorTypeKey.String(et))
			desc := "closed with " + code.String()
			if et != "1011" {
				desc = err.Error()
			}
			span.SetStatus(codes.Error, desc)
		}
	}
	span.End()
	return err
}

// failureType is the error.type of a connection whose handler returned
// err and that closed with code: "panic" or "handler_error" for a
// handler's failure, "1011" for a close with an internal error, "" for
// none of these.
func failureType(err error, code protocol.CloseCode) string {
	var pe *service.PanicError
	switch {
	case errors.As(err, &pe):
		return "panic"
	case err != nil && !errors.Is(err, service.ErrClosed) && !errors.Is(err, context.Canceled):
		return "handler_error"
	case code == protocol.CloseInternalError:
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
	o.msgsIn.Add(1)
	o.bytesIn.Add(int64(size))
	o.rs.msgsIn.Add(1)
	o.rs.bytesIn.Add(int64(size))
	return nil
}

func (o *connObserver) Sent(_ protocol.MessageType, size int) {
	o.msgsOut.Add(1)
	o.bytesOut.Add(int64(size))
	o.rs.msgsOut.Add(1)
	o.rs.bytesOut.Add(int64(size))
}

// eventObserver also records every n-th message each way as an event
// of the connection's span.
type eventObserver struct {
	*connObserver
	span  trace.Span
	every int64
}

func (o *eventObserver) Received(typ protocol.MessageType, size int) error {
	_ = o.connObserver.Received(typ, size)
	if o.msgsIn.Load()%o.every == 0 {
		o.event(semconv.NetworkIODirectionReceive, typ, size)
	}
	return nil
}

func (o *eventObserver) Sent(typ protocol.MessageType, size int) {
	o.connObserver.Sent(typ, size)
	if o.msgsOut.Load()%o.every == 0 {
		o.event(semconv.NetworkIODirectionTransmit, typ, size)
	}
}

func (o *eventObserver) event(dir attribute.KeyValue, typ protocol.MessageType, size int) {
	o.span.AddEvent("websocket.message", trace.WithAttributes(dir,
		AttrMessageType.String(typ.String()), AttrMessageSize.Int(size)))
}
