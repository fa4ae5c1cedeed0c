package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wsmap/wsmap/internal/wstest"
	"github.com/wsmap/wsmap/protocol"
)

// answer is an answer of the API.
type answer struct {
	status int
	body   map[string]any
	err    error
}

// post sends POST /stations/{id}/call with body and reads the answer.
func post(addr, id, body string) answer {
	resp, err := http.Post("http://"+addr+"/stations/"+id+"/call", "application/json", strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode}
	if resp.Header.Get("Content-Type") != "application/json" {
		a.err = fmt.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	} else if err := json.Unmarshal(data, &a.body); err != nil {
		a.err = fmt.Errorf("%s: %v", data, err)
	}
	return a
}

// postAsync sends post on a goroutine of its own; the channel has its
// answer.
func postAsync(addr, id, body string) <-chan answer {
	ch := make(chan answer, 1)
	go func() { ch <- post(addr, id, body) }()
	return ch
}

// wait returns the answer ch brings, failing the test after 20s.
func wait(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("no answer from the API within 20s")
		return answer{}
	}
}

// expectCall reads the call the central system makes and checks its
// action and payload; it returns the call's unique ID.
func (s *rawStation) expectCall(action, payload string) string {
	s.t.Helper()
	frame, elems := s.recv()
	if len(elems) != 4 || string(elems[0]) != "2" || str(elems[2]) != action || !jsonEqual(elems[3], payload) {
		s.t.Fatalf("received %s, want a CALL of %s with %s", frame, action, payload)
	}
	return str(elems[1])
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && cmp.Equal(x, y)
}

