package otelwsmap_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/middleware/otelwsmap"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo echoes messages; "close" makes it close with 4000, "fail" makes
// it fail.
var echo = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		switch string(data) {
		case "close":
			return &service.CloseError{Code: 4000, Reason: "bye"}
		case "fail":
			return errors.New("database is down")
		}
		if err := c.Send(ctx, typ, data); err != nil {
			return err
		}
	}
})

type pair struct{ A, B int }

// setup serves a mux with the package's middleware on a loopback port,
// recording spans and metrics in memory.
func setup(t *testing.T, opts otelwsmap.Options) (base string, spans *tracetest.SpanRecorder, reader *sdkmetric.ManualReader, shutdown func()) {
	t.Helper()
	spans = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	opts.TracerProvider, opts.MeterProvider, opts.Propagator = tp, mp, propagation.TraceContext{}
	tel, err := otelwsmap.New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	rpc := &message.Router{}
	rpc.Handle("add", message.Func(func(_ context.Context, p pair) (int, error) { return p.A + p.B, nil }))
	rpc.Handle("ask", message.Func(func(ctx context.Context, p pair) (int, error) {
		var sum int
		err := message.RequestFrom(ctx).Peer.Call(ctx, "add", p, &sum)
		return sum, err
	}))
	m := &mux.Mux{Options: &service.Options{OnError: func(*service.Conn, error) {}}} // failures are the spans' to see
	m.Use(tel.Handshake())
	m.UseConn(tel.Conn())
	m.Handle(`/echo`, echo, "echo.v1")
	m.Handle(`/rpc/(?P<id>[0-9]+)`, service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		return message.New(c, jsonrpc.Codec{}, rpc, &message.Options{OnCall: tel.OnCall}).Serve(ctx)
	}), "jsonrpc")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &service.Server{Handler: m}
	go func() { _ = srv.Serve(l) }()
	var done bool
	shutdown = func() {
		if done {
			return
		}
		done = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // waits for the handlers, which end the spans
	}
	t.Cleanup(shutdown)
	return "ws://" + l.Addr().String(), spans, reader, shutdown
}

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID = "00f067aa0ba902b7"
)

