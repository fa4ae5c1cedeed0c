package middleware

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/wsmap/wsmap/service"
)

// ConnLimitOptions configures ConnLimit.
type ConnLimitOptions struct {
	// Max is how many WebSocket connections may be open at once.
	// Required.
	Max int

	// RetryAfter is the Retry-After a refused handshake carries, rounded
	// up to a second. Defaults to 5s.
	RetryAfter time.Duration
}

// ConnLimit returns handshake middleware that admits at most o.Max
// WebSocket connections at once and refuses the handshakes beyond with
// 503 Service Unavailable and a Retry-After. A connection holds its slot
// until it has closed and its handler has returned (see service.Track),
// so that no more than o.Max handlers run at once; a refused handshake
// gives its slot back when ServeHTTP returns. Plain HTTP requests do not
// count.
//
// The server answers a client's close before its handler has returned,
// so the slot may still be held when the client's Close returns: a
// client that closes and dials again at once can be refused.
//
// The bound belongs to the middleware returned: use that one value on
// several routes (or muxes) for a common bound, and call ConnLimit again
// for a separate one. It panics without a positive Max.
func ConnLimit(o *ConnLimitOptions) func(http.Handler) http.Handler {
	if o == nil || o.Max <= 0 {
		panic("middleware: ConnLimit needs a positive Max")
	}
	retryAfter := o.RetryAfter
	if retryAfter <= 0 {
		retryAfter = 5 * time.Second
	}
	l := &connLimit{max: int64(o.Max), retryAfter: retryAfterValue(retryAfter)}
	return l.handler
}

// connLimit is the state ConnLimit's middleware shares.
type connLimit struct {
	max        int64
	retryAfter string
	open       atomic.Int64
}

func (l *connLimit) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !service.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			refuse(w, http.StatusServiceUnavailable,
				fmt.Sprintf("too many connections (limit %d); try again later", l.max),
				http.Header{"Retry-After": {l.retryAfter}})
			return
		}
		r, lt := service.Track(r, l.release)
		next.ServeHTTP(w, r)
		if !lt.Upgraded() {
			l.release()
		}
	})
}

func (l *connLimit) release() { l.open.Add(-1) }

// RateLimitOptions configures RateLimit.
type RateLimitOptions struct {
	// Rate is the number of handshakes per second a client may make in
	// the long run, and Burst how many it may make at once. Required.
	Rate  rate.Limit
	Burst int

	// Key names the client a request comes from. Defaults to
	// ClientIP(), the address of the TCP peer. Behind a reverse proxy,
	// use ClientIP with the proxy's addresses.
	Key func(r *http.Request) string

	// MaxClients bounds the number of clients remembered at once, which
	// bounds the limiter's memory. When it is reached, the clients whose
	// allowance is whole again are forgotten first, then arbitrary ones.
	// Defaults to 100,000.
	MaxClients int
}

// RateLimit returns handshake middleware that limits each client to
// o.Rate handshakes per second with bursts of o.Burst (a token bucket per
// client, from golang.org/x/time/rate). A handshake over the limit is
// refused with 429 Too Many Requests and a Retry-After header saying when
// the next one would pass. Plain HTTP requests do not count.
func RateLimit(opts *RateLimitOptions) func(http.Handler) http.Handler {
	var o RateLimitOptions
	if opts != nil {
		o = *opts
	}
	if o.Rate <= 0 || o.Burst <= 0 {
		panic("middleware: RateLimit needs a positive Rate and Burst")
	}
	if o.Key == nil {
		o.Key = ClientIP()
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 100_000
	}
	l := &rateLimiter{opts: o, clients: make(map[string]*clientBucket)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !service.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			if wait := l.take(o.Key(r), time.Now()); wait > 0 {
				refuse(w, http.StatusTooManyRequests, "too many handshakes; slow down",
					http.Header{"Retry-After": {retryAfterValue(wait)}})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

type rateLimiter struct {
	opts      RateLimitOptions
	mu        sync.Mutex
	clients   map[string]*clientBucket
	lastSweep time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// refill is how long an idle bucket takes to be whole again; such a
// bucket is the same as a new one and can be forgotten.
func (l *rateLimiter) refill() time.Duration {
	return time.Duration(float64(l.opts.Burst) / float64(l.opts.Rate) * float64(time.Second))
}

// take spends one token of key's bucket at now and returns 0, or returns
// how long until a token is available, spending nothing.
func (l *rateLimiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > max(l.refill(), time.Minute) || len(l.clients) >= l.opts.MaxClients {
		l.sweep(now)
	}
	b := l.clients[key]
	if b == nil {
		b = &clientBucket{lim: rate.NewLimiter(l.opts.Rate, l.opts.Burst)}
		l.clients[key] = b
	}
	b.last = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// sweep forgets the clients whose buckets are whole again and, if too
// many are left, arbitrary ones down to nine tenths of the bound.
func (l *rateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	idle := l.refill()
	for k, b := range l.clients {
		if now.Sub(b.last) >= idle {
			delete(l.clients, k)
		}
	}
	for k := range l.clients {
		if len(l.clients) < l.opts.MaxClients*9/10 {
			break
		}
		delete(l.clients, k)
	}
}

// retryAfterValue is d in whole seconds, rounded up, at least 1.
func retryAfterValue(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// ClientIP returns a key function naming a request's client by IP
// address. Without arguments it is the TCP peer's address, which a client
// cannot forge. Given the address ranges of trusted reverse proxies, a
// request from one of them is named by the X-Forwarded-For entries,
// read from the right: the first address that is not a trusted proxy is
// the client. Trust only proxies that append to X-Forwarded-For; an
// entry that does not parse ends the walk at the last trusted hop.
func ClientIP(trustedProxies ...netip.Prefix) func(r *http.Request) string {
	return func(r *http.Request) string {
		peer, ok := remoteIP(r.RemoteAddr)
		if !ok {
			return r.RemoteAddr
		}
		if len(trustedProxies) == 0 || !trusted(peer, trustedProxies) {
			return peer.String()
		}
		client := peer
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			entries := strings.Split(hops[i], ",")
			for j := len(entries) - 1; j >= 0; j-- {
				a, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
				if err != nil {
					return client.String()
				}
				client = a.Unmap()
				if !trusted(client, trustedProxies) {
					return client.String()
				}
			}
		}
		return client.String()
	}
}

func remoteIP(hostport string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		a, err := netip.ParseAddr(hostport)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
