package otelwsmap_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wsmap/wsmap/middleware/otelwsmap"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// New takes the providers (the global ones by default); Handshake and
// Conn go on the same mux.
func ExampleNew() {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := otelwsmap.New(&otelwsmap.Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Propagator:     propagation.TraceContext{},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := &mux.Mux{}
	m.Use(tel.Handshake())
	m.UseConn(tel.Conn())
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
	_ = srv.Shutdown(ctx) // waits for the handler, which ends the span

	for _, s := range spans.Ended() {
		a := attrMap(s.Attributes())
		fmt.Println(strings.TrimSpace(fmt.Sprintln(s.Name(), a["http.response.status_code"], a["websocket.close.code"], a["websocket.close.initiator"])))
	}
	// Output:
	// websocket 404
	// websocket /echo 101 1000 client
}
