package main

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/mux"
)

// The parts of the protocols' messages, as JSON Schemas.
const (
	anyObject    = `{"type":"object"}`
	requestShape = `{"type":"object","required":["query"],"properties":{` +
		`"query":{"type":"string"},"variables":{"type":["object","null"]},` +
		`"operationName":{"type":["string","null"]},"extensions":{"type":["object","null"]}}}`
	resultShape = `{"type":"object","description":"an ExecutionResult: data and errors","properties":{"data":{},"errors":{"type":"array"}}}`
)

// messageSchema returns the schema of a message of type typ: an object
// with that type, an id if withID, and a payload of the schema payload
// ("" for none; required if required).
func messageSchema(typ string, withID bool, payload string, required bool) json.RawMessage {
	req := `"type"`
	props := `"type":{"const":` + strconv.Quote(typ) + `}`
	if withID {
		req += `,"id"`
		props += `,"id":{"type":"string"}`
	}
	if payload != "" {
		props += `,"payload":` + payload
		if required {
			req += `,"payload"`
		}
	}
	return json.RawMessage(`{"type":"object","required":[` + req + `],"properties":{` + props + `}}`)
}

// messageDoc describes a message of type typ.
func messageDoc(typ string, from mux.Direction, summary string, schema json.RawMessage, replies ...string) mux.MessageDoc {
	m := mux.MessageDoc{Name: typ, From: from, Summary: summary, ContentType: "application/json", Payload: schema}
	for _, r := range replies {
		m.Replies = append(m.Replies, mux.MessageDoc{Name: r})
	}
	return m
}

// transportDoc describes graphql-transport-ws.
var transportDoc = &mux.Doc{
	Title:   "graphql-transport-ws",
	Summary: "GraphQL over WebSocket, the protocol of the graphql-ws library.",
	Messages: []mux.MessageDoc{
		messageDoc("connection_init", mux.FromClient, "Opens the session; the first message.", messageSchema("connection_init", false, anyObject, false), "connection_ack"),
		messageDoc("connection_ack", mux.FromServer, "The session is open.", messageSchema("connection_ack", false, anyObject, false)),
		messageDoc("ping", mux.FromClient, "Asks for a pong.", messageSchema("ping", false, anyObject, false), "pong"),
		messageDoc("pong", mux.FromEither, "Answers a ping, with its payload; from the client, a heartbeat.", messageSchema("pong", false, anyObject, false)),
		messageDoc("subscribe", mux.FromClient, "Starts an operation.", messageSchema("subscribe", true, requestShape, true), "next", "error", "complete"),
		messageDoc("next", mux.FromServer, "A result of the operation.", messageSchema("next", true, resultShape, true)),
		messageDoc("error", mux.FromServer, "The operation failed before it ran; no complete follows.", messageSchema("error", true, `{"type":"array","items":{"type":"object"}}`, true)),
		messageDoc("complete", mux.FromEither, "The operation ended (from the server) or is to stop (from the client).", messageSchema("complete", true, "", false)),
	},
}

// legacyDoc describes graphql-ws, the legacy protocol.
var legacyDoc = &mux.Doc{
	Title:   "graphql-ws",
	Summary: "GraphQL over WebSocket, the legacy protocol of subscriptions-transport-ws.",
	Messages: []mux.MessageDoc{
		messageDoc("connection_init", mux.FromClient, "Opens the session.", messageSchema("connection_init", false, anyObject, false), "connection_ack", "connection_error"),
		messageDoc("connection_ack", mux.FromServer, "The session is open; ka messages follow.", messageSchema("connection_ack", false, "", false)),
		messageDoc("connection_error", mux.FromServer, "A message that is not JSON.", messageSchema("connection_error", false, `{"type":"object","properties":{"message":{"type":"string"}}}`, true)),
		messageDoc("ka", mux.FromServer, "Keep-alive, every -keepalive.", messageSchema("ka", false, "", false)),
		messageDoc("start", mux.FromClient, "Starts an operation; one with the ID of an active operation replaces it.", messageSchema("start", true, requestShape, true), "data", "error", "complete"),
		messageDoc("data", mux.FromServer, "A result of the operation.", messageSchema("data", true, resultShape, true)),
		messageDoc("error", mux.FromServer, "The operation, or the message, was refused; no complete follows.", messageSchema("error", true, anyObject, true)),
		messageDoc("complete", mux.FromServer, "The operation ended.", messageSchema("complete", true, "", false)),
		messageDoc("stop", mux.FromClient, "Stops an operation.", messageSchema("stop", true, "", false), "complete"),
		messageDoc("connection_terminate", mux.FromClient, "Ends the session: the connection is closed with 1000.", messageSchema("connection_terminate", false, "", false)),
	},
}

// writeAsyncAPI writes the AsyncAPI document of m.
func writeAsyncAPI(w io.Writer, m *mux.Mux) error {
	doc, err := asyncapi.New(&asyncapi.Options{
		Title:       "GraphQL",
		Version:     "1.0.0",
		Description: "One GraphQL schema over both GraphQL-over-WebSocket protocols; plain HTTP POST on the same path serves GraphQL over HTTP.",
	}, asyncapi.Mount{Mux: m})
	if err != nil {
		return err
	}
	_, err = doc.WriteTo(w)
	return err
}
