package mux

import (
	"encoding/json"
	"strconv"
)

// Doc describes a route, or one of its subprotocols, for documents about
// the API, such as the AsyncAPI document that package asyncapi writes
// from the route table. It changes nothing in how connections are
// served. Every field is optional.
type Doc struct {
	// Title is a short name for humans.
	Title string
	// Summary is a line saying what it is for.
	Summary string
	// Description says more; CommonMark is allowed.
	Description string
	// Messages are the kinds of message exchanged: on a Protocol, those
	// of that subprotocol; on a Route, those of its connections without
	// a subprotocol (served by NoProtocol).
	Messages []MessageDoc
}

// MessageDoc describes one kind of WebSocket message.
type MessageDoc struct {
	// Name identifies the message within its subprotocol: a method, an
	// action, a message type. Names are unique within a Doc.
	Name string
	// Title, Summary and Description say what it is, as Doc's do.
	Title, Summary, Description string
	// From says which end sends it.
	From Direction
	// ContentType is the media type of the message, such as
	// "application/json" or "text/plain". Optional.
	ContentType string
	// Payload is a JSON Schema (draft-07) of the whole message as it
	// travels in one WebSocket message. Nil means any message.
	Payload json.RawMessage
	// Replies are the messages the other end may answer it with, as a
	// call is answered with its result or an error. Their From and
	// Replies are ignored. A reply with the Name of a message of the
	// same Doc, or of an earlier reply, is that message, described once.
	Replies []MessageDoc
}

// Direction says which end of a connection sends a message.
type Direction int

// The directions, as the server sees them.
const (
	FromClient Direction = iota // the client sends it; the server receives it
	FromServer                  // the server sends it
	FromEither                  // either end sends it
)

// String returns "client", "server" or "either".
func (d Direction) String() string {
	switch d {
	case FromClient:
		return "client"
	case FromServer:
		return "server"
	case FromEither:
		return "either"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}
