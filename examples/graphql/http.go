package main

import (
	"encoding/json"
	"mime"
	"net/http"

	graphql "github.com/graph-gophers/graphql-go"
	qerrors "github.com/graph-gophers/graphql-go/errors"
)

// maxRequestBody bounds the body of a GraphQL request over HTTP.
const maxRequestBody = 1 << 20

// serveHTTP answers GraphQL over HTTP: a POST whose JSON body is
// {"query", "variables", "operationName"} is answered with the result,
// {"data", "errors"}, status 200 (a request that does not validate
// included, as GraphQL over HTTP has it for application/json); a body
// that is not such an object with 400; another method with 405; a body
// of another type with 415. Subscriptions are refused: they are served
// over WebSocket, on the same path.
func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "GraphQL over HTTP takes POST; subscriptions take a WebSocket (graphql-transport-ws or graphql-ws)", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "the request body must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	var req request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err := dec.Decode(&req); err != nil {
		writeResult(w, http.StatusBadRequest, errorResult("the request body is not a GraphQL request: "+err.Error()))
		return
	}
	if dec.More() {
		writeResult(w, http.StatusBadRequest, errorResult("the request body holds more than one JSON value"))
		return
	}
	if req.Query == "" {
		writeResult(w, http.StatusBadRequest, errorResult(`the request has no "query"`))
		return
	}
	typ, errs := s.exec.plan(&req)
	switch {
	case errs != nil:
		writeResult(w, http.StatusOK, &graphql.Response{Errors: errs})
	case typ == opSubscription:
		writeResult(w, http.StatusOK, errorResult("subscriptions are served over WebSocket, with graphql-transport-ws or graphql-ws"))
	default:
		writeResult(w, http.StatusOK, s.exec.exec(r.Context(), &req))
	}
}

// errorResult is a result of one error.
func errorResult(msg string) *graphql.Response {
	return &graphql.Response{Errors: []*qerrors.QueryError{{Message: msg}}}
}

// writeResult writes resp as JSON with status.
func writeResult(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		b, status = []byte(`{"errors":[{"message":"the result cannot be written as JSON"}]}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