// decode reads JSON text, for comparing with an answer's body.
func decode(t *testing.T, text string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAPI: each answer of POST /stations/{id}/call but the timeout's.
func TestAPI(t *testing.T) {
	t.Parallel()
	p := start(t)
	s16 := mustDial(t, p.Addr, "API-16", "ocpp1.6")
	s16.boot()
	s201 := mustDial(t, p.Addr, "API-201", "ocpp2.0.1")
	s201.boot()
	getVariables := `{"getVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`

	t.Run("404", func(t *testing.T) {
		a := wait(t, postAsync(p.Addr, "nobody", `{"action":"GetConfiguration"}`))
		if want := map[string]any{"reason": `station "nobody" is not connected`}; a.status != 404 || !cmp.Equal(a.body, want) {
			t.Errorf("%d %v, want 404 %v", a.status, a.body, want)
		}
	})

	t.Run("400", func(t *testing.T) {
		tests := []struct {
			name, id, body, reason string
		}{
			{"an action of the other version", "API-16", `{"action":"GetVariables","payload":` + getVariables + `}`,
				`ocpp1.6 defines no action "GetVariables"`},
			{"an action of the other version, 2.0.1", "API-201", `{"action":"GetConfiguration"}`,
				`ocpp2.0.1 defines no action "GetConfiguration"`},
			{"wrong type", "API-16", `{"action":"GetConfiguration","payload":{"key":"HeartbeatInterval"}}`,
				`the payload breaks the ocpp1.6 schema of GetConfiguration: TypeConstraintViolation: at '/key': got string, want array`},
			{"too few items", "API-201", `{"action":"GetVariables","payload":{"getVariableData":[]}}`,
				`the payload breaks the ocpp2.0.1 schema of GetVariables: OccurenceConstraintViolation: at '/getVariableData': minItems: got 0, want 1`},
			{"missing property", "API-201", `{"action":"GetVariables","payload":{}}`,
				`the payload breaks the ocpp2.0.1 schema of GetVariables: OccurenceConstraintViolation: at '': missing property 'getVariableData'`},
			{"additional property", "API-201", `{"action":"ClearCache","payload":{"all":true}}`,
				`the payload breaks the ocpp2.0.1 schema of ClearCache: FormatViolation: at '': additional properties 'all' not allowed`},
			{"additional property, 1.6", "API-16", `{"action":"ClearCache","payload":{"all":true}}`,
				`the payload breaks the ocpp1.6 schema of ClearCache: FormationViolation: at '': additional properties 'all' not allowed`},
			{"payload not an object", "API-16", `{"action":"ClearCache","payload":[]}`, `"payload" is not an object`},
			{"no action", "API-16", `{"payload":{}}`, `the body has no "action"`},
			{"not JSON", "API-16", `{"action":`, `the body is not a call: unexpected EOF`},
			{"an unknown field", "API-16", `{"action":"ClearCache","params":{}}`, `the body is not a call: json: unknown field "params"`},
			{"two values", "API-16", `{"action":"ClearCache"} {}`, `the body holds more than one JSON value`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := wait(t, postAsync(p.Addr, tt.id, tt.body))
				if want := map[string]any{"reason": tt.reason}; a.status != 400 || !cmp.Equal(a.body, want) {
					t.Errorf("%d %v, want 400 %v", a.status, a.body, want)
				}
			})
		}
	})

	t.Run("200", func(t *testing.T) {
		tests := []struct {
			name    string
			s       *rawStation
			action  string
			payload string // "" for none
			sent    string // the payload the station receives
			result  string
		}{
			{"GetConfiguration", s16, "GetConfiguration", `{"key":["HeartbeatInterval"]}`, `{"key":["HeartbeatInterval"]}`,
				`{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}`},
			{"no payload", s16, "GetConfiguration", "", `{}`, `{"configurationKey":[],"unknownKey":[]}`},
			{"GetVariables", s201, "GetVariables", getVariables, getVariables,
				`{"getVariableResult":[{"attributeStatus":"Accepted","attributeValue":"300","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := `{"action":"` + tt.action + `"}`
				if tt.payload != "" {
					body = `{"action":"` + tt.action + `","payload":` + tt.payload + `}`
				}
				ch := postAsync(p.Addr, tt.s.id(), body)
				id := tt.s.expectCall(tt.action, tt.sent)
				tt.s.send(fmt.Sprintf(`[3,%q,%s]`, id, tt.result))
				a := wait(t, ch)
				if want := decode(t, `{"result":`+tt.result+`}`); a.status != 200 || !cmp.Equal(a.body, want) {
					t.Errorf("%d %v, want 200 %v", a.status, a.body, want)
				}
			})
		}
	})

	t.Run("502", func(t *testing.T) {
		tests := []struct {
			name   string
			s      *rawStation
			answer string // %q is the call's unique ID
			want   string
		}{
			{"CALLERROR", s16, `[4,%q,"NotSupported","not on this model",{}]`,
				`{"error":{"code":"NotSupported","description":"not on this model","details":{}}}`},
			{"CALLERROR with details", s201, `[4,%q,"InternalError","oops",{"module":"cfg","line":7}]`,
				`{"error":{"code":"InternalError","description":"oops","details":{"module":"cfg","line":7}}}`},
			{"invalid result", s16, `[3,%q,{"configurationKey":[{"key":"K"}]}]`,
				`{"reason":"the station's result breaks the ocpp1.6 schema of GetConfiguration: OccurenceConstraintViolation: at '/configurationKey/0': missing property 'readonly'","result":{"configurationKey":[{"key":"K"}]}}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				action, payload := "GetConfiguration", `{}`
				if tt.s == s201 {
					action, payload = "GetVariables", getVariables
				}
				ch := postAsync(p.Addr, tt.s.id(), `{"action":"`+action+`","payload":`+payload+`}`)
				id := tt.s.expectCall(action, payload)
				tt.s.send(fmt.Sprintf(tt.answer, id))
				a := wait(t, ch)
				if want := decode(t, tt.want); a.status != 502 || !cmp.Equal(a.body, want) {
					t.Errorf("%d %v, want 502 %v", a.status, a.body, want)
				}
			})
		}
	})

	t.Run("502 when the connection ends", func(t *testing.T) {
		s := mustDial(t, p.Addr, "API-gone", "ocpp1.6")
		s.boot()
		ch := postAsync(p.Addr, "API-gone", `{"action":"ClearCache"}`)
		s.expectCall("ClearCache", `{}`)
		if err := s.c.Close(protocol.CloseGoingAway, "rebooting"); err != nil {
			t.Fatal(err)
		}
		a := wait(t, ch)
		if a.status != 502 || !strings.Contains(fmt.Sprint(a.body["reason"]), "rebooting") {
			t.Errorf("%d %v, want 502 with a reason giving the station's close", a.status, a.body)
		}
	})
}

