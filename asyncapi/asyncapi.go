package asyncapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/protocol"
)

// Options configures a document. A nil *Options means the defaults.
type Options struct {
	// Title is the API's title. Defaults to "WebSocket API".
	Title string
	// Version is the API's version (not AsyncAPI's). Defaults to
	// "0.0.0".
	Version string
	// Description describes the API; CommonMark is allowed.
	Description string
	// Servers are the servers the API is served from, by name. Defaults
	// to none: the document then says where each channel is, not on
	// which host.
	Servers map[string]*Server
}

// Mount is a mux and the path it is mounted at.
type Mount struct {
	// Prefix is the path in front of the mux's patterns: "" when the mux
	// sees whole paths, "/ws" for a mux mounted at /ws by a chi router or
	// http.StripPrefix. Parameters are written as chi writes them,
	// {name} for a path segment or {name:expr} for what the RE2
	// expression expr matches. A trailing "/" is dropped, and a route
	// whose pattern is "/" has the prefix alone as its address: a router
	// serves the mount point with or without the slash.
	Prefix string
	// Mux is the mux whose routes become channels.
	Mux *mux.Mux
}

// ErrInvalid is wrapped by every error of New: a mount or a route's Doc
// that cannot be written into a document.
var ErrInvalid = errors.New("asyncapi: invalid description")

// New returns the document of the routes of mounts, in their order: a
// channel per route that serves WebSocket connections (a route that
// only serves plain HTTP has none), with an operation per message
// that a route's or subprotocol's mux.Doc describes. See the package
// documentation for what each part of the route table becomes.
//
// The routes are read once, when New is called; the document does not
// change with routes added later.
func New(opts *Options, mounts ...Mount) (*Document, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Title == "" {
		o.Title = "WebSocket API"
	}
	if o.Version == "" {
		o.Version = "0.0.0"
	}
	d := &Document{
		AsyncAPI: Version,
		Info:     Info{Title: o.Title, Version: o.Version, Description: o.Description},
		Servers:  o.Servers,
	}
	b := builder{d: d}
	for i, m := range mounts {
		if m.Mux == nil {
			return nil, fmt.Errorf("%w: mount %d has no mux", ErrInvalid, i)
		}
		prefix, err := prefixOf(m.Prefix)
		if err != nil {
			return nil, fmt.Errorf("%w: mount %d: %v", ErrInvalid, i, err)
		}
		for _, r := range m.Mux.Routes() {
			if err := b.route(prefix, m.Prefix, r); err != nil {
				return nil, fmt.Errorf("%w: route %q: %v", ErrInvalid, r.Pattern, err)
			}
		}
	}
	return d, nil
}

// builder adds channels and operations to a document.
type builder struct {
	d *Document
}

// route adds the channel of r, and its operations.
func (b *builder) route(prefix address, rawPrefix string, r mux.RouteInfo) error {
	if len(r.Protocols) == 0 && !r.NoProtocol {
		return nil // it serves plain HTTP only
	}
	ch := &Channel{
		Bindings: &ChannelBindings{WS: &WebSocketBinding{Method: "GET", BindingVersion: WebSocketBindingVersion}},
		Extension: &RouteExtension{
			Pattern:         r.Pattern,
			Prefix:          strings.TrimSuffix(rawPrefix, "/"),
			Subprotocols:    []Subprotocol{},
			NoSubprotocol:   r.NoProtocol,
			FallbackNoMatch: r.Fallback,
			Policy:          r.Policy.String(),
			HTTP:            r.HTTP,
		},
	}
	if doc := r.Doc; doc != nil {
		ch.Title, ch.Summary, ch.Description = doc.Title, doc.Summary, doc.Description
	}
	idSource := r.Pattern
	if a, ok := addressOf(r.Pattern); ok {
		full := address{text: prefix.text + a.text, params: append(append([]param(nil), prefix.params...), a.params...)}
		if prefix.text != "" && a.text == "/" {
			// The mount point itself: a router serves the prefix with or
			// without the slash, and clients write it without.
			full.text = prefix.text
		}
		ch.Address = &full.text
		idSource = full.text
		ch.Parameters = map[string]*Parameter{}
		for _, p := range full.params {
			if ch.Parameters[p.name] != nil {
				return fmt.Errorf("parameter %q is both the prefix's and the pattern's", p.name)
			}
			ch.Parameters[p.name] = &Parameter{
				Description: fmt.Sprintf("Matches the regular expression %s (RE2), in full.", p.pattern),
				Pattern:     p.pattern,
			}
		}
		if len(ch.Parameters) == 0 {
			ch.Parameters = nil
		}
	}
	if len(r.Protocols) > 0 {
		h, err := headers(r)
		if err != nil {
			return err
		}
		ch.Bindings.WS.Headers = h
	}
	id := sanitize(idSource)
	if id == "" {
		id = "root"
	}
	id = unique(b.d.Channels, id)
	b.d.Channels = setEntry(b.d.Channels, id, ch)

	if err := b.messages(id, ch, "", r.Doc); err != nil {
		return err
	}
	for i, name := range r.Protocols {
		var doc *mux.Doc
		if r.ProtocolDocs != nil {
			doc = r.ProtocolDocs[i]
		}
		sp := Subprotocol{Name: name}
		if doc != nil {
			sp.Title, sp.Summary, sp.Description = doc.Title, doc.Summary, doc.Description
		}
		ch.Extension.Subprotocols = append(ch.Extension.Subprotocols, sp)
		if err := b.messages(id, ch, name, doc); err != nil {
			return err
		}
	}
	return nil
}

