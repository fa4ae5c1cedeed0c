package prommetrics_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/middleware/prommetrics"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// New registers the collectors; the two middleware feed them. Serve the
// registry with promhttp.HandlerFor to expose it.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	pm, err := prommetrics.New(reg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := &mux.Mux{}
	m.Use(middleware.InstrumentHandshake(pm))
	m.UseConn(middleware.Instrument(pm))
	m.Handle(`/echo`, echo, "echo")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &service.Server{Handler: m}
	go func() { _ = srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, _, err := service.Dial(ctx, "ws://"+l.Addr().String()+"/echo", &service.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Send(ctx, protocol.Text, []byte("hello"))
	_, _, _ = c.Recv(ctx)
	_, _, _ = service.Dial(ctx, "ws://"+l.Addr().String()+"/nowhere", nil)
	_ = c.Close(1000, "")
	_ = srv.Shutdown(ctx) // waits for the handler, which records the close

	fams, _ := reg.Gather()
	for _, f := range fams {
		switch f.GetName() {
		case "wsmap_messages_total", "wsmap_closes_total", "wsmap_handshake_rejections_total":
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				fmt.Printf("%s{%s} %v\n", f.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// wsmap_closes_total{code=1000,protocol=echo,route=/echo} 1
	// wsmap_handshake_rejections_total{status=404} 1
	// wsmap_messages_total{direction=in,protocol=echo,route=/echo} 1
	// wsmap_messages_total{direction=out,protocol=echo,route=/echo} 1
}