// id returns the station's id, from the path it connected to.
func (s *rawStation) id() string {
	return strings.TrimPrefix(s.c.Request().URL.Path, "/ocpp/")
}

// TestAPITimeout: a call the station leaves unanswered is answered 504
// after -call-timeout; the answer that comes later is dropped, and the
// next call goes out.
func TestAPITimeout(t *testing.T) {
	t.Parallel()
	p := start(t, "-call-timeout", "1s")
	s := mustDial(t, p.Addr, "TO-1", "ocpp2.0.1")
	s.boot()
	ch := postAsync(p.Addr, "TO-1", `{"action":"ClearCache"}`)
	late := s.expectCall("ClearCache", `{}`)
	a := wait(t, ch)
	if want := map[string]any{"reason": `station "TO-1" did not answer ClearCache within 1s`}; a.status != 504 || !cmp.Equal(a.body, want) {
		t.Errorf("%d %v, want 504 %v", a.status, a.body, want)
	}
	s.send(fmt.Sprintf(`[3,%q,{"status":"Accepted"}]`, late))

	ch = postAsync(p.Addr, "TO-1", `{"action":"ClearCache"}`)
	id := s.expectCall("ClearCache", `{}`)
	if id == late {
		t.Errorf("the next call has the unique ID %q of the one that timed out", id)
	}
	s.send(fmt.Sprintf(`[3,%q,{"status":"Rejected"}]`, id))
	if a := wait(t, ch); a.status != 200 || !cmp.Equal(a.body, decode(t, `{"result":{"status":"Rejected"}}`)) {
		t.Errorf("%d %v, want 200 with the second answer", a.status, a.body)
	}
}

// TestAPIOneAtATime: concurrent calls to one station go out one at a
// time, each once the one before has been answered, and each gets its
// own answer.
func TestAPIOneAtATime(t *testing.T) {
	t.Parallel()
	p := start(t)
	s := mustDial(t, p.Addr, "OAT-1", "ocpp1.6")
	s.boot()
	const n = 3
	chs := make([]<-chan answer, n)
	for i := range chs {
		chs[i] = postAsync(p.Addr, "OAT-1", fmt.Sprintf(`{"action":"GetConfiguration","payload":{"key":["K%d"]}}`, i))
	}
	for i := range n {
		frame, elems := s.recv()
		if len(elems) != 4 || str(elems[2]) != "GetConfiguration" {
			t.Fatalf("received %s, want a GetConfiguration", frame)
		}
		if i == 0 {
			// Every call is made, the first one in flight: the API
			// counts them all. Then no second call may come before the
			// first is answered; a wait bounds that check.
			wstest.WaitFor(t, 10*time.Second, "3 calls in progress", func() bool {
				list := stations(t, p.Addr)
				return len(list) == 1 && list[0].Calls == n
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, data, err := s.c.Recv(ctx)
			cancel()
			if err == nil {
				t.Fatalf("received %s while a call was in flight", data)
			}
		}
		var key struct {
			Key []string `json:"key"`
		}
		_ = json.Unmarshal(elems[3], &key)
		s.send(fmt.Sprintf(`[3,%q,{"unknownKey":%q}]`, str(elems[1]), key.Key))
	}
	for i, ch := range chs {
		a := wait(t, ch)
		want := decode(t, fmt.Sprintf(`{"result":{"unknownKey":["K%d"]}}`, i))
		if a.status != 200 || !cmp.Equal(a.body, want) {
			t.Errorf("call %d: %d %v, want 200 %v", i, a.status, a.body, want)
		}
	}
	if list := stations(t, p.Addr); len(list) != 1 || list[0].Calls != 0 {
		t.Errorf("after the answers: %+v, want no calls in progress", list)
	}
}
