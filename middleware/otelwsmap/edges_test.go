package otelwsmap_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/middleware/otelwsmap"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// rig is a server on loopback whose mux has the package's middleware,
// recording spans and metrics in memory.
type rig struct {
	base   string
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tel    *otelwsmap.Telemetry
	mux    *mux.Mux
	srv    *service.Server
	// wait bounds Shutdown's wait for the handlers.
	wait time.Duration
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), wait: 5 * time.Second}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	tel, err := otelwsmap.New(&otelwsmap.Options{TracerProvider: r.tp,
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader)), Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	r.mux = &mux.Mux{Options: &service.Options{OnError: func(*service.Conn, error) {}}}
	r.mux.Use(tel.Handshake())
	r.mux.UseConn(tel.Conn())
	return r
}

// start serves the rig's mux, through wrap if it is not nil.
func (r *rig) start(t *testing.T, wrap func(http.Handler) http.Handler) {
	t.Helper()
	var h http.Handler = r.mux
	if wrap != nil {
		h = wrap(h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.base = "ws://" + l.Addr().String()
	r.srv = &service.Server{Handler: h}
	go func() { _ = r.srv.Serve(l) }()
	t.Cleanup(r.shutdown)
}

func (r *rig) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// ended returns the ended spans named name.
func (r *rig) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func (r *rig) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return flatten(rm)
}

// pushRoute serves /push, whose handler calls the client's ping n times
// from a goroutine of its own, under c.Context().
func (r *rig) pushRoute(n int) {
	r.mux.Handle(`/push`, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		p := message.New(c, jsonrpc.Codec{}, nil, &message.Options{OnCall: r.tel.OnCall})
		go func() {
			for range n {
				_ = p.Call(c.Context(), "ping", nil, nil)
			}
		}()
		return p.Serve(ctx)
	}), "jsonrpc")
}

// pushed dials /push with header, answers the server's n calls with
// answer, and closes.
func (r *rig) pushed(t *testing.T, header http.Header, n int, answer func(i int) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, r.base+"/push", &service.DialOptions{Subprotocols: []string{"jsonrpc"}, Header: header})
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{}, n)
	rt := &message.Router{}
	i := 0
	rt.HandleFunc("ping", func(context.Context, *message.Request) (any, error) {
		i++ // the router runs one call at a time
		defer func() { answered <- struct{}{} }()
		return nil, answer(i)
	})
	cp := message.New(c, jsonrpc.Codec{}, rt, &message.Options{MaxIncoming: 1})
	done := make(chan struct{})
	go func() { _ = cp.Serve(ctx); close(done) }()
	for range n {
		select {
		case <-answered:
		case <-ctx.Done():
			t.Fatal("the server's calls did not come")
		}
	}
	// The last answer is on its way: close once the server has it.
	for range 500 {
		if len(r.ended("ping")) == n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Close(protocol.CloseNormal, "")
	<-done
}

func traceparent() http.Header {
	return http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}}
}

// TestCallUnderConnContextStartsTrace: a call the server makes under
// c.Context(), which carries the client's traceparent from the
// handshake, starts a trace of its own linked to the connection's span,
// rather than joining the client's trace.
func TestCallUnderConnContextStartsTrace(t *testing.T) {
	r := newRig(t)
	r.pushRoute(2)
	r.start(t, nil)
	r.pushed(t, traceparent(), 2, func(int) error { return nil })
	r.shutdown()

	conns := r.ended("websocket /push")
	if len(conns) != 1 {
		t.Fatalf("%d connection spans, want 1", len(conns))
	}
	conn := conns[0].SpanContext()
	if got := conns[0].Parent(); got.TraceID().String() != traceID || !got.IsRemote() {
		t.Errorf("connection's parent %v, want the client's traceparent", got)
	}
	calls := r.ended("ping")
	if len(calls) != 2 {
		t.Fatalf("%d call spans, want 2", len(calls))
	}
	for _, s := range calls {
		if s.Parent().IsValid() {
			t.Errorf("call span's parent %s (remote %v), want none: a trace of its own", s.Parent().SpanID(), s.Parent().IsRemote())
		}
		if s.SpanContext().TraceID() == conn.TraceID() {
			t.Error("call span in the connection's trace")
		}
		if l := s.Links(); len(l) != 1 || !l[0].SpanContext.Equal(conn) {
			t.Errorf("call span's links %v, want the connection's span", l)
		}
	}
}

