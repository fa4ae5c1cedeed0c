package mux

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/wsmap/wsmap/protocol"
)

// RouteInfo describes a registered route, for printing a route table or
// writing a document about the API.
type RouteInfo struct {
	Pattern    string
	Protocols  []string // in the server's order of preference
	NoProtocol bool     // clients offering no subprotocol are served
	Fallback   bool     // unmatched offers are served without a subprotocol
	HTTP       bool     // plain requests are served
	Policy     protocol.Policy
	Params     []string // names of the path values the pattern captures

	// Doc is the route's Doc, nil if it has none.
	Doc *Doc
	// ProtocolDocs are the Docs of Protocols, by the same index; an
	// entry is nil for a protocol without one, and the slice is nil
	// when none has one.
	ProtocolDocs []*Doc
}

// Routes returns the registered routes in registration (and so matching)
// order.
func (m *Mux) Routes() []RouteInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	infos := make([]RouteInfo, 0, len(m.idx.routes))
	for _, c := range m.idx.routes {
		info := RouteInfo{
			Pattern:    c.Pattern,
			Protocols:  append([]string(nil), c.supported...),
			NoProtocol: c.NoProtocol != nil,
			Fallback:   c.FallbackNoMatch,
			HTTP:       c.HTTP != nil,
			Policy:     c.Policy,
			Doc:        c.Doc,
		}
		for i, p := range c.Protocols {
			if p.Doc != nil {
				if info.ProtocolDocs == nil {
					info.ProtocolDocs = make([]*Doc, len(c.Protocols))
				}
				info.ProtocolDocs[i] = p.Doc
			}
		}
		for _, n := range c.names {
			if n != "" {
				info.Params = append(info.Params, n)
			}
		}
		infos = append(infos, info)
	}
	return infos
}

// WriteRoutes writes the route table to w, one route a line, in matching
// order: pattern, subprotocols ("-" standing for clients that offer none),
// the negotiation policy, and whether plain HTTP requests are served.
func (m *Mux) WriteRoutes(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PATTERN\tSUBPROTOCOLS\tPOLICY\tHTTP")
	for _, r := range m.Routes() {
		protos := append([]string(nil), r.Protocols...)
		if r.NoProtocol {
			protos = append(protos, "-")
		}
		if r.Fallback {
			protos = append(protos, "(fallback to -)")
		}
		httpCol := "no"
		if r.HTTP {
			httpCol = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Pattern, strings.Join(protos, " "), r.Policy, httpCol)
	}
	return tw.Flush()
}
