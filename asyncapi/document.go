package asyncapi

import (
	"encoding/json"
	"io"
)

// Version is the version of the AsyncAPI specification the documents
// follow.
const Version = "3.0.0"

// WebSocketBindingVersion is the version of the WebSocket channel
// binding the documents use.
const WebSocketBindingVersion = "0.1.0"

// Document is an AsyncAPI 3.0.0 document: the part of the specification
// that a route table fills. Its fields may be changed before it is
// written, to add what the table does not know.
type Document struct {
	AsyncAPI           string                `json:"asyncapi"`
	Info               Info                  `json:"info"`
	Servers            map[string]*Server    `json:"servers,omitempty"`
	DefaultContentType string                `json:"defaultContentType,omitempty"`
	Channels           map[string]*Channel   `json:"channels,omitempty"`
	Operations         map[string]*Operation `json:"operations,omitempty"`
}

// Info is the document's info object: what the API is.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// Server is a server the API is served from.
type Server struct {
	// Host is the host name, with the port if it is not the scheme's.
	Host string `json:"host"`
	// Protocol is "ws" or "wss".
	Protocol string `json:"protocol"`
	// Pathname is the path below which the channels' addresses are.
	Pathname    string `json:"pathname,omitempty"`
	Title       string `json:"title,omitempty"`
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
}

// Channel is a route: the WebSocket connections to the paths its
// pattern matches.
type Channel struct {
	// Address is the path, with {name} for each parameter; nil (written
	// as null, "unknown or dynamic" in AsyncAPI's words) when the
	// route's pattern cannot be written as an address. Extension then
	// has the pattern.
	Address     *string               `json:"address"`
	Title       string                `json:"title,omitempty"`
	Summary     string                `json:"summary,omitempty"`
	Description string                `json:"description,omitempty"`
	Parameters  map[string]*Parameter `json:"parameters,omitempty"`
	Messages    map[string]*Message   `json:"messages,omitempty"`
	Bindings    *ChannelBindings      `json:"bindings,omitempty"`
	// Extension is the route as wsmap has it, x-wsmap.
	Extension *RouteExtension `json:"x-wsmap,omitempty"`
}

// Parameter is a parameter of a channel's address: a named group of the
// route's pattern.
type Parameter struct {
	Description string `json:"description,omitempty"`
	// Pattern is the RE2 expression the parameter's value matches,
	// x-wsmap-pattern: AsyncAPI 3.0's parameters have no field for it.
	Pattern string `json:"x-wsmap-pattern"`
}

// ChannelBindings holds a channel's protocol bindings.
type ChannelBindings struct {
	WS *WebSocketBinding `json:"ws,omitempty"`
}

// WebSocketBinding is the WebSocket channel binding: the handshake's
// method, and JSON Schemas of its query and headers.
type WebSocketBinding struct {
	Method         string          `json:"method,omitempty"`
	Query          json.RawMessage `json:"query,omitempty"`
	Headers        json.RawMessage `json:"headers,omitempty"`
	BindingVersion string          `json:"bindingVersion"`
}

// RouteExtension is a channel's x-wsmap extension: the route's pattern
// and how it negotiates subprotocols, which the WebSocket binding has no
// fields for.
type RouteExtension struct {
	// Pattern is the route's pattern, matched against the whole path
	// below Prefix.
	Pattern string `json:"pattern"`
	// Prefix is the mount point's path in front of Pattern, if any.
	Prefix string `json:"prefix,omitempty"`
	// Subprotocols are those served, in the server's order of
	// preference; empty if none is.
	Subprotocols []Subprotocol `json:"subprotocols"`
	// NoSubprotocol says whether clients that offer none are served.
	NoSubprotocol bool `json:"noSubprotocol"`
	// FallbackNoMatch says whether a client whose offer matches none of
	// Subprotocols is served as one that offered none.
	FallbackNoMatch bool `json:"fallbackNoMatch,omitempty"`
	// Policy is how one of several offered subprotocols is chosen:
	// "client order" or "server order".
	Policy string `json:"policy"`
	// HTTP says whether plain HTTP requests to the path are served too.
	HTTP bool `json:"http,omitempty"`
}

// Subprotocol is a subprotocol a route serves.
type Subprotocol struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Summary     string `json:"summary,omitempty"`
	Description string `json:"description,omitempty"`
}

// Message is a kind of message exchanged on a channel.
type Message struct {
	Name        string          `json:"name,omitempty"`
	Title       string          `json:"title,omitempty"`
	Summary     string          `json:"summary,omitempty"`
	Description string          `json:"description,omitempty"`
	ContentType string          `json:"contentType,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	// Subprotocol is the subprotocol whose message it is,
	// x-wsmap-subprotocol; "" (left out) for connections without one.
	Subprotocol string `json:"x-wsmap-subprotocol,omitempty"`
}

// Operation is what the server does with a message on a channel: send
// it ("send") or receive it ("receive"), and with a reply, the message
// that answers it.
type Operation struct {
	Action      string      `json:"action"`
	Channel     Reference   `json:"channel"`
	Messages    []Reference `json:"messages,omitempty"`
	Reply       *Reply      `json:"reply,omitempty"`
	Title       string      `json:"title,omitempty"`
	Summary     string      `json:"summary,omitempty"`
	Description string      `json:"description,omitempty"`
	// Subprotocol is as Message's, x-wsmap-subprotocol.
	Subprotocol string `json:"x-wsmap-subprotocol,omitempty"`
}

// Reply is the answer to an operation's message.
type Reply struct {
	Channel  *Reference  `json:"channel,omitempty"`
	Messages []Reference `json:"messages,omitempty"`
}

// Reference points at an object of the document, a JSON pointer in a
// URI fragment such as "#/channels/echo".
type Reference struct {
	Ref string `json:"$ref"`
}

// WriteTo writes d as indented JSON, with "<", ">" and "&" as they are
// (patterns have them) rather than escaped.
func (d *Document) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	enc := json.NewEncoder(cw)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(d)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
