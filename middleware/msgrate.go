package middleware

import (
	"context"

	"golang.org/x/time/rate"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// MessageRate returns connection middleware that limits the messages each
// connection may receive to r per second, with bursts of burst (a token
// bucket from golang.org/x/time/rate). The message that exceeds the limit
// is not delivered: the connection is closed with 1008 (policy violation)
// and the reason "message rate limit exceeded".
func MessageRate(r rate.Limit, burst int) func(service.Handler) service.Handler {
	return func(next service.Handler) service.Handler {
		return service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
			c.Observe(rateObserver{rate.NewLimiter(r, burst)})
			return next.ServeWS(ctx, c)
		})
	}
}

type rateObserver struct{ lim *rate.Limiter }

func (o rateObserver) Received(protocol.MessageType, int) error {
	if !o.lim.Allow() {
		return &service.CloseError{Code: protocol.ClosePolicyViolation, Reason: "message rate limit exceeded"}
	}
	return nil
}

func (rateObserver) Sent(protocol.MessageType, int) {}
