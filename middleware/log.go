package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/wsmap/wsmap/service"
)

// Log returns connection middleware that logs each connection's life with
// logger (slog.Default() if nil), one record when it opens and one when it
// ends:
//
//	INFO websocket open route=/chat/(?P<room>[a-z]+) protocol=chat.v1 remote=127.0.0.1:50412 request_id=9f…
//	INFO websocket closed route=… protocol=… remote=… request_id=… code=1000 reason="" duration=1.5s msgs_in=3 bytes_in=42 msgs_out=3 bytes_out=51
//
// request_id appears when RequestID runs in front. When the handler
// failed (returned an error that is not the connection's close, or
// panicked) the closing record is at level ERROR and has an error
// attribute.
func Log(logger *slog.Logger) func(service.Handler) service.Handler {
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			l := logger
			if l == nil {
				l = slog.Default()
			}
			attrs := []slog.Attr{
				slog.String("route", route(c)),
				slog.String("protocol", c.Subprotocol()),
				slog.String("remote", c.RemoteAddr().String()),
			}
			if id := RequestIDFrom(ctx); id != "" {
				attrs = append(attrs, slog.String("request_id", id))
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
			}
			l.LogAttrs(logCtx, level, "websocket closed", attrs...)
			return err
		})
	}
}
