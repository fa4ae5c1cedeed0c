package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// receiver is an OTLP/HTTP receiver on loopback: it keeps the spans and
// metrics posted to /v1/traces and /v1/metrics as protobuf.
type receiver struct {
	mu      sync.Mutex
	spans   []*tracepb.ResourceSpans
	metrics []*metricpb.ResourceMetrics
	bad     []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		rc.bad = append(rc.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var resp proto.Message
	switch r.URL.Path {
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		err = proto.Unmarshal(body, &req)
		rc.spans = append(rc.spans, req.GetResourceSpans()...)
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		err = proto.Unmarshal(body, &req)
		rc.metrics = append(rc.metrics, req.GetResourceMetrics()...)
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		rc.bad = append(rc.bad, r.URL.Path+": "+err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	return io.ReadAll(io.LimitReader(rd, 16<<20))
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		default:
			m[kv.GetKey()] = v.GetStringValue()
		}
	}
	return m
}

// TestChiExportsOTLP runs the program with the standard OTLP variables
// pointing at a receiver on loopback, and checks that its spans and
// metrics arrive, with their attributes, once it has been stopped (it
// flushes on the way out). It sets the environment, so it does not run
// in parallel.
func TestChiExportsOTLP(t *testing.T) {
	rc := &receiver{}
	collector := httptest.NewServer(rc)
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_SERVICE_NAME", "chi-under-test")

	p := wstest.Start(t, bin, "-addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	c, _, err := service.Dial(ctx, "ws://"+p.Addr+"/ws/echo", &service.DialOptions{
		Subprotocols: []string{"echo"},
		Header:       http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, protocol.Text, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(protocol.CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := service.Dial(ctx, "ws://"+p.Addr+"/ws/rooms/NO", nil); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("a bad room: %v %v, want 400", resp, err)
	}
	if err := p.Stop(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("the receiver refused: %q", rc.bad)
	}
	spans := map[string]*tracepb.Span{}
	for _, rs := range rc.spans {
		if got := attrs(rs.GetResource().GetAttributes())["service.name"]; got != "chi-under-test" {
			t.Errorf("service.name %q, want chi-under-test (OTEL_SERVICE_NAME)", got)
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				spans[s.GetName()] = s
			}
		}
	}
	conn := spans["websocket /ws/echo"]
	if conn == nil {
		t.Fatalf("no span of the echo connection among %d", len(spans))
	}
	a := attrs(conn.GetAttributes())
	for k, want := range map[string]string{
		"http.route": "/ws/echo", "websocket.subprotocol": "echo", "http.response.status_code": "101",
		"websocket.close.code": "1000", "websocket.close.reason": "done", "websocket.close.initiator": "client",
		"websocket.received.messages": "1", "websocket.sent.bytes": "5", "network.peer.address": "127.0.0.1",
	} {
		if a[k] != want {
			t.Errorf("echo span: %s = %q, want %q", k, a[k], want)
		}
	}
	if hex.EncodeToString(conn.GetTraceId()) != traceID || hex.EncodeToString(conn.GetParentSpanId()) != parentID {
		t.Errorf("echo span: trace %x parent %x, want the traceparent's %s %s", conn.GetTraceId(), conn.GetParentSpanId(), traceID, parentID)
	}
	if refused := spans["websocket"]; refused == nil || attrs(refused.GetAttributes())["http.response.status_code"] != "400" {
		t.Errorf("no span of the refused handshake with status 400: %v", refused)
	}

	seen := map[string]bool{}
	for _, rm := range rc.metrics {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				var points []*metricpb.NumberDataPoint
				if s := m.GetSum(); s != nil {
					points = s.GetDataPoints()
				}
				for _, pt := range points {
					a := attrs(pt.GetAttributes())
					key := m.GetName() + " " + a["http.route"] + " " + a["network.io.direction"] + a["http.response.status_code"]
					seen[key+" "+strconv.FormatInt(pt.GetAsInt(), 10)] = true
				}
				if h := m.GetHistogram(); h != nil {
					for _, pt := range h.GetDataPoints() {
						seen[m.GetName()+" "+attrs(pt.GetAttributes())["http.route"]+" count "+strconv.FormatUint(pt.GetCount(), 10)] = true
					}
				}
			}
		}
	}
	for _, want := range []string{
		"websocket.server.messages /ws/echo receive 1",
		"websocket.server.io /ws/echo transmit 5",
		"websocket.server.active_connections /ws/echo  0",
		"websocket.server.handshake.refusals  400 1",
		"websocket.server.connection.duration /ws/echo count 1",
	} {
		if !seen[want] {
			t.Errorf("no metric point %q among %d", want, len(seen))
		}
	}
	if t.Failed() {
		for k := range seen {
			t.Log(k)
		}
	}
}
