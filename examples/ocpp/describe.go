package main

import (
	"io"
	"slices"

	"github.com/wsmap/wsmap/asyncapi"
	"github.com/wsmap/wsmap/message/ocppj"
	"github.com/wsmap/wsmap/mux"
)

// stationsDoc describes the stations' route.
var stationsDoc = &mux.Doc{
	Title:   "Charging stations",
	Summary: "The OCPP-J connection of the charging station named in the path.",
	Description: "A station connects with the OCPP version it speaks as its subprotocol: the first of its offer that is served. " +
		"One that offers neither is closed at once with 1008. A station that connects again takes the place of its earlier connection. " +
		"Each end has one call in flight at a time.",
}

// describe returns the Doc of version v's subprotocol: the calls of the
// stations that the central system serves, each with its schema, answered
// with its CALLRESULT or a CALLERROR; and the calls that the HTTP API
// makes to a station, of any action the version defines.
func (s *csms) describe(v ocppj.Version) *mux.Doc {
	set := s.schemas[v]
	served := make([]string, 0)
	for action := range s.handlers[v].(*checked).serves {
		served = append(served, action)
	}
	slices.Sort(served)
	callError := mux.MessageDoc{
		Name: "CALLERROR", Summary: "A call refused or failed, with one of the version's error codes.",
		ContentType: "application/json", Payload: v.ErrorSchema(),
	}
	var msgs []mux.MessageDoc
	for _, action := range served {
		msgs = append(msgs, mux.MessageDoc{
			Name: action, From: mux.FromClient, Summary: "The station's " + action + " call.",
			ContentType: "application/json", Payload: ocppj.CallSchema(action, set.raw["urn:"+action+".req"]),
			Replies: []mux.MessageDoc{{
				Name: action + ".result", Summary: "The central system's answer to " + action + ".",
				ContentType: "application/json", Payload: ocppj.CallResultSchema(set.raw["urn:"+action+".conf"]),
			}, callError},
		})
	}
	msgs = append(msgs, mux.MessageDoc{
		Name: "CALL", From: mux.FromServer,
		Summary:     "A call to the station, made through POST /stations/{id}/call.",
		Description: "Of any action the version defines, its payload valid against the action's schema; the station's answer is checked against the schema of the action's result.",
		ContentType: "application/json", Payload: ocppj.CallSchema("", nil),
		Replies: []mux.MessageDoc{{
			Name: "CALLRESULT", Summary: "The station's answer to a call.",
			ContentType: "application/json", Payload: ocppj.CallResultSchema(nil),
		}, callError},
	})
	return &mux.Doc{Title: "OCPP " + string(v)[len("ocpp"):], Messages: msgs}
}

// writeAsyncAPI writes the AsyncAPI document of the stations' route, as
// cfg configures it.
func writeAsyncAPI(w io.Writer, cfg config) error {
	_, stations, err := newRoutes(cfg, io.Discard)
	if err != nil {
		return err
	}
	doc, err := asyncapi.New(&asyncapi.Options{
		Title:       "OCPP central system",
		Version:     "1.0.0",
		Description: "The WebSocket route that OCPP 2.0.1 and 1.6 charging stations connect to.",
	}, asyncapi.Mount{Mux: stations})
	if err != nil {
		return err
	}
	_, err = doc.WriteTo(w)
	return err
}
