package otelwsmap

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/service"
)

// OnCall makes the span of a call of the message layer and records its
// duration (see the package doc). It is a message.Options.OnCall:
//
//	message.New(c, codec, router, &message.Options{OnCall: tel.OnCall})
func (t *Telemetry) OnCall(ctx context.Context, call message.CallInfo) (context.Context, func(message.CallEnd)) {
	start := time.Now()
	c := call.Peer.Conn()
	// The connection's state: in the handler's ctx, or, for a call made
	// elsewhere, in what the connection keeps of its request's context.
	st := stateFrom(ctx)
	if st == nil {
		st = stateFrom(c.Context())
	}
	var route string
	if st != nil && st.span.Load() != nil {
		route = st.route
	} else {
		route = routeOf(c)
	}
	kind := "call"
	if call.Kind == message.KindNotify {
		kind = "notify"
	}
	codec := call.Peer.Codec()
	system := systemOf(codec)
	attrs := []attribute.KeyValue{
		semconv.RPCMethod(call.Method), // first: a method the router does not know replaces it
		AttrCallKind.String(kind),
		semconv.HTTPRoute(route),
		AttrSubprotocol.String(c.Subprotocol()),
	}
	if system != "" {
		attrs = append(attrs, semconv.RPCSystemNameKey.String(system))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	if call.Outgoing {
		opts[0] = trace.WithSpanKind(trace.SpanKindClient)
	}
	var conn trace.SpanContext
	if st != nil {
		if sp := st.span.Load(); sp != nil {
			conn = (*sp).SpanContext()
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: conn}))
		}
	}
	// A call made under the connection's own context (the handler's
	// ctx, c.Context(), or what the handshake carried) starts a trace
	// of its own; one made under another span is that span's child.
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() &&
		(sc.Equal(conn) || sc.Equal(trace.SpanContextFromContext(c.Context())) || st != nil && sc.Equal(st.parent)) {
		opts = append(opts, trace.WithNewRoot())
	}
	spanAttrs := attrs
	if call.ID != "" {
		spanAttrs = append(spanAttrs[:len(attrs):len(attrs)], AttrCallID.String(call.ID))
	}
	opts = append(opts, trace.WithTimestamp(start), trace.WithAttributes(spanAttrs...))
	ctx, span := t.tracer.Start(ctx, call.Method, opts...)
	hist := t.serverCalls
	if call.Outgoing {
		hist = t.clientCalls
	}
	return ctx, func(e message.CallEnd) {
		d := time.Since(start).Seconds()
		if !call.Outgoing && errors.Is(e.Err, message.ErrUnknownMethod) {
			// Not a method of the router's: the name is the peer's,
			// and of no bound.
			attrs[0] = semconv.RPCMethod("_OTHER")
			span.SetName("_OTHER")
			span.SetAttributes(attrs[0], semconv.RPCMethodOriginal(call.Method))
		}
		if e.Err != nil {
			et := callErrorType(e)
			span.SetAttributes(semconv.ErrorTypeKey.String(et))
			if e.Answer != nil {
				code := e.Answer.Code
				span.SetAttributes(semconv.RPCResponseStatusCode(code))
				if call.Outgoing {
					// The peer chose the code: the metrics keep only
					// those the protocol defines.
					code = definedCode(codec, system, code)
					et = code
				}
				attrs = append(attrs, semconv.RPCResponseStatusCode(code))
			}
			attrs = append(attrs, semconv.ErrorTypeKey.String(et))
			if call.Outgoing || handlerFailed(e.Err) {
				span.SetStatus(codes.Error, e.Err.Error())
			}
		}
		span.End()
		hist.Record(context.WithoutCancel(ctx), d, metric.WithAttributes(attrs...))
	}
}

// callErrorType is the error.type of a call that failed: the protocol's
// error code when an error message answered it, else "timeout",
// "closed" (the connection ended), "canceled", "deadline_exceeded", or
// "_OTHER".
func callErrorType(e message.CallEnd) string {
	switch {
	case e.Answer != nil:
		return e.Answer.Code
	case errors.Is(e.Err, message.ErrTimeout):
		return "timeout"
	case errors.Is(e.Err, service.ErrClosed):
		return "closed"
	case errors.Is(e.Err, context.Canceled):
		return "canceled"
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "_OTHER"
}

// systemOf returns the RPC system codec names by a method System()
// string, or "".
func systemOf(codec message.Codec) string {
	if s, ok := codec.(interface{ System() string }); ok {
		return s.System()
	}
	return ""
}

// definedCode returns code if the protocol of codec, whose system is
// system, defines it, else "_OTHER": for a codec with a method Codes()
// []string (ocppj's), the codes it lists; for JSON-RPC, the range its
// specification reserves, -32768 to -32000 (its standard codes are in
// it). It bounds the error codes a peer answers with on the metrics.
func definedCode(codec message.Codec, system, code string) string {
	if cs, ok := codec.(interface{ Codes() []string }); ok {
		if slices.Contains(cs.Codes(), code) {
			return code
		}
		return "_OTHER"
	}
	if system == "jsonrpc" {
		if n, err := strconv.Atoi(code); err == nil && n >= -32768 && n <= -32000 {
			return code
		}
	}
	return "_OTHER"
}

// handlerFailed reports whether the handler of a peer's call failed,
// rather than answering with an error message of its choice or the
// peer's fault.
func handlerFailed(err error) bool {
	var me *message.Error
	return !errors.As(err, &me) && !errors.Is(err, message.ErrUnknownMethod) && !errors.Is(err, message.ErrInvalidParams)
}

// routeOf returns the pattern of the route c came through, "" for none.
func routeOf(c *service.Conn) string {
	if r := c.Request(); r != nil {
		return r.Pattern
	}
	return ""
}
