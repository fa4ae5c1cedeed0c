package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wsmap/wsmap/internal/reported"
	"github.com/wsmap/wsmap/internal/routeslot"
	"github.com/wsmap/wsmap/service"
)

// Log returns connection middleware that logs each connection's life with
// logger, one record when it opens and one when it ends. It panics if
// logger is nil: pass slog.Default() to log where the program's default
// logger does.
//
//	INFO websocket open route=/chat/(?P<room>[a-z]+) protocol=chat.v1 remote=127.0.0.1:50412 request_id=9f… identity=alice
//	INFO websocket closed route=… protocol=… remote=… request_id=… identity=alice code=1000 reason="" duration=1.5s msgs_in=3 bytes_in=42 msgs_out=3 bytes_out=51
//
// request_id appears when RequestID runs in front, identity when Auth
// attached one. Refused handshakes never reach a connection: LogHandshake
// logs those. When the handler failed (returned an error that is not the
// connection's close, or panicked) the closing record is at level ERROR
// and has an error attribute, and a stack attribute for a panic; the
// connection then does not log the failure again through slog.Default()
// (see service.Options.OnError).
func Log(logger *slog.Logger) func(service.Handler) service.Handler {
	needLogger("Log", logger)
	l := logger
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			attrs := []slog.Attr{
				slog.String("route", route(c)),
				slog.String("protocol", c.Subprotocol()),
				slog.String("remote", c.RemoteAddr().String()),
			}
			if id := RequestIDFrom(ctx); id != "" {
				attrs = append(attrs, slog.String("request_id", id))
			}
			if id, ok := Identity(ctx); ok {
				attrs = append(attrs, slog.Any("identity", id))
			}
			logCtx := context.WithoutCancel(ctx)
			l.LogAttrs(logCtx, slog.LevelInfo, "websocket open", attrs...)
			n := &counter{}
			c.Observe(n)
			start := time.Now()
			err := serveAndClose(ctx, c, next)
			code, reason := service.CloseStatus(c.Err())
			attrs = append(attrs,
				slog.Int("code", int(code)),
				slog.String("reason", reason),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("msgs_in", n.msgsIn.Load()),
				slog.Int64("bytes_in", n.bytesIn.Load()),
				slog.Int64("msgs_out", n.msgsOut.Load()),
				slog.Int64("bytes_out", n.bytesOut.Load()),
			)
			level := slog.LevelInfo
			if failure(err) {
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", err.Error()))
				var pe *service.PanicError
				if errors.As(err, &pe) {
					attrs = append(attrs, slog.String("stack", string(pe.Stack)))
				}
				// Logged here, so the connection does not log it again.
				err = reported.Mark(err)
			}
			l.LogAttrs(logCtx, level, "websocket closed", attrs...)
			return err
		})
	}
}

// LogHandshake returns handshake middleware that logs, with logger at
// level WARN (it panics if logger is nil, as Log does), every WebSocket handshake refused
// behind it with an HTTP status: by the mux (400, 404, 405, 426), Origin
// (403), Auth (401, 403) or the limits (429, 503). Browsers hide the status
// of a refused WebSocket from JavaScript, so the server's log is where the
// reason can be read:
//
//	WARN websocket refused status=400 reason="no offered subprotocol is supported; supported: calc.v2, calc.v1" path=/calc/abc route=/calc/(?P<session>[^/]+) remote=127.0.0.1:50412 request_id=9f…
//
// reason is the first line of the response's body, at most 200 bytes;
// route is the pattern of the route that refused it, when a mux behind
// the middleware found one; request_id appears when RequestID runs in
// front. Put it in front of the layers whose refusals it should see.
func LogHandshake(logger *slog.Logger) func(http.Handler) http.Handler {
	needLogger("LogHandshake", logger)
	l := logger
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !service.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			rw := &reasonWriter{statusWriter: statusWriter{ResponseWriter: w}}
			r, slot := routeslot.With(r)
			next.ServeHTTP(rw, r)
			// An upgrade writes its 101 on the hijacked connection, so
			// a status seen here is a refusal.
			if rw.status == 0 {
				return
			}
			reason, _, _ := strings.Cut(string(rw.body), "\n")
			attrs := []slog.Attr{
				slog.Int("status", rw.status),
				slog.String("reason", strings.ToValidUTF8(strings.TrimSpace(reason), "\uFFFD")),
				slog.String("path", r.URL.Path),
			}
			if slot.Pattern != "" {
				attrs = append(attrs, slog.String("route", slot.Pattern))
			}
			attrs = append(attrs, slog.String("remote", r.RemoteAddr))
			if id := RequestIDFrom(r.Context()); id != "" {
				attrs = append(attrs, slog.String("request_id", id))
			}
			l.LogAttrs(r.Context(), slog.LevelWarn, "websocket refused", attrs...)
		})
	}
}

// maxLoggedReason bounds the part of a refusal's body LogHandshake keeps.
const maxLoggedReason = 200

// reasonWriter records a response's status and the start of its body.
type reasonWriter struct {
	statusWriter
	body []byte
}

func (w *reasonWriter) Write(p []byte) (int, error) {
	if room := maxLoggedReason - len(w.body); room > 0 {
		w.body = append(w.body, p[:min(room, len(p))]...)
	}
	return w.statusWriter.Write(p)
}

// needLogger panics if logger is nil: the library does not fall back to
// the program's global logger on its own.
func needLogger(name string, logger *slog.Logger) {
	if logger == nil {
		panic("middleware: " + name + " needs a logger; pass slog.Default() to use the program's default one")
	}
}
