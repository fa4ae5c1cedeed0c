package otelwsmap

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsmap/wsmap/internal/routeslot"
	"github.com/wsmap/wsmap/service"
)

// connState is what Handshake learns of a request that Conn and OnCall
// need: when the handshake began, the trace context it carried, and,
// once Conn has started it, the connection's span. It travels in the
// request's context, which the connection's context carries on.
type connState struct {
	start  time.Time
	parent trace.SpanContext
	span   atomic.Pointer[trace.Span] // set once, before route is read
	route  string                     // the route's pattern, set with span
}

type stateKey struct{}

// stateFrom returns the connState ctx carries, or nil.
func stateFrom(ctx context.Context) *connState {
	s, _ := ctx.Value(stateKey{}).(*connState)
	return s
}

// Handshake returns handshake middleware that starts each WebSocket
// handshake's trace: it reads the request's trace context through the
// propagator (unless the request's context carries a span already, an
// otelhttp's around the router, which is then the parent) and notes when the handshake began, for the connection's
// span that Conn makes, and makes the span of a handshake refused
// behind it, with its status, and counts it. Put it in front of the
// layers whose refusals it should see (the mux's 400, 404, 405 and 426;
// Origin's 403, Auth's 401 and 403, the limits' 429 and 503). Requests
// that are not WebSocket handshakes pass through untouched.
func (t *Telemetry) Handshake() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !service.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			ctx := t.extract(r.Context(), r)
			st := &connState{start: time.Now(), parent: trace.SpanContextFromContext(ctx)}
			r, slot := routeslot.With(r.WithContext(context.WithValue(ctx, stateKey{}, st)))
			rw := &refusalWriter{ResponseWriter: w}
			next.ServeHTTP(rw, r)
			// An upgrade writes its 101 on the hijacked connection, so
			// a status seen here is a refusal.
			if rw.status != 0 {
				t.refused(r, st, slot.Pattern, rw)
			}
		})
	}
}

// refused makes the span of a refused handshake and counts it.
func (t *Telemetry) refused(r *http.Request, st *connState, route string, rw *refusalWriter) {
	ctx := r.Context()
	statusAttr := semconv.HTTPResponseStatusCode(rw.status)
	if route != "" {
		t.refusals.Add(ctx, 1, metric.WithAttributes(statusAttr, semconv.HTTPRoute(route)))
	} else {
		t.refusals.Add(ctx, 1, metric.WithAttributes(statusAttr))
	}
	attrs := requestAttrs(r, route, r.RemoteAddr)
	reason, _, _ := strings.Cut(string(rw.body), "\n")
	attrs = append(attrs, statusAttr,
		AttrRefusalReason.String(strings.ToValidUTF8(strings.TrimSpace(reason), "\uFFFD")))
	if rw.status >= 500 {
		// HTTP's conventions for servers: a 4xx is the client's
		// error, not the span's.
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(rw.status)))
	}
	_, span := t.tracer.Start(trace.ContextWithSpanContext(ctx, st.parent), spanName(route),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(st.start), trace.WithAttributes(attrs...))
	if rw.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(rw.status))
	}
	span.End()
}

// spanName is the name of a connection's span: "websocket" and the
// route's pattern.
func spanName(route string) string {
	if route == "" {
		return "websocket"
	}
	return "websocket " + route
}

// requestAttrs returns the attributes of the handshake's request r,
// served by route, from the peer at remote (host:port).
func requestAttrs(r *http.Request, route, remote string) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs, semconv.HTTPRequestMethodGet, semconv.URLPath(r.URL.Path), semconv.NetworkProtocolName("websocket"))
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs = append(attrs, semconv.URLScheme(scheme))
	if host, port, err := net.SplitHostPort(r.Host); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	} else if r.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(r.Host))
	}
	if host, port, err := net.SplitHostPort(remote); err == nil {
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.NetworkPeerPort(p))
		}
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// maxReason bounds the part of a refusal's body kept for its reason.
const maxReason = 200

// refusalWriter records a response's status and the start of its body.
// It unwraps (see http.ResponseController), so that the upgrade can
// still hijack the connection.
type refusalWriter struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (w *refusalWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *refusalWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := maxReason - len(w.body); room > 0 {
		w.body = append(w.body, p[:min(room, len(p))]...)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap returns the wrapped ResponseWriter.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
