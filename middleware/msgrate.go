package middleware

import (
	"context"

	"golang.org/x/time/rate"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// MessageRateOptions configures MessageRate.
type MessageRateOptions struct {
	// Rate is how many messages a second each connection may receive, on
	// average. Required.
	Rate rate.Limit
	// Burst is how many it may receive at once. Required.
	Burst int
}

// MessageRate returns connection middleware that limits the messages each
// connection may receive to o.Rate per second, with bursts of o.Burst (a
// token bucket from golang.org/x/time/rate). The message that exceeds the
// limit is not delivered: the connection is closed with 1008 (policy
// violation) and the reason "message rate limit exceeded". It panics
// without a positive Rate and Burst.
func MessageRate(o *MessageRateOptions) func(service.Handler) service.Handler {
	if o == nil || o.Rate <= 0 || o.Burst <= 0 {
		panic("middleware: MessageRate needs a positive Rate and Burst")
	}
	r, burst := o.Rate, o.Burst
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
