package protocol

import "strconv"

// CloseCode is a WebSocket close status code (RFC 6455 section 7.4).
type CloseCode int

// Close codes defined by RFC 6455 and registered with IANA.
const (
	// CloseNormal means the purpose of the connection has been fulfilled.
	CloseNormal CloseCode = 1000
	// CloseGoingAway means an endpoint is going away: a server shutting
	// down or a browser leaving a page.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError means the peer broke the protocol.
	CloseProtocolError CloseCode = 1002
	// CloseUnsupportedData means the peer sent a type of data the endpoint
	// cannot accept.
	CloseUnsupportedData CloseCode = 1003
	// CloseNoStatus is reported when a close frame carried no code. It must
	// never be sent.
	CloseNoStatus CloseCode = 1005
	// CloseAbnormal is reported when the connection ended without a close
	// frame. It must never be sent.
	CloseAbnormal CloseCode = 1006
	// CloseInvalidPayload means a message's data did not match its type,
	// such as invalid UTF-8 in a text message.
	CloseInvalidPayload CloseCode = 1007
	// ClosePolicyViolation means a message broke the endpoint's policy.
	ClosePolicyViolation CloseCode = 1008
	// CloseMessageTooBig means a message was too big to process.
	CloseMessageTooBig CloseCode = 1009
	// CloseMandatoryExtension is sent by a client whose required extension
	// the server did not negotiate.
	CloseMandatoryExtension CloseCode = 1010
	// CloseInternalError means the server met an unexpected condition.
	CloseInternalError CloseCode = 1011
	// CloseServiceRestart means the service is restarting.
	CloseServiceRestart CloseCode = 1012
	// CloseTryAgainLater means the service is overloaded; try again later.
	CloseTryAgainLater CloseCode = 1013
	// CloseBadGateway means a gateway received an invalid response.
	CloseBadGateway CloseCode = 1014
	// CloseTLSHandshake is reported when the TLS handshake failed. It must
	// never be sent.
	CloseTLSHandshake CloseCode = 1015
)

var closeCodeNames = map[CloseCode]string{
	CloseNormal:             "normal closure",
	CloseGoingAway:          "going away",
	CloseProtocolError:      "protocol error",
	CloseUnsupportedData:    "unsupported data",
	CloseNoStatus:           "no status received",
	CloseAbnormal:           "abnormal closure",
	CloseInvalidPayload:     "invalid payload data",
	ClosePolicyViolation:    "policy violation",
	CloseMessageTooBig:      "message too big",
	CloseMandatoryExtension: "mandatory extension",
	CloseInternalError:      "internal error",
	CloseServiceRestart:     "service restart",
	CloseTryAgainLater:      "try again later",
	CloseBadGateway:         "bad gateway",
	CloseTLSHandshake:       "TLS handshake failure",
}

// String returns the code's registered name with its number, such as
// "1000 (normal closure)", or the number alone with its range for codes
// without a name, such as "4001 (private use)".
func (c CloseCode) String() string {
	n := strconv.Itoa(int(c))
	if name, ok := closeCodeNames[c]; ok {
		return n + " (" + name + ")"
	}
	switch {
	case c >= 3000 && c <= 3999:
		return n + " (registered use)"
	case c >= 4000 && c <= 4999:
		return n + " (private use)"
	}
	return n + " (invalid)"
}

// ValidReceived reports whether c may appear in a close frame received from
// a peer. Codes reserved for local reporting (1005, 1006, 1015), unassigned
// codes below 3000 and codes outside 1000–4999 are invalid; an endpoint
// that receives one fails the connection with CloseProtocolError.
func (c CloseCode) ValidReceived() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// Sendable reports whether an endpoint may put c in a close frame it
// sends. It is the same set as [CloseCode.ValidReceived].
func (c CloseCode) Sendable() bool { return c.ValidReceived() }

// MaxCloseReason is the largest close reason, in bytes, that fits in a
// close frame: 125 bytes of control payload less 2 for the code.
const MaxCloseReason = 123
