package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// HeaderProtocol is the name of the header that carries the client's
// subprotocol offer and the server's answer, as RFC 6455 spells it.
const HeaderProtocol = "Sec-WebSocket-Protocol"

// headerProtocolKey is [HeaderProtocol] as net/http stores it
// (textproto.CanonicalMIMEHeaderKey), so that reading it is a map lookup
// rather than a conversion that allocates on every handshake.
const headerProtocolKey = "Sec-Websocket-Protocol"

// ErrMalformedOffer is wrapped by the errors [ParseOffer] returns for an
// offer that breaks the header's syntax.
var ErrMalformedOffer = errors.New("protocol: malformed Sec-WebSocket-Protocol offer")

// MaxOffer is the most distinct subprotocols an offer may list. Clients
// offer a handful; a longer offer is refused rather than searched.
const MaxOffer = 128

// ErrOfferTooLong is wrapped by the error [ParseOffer] returns for an
// offer of more than [MaxOffer] distinct subprotocols.
var ErrOfferTooLong = errors.New("protocol: too many subprotocols offered")

// Offer is the list of subprotocols a client offered, in the client's order
// of preference, each listed once. A nil Offer means the client offered
// none.
type Offer []string

// Contains reports whether the client offered exactly the protocol p.
func (o Offer) Contains(p string) bool {
	for _, q := range o {
		if q == p {
			return true
		}
	}
	return false
}

// OfferFromHeader parses the Sec-WebSocket-Protocol lines of h; see
// [ParseOffer].
func OfferFromHeader(h http.Header) (Offer, error) {
	return ParseOffer(h[headerProtocolKey])
}

// ParseOffer parses the values of every Sec-WebSocket-Protocol header line
// of a request into an [Offer].
//
// Each line is a comma-separated list of RFC 7230 tokens with optional
// spaces or tabs around the commas. Empty list elements are ignored, as
// RFC 7230 section 7 requires, so no lines, empty lines and lines of bare
// commas all give a nil Offer. A protocol listed more than once keeps its
// first position. Anything else, such as a quoted string, a space inside a
// name or a control character, is an error wrapping [ErrMalformedOffer]
// that says which element is wrong and where: the offer is refused, never
// guessed at. An offer of more than [MaxOffer] distinct protocols is an
// error wrapping [ErrOfferTooLong].
//
// When each line is one protocol alone, with nothing around it, and no
// protocol is listed twice, the Offer is lines itself, its capacity cut
// to its length: an Offer is read-only, and this common case allocates
// nothing. Otherwise the Offer is allocated once, for as many protocols
// as the lines may list.
func ParseOffer(lines []string) (Offer, error) {
	if bareOffer(lines) {
		return Offer(lines[:len(lines):len(lines)]), nil
	}
	var offer Offer
	var seen map[string]struct{} // built once the offer is long enough
	for li, line := range lines {
		rest := line
		offset := 0
		for {
			elem, tail, more := strings.Cut(rest, ",")
			trimmed := strings.Trim(elem, " \t")
			if trimmed != "" {
				if i := invalidTokenByte(trimmed); i >= 0 {
					pos := offset + strings.Index(elem, trimmed) + i
					return nil, fmt.Errorf("%w: %q is not a token: byte %q at line %d, offset %d",
						ErrMalformedOffer, trimmed, trimmed[i], li+1, pos)
				}
				if !offerHas(offer, seen, trimmed) {
					if len(offer) == MaxOffer {
						return nil, fmt.Errorf("%w: more than %d", ErrOfferTooLong, MaxOffer)
					}
					if offer == nil {
						offer = make(Offer, 0, offerBound(lines[li:]))
					}
					offer = append(offer, trimmed)
					if seen != nil {
						seen[trimmed] = struct{}{}
					} else if len(offer) > 16 {
						seen = make(map[string]struct{}, 2*len(offer))
						for _, p := range offer {
							seen[p] = struct{}{}
						}
					}
				}
			}
			if !more {
				break
			}
			offset += len(elem) + 1
			rest = tail
		}
	}
	return offer, nil
}

// bareOffer reports whether lines are a few lines, each one token with
// nothing around it, none listed twice: the Offer they make is lines.
func bareOffer(lines []string) bool {
	if len(lines) == 0 || len(lines) > 16 {
		return false
	}
	for i, line := range lines {
		if !ValidToken(line) {
			return false
		}
		for _, earlier := range lines[:i] {
			if earlier == line {
				return false
			}
		}
	}
	return true
}

// offerBound returns how many protocols lines may list, at most
// [MaxOffer]: one for each element between their commas.
func offerBound(lines []string) int {
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ",") + 1
		if n >= MaxOffer {
			return MaxOffer
		}
	}
	return n
}

func offerHas(offer Offer, seen map[string]struct{}, p string) bool {
	if seen != nil {
		_, ok := seen[p]
		return ok
	}
	return offer.Contains(p)
}

// ValidToken reports whether s is a non-empty RFC 7230 token, the syntax a
// subprotocol name must have.
func ValidToken(s string) bool {
	return s != "" && invalidTokenByte(s) < 0
}

// invalidTokenByte returns the index of the first byte of s that is not a
// token character, or -1.
func invalidTokenByte(s string) int {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return i
		}
	}
	return -1
}

// isTokenChar reports whether b is a tchar of RFC 7230 section 3.2.6.
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}