// TestScriptedSession runs connections, refusals and calls each way,
// and checks every span and metric, attribute by attribute.
func TestScriptedSession(t *testing.T) {
	base, rec, reader, shutdown := setup(t, otelwsmap.Options{})
	port := base[strings.LastIndex(base, ":")+1:]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A connection with a protocol and a trace context: two round
	// trips, closed by the client.
	hdr := http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}, "User-Agent": {"scripted"}}
	c1, _, err := service.Dial(ctx, base+"/echo", &service.DialOptions{Subprotocols: []string{"echo.v1"}, Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"hello", "hi"} {
		if err := c1.Send(ctx, protocol.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c1.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c1.Close(protocol.CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	// One without: the server closes it with 4000.
	c2, _, err := service.Dial(ctx, base+"/echo", &service.DialOptions{Header: http.Header{"User-Agent": {"scripted"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Send(ctx, protocol.Binary, []byte("close")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c2.Recv(ctx); err == nil {
		t.Fatal("no close")
	}
	// Two refusals.
	for _, tc := range []struct {
		path  string
		offer []string
	}{{"/nowhere", nil}, {"/echo", []string{"bogus"}}} {
		if _, resp, err := service.Dial(ctx, base+tc.path, &service.DialOptions{Subprotocols: tc.offer, Header: http.Header{"User-Agent": {"scripted"}}}); err == nil || resp == nil {
			t.Fatalf("%s %v: %v", tc.path, tc.offer, err)
		}
	}
	// Calls each way over JSON-RPC: the client's add, an unknown
	// method, and ask, whose handler calls the client back.
	c3, _, err := service.Dial(ctx, base+"/rpc/7", &service.DialOptions{Subprotocols: []string{"jsonrpc"}, Header: http.Header{"User-Agent": {"scripted"}}})
	if err != nil {
		t.Fatal(err)
	}
	cr := &message.Router{}
	cr.Handle("add", message.Func(func(_ context.Context, p pair) (int, error) { return p.A + p.B, nil }))
	cp := message.New(c3, jsonrpc.Codec{}, cr, nil)
	served := make(chan error, 1)
	go func() { served <- cp.Serve(context.Background()) }()
	var sum int
	if err := cp.Call(ctx, "add", pair{2, 3}, &sum); err != nil || sum != 5 {
		t.Fatalf("add: %d, %v", sum, err)
	}
	if err := cp.Call(ctx, "nosuch", nil, nil); err == nil {
		t.Fatal("nosuch: no error")
	}
	if err := cp.Call(ctx, "ask", pair{20, 22}, &sum); err != nil || sum != 42 {
		t.Fatalf("ask: %d, %v", sum, err)
	}
	if err := c3.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	<-served
	shutdown()

	// Spans.
	got := map[string]spanView{}
	byID := map[trace.SpanID]string{}
	ended := rec.Ended()
	for _, s := range ended {
		byID[s.SpanContext().SpanID()] = key(s)
	}
	for _, s := range ended {
		got[key(s)] = view(t, s, byID, port)
	}
	req := func(path, route string, more map[string]string) map[string]string {
		a := map[string]string{
			"http.request.method": "GET", "url.path": path, "url.scheme": "http", "network.protocol.name": "websocket",
			"server.address": "127.0.0.1", "server.port": "<port>", "network.peer.address": "127.0.0.1", "network.peer.port": "<peer>",
			"user_agent.original": "scripted",
		}
		if route != "" {
			a["http.route"] = route
		}
		for k, v := range more {
			a[k] = v
		}
		return a
	}
	rpcRoute := `/rpc/(?P<id>[0-9]+)`
	want := map[string]spanView{
		"websocket /echo#echo.v1": {Kind: "server", Parent: "remote " + traceID + " " + parentID, Attrs: req("/echo", "/echo", map[string]string{
			"http.response.status_code": "101", "websocket.subprotocol": "echo.v1",
			"websocket.close.code": "1000", "websocket.close.reason": "done", "websocket.close.initiator": "client",
			"websocket.received.messages": "2", "websocket.received.bytes": "7", "websocket.sent.messages": "2", "websocket.sent.bytes": "7",
		})},
		"websocket /echo#": {Kind: "server", Attrs: req("/echo", "/echo", map[string]string{
			"http.response.status_code": "101",
			"websocket.close.code":      "4000", "websocket.close.reason": "bye", "websocket.close.initiator": "server",
			"websocket.received.messages": "1", "websocket.received.bytes": "5", "websocket.sent.messages": "0", "websocket.sent.bytes": "0",
		})},
		"websocket#404": {Kind: "server", Attrs: req("/nowhere", "", map[string]string{
			"http.response.status_code": "404", "websocket.refusal.reason": `no WebSocket service at "/nowhere"`,
		})},
		"websocket /echo#400": {Kind: "server", Attrs: req("/echo", "/echo", map[string]string{
			"http.response.status_code": "400",
			"websocket.refusal.reason":  "no offered subprotocol is supported; supported: echo.v1",
		})},
		"websocket " + rpcRoute + "#jsonrpc": {Kind: "server", Attrs: req("/rpc/7", rpcRoute, map[string]string{
			"http.response.status_code": "101", "websocket.subprotocol": "jsonrpc",
			"websocket.close.code": "1000", "websocket.close.reason": "", "websocket.close.initiator": "client",
			"websocket.received.messages": "4", "websocket.sent.messages": "4",
			"websocket.received.bytes": "<n>", "websocket.sent.bytes": "<n>",
		})},
		"add#server": {Kind: "server", Links: []string{"websocket " + rpcRoute + "#jsonrpc"}, Attrs: map[string]string{
			"rpc.method": "add", "websocket.call.kind": "call", "websocket.call.id": "1", "http.route": rpcRoute, "websocket.subprotocol": "jsonrpc", "rpc.system.name": "jsonrpc",
		}},
		"_OTHER#server": {Kind: "server", Links: []string{"websocket " + rpcRoute + "#jsonrpc"}, Attrs: map[string]string{
			"rpc.method": "_OTHER", "rpc.method_original": "nosuch", "websocket.call.kind": "call", "websocket.call.id": "2",
			"http.route": rpcRoute, "websocket.subprotocol": "jsonrpc", "rpc.system.name": "jsonrpc", "error.type": "-32601", "rpc.response.status_code": "-32601",
		}},
		"ask#server": {Kind: "server", Links: []string{"websocket " + rpcRoute + "#jsonrpc"}, Attrs: map[string]string{
			"rpc.method": "ask", "websocket.call.kind": "call", "websocket.call.id": "3", "http.route": rpcRoute, "websocket.subprotocol": "jsonrpc", "rpc.system.name": "jsonrpc",
		}},
		"add#client": {Kind: "client", Parent: "ask#server", Links: []string{"websocket " + rpcRoute + "#jsonrpc"}, Attrs: map[string]string{
			"rpc.method": "add", "websocket.call.kind": "call", "websocket.call.id": "1", "http.route": rpcRoute, "websocket.subprotocol": "jsonrpc", "rpc.system.name": "jsonrpc",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}

	// Metrics.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	rpcL := []string{"http.route=" + rpcRoute, "websocket.subprotocol=jsonrpc"}
	callL := append(rpcL[:2:2], "rpc.system.name=jsonrpc")
	echoL := []string{"http.route=/echo", "websocket.subprotocol=echo.v1"}
	plainL := []string{"http.route=/echo", "websocket.subprotocol="}
	wantM := map[string]float64{}
	for _, tc := range []struct {
		labels                             []string
		msgsIn, msgsOut, bytesIn, bytesOut float64
		code, by                           string
	}{
		{echoL, 2, 2, 7, 7, "1000", "client"},
		{plainL, 1, 0, 5, 0, "4000", "server"},
		{rpcL, 4, 4, -1, -1, "1000", "client"},
	} {
		wantM[metricKey("websocket.server.active_connections", tc.labels)] = 0
		wantM[metricKey("websocket.server.connection.duration_count", tc.labels)] = 1
		wantM[metricKey("websocket.server.messages", tc.labels, "network.io.direction=receive")] = tc.msgsIn
		wantM[metricKey("websocket.server.messages", tc.labels, "network.io.direction=transmit")] = tc.msgsOut
		if tc.bytesIn >= 0 {
			wantM[metricKey("websocket.server.io", tc.labels, "network.io.direction=receive")] = tc.bytesIn
			wantM[metricKey("websocket.server.io", tc.labels, "network.io.direction=transmit")] = tc.bytesOut
		}
		wantM[metricKey("websocket.server.closes", tc.labels, "websocket.close.code="+tc.code, "websocket.close.initiator="+tc.by)] = 1
	}
	wantM[metricKey("websocket.server.handshake.refusals", nil, "http.response.status_code=404")] = 1
	wantM[metricKey("websocket.server.handshake.refusals", nil, "http.response.status_code=400", "http.route=/echo")] = 1
	wantM[metricKey("rpc.server.call.duration_count", callL, "rpc.method=add", "websocket.call.kind=call")] = 1
	wantM[metricKey("rpc.server.call.duration_count", callL, "rpc.method=ask", "websocket.call.kind=call")] = 1
	wantM[metricKey("rpc.server.call.duration_count", callL, "rpc.method=_OTHER", "websocket.call.kind=call",
		"error.type=-32601", "rpc.response.status_code=-32601")] = 1
	wantM[metricKey("rpc.client.call.duration_count", callL, "rpc.method=add", "websocket.call.kind=call")] = 1
	gotM := flatten(rm)
	for _, dir := range []string{"receive", "transmit"} {
		// The JSON-RPC frames' bytes, which the codec decides.
		k := metricKey("websocket.server.io", rpcL, "network.io.direction="+dir)
		if gotM[k] < 100 {
			t.Errorf("%s = %v, want the JSON-RPC frames' bytes", k, gotM[k])
		}
		delete(gotM, k)
	}
	if diff := cmp.Diff(wantM, gotM); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// metricKey is "name{k=v,…}" with the labels sorted, as flatten writes
// it.
func metricKey(name string, labels []string, more ...string) string {
	l := append(append([]string(nil), labels...), more...)
	sort.Strings(l)
	return name + "{" + strings.Join(l, ",") + "}"
}

// spanView is what the test checks of a span.
type spanView struct {
	Kind   string
	Parent string // "remote <trace> <span>", a key of got, or ""
	Links  []string
	Attrs  map[string]string
	Status string // "error: …", or "" for unset
}

// key names a span for the test: its name, and its subprotocol, or its
// refusal's status, or its kind for a call's.
func key(s sdktrace.ReadOnlySpan) string {
	attrs := attrMap(s.Attributes())
	switch {
	case s.SpanKind() == trace.SpanKindClient:
		return s.Name() + "#client"
	case attrs["http.response.status_code"] == "101":
		return s.Name() + "#" + attrs["websocket.subprotocol"]
	case attrs["http.response.status_code"] != "":
		return s.Name() + "#" + attrs["http.response.status_code"]
	}
	return s.Name() + "#server"
}

func view(t *testing.T, s sdktrace.ReadOnlySpan, byID map[trace.SpanID]string, port string) spanView {
	t.Helper()
	v := spanView{Kind: s.SpanKind().String(), Attrs: attrMap(s.Attributes())}
	if p := s.Parent(); p.IsValid() {
		if p.IsRemote() {
			v.Parent = "remote " + p.TraceID().String() + " " + p.SpanID().String()
		} else {
			v.Parent = byID[p.SpanID()]
		}
		if p.TraceID() != s.SpanContext().TraceID() {
			t.Errorf("%s: trace %s, its parent's %s", key(s), s.SpanContext().TraceID(), p.TraceID())
		}
	}
	for _, l := range s.Links() {
		v.Links = append(v.Links, byID[l.SpanContext.SpanID()])
	}
	if s.Status().Code == codes.Error {
		v.Status = "error: " + s.Status().Description
	}
	if v.Attrs["server.port"] == port {
		v.Attrs["server.port"] = "<port>"
	}
	if p, err := strconv.Atoi(v.Attrs["network.peer.port"]); err == nil && p > 0 {
		v.Attrs["network.peer.port"] = "<peer>"
	}
	for _, k := range []string{"websocket.received.bytes", "websocket.sent.bytes"} {
		if n, err := strconv.Atoi(v.Attrs[k]); err == nil && n > 50 {
			v.Attrs[k] = "<n>"
		}
	}
	if len(s.Events()) > 0 {
		t.Errorf("%s: %d events, with message events off", key(s), len(s.Events()))
	}
	return v
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// flatten turns collected metrics into "name{k=v,…}" → value; a
// histogram gives its count as name_count.
func flatten(rm metricdata.ResourceMetrics) map[string]float64 {
	out := map[string]float64{}
	label := func(set attribute.Set) string {
		var l []string
		for _, kv := range set.ToSlice() {
			l = append(l, string(kv.Key)+"="+kv.Value.String())
		}
		sort.Strings(l)
		return "{" + strings.Join(l, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+label(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+"_count"+label(p.Attributes)] = float64(p.Count)
				}
			default:
				out[m.Name+fmt.Sprintf("<%T>", d)] = -1
			}
		}
	}
	return out
}

// TestFailureAndMessageEvents: a handler's failure marks the span as an
// error, and with MessageEvents every n-th message each way is an event.
func TestFailureAndMessageEvents(t *testing.T) {
	base, rec, _, shutdown := setup(t, otelwsmap.Options{MessageEvents: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := service.Dial(ctx, base+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"a", "bb", "ccc"} {
		if err := c.Send(ctx, protocol.Text, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Send(ctx, protocol.Binary, []byte("fail")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Recv(ctx); err == nil {
		t.Fatal("no close")
	}
	shutdown()
	ended := rec.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	s := ended[0]
	attrs := attrMap(s.Attributes())
	for k, want := range map[string]string{
		"error.type": "handler_error", "websocket.close.code": "1011", "websocket.close.reason": "internal error",
		"websocket.close.initiator": "server", "websocket.received.messages": "4", "websocket.sent.messages": "3",
	} {
		if attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs[k], want)
		}
	}
	if st := s.Status(); st.Code != codes.Error || st.Description != "database is down" {
		t.Errorf("status %v %q, want Error %q", st.Code, st.Description, "database is down")
	}
	var events []string
	for _, e := range s.Events() {
		a := attrMap(e.Attributes)
		events = append(events, e.Name+" "+a["network.io.direction"]+" "+a["websocket.message.type"]+" "+a["websocket.message.size"])
	}
	want := []string{
		"websocket.message receive text 2",
		"websocket.message transmit text 2",
		"websocket.message receive binary 4",
	}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
