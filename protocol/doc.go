// Package protocol is the vocabulary of the WebSocket protocol (RFC 6455)
// that the rest of wsmap speaks: subprotocol offers and their selection,
// close status codes, and message types.
//
// Everything here is a pure function of its inputs: no I/O, no goroutines,
// no state. The package depends only on the standard library.
//
// # Subprotocols
//
// A client lists the subprotocols it can speak in one or more
// Sec-WebSocket-Protocol header lines, most preferred first. [ParseOffer]
// turns those lines into an [Offer], rejecting anything that is not a
// comma-separated list of RFC 7230 tokens. [Select] then picks the protocol
// to answer with, following a [Policy]: the client's order (the default,
// as RFC 6455 intends) or the server's. Matching is exact and
// case-sensitive, and the selected name is always one the client offered,
// spelled as the client spelled it.
//
// # Close codes
//
// [CloseCode] names the status codes of RFC 6455 section 7.4 and the IANA
// registry. [CloseCode.ValidReceived] says whether a code may appear in a
// close frame received from a peer, and [CloseCode.Sendable] whether an
// endpoint may put it in a close frame it sends.
//
// # Concurrency
//
// All functions are safe to call from any number of goroutines. An [Offer]
// is a read-only value once parsed.
package protocol