// TestSpanAroundRouterIsParent: with a span in the request's context
// (an otelhttp's around the router), the connection's span is its
// child even when the client sends a traceparent as well; calls under
// c.Context() still start traces of their own.
func TestSpanAroundRouterIsParent(t *testing.T) {
	r := newRig(t)
	r.pushRoute(1)
	var outer trace.SpanContext
	got := make(chan trace.SpanContext, 1)
	r.start(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			// As otelhttp does: the client's trace context, then a
			// span of the server's under it.
			ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			ctx, span := r.tp.Tracer("outer").Start(ctx, "outer", trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			got <- span.SpanContext()
			next.ServeHTTP(w, req.WithContext(ctx))
		})
	})
	r.pushed(t, traceparent(), 1, func(int) error { return nil })
	outer = <-got
	r.shutdown()

	conns := r.ended("websocket /push")
	if len(conns) != 1 {
		t.Fatalf("%d connection spans, want 1", len(conns))
	}
	if p := conns[0].Parent(); !p.Equal(outer) {
		t.Errorf("connection's parent %s (remote %v), want the outer span %s", p.SpanID(), p.IsRemote(), outer.SpanID())
	}
	calls := r.ended("ping")
	if len(calls) != 1 {
		t.Fatalf("%d call spans, want 1", len(calls))
	}
	if p := calls[0].Parent(); p.IsValid() {
		t.Errorf("call span's parent %s, want none", p.SpanID())
	}
	if l := calls[0].Links(); len(l) != 1 || !l[0].SpanContext.Equal(conns[0].SpanContext()) {
		t.Errorf("call span's links %v, want the connection's span", l)
	}
}

