package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/ocppj"
)

// checked serves a station's calls with a version's router once the
// version's schemas have accepted them, and checks the router's answers
// against them too.
//
// A call is answered:
//   - NotImplemented when the version defines no such action ("not known
//     by receiver");
//   - NotSupported when the version defines it and the central system
//     does not serve it ("recognized but not supported");
//   - with the schema violation's code (see schemaSet.violation) when its
//     payload breaks the action's schema;
//   - InternalError, reported as a handler's failure, when the central
//     system's own answer would break it.
//
// Each refusal is logged, with the station and the description.
type checked struct {
	schemas *schemaSet
	router  *message.Router
	serves  map[string]bool
	log     *slog.Logger
}

// newChecked checks the calls that r serves against s.
func newChecked(s *schemaSet, r *message.Router, log *slog.Logger) *checked {
	h := &checked{schemas: s, router: r, serves: map[string]bool{}, log: log}
	for _, m := range r.Methods() {
		if !s.defines(m) {
			panic(fmt.Sprintf("%s defines no action %s", s.version, m))
		}
		h.serves[m] = true
	}
	return h
}

// ServeMessage checks and serves one call.
func (h *checked) ServeMessage(ctx context.Context, req *message.Request) (any, error) {
	var refusal *message.Error
	switch {
	case !h.schemas.defines(req.Method):
		// The router serves none of them: it answers NotImplemented.
		h.refused(ctx, req, ocppj.NotImplemented, "the version defines no such action")
		return h.router.ServeMessage(ctx, req)
	case !h.serves[req.Method]:
		refusal = ocppj.Error(ocppj.NotSupported, req.Method+" is not supported by this central system", nil)
	default:
		refusal = h.schemas.checkCall(req.Method, req.Params)
	}
	if refusal != nil {
		h.refused(ctx, req, refusal.Code, refusal.Message)
		return nil, refusal
	}
	result, err := h.router.ServeMessage(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	if e := h.schemas.checkResult(req.Method, raw); e != nil {
		return nil, fmt.Errorf("the answer to %s breaks its schema: %s: %s", req.Method, e.Code, e.Message)
	}
	return json.RawMessage(raw), nil
}

// refused logs the refusal of a call.
func (h *checked) refused(ctx context.Context, req *message.Request, code, description string) {
	h.log.Warn("call refused", "station", stationFrom(ctx).id, "protocol", h.schemas.version,
		"action", req.Method, "id", req.ID, "code", code, "description", description)
}
