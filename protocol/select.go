package protocol

import "strconv"

// Policy decides whose preference wins when a client offers several
// protocols the server supports.
type Policy int

const (
	// ClientOrder selects the first protocol in the client's offer that the
	// server supports. It is the default: RFC 6455 has the client list its
	// protocols in order of preference.
	ClientOrder Policy = iota
	// ServerOrder selects the first protocol in the server's list that the
	// client offered.
	ServerOrder
)

// String returns "client order" or "server order".
func (p Policy) String() string {
	switch p {
	case ClientOrder:
		return "client order"
	case ServerOrder:
		return "server order"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Select returns the protocol to answer offer with, given the protocols
// the server supports and the policy. Matching is exact and
// case-sensitive. The result is always an element of offer; ok is false
// when no offered protocol is supported (including when offer is empty).
func Select(offer Offer, supported []string, p Policy) (selected string, ok bool) {
	if p == ServerOrder {
		for _, s := range supported {
			if offer.Contains(s) {
				return s, true
			}
		}
		return "", false
	}
	for _, o := range offer {
		for _, s := range supported {
			if o == s {
				return o, true
			}
		}
	}
	return "", false
}
