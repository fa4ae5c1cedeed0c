package jsonrpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/msgtest"
	"github.com/wsmap/wsmap/message/jsonrpc"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/wsmaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// specServer serves the methods of the JSON-RPC 2.0 specification's
// examples.
func specServer() *message.Router {
	r := &message.Router{}
	r.HandleFunc("subtract", func(_ context.Context, req *message.Request) (any, error) {
		var pos []float64
		if json.Unmarshal(req.Params, &pos) == nil && len(pos) == 2 {
			return pos[0] - pos[1], nil
		}
		var named struct{ Minuend, Subtrahend float64 }
		if err := json.Unmarshal(req.Params, &named); err != nil {
			return nil, fmt.Errorf("%w: %w", message.ErrInvalidParams, err)
		}
		return named.Minuend - named.Subtrahend, nil
	})
	r.Handle("sum", message.Func(func(_ context.Context, ns []float64) (float64, error) {
		var s float64
		for _, n := range ns {
			s += n
		}
		return s, nil
	}))
	nop := message.Func(func(context.Context, any) (any, error) { return nil, nil })
	r.Handle("update", nop)
	r.Handle("notify_hello", nop)
	r.Handle("notify_sum", nop)
	r.HandleFunc("get_data", func(context.Context, *message.Request) (any, error) { return []any{"hello", 5}, nil })
	return r
}

// canonical reads a response (or batch) for comparison: an error's
// message is cut to the specification's part, before any detail, and a
// batch is sorted by id, since its order is free.
func canonical(t *testing.T, frame string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(frame), &v); err != nil {
		t.Fatalf("%s: %v", frame, err)
	}
	cut := func(o any) any {
		m, ok := o.(map[string]any)
		if !ok {
			return o
		}
		if e, ok := m["error"].(map[string]any); ok {
			if s, ok := e["message"].(string); ok {
				e["message"], _, _ = strings.Cut(s, ":")
			}
		}
		return m
	}
	if arr, ok := v.([]any); ok {
		for i := range arr {
			arr[i] = cut(arr[i])
		}
		slices.SortFunc(arr, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		return arr
	}
	return cut(v)
}

