// Command chi shows wsmap inside a chi router, beside a REST route and
// behind chi's own middleware:
//
//	GET /api/health        JSON: {"status":"ok","connections":N}
//	/ws/echo               WebSocket echo; subprotocol "echo" optional
//	/ws/rooms/{room}       WebSocket; replies "[room] message", where room
//	                       is chi's URL parameter
//	GET /metrics           Prometheus metrics of the WebSocket routes
//	GET /asyncapi.json     the AsyncAPI 3.0.0 document of the WebSocket routes
//
// Usage:
//
//	chi [-addr 127.0.0.1:8080]
//
// It prints "listening on HOST:PORT" once it accepts connections and
// serves until interrupted (SIGINT or SIGTERM), then closes every
// connection with 1001 (going away) and exits. Requests, connections and
// refused handshakes, with the reason for each refusal, are logged to
// standard error.
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set (say http://localhost:4318, a
// collector or Jaeger), it sends the WebSocket routes' spans and metrics
// there by OTLP over HTTP/protobuf, as package otelwsmap makes them;
// OTEL_TRACES_EXPORTER or OTEL_METRICS_EXPORTER set to none turns one
// off (see telemetry.go and docs/observability.md). Unset, nothing is
// instrumented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsmap/wsmap/asyncapi"
	wsmw "github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/middleware/otelwsmap"
	"github.com/wsmap/wsmap/middleware/prommetrics"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// newRouter builds the chi router; srv reports the open connections,
// tel, if not nil, traces and measures the WebSocket routes.
func newRouter(srv *service.Server, tel *otelwsmap.Telemetry, logw io.Writer) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	metrics, err := prommetrics.New(reg, nil)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(logw, nil))

	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: log.New(logw, "", log.LstdFlags), NoColor: true}))
	r.Use(middleware.Recoverer)

	r.Get("/api/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "connections": srv.Len()})
	})
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// The WebSocket layers: refusals counted, connections logged,
	// recovered and measured, each client held to 100 messages a second.
	ws := func(m *mux.Mux) *mux.Mux {
		m.Use(wsmw.InstrumentHandshake(metrics))
		if tel != nil {
			m.UseConn(tel.Conn())
		}
		m.UseConn(wsmw.Log(logger), wsmw.Recover(wsmw.LogPanics(logger)), wsmw.Instrument(metrics), wsmw.MessageRate(&wsmw.MessageRateOptions{Rate: 100, Burst: 100}))
		return m
	}
	sockets := ws(&mux.Mux{})
	sockets.Handle(`/echo`, service.HandlerFunc(echo), "echo")

	rooms := ws(&mux.Mux{})
	rooms.Handle(`/`, service.HandlerFunc(room))

	// A refused handshake is logged with its reason, wherever under /ws
	// it is refused: by validRoom, by a mux, or by the upgrade itself (a
	// cross-origin request); chi's request log has only its status.
	r.Route("/ws", func(r chi.Router) {
		r.Use(wsmw.LogHandshake(logger))
		if tel != nil {
			r.Use(tel.Handshake())
		}
		r.Mount("/", sockets)
		r.With(validRoom).Mount("/rooms/{room}", rooms)
	})

	// The document of both muxes, each at its mount point; the room's
	// parameter is what validRoom lets through.
	r.Handle("/asyncapi.json", asyncapi.Handler(&asyncapi.Options{Title: "chi example", Version: "1.0.0"},
		asyncapi.Mount{Prefix: "/ws", Mux: sockets},
		asyncapi.Mount{Prefix: "/ws/rooms/{room:" + roomPattern + "}", Mux: rooms},
	))
	return r, nil
}

// roomPattern is what a room name may be.
const roomPattern = `[a-z0-9-]{1,32}`

var roomName = regexp.MustCompile(`^` + roomPattern + `$`)

// validRoom refuses a bad room name before the upgrade.
func validRoom(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !roomName.MatchString(chi.URLParam(r, "room")) {
			http.Error(w, "room names are 1 to 32 of a-z, 0-9 and -", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// echo sends every message back.
func echo(ctx context.Context, c *service.Conn) error {
	for {
		typ, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		if err := c.Send(ctx, typ, data); err != nil {
			return err
		}
	}
}

// room answers each text message with the room's name, read from chi's
// URL parameter, in front.
func room(ctx context.Context, c *service.Conn) error {
	name := chi.URLParam(c.Request(), "room")
	for {
		_, data, err := c.Recv(ctx)
		if err != nil {
			return err
		}
		if err := c.Send(ctx, protocol.Text, []byte("["+name+"] "+string(data))); err != nil {
			return err
		}
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, stdout, logw io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	tel, shutdown, err := telemetry(ctx)
	if err != nil {
		l.Close()
		return err
	}
	srv := &service.Server{}
	if srv.Handler, err = newRouter(srv, tel, logw); err != nil {
		l.Close()
		return errors.Join(err, shutdown(context.Background()))
	}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	err = srv.ServeUntil(ctx, l, 10*time.Second)
	// What is left to export goes out before the program exits.
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, shutdown(flushCtx))
}
