package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wsmap/wsmap/message"
)

// maxCallBody bounds the body of a POST /stations/{id}/call.
const maxCallBody = 1 << 20

// stationJSON is a station as GET /stations lists it.
type stationJSON struct {
	ID         string            `json:"id"`
	Protocol   string            `json:"protocol"`
	Calls      int64             `json:"calls"`
	Vendor     string            `json:"vendor,omitempty"`
	Model      string            `json:"model,omitempty"`
	Connectors map[string]string `json:"connectors,omitempty"`
}

// listStations answers GET /stations.
func (s *csms) listStations(w http.ResponseWriter, r *http.Request) {
	list := []stationJSON{}
	for _, st := range s.list() {
		st.mu.Lock()
		j := stationJSON{ID: st.id, Protocol: string(st.version), Calls: st.calls.Load(), Vendor: st.vendor, Model: st.model}
		if len(st.connectors) > 0 {
			j.Connectors = make(map[string]string, len(st.connectors))
			for k, v := range st.connectors {
				j.Connectors[k] = v
			}
		}
		st.mu.Unlock()
		list = append(list, j)
	}
	writeJSON(w, http.StatusOK, list)
}

// callRequest is the body of POST /stations/{id}/call.
type callRequest struct {
	Action  string          `json:"action"`
	Payload json.RawMessage `json:"payload"`
}

// callError is a CALLERROR as the API answers it.
type callError struct {
	Code        string          `json:"code"`
	Description string          `json:"description"`
	Details     json.RawMessage `json:"details"`
}

// callStation answers POST /stations/{id}/call: it calls the station with
// the action and payload of the body, once the version's schema has
// accepted the payload, and answers with the station's answer.
func (s *csms) callStation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st := s.station(id)
	if st == nil {
		refuse(w, http.StatusNotFound, fmt.Sprintf("station %q is not connected", id))
		return
	}
	req, err := readCall(http.MaxBytesReader(w, r.Body, maxCallBody))
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if !st.schemas.defines(req.Action) {
		refuse(w, http.StatusBadRequest, fmt.Sprintf("%s defines no action %q", st.version, req.Action))
		return
	}
	if e := st.schemas.checkCall(req.Action, req.Payload); e != nil {
		refuse(w, http.StatusBadRequest, fmt.Sprintf("the payload breaks the %s schema of %s: %s: %s", st.version, req.Action, e.Code, e.Message))
		return
	}

	st.calls.Add(1)
	var result json.RawMessage
	err = st.peer.Call(r.Context(), req.Action, req.Payload, &result)
	st.calls.Add(-1)
	var perr *message.Error
	switch {
	case err == nil:
		if e := st.schemas.checkResult(req.Action, result); e != nil {
			writeJSON(w, http.StatusBadGateway, map[string]any{
				"reason": fmt.Sprintf("the station's result breaks the %s schema of %s: %s: %s", st.version, req.Action, e.Code, e.Message),
				"result": result,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": result})
	case errors.As(err, &perr):
		details := perr.Data
		if len(details) == 0 {
			details = json.RawMessage("{}")
		}
		writeJSON(w, http.StatusBadGateway, map[string]any{
			"error": callError{Code: perr.Code, Description: perr.Message, Details: details},
		})
	case errors.Is(err, message.ErrTimeout):
		refuse(w, http.StatusGatewayTimeout, fmt.Sprintf("station %q did not answer %s within %v", id, req.Action, s.callTimeout))
	case r.Context().Err() != nil:
		// The client has gone: nobody reads an answer.
	default:
		refuse(w, http.StatusBadGateway, fmt.Sprintf("station %q: %v", id, err))
	}
}

// readCall reads a call's body: an action, and a payload that is an
// object ({} when left out).
func readCall(body io.Reader) (callRequest, error) {
	var req callRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("the body is not a call: %v", err)
	}
	if dec.More() {
		return req, errors.New("the body holds more than one JSON value")
	}
	if req.Action == "" {
		return req, errors.New(`the body has no "action"`)
	}
	switch p := bytes.TrimSpace(req.Payload); {
	case len(p) == 0 || string(p) == "null":
		req.Payload = json.RawMessage("{}")
	case p[0] != '{':
		return req, errors.New(`"payload" is not an object`)
	default:
		req.Payload = p
	}
	return req, nil
}

// refuse answers a request that was not carried out with status and a
// JSON object saying why.
func refuse(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]string{"reason": reason})
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