// tokenList is an ECMA-262 pattern of a comma-separated list of RFC 7230
// tokens, such as a Sec-WebSocket-Protocol header.
const tokenList = `^[ \t]*[!#$%&'*+.^_|~0-9A-Za-z` + "`" + `-]+([ \t]*,[ \t]*[!#$%&'*+.^_|~0-9A-Za-z` + "`" + `-]+)*[ \t]*$`

// headers returns the schema of the handshake's headers for r, which
// serves one or more subprotocols.
func headers(r mux.RouteInfo) (json.RawMessage, error) {
	order := "the client's order of preference"
	if r.Policy == protocol.ServerOrder {
		order = "the order listed here"
	}
	desc := "The subprotocols the client offers, in its order of preference: one a header line, or several separated by commas. The server chooses the first of these in " + order + "."
	switch {
	case r.Fallback:
		desc += " An offer of none of them is served as a client that offers none."
	case r.NoProtocol:
		desc += " A client may offer none; an offer of others is refused with 400."
	default:
		desc += " A client that offers none of them is refused with 400."
	}
	// The header is a list of tokens (RFC 6455 section 4.1, RFC 7230
	// section 3.2.6), which may name others besides these: a pattern of
	// such a list, with the route's subprotocols as examples.
	proto := map[string]any{"type": "string", "pattern": tokenList, "examples": r.Protocols, "description": desc}
	s := map[string]any{"type": "object", "properties": map[string]any{"Sec-WebSocket-Protocol": proto}}
	if !r.NoProtocol {
		s["required"] = []string{"Sec-WebSocket-Protocol"}
	}
	return json.Marshal(s)
}

// messages adds the messages doc describes, of the subprotocol proto
// ("" for none), to the channel id, with their operations.
func (b *builder) messages(chID string, ch *Channel, proto string, doc *mux.Doc) error {
	if doc == nil {
		return nil
	}
	where := "connections without a subprotocol"
	if proto != "" {
		where = "subprotocol " + strconv.Quote(proto)
	}
	keys := map[string]string{} // message keys by name
	for _, m := range doc.Messages {
		if m.Name == "" {
			return fmt.Errorf("%s: a message without a name", where)
		}
		if keys[m.Name] != "" {
			return fmt.Errorf("%s: message %q described twice", where, m.Name)
		}
		key, err := b.message(ch, proto, m)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		keys[m.Name] = key
	}
	for _, m := range doc.Messages {
		op := Operation{
			Channel:     Reference{Ref: "#/channels/" + chID},
			Messages:    []Reference{{Ref: "#/channels/" + chID + "/messages/" + keys[m.Name]}},
			Subprotocol: proto,
		}
		for i, reply := range m.Replies {
			if reply.Name == "" {
				reply.Name = m.Name + ".reply"
				if len(m.Replies) > 1 {
					reply.Name += strconv.Itoa(i + 1)
				}
			}
			rkey := keys[reply.Name]
			if rkey == "" {
				var err error
				if rkey, err = b.message(ch, proto, reply); err != nil {
					return fmt.Errorf("%s: reply to %q: %w", where, m.Name, err)
				}
				keys[reply.Name] = rkey
			}
			if op.Reply == nil {
				op.Reply = &Reply{Channel: &Reference{Ref: "#/channels/" + chID}}
			}
			op.Reply.Messages = append(op.Reply.Messages, Reference{Ref: "#/channels/" + chID + "/messages/" + rkey})
		}
		var actions []string
		switch m.From {
		case mux.FromClient:
			actions = []string{"receive"}
		case mux.FromServer:
			actions = []string{"send"}
		case mux.FromEither:
			actions = []string{"receive", "send"}
		default:
			return fmt.Errorf("message %q: invalid direction %v", m.Name, m.From)
		}
		for _, a := range actions {
			o := op
			o.Action = a
			b.d.Operations = setEntry(b.d.Operations, unique(b.d.Operations, chID+"_"+keys[m.Name]+"_"+a), &o)
		}
	}
	return nil
}

// message adds m to ch and returns its key in ch's messages.
func (b *builder) message(ch *Channel, proto string, m mux.MessageDoc) (string, error) {
	if m.Payload != nil && !json.Valid(m.Payload) {
		return "", fmt.Errorf("message %q: the payload schema is not JSON", m.Name)
	}
	key := sanitize(m.Name)
	if proto != "" {
		key = sanitize(proto) + "_" + key
	}
	key = unique(ch.Messages, key)
	ch.Messages = setEntry(ch.Messages, key, &Message{
		Name: m.Name, Title: m.Title, Summary: m.Summary, Description: m.Description,
		ContentType: m.ContentType, Payload: m.Payload, Subprotocol: proto,
	})
	return key, nil
}

// unique returns key, or key with a number after it, that m does not
// have yet.
func unique[V any](m map[string]V, key string) string {
	if _, taken := m[key]; !taken {
		return key
	}
	for n := 2; ; n++ {
		k := key + "_" + strconv.Itoa(n)
		if _, taken := m[k]; !taken {
			return k
		}
	}
}

// setEntry sets m[key] to v, making m if it is nil.
func setEntry[V any](m map[string]V, key string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[key] = v
	return m
}

// sanitize makes an id of s that needs no escaping in a reference:
// letters, digits, ".", "-" and "_", each run of other bytes written as
// one "_", with none at the ends.
func sanitize(s string) string {
	var b strings.Builder
	under := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' || c == '-' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
		}
		under = true
	}
	return strings.TrimRight(b.String(), "_")
}
