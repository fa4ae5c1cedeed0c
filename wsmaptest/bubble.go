package wsmaptest

import (
	"errors"
	"net/http"
	"time"

	"github.com/wsmap/wsmap/service"
)

// ErrOtherBubble is wrapped by the error of a dial to a Server from a
// goroutine in another testing/synctest bubble than the one the Server
// was made in, or from outside the bubble it was made in (see
// NewServer).
var ErrOtherBubble = errors.New("wsmaptest: the server and its client are not in the same synctest bubble")

// otherBubbleReason says what went wrong, and what to do.
const otherBubbleReason = "wsmaptest: this dial runs in a testing/synctest bubble the server was not made in " +
	"(or outside the one it was made in): the server's goroutines cannot use its connections. " +
	"Call NewServer (or Connect, Pair) inside the function given to synctest.Test"

// inBubble reports whether the calling goroutine runs in a
// testing/synctest bubble. Outside one, time.Now gives a time with a
// monotonic clock reading; a bubble's fake clock gives none.
func inBubble() bool {
	now := time.Now()
	return now == now.Round(0) // Round(0) strips the monotonic reading
}

// otherBubble is the error of a dial refused because it crosses a
// bubble's boundary: a refusal with 403, so that service.Redial stops at
// once instead of trying again.
func otherBubble() error {
	return &service.HandshakeError{Status: http.StatusForbidden, Reason: otherBubbleReason, URL: baseURL, Err: ErrOtherBubble}
}
