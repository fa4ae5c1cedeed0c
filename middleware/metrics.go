package middleware

import (
	"context"
	"net/http"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Metrics receives what Instrument and InstrumentHandshake observe. Its
// methods are called from many goroutines at once. Package prommetrics
// implements it with Prometheus.
type Metrics interface {
	// HandshakeRejected counts a handshake answered with an HTTP status
	// instead of an upgrade.
	HandshakeRejected(status int)

	// ConnOpened counts a connection accepted on a route (the pattern of
	// the router that served it, never the raw path) with a subprotocol
	// ("" for none), and returns the sink of its further events.
	ConnOpened(route, subprotocol string) ConnMetrics
}

// ConnMetrics receives the events of one connection.
type ConnMetrics interface {
	Received(typ protocol.MessageType, size int)
	Sent(typ protocol.MessageType, size int)
	// Closed is called once, when the connection has ended, with its
	// close code (1006 for one that ended without a close frame) and how
	// long it was open.
	Closed(code protocol.CloseCode, open time.Duration)
}

// Instrument returns connection middleware that reports every connection
// to m: opened, each message each way, and closed with its code and
// duration.
func Instrument(m Metrics) func(service.Handler) service.Handler {
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			cm := m.ConnOpened(route(c), c.Subprotocol())
			c.Observe(connObserver{cm})
			start := time.Now()
			err := serveAndClose(ctx, c, next)
			code, _ := service.CloseStatus(c.Err())
			cm.Closed(code, time.Since(start))
			return err
		})
	}
}

type connObserver struct{ cm ConnMetrics }

func (o connObserver) Received(typ protocol.MessageType, size int) error {
	o.cm.Received(typ, size)
	return nil
}

func (o connObserver) Sent(typ protocol.MessageType, size int) { o.cm.Sent(typ, size) }

// InstrumentHandshake returns handshake middleware that reports to m
// every WebSocket handshake refused with an HTTP status, by whatever is
// behind it: the mux (400, 404, 405, 426), Origin (403), Auth (401, 403),
// the limits (429, 503). Put it in front of those.
func InstrumentHandshake(m Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !service.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			// An upgrade writes its 101 on the hijacked connection, so
			// a status seen here is a refusal.
			if sw.status != 0 {
				m.HandshakeRejected(sw.status)
			}
		})
	}
}

// statusWriter records the status of a response. It unwraps (see
// http.ResponseController), so the upgrade can still hijack the
// connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap returns the wrapped ResponseWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
