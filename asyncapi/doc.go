// Package asyncapi writes the AsyncAPI 3.0.0 document of a route table:
// the contract of a WebSocket API as the mux serves it.
//
//	doc, err := asyncapi.New(&asyncapi.Options{Title: "Chat"}, asyncapi.Mount{Mux: m})
//	…
//	doc.WriteTo(os.Stdout)
//
// or served, made afresh on each request:
//
//	r.Handle("/asyncapi.json", asyncapi.Handler(nil, asyncapi.Mount{Prefix: "/ws", Mux: m}))
//
// # What the table becomes
//
// Each route that serves WebSocket connections is a channel. Its address
// is the route's pattern written with {name} for each named group, after
// the mount's Prefix: /chat/(?P<room>[a-z]+) is /chat/{room}, with a
// parameter "room" whose description and x-wsmap-pattern extension give
// the group's expression (AsyncAPI 3.0's parameters have no field for
// it). Only a pattern made of literal text and named groups can be
// written so; any other, such as /echo|/talk, /chat/[a-z]+ or (?i)/echo,
// gets the address null, which AsyncAPI reads as "unknown or dynamic",
// never an address that would be wrong, and the pattern is in the
// channel's x-wsmap extension.
//
// The channel's WebSocket binding (bindingVersion 0.1.0) has the method
// GET and, for a route with subprotocols, a JSON Schema of the headers
// whose Sec-WebSocket-Protocol is a list of tokens, as a client may send
// it (others may be offered beside the route's), with the route's
// subprotocols as its examples, required when the route serves no client
// without one. The binding has no field for the
// negotiation itself, so the channel's x-wsmap extension has it:
//
//	"x-wsmap": {
//	  "pattern": "/echo",              the route's pattern
//	  "prefix": "/ws",                 the mount's prefix, if any
//	  "subprotocols": [                in the server's order of preference
//	    {"name": "echo.v2", "title": …, "summary": …, "description": …}
//	  ],
//	  "noSubprotocol": true,           clients that offer none are served
//	  "fallbackNoMatch": false,        an offer matching none is served as none
//	  "policy": "client order",        or "server order"
//	  "http": false                    plain HTTP requests are served too
//	}
//
// # Messages and operations
//
// A route and each of its protocols may carry a mux.Doc. The route's
// title, summary and description become the channel's, a protocol's
// those of its entry in x-wsmap's subprotocols. Their messages become
// the channel's messages, keyed by the protocol and the message's name
// (echo.v2_text), each with an x-wsmap-subprotocol extension naming its
// protocol (left out for connections without one); and operations, from
// the server's side: a message from the client is a "receive", one from
// the server a "send", one from either end both. A message's Replies
// make its operation's reply. A route without a Doc is still a channel,
// with its address, parameters, binding and extension, but without
// messages or operations.
//
// # Concurrency
//
// New reads the routes once; a Document is a plain value, not safe for
// concurrent changes. Handler is safe for concurrent use.
package asyncapi
