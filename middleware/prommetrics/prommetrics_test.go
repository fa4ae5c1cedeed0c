package prommetrics_test

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/middleware/prommetrics"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo echoes messages; "close" makes it close with 4000.
var echo = service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		if string(data) == "close" {
			return &service.CloseError{Code: 4000, Reason: "bye"}
		}
		if err := c.Send(ctx, typ, data); err != nil {
			return err
		}
	}
})

// samples flattens gathered families into "name{label=value,…}" →
// value; a histogram gives its sample count as name_count.
func samples(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[f.GetName()+key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[f.GetName()+key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestScriptedSession(t *testing.T) {
	reg := prometheus.NewRegistry()
	pm, err := prommetrics.New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prommetrics.New(reg, nil); err == nil {
		t.Error("registering twice: no error")
	}
	m := &mux.Mux{}
	m.Use(middleware.InstrumentHandshake(pm))
	m.UseConn(middleware.Instrument(pm))
	m.Handle(`/echo`, echo, "echo.v1")
	m.Handle(`/chat/(?P<room>[a-z]+)`, echo)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &service.Server{Handler: m}
	go func() { _ = srv.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	base := "ws://" + l.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// One connection with a protocol: two round trips, closed by the
	// client.
	c1, _, err := service.Dial(ctx, base+"/echo", &service.DialOptions{Subprotocols: []string{"echo.v1"}})
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
	if err := c1.Close(protocol.CloseNormal, ""); err != nil {
		t.Fatal(err)
	}
	// One without: the server closes it with 4000.
	c2, _, err := service.Dial(ctx, base+"/chat/lobby", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Send(ctx, protocol.Binary, []byte("close")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c2.Recv(ctx); err == nil {
		t.Fatal("no close")
	}
	// Three refusals.
	for _, tc := range []struct {
		path  string
		offer []string
	}{{"/nowhere", nil}, {"/echo", []string{"bogus"}}, {"/chat/UPPER", nil}} {
		if _, resp, err := service.Dial(ctx, base+tc.path, &service.DialOptions{Subprotocols: tc.offer}); err == nil || resp == nil {
			t.Fatalf("%s %v: %v", tc.path, tc.offer, err)
		}
	}

	echoL := `protocol=echo.v1,route=/echo`
	chatL := `protocol=,route=/chat/(?P<room>[a-z]+)`
	want := map[string]float64{
		"wsmap_connections_total{" + echoL + "}":                 1,
		"wsmap_connections_total{" + chatL + "}":                 1,
		"wsmap_connections_open{" + echoL + "}":                  0,
		"wsmap_connections_open{" + chatL + "}":                  0,
		"wsmap_messages_total{direction=in," + echoL + "}":       2,
		"wsmap_messages_total{direction=out," + echoL + "}":      2,
		"wsmap_message_bytes_total{direction=in," + echoL + "}":  7,
		"wsmap_message_bytes_total{direction=out," + echoL + "}": 7,
		"wsmap_messages_total{direction=in," + chatL + "}":       1,
		"wsmap_messages_total{direction=out," + chatL + "}":      0,
		"wsmap_message_bytes_total{direction=in," + chatL + "}":  5,
		"wsmap_message_bytes_total{direction=out," + chatL + "}": 0,
		"wsmap_closes_total{code=1000," + echoL + "}":            1,
		"wsmap_closes_total{code=4000," + chatL + "}":            1,
		"wsmap_connection_duration_seconds_count{" + echoL + "}": 1,
		"wsmap_connection_duration_seconds_count{" + chatL + "}": 1,
		"wsmap_handshake_rejections_total{status=400}":           1,
		"wsmap_handshake_rejections_total{status=404}":           2,
	}
	// The server side records a close once its handshake is over, just
	// after the client's. Its duration and the open gauge are recorded
	// before it is counted (see the package doc), and its messages while
	// its handler ran, so a read after the one that sees both closes
	// sees all of it.
	wstest.WaitFor(t, 5*time.Second, "both closes counted", func() bool {
		got := samples(t, reg)
		return got["wsmap_closes_total{code=4000,"+chatL+"}"] == 1 && got["wsmap_closes_total{code=1000,"+echoL+"}"] == 1
	})
	if diff := cmp.Diff(want, samples(t, reg)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}
