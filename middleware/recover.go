package middleware

import (
	"context"
	"errors"
	"log/slog"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// Recover returns connection middleware that turns a panic in the handler
// into a close with 1011 (internal error) and reports it, with the stack
// where it happened, to report; it panics if report is nil. LogPanics
// makes a report that logs with a logger. The server goes on serving its
// other connections.
//
// Run already recovers a handler's panic and gives it to
// service.Options.OnError; Recover is for reporting it from the middleware
// stack, and for the middleware outside it, which sees an ordinary 1011
// close.
func Recover(report func(c *service.Conn, p *service.PanicError)) func(service.Handler) service.Handler {
	if report == nil {
		panic("middleware: Recover needs a report function, such as LogPanics(logger)")
	}
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			err := service.Invoke(ctx, c, next)
			var pe *service.PanicError
			if errors.As(err, &pe) {
				report(c, pe)
				return &service.CloseError{Code: protocol.CloseInternalError, Reason: "internal error"}
			}
			return err
		})
	}
}

// LogPanics returns a report for Recover that logs each panic with logger
// at level ERROR, with the route, the peer, the value and the stack. It
// panics if logger is nil.
func LogPanics(logger *slog.Logger) func(c *service.Conn, p *service.PanicError) {
	needLogger("LogPanics", logger)
	return func(c *service.Conn, p *service.PanicError) {
		logger.LogAttrs(context.Background(), slog.LevelError, "websocket handler panic",
			slog.String("route", route(c)),
			slog.String("remote", c.RemoteAddr().String()),
			slog.Any("panic", p.Value),
			slog.String("stack", string(p.Stack)))
	}
}