// TestPeerChosenCodesBounded: the error codes a peer answers this
// side's calls with, and the close codes it closes with, are on the
// spans as they are, and on the metrics only if the protocol defines
// them, else "_OTHER".
func TestPeerChosenCodesBounded(t *testing.T) {
	r := newRig(t)
	r.pushRoute(4)
	r.mux.Handle(`/echo`, echo)
	r.start(t, nil)
	r.pushed(t, nil, 4, func(i int) error {
		if i == 4 {
			return message.ErrInvalidParams // -32602, JSON-RPC's own
		}
		return jsonrpc.Error(1000000+i, "peer-chosen code", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, code := range []protocol.CloseCode{4321, 3999, protocol.CloseGoingAway} {
		c, _, err := service.Dial(ctx, r.base+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(code, ""); err != nil {
			t.Fatal(err)
		}
	}
	r.shutdown()

	var codesSeen []string
	for _, s := range r.ended("ping") {
		codesSeen = append(codesSeen, attrMap(s.Attributes())["rpc.response.status_code"])
	}
	if len(codesSeen) != 4 {
		t.Fatalf("%d call spans, want 4", len(codesSeen))
	}
	for _, want := range []string{"1000001", "1000002", "1000003", "-32602"} {
		found := false
		for _, c := range codesSeen {
			found = found || c == want
		}
		if !found {
			t.Errorf("no call span with rpc.response.status_code %s: %v", want, codesSeen)
		}
	}
	closeCodes := map[string]bool{}
	for _, s := range r.ended("websocket /echo") {
		closeCodes[attrMap(s.Attributes())["websocket.close.code"]] = true
	}
	for _, want := range []string{"4321", "3999", "1001"} {
		if !closeCodes[want] {
			t.Errorf("no connection span with websocket.close.code %s: %v", want, closeCodes)
		}
	}

	m := r.metrics(t)
	callL := []string{"http.route=/push", "websocket.subprotocol=jsonrpc", "rpc.system.name=jsonrpc", "rpc.method=ping", "websocket.call.kind=call"}
	echoL := []string{"http.route=/echo", "websocket.subprotocol=", "websocket.close.initiator=client"}
	want := map[string]float64{
		metricKey("rpc.client.call.duration_count", callL, "error.type=_OTHER", "rpc.response.status_code=_OTHER"): 3,
		metricKey("rpc.client.call.duration_count", callL, "error.type=-32602", "rpc.response.status_code=-32602"): 1,
		metricKey("websocket.server.closes", echoL, "websocket.close.code=_OTHER"):                                 2,
		metricKey("websocket.server.closes", echoL, "websocket.close.code=1001"):                                   1,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for k := range m {
		if _, ok := want[k]; !ok && (strings.HasPrefix(k, "rpc.client.call.duration_count") || strings.HasPrefix(k, "websocket.server.closes{http.route=/echo")) {
			t.Errorf("unexpected series %s = %v", k, m[k])
		}
	}
}

// TestClientCloses1011: a client that closes with 1011 says it failed;
// the server's span is not an error.
func TestClientCloses1011(t *testing.T) {
	r := newRig(t)
	r.mux.Handle(`/echo`, echo)
	r.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, r.base+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(protocol.CloseInternalError, "client broke"); err != nil {
		t.Fatal(err)
	}
	r.shutdown()
	spans := r.ended("websocket /echo")
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	a := attrMap(spans[0].Attributes())
	if a["websocket.close.code"] != "1011" || a["websocket.close.initiator"] != "client" {
		t.Fatalf("close %s by %s, want 1011 by client", a["websocket.close.code"], a["websocket.close.initiator"])
	}
	if st := spans[0].Status(); st.Code == codes.Error || a["error.type"] != "" {
		t.Errorf("status %v %q, error.type %q: want neither for the client's 1011", st.Code, st.Description, a["error.type"])
	}
}

// TestHandlerGoexit: a handler that ends its goroutine by
// runtime.Goexit (t.FailNow in a test's handler) still ends its span,
// closes its connection with 1011 and leaves the open connections'
// count.
func TestHandlerGoexit(t *testing.T) {
	r := newRig(t)
	r.wait = 200 * time.Millisecond // the service does not release a connection whose handler exited
	r.mux.Handle(`/exit`, service.HandlerFunc(func(context.Context, *service.Conn) error {
		runtime.Goexit()
		return nil
	}))
	r.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, r.base+"/exit", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Recv(ctx)
	var ce *service.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseInternalError {
		t.Errorf("Recv: %v, want a close with 1011", err)
	}
	_ = c.Close(protocol.CloseNormal, "")
	var spans []sdktrace.ReadOnlySpan
	for range 500 {
		if spans = r.ended("websocket /exit"); len(spans) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1", len(spans))
	}
	if a := attrMap(spans[0].Attributes()); a["error.type"] != "handler_error" || spans[0].Status().Code != codes.Error {
		t.Errorf("error.type %q, status %v: want handler_error, Error", a["error.type"], spans[0].Status().Code)
	}
	k := metricKey("websocket.server.active_connections", []string{"http.route=/exit", "websocket.subprotocol="})
	if m := r.metrics(t); m[k] != 0 {
		t.Errorf("%s = %v, want 0", k, m[k])
	}
}

// TestRefusalErrorType: a refusal's error.type is set for a 5xx only,
// as HTTP's conventions say of server spans.
func TestRefusalErrorType(t *testing.T) {
	r := newRig(t)
	r.mux.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/busy" {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	r.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, path := range []string{"/busy", "/nowhere"} {
		if _, _, err := service.Dial(ctx, r.base+path, nil); err == nil {
			t.Fatalf("%s: no refusal", path)
		}
	}
	r.shutdown()
	got := map[string]string{}
	for _, s := range r.ended("websocket") {
		a := attrMap(s.Attributes())
		got[a["http.response.status_code"]] = a["error.type"] + "/" + s.Status().Code.String()
	}
	want := map[string]string{"503": "503/Error", "404": "/Unset"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("refusal %s: error.type/status %q, want %q", k, got[k], v)
		}
	}
}