// TestSpecificationExamples sends each example of the JSON-RPC 2.0
// specification (section 7) and checks the answer, or that there is
// none: a call sent after an example that is not answered is answered
// first.
func TestSpecificationExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, send, want string
	}{
		{"positional parameters", `{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 1}`},
		{"positional parameters, the other way", `{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}`,
			`{"jsonrpc": "2.0", "result": -19, "id": 2}`},
		{"named parameters", `{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 3}`},
		{"named parameters, the other order", `{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}`,
			`{"jsonrpc": "2.0", "result": 19, "id": 4}`},
		{"a notification", `{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}`, ``},
		{"a notification without params", `{"jsonrpc": "2.0", "method": "foobar"}`, ``},
		{"a method that does not exist", `{"jsonrpc": "2.0", "method": "foobar", "id": "1"}`,
			`{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}`},
		{"invalid JSON", `{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]`,
			`{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}`},
		{"an invalid request object", `{"jsonrpc": "2.0", "method": 1, "params": "bar"}`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}`},
		{"a batch of invalid JSON", `[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]`, `{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}`},
		{"an empty batch", `[]`, `{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}`},
		{"an invalid batch", `[1]`, `[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]`},
		{"an invalid batch of three", `[1,2,3]`, `[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]`},
		{"a batch", `[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
  {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
  {"foo": "boo"},
  {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
  {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
]`, `[
  {"jsonrpc": "2.0", "result": 7, "id": "1"},
  {"jsonrpc": "2.0", "result": 19, "id": "2"},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
  {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
]`},
		{"a batch of notifications", `[
  {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
]`, ``},
		// Beyond the specification's examples.
		{"a wrong version", `{"jsonrpc": "1.0", "method": "sum", "params": [1], "id": 8}`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": 8}`},
		{"params that are not structured", `{"jsonrpc": "2.0", "method": "sum", "params": 3, "id": 8}`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": 8}`},
		{"params of the wrong type", `{"jsonrpc": "2.0", "method": "sum", "params": {"a": 1}, "id": 8}`,
			`{"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid params"}, "id": 8}`},
		{"an id that is an object", `{"jsonrpc": "2.0", "method": "sum", "params": [1], "id": {}}`,
			`{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}`},
		{"a null id", `{"jsonrpc": "2.0", "method": "sum", "params": [1], "id": null}`,
			`{"jsonrpc": "2.0", "result": 1, "id": null}`},
		{"a result that answers nothing", `{"jsonrpc": "2.0", "result": 1, "id": 99}`, ``},
		{"a malformed error", `{"jsonrpc": "2.0", "error": {"code": "x"}, "id": 99}`, ``},
	}
	sc, cc := wsmaptest.Pair(t, nil)
	// One call at a time, so that answers come in order of the calls.
	msgtest.Serve(t, message.New(sc, jsonrpc.Codec{}, specServer(), &message.Options{MaxIncoming: 1, OnError: func(*message.Peer, error) {}}))
	const sentinel, sentinelAnswer = `{"jsonrpc":"2.0","method":"sum","params":[0],"id":"sentinel"}`, `{"jsonrpc":"2.0","id":"sentinel","result":0}`
	for _, tt := range tests {
		if err := cc.Send(context.Background(), protocol.Text, []byte(tt.send)); err != nil {
			t.Fatal(err)
		}
		if err := cc.Send(context.Background(), protocol.Text, []byte(sentinel)); err != nil {
			t.Fatal(err)
		}
		got := msgtest.Recv(t, cc)
		if tt.want == "" {
			if got != sentinelAnswer {
				t.Errorf("%s: answered %s, want no answer", tt.name, got)
				msgtest.Recv(t, cc)
			}
			continue
		}
		if diff := cmp.Diff(canonical(t, tt.want), canonical(t, got)); diff != "" {
			t.Errorf("%s: answer (-want +got):\n%s\n%s", tt.name, diff, got)
		}
		if s := msgtest.Recv(t, cc); s != sentinelAnswer {
			t.Errorf("%s: then %s, want the sentinel's answer", tt.name, s)
		}
	}
}

// TestEncode checks the text of each kind of message.
func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		msgs  []message.Message
		batch bool
		want  string
	}{
		{"call", []message.Message{{Kind: message.KindCall, ID: "7", Method: "sum", Payload: json.RawMessage(`[1,2]`)}}, false,
			`{"jsonrpc":"2.0","id":7,"method":"sum","params":[1,2]}`},
		{"call without params", []message.Message{{Kind: message.KindCall, ID: `"a"`, Method: "ping"}}, false,
			`{"jsonrpc":"2.0","id":"a","method":"ping"}`},
		{"notification", []message.Message{{Kind: message.KindNotify, Method: "tick", Payload: json.RawMessage(`{"n":1}`)}}, false,
			`{"jsonrpc":"2.0","method":"tick","params":{"n":1}}`},
		{"result", []message.Message{{Kind: message.KindResult, ID: "7", Payload: json.RawMessage(`3`)}}, false,
			`{"jsonrpc":"2.0","id":7,"result":3}`},
		{"empty result", []message.Message{{Kind: message.KindResult, ID: "7"}}, false,
			`{"jsonrpc":"2.0","id":7,"result":null}`},
		{"error with data", []message.Message{{Kind: message.KindError, ID: "null", Err: jsonrpc.Error(-32602, `bad "x"`, []int{1})}}, false,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"bad \"x\"","data":[1]}}`},
		{"error whose code is not an integer", []message.Message{{Kind: message.KindError, ID: "1", Err: &message.Error{Code: "Oops", Message: "m"}}}, false,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"m"}}`},
		{"method with characters to escape", []message.Message{{Kind: message.KindNotify, Method: "é\n"}}, false,
			`{"jsonrpc":"2.0","method":"é\n"}`},
		{"batch", []message.Message{{Kind: message.KindCall, ID: "1", Method: "a"}, {Kind: message.KindNotify, Method: "b"}}, true,
			`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`},
	}
	for _, tt := range tests {
		typ, data, err := jsonrpc.Codec{}.Encode(tt.msgs, tt.batch)
		if err != nil || typ != protocol.Text {
			t.Errorf("%s: %v, %v", tt.name, typ, err)
			continue
		}
		if string(data) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, data, tt.want)
		}
	}
	if _, _, err := (jsonrpc.Codec{}).Encode([]message.Message{{Kind: message.KindCall, ID: "1", Method: "a", Payload: json.RawMessage(`3`)}}, false); err == nil {
		t.Error("params that are not structured were written")
	}
}

// FuzzDecode: whatever arrives, Decode does not panic; every message it
// reads whole writes back and reads back the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":1}`,
		`[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","result":1,"id":"x"}]`,
		`{"jsonrpc":"2.0","error":{"code":-1,"message":"m","data":{}},"id":null}`,
		`[]`, `[1]`, `{`, `"x"`, `{"jsonrpc":"2.0","id":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := jsonrpc.Codec{}
		msgs, batch, err := c.Decode(protocol.Text, data)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("Decode: %d messages, %v", len(msgs), err)
		}
		for _, m := range msgs {
			if m.Bad != nil || (m.Kind == message.KindCall && m.ID == "") {
				continue
			}
			_, out, err := c.Encode([]message.Message{m}, false)
			if err != nil {
				t.Fatalf("Encode(%+v): %v", m, err)
			}
			back, _, _ := c.Decode(protocol.Text, out)
			if len(back) != 1 || back[0].Bad != nil {
				t.Fatalf("%s reads back as %+v", out, back)
			}
			if diff := cmp.Diff(compact(t, m), compact(t, back[0])); diff != "" {
				t.Fatalf("%s (batch %v) round trip (-first +back):\n%s", data, batch, diff)
			}
		}
	})
}

// compact is m with its JSON texts compacted, to compare messages read
// from different spellings.
func compact(t *testing.T, m message.Message) message.Message {
	c := func(raw json.RawMessage) json.RawMessage {
		if raw == nil {
			return nil
		}
		var b strings.Builder
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		out, _ := json.Marshal(v)
		b.Write(out)
		return json.RawMessage(b.String())
	}
	m.Payload = c(m.Payload)
	if m.ID != "" {
		m.ID = string(c(json.RawMessage(m.ID)))
	}
	if m.Err != nil {
		e := *m.Err
		e.Data = c(e.Data)
		m.Err = &e
	}
	return m
}
