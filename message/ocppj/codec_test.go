package ocppj_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wsmap/wsmap/message"
	"github.com/wsmap/wsmap/message/internal/msgtest"
	"github.com/wsmap/wsmap/message/ocppj"
	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
	"github.com/wsmap/wsmap/wsmaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type boot struct {
	ChargePointVendor string `json:"chargePointVendor"`
	ChargePointModel  string `json:"chargePointModel"`
}

// station serves a little of both versions.
func station() *message.Router {
	r := &message.Router{}
	r.Handle("BootNotification", message.Func(func(context.Context, boot) (map[string]any, error) {
		return map[string]any{"status": "Accepted", "currentTime": "2026-12-07T00:00:00Z", "interval": 300}, nil
	}))
	r.Handle("Heartbeat", message.Func(func(context.Context, struct{}) (map[string]string, error) {
		return map[string]string{"currentTime": "2026-12-07T00:00:00Z"}, nil
	}))
	r.HandleFunc("Refuse", func(context.Context, *message.Request) (any, error) {
		return nil, ocppj.Error(ocppj.SecurityError, "not allowed", map[string]string{"why": "test"})
	})
	return r
}

// serve runs a Peer of v over an in-memory connection and returns the
// test's end.
func serve(t *testing.T, v ocppj.Version, opts *message.Options) *service.Conn {
	t.Helper()
	sc, cc := wsmaptest.Pair(t, nil)
	msgtest.Serve(t, message.New(sc, v, station(), opts))
	return cc
}

// TestFrames sends each kind of message, good and bad, to each version
// and checks the answer, or that there is none (a Heartbeat sent after
// it is answered first).
func TestFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		send     string
		v16, v20 string // the answers; "" for none
	}{
		{"a call", `[2,"a1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]`,
			`[3,"a1",{"currentTime":"2026-12-07T00:00:00Z","interval":300,"status":"Accepted"}]`,
			`[3,"a1",{"currentTime":"2026-12-07T00:00:00Z","interval":300,"status":"Accepted"}]`},
		{"an action no handler serves", `[2,"a2","Reset",{}]`,
			`[4,"a2","NotImplemented","Requested Action is not known by receiver",{}]`,
			`[4,"a2","NotImplemented","Requested Action is not known by receiver",{}]`},
		{"a field of the wrong type", `[2,"a3","BootNotification",{"chargePointVendor":7}]`,
			`[4,"a3","TypeConstraintViolation","invalid parameters: json: cannot unmarshal number into Go struct field boot.chargePointVendor of type string",{}]`,
			`[4,"a3","TypeConstraintViolation","invalid parameters: json: cannot unmarshal number into Go struct field boot.chargePointVendor of type string",{}]`},
		{"a payload that is not an object", `[2,"a4","Heartbeat",[]]`,
			`[4,"a4","FormationViolation","invalid parameters: the payload is not an object",{}]`,
			`[4,"a4","FormatViolation","invalid parameters: the payload is not an object",{}]`},
		{"an error the handler chose", `[2,"a5","Refuse",{}]`,
			`[4,"a5","SecurityError","not allowed",{"why":"test"}]`,
			`[4,"a5","SecurityError","not allowed",{"why":"test"}]`},
		{"not JSON", `[2,"a6",`,
			`[4,"-1","FormationViolation","malformed message: the message is not JSON",{}]`,
			`[4,"-1","RpcFrameworkError","malformed message: the message is not JSON",{}]`},
		{"not an array", `{"a":1}`,
			`[4,"-1","FormationViolation","invalid message: the message is not a JSON array",{}]`,
			`[4,"-1","RpcFrameworkError","invalid message: the message is not a JSON array",{}]`},
		{"a unique ID that is not a string", `[2,7,"Heartbeat",{}]`,
			`[4,"-1","FormationViolation","invalid message: the unique ID is not a non-empty string",{}]`,
			`[4,"-1","RpcFrameworkError","invalid message: the unique ID is not a non-empty string",{}]`},
		{"an empty unique ID", `[2,"","Heartbeat",{}]`,
			`[4,"-1","FormationViolation","invalid message: the unique ID is not a non-empty string",{}]`,
			`[4,"-1","RpcFrameworkError","invalid message: the unique ID is not a non-empty string",{}]`},
		{"an unknown message type", `[5,"a7","Heartbeat",{}]`,
			`[4,"a7","FormationViolation","unknown kind of message: message type 5",{}]`,
			`[4,"a7","MessageTypeNotSupported","unknown kind of message: message type 5",{}]`},
		{"an action that is not a string", `[2,"a8",1,{}]`,
			`[4,"a8","FormationViolation","invalid message: the action is not a string",{}]`,
			`[4,"a8","RpcFrameworkError","invalid message: the action is not a string",{}]`},
		{"a CALLRESULT that answers no call", `[3,"zz",{}]`, ``, ``},
		{"a malformed CALLERROR", `[4,"zz","GenericError"]`, ``, ``},
	}
	for _, v := range []ocppj.Version{ocppj.V16, ocppj.V201} {
		c := serve(t, v, &message.Options{MaxIncoming: 1, MaxOutgoing: 1, OnError: func(*message.Peer, error) {}})
		const sentinel, sentinelAnswer = `[2,"s","Heartbeat",{}]`, `[3,"s",{"currentTime":"2026-12-07T00:00:00Z"}]`
		for _, tt := range tests {
			want := tt.v16
			if v == ocppj.V201 {
				want = tt.v20
			}
			for _, f := range []string{tt.send, sentinel} {
				if err := c.Send(context.Background(), protocol.Text, []byte(f)); err != nil {
					t.Fatal(err)
				}
			}
			got := msgtest.Recv(t, c)
			if want == "" {
				want = sentinelAnswer
			}
			if got != want {
				t.Errorf("%s, %s:\n got %s\nwant %s", v, tt.name, got, want)
			}
			if want != sentinelAnswer {
				if s := msgtest.Recv(t, c); s != sentinelAnswer {
					t.Errorf("%s, %s: then %s, want the sentinel's answer", v, tt.name, s)
				}
			}
		}
	}
}

// TestBinaryCloses: a binary message closes the connection with 1003.
func TestBinaryCloses(t *testing.T) {
	t.Parallel()
	c := serve(t, ocppj.V201, nil)
	if err := c.Send(context.Background(), protocol.Binary, []byte(`[2,"a","Heartbeat",{}]`)); err != nil {
		t.Fatal(err)
	}
	if reason := wsmaptest.ExpectClose(t, c, protocol.CloseUnsupportedData); reason != "OCPP-J messages are text" {
		t.Errorf("closed with reason %q", reason)
	}
}

// TestCallsAndErrors: a call from the central system to a station, the
// station's CALLERROR returned as an *Error, and a notification refused.
func TestCallsAndErrors(t *testing.T) {
	t.Parallel()
	sc, cc := wsmaptest.Pair(t, nil)
	csms := message.New(sc, ocppj.V16, nil, &message.Options{MaxOutgoing: 1})
	msgtest.Serve(t, csms)
	result := make(chan error, 1)
	go func() {
		var conf struct {
			ConfigurationKey []map[string]any `json:"configurationKey"`
		}
		err := csms.Call(context.Background(), "GetConfiguration", map[string]any{"key": []string{"HeartbeatInterval"}}, &conf)
		if err == nil && len(conf.ConfigurationKey) != 1 {
			err = errors.New("no key")
		}
		result <- err
	}()
	if got := msgtest.Recv(t, cc); got != `[2,"1","GetConfiguration",{"key":["HeartbeatInterval"]}]` {
		t.Fatalf("the call: %s", got)
	}
	if err := cc.Send(context.Background(), protocol.Text, []byte(`[3,"1",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}]`)); err != nil {
		t.Fatal(err)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	go func() { result <- csms.Call(context.Background(), "Reset", map[string]string{"type": "Hard"}, nil) }()
	if got := msgtest.Recv(t, cc); !strings.HasPrefix(got, `[2,"2","Reset"`) {
		t.Fatalf("the second call: %s", got)
	}
	if err := cc.Send(context.Background(), protocol.Text, []byte(`[4,"2","NotSupported","no resets here",{"detail":1}]`)); err != nil {
		t.Fatal(err)
	}
	var e *message.Error
	if err := <-result; !errors.As(err, &e) {
		t.Fatalf("Call: %v, want the station's *Error", err)
	}
	if diff := cmp.Diff(&message.Error{Code: "NotSupported", Message: "no resets here", Data: json.RawMessage(`{"detail":1}`)}, e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if err := csms.Notify(context.Background(), "Heartbeat", nil); !errors.Is(err, message.ErrNotSupported) {
		t.Errorf("Notify: %v, want ErrNotSupported", err)
	}
}

// TestCodes checks the codes of each version, spelled as it spells them.
func TestCodes(t *testing.T) {
	t.Parallel()
	has := func(codes []string, c string) bool {
		for _, x := range codes {
			if x == c {
				return true
			}
		}
		return false
	}
	for _, tt := range []struct {
		v       ocppj.Version
		in, out []string
	}{
		{ocppj.V16, []string{"FormationViolation", "OccurenceConstraintViolation", "NotImplemented"}, []string{"FormatViolation", "MessageTypeNotSupported", "RpcFrameworkError", "OccurrenceConstraintViolation"}},
		{ocppj.V201, []string{"FormatViolation", "MessageTypeNotSupported", "RpcFrameworkError", "OccurenceConstraintViolation"}, []string{"FormationViolation", "OccurrenceConstraintViolation"}},
	} {
		codes := tt.v.Codes()
		for _, c := range tt.in {
			if !has(codes, c) {
				t.Errorf("%s lacks %s", tt.v, c)
			}
		}
		for _, c := range tt.out {
			if has(codes, c) {
				t.Errorf("%s has %s", tt.v, c)
			}
		}
	}
}

// FuzzDecode: whatever arrives, Decode does not panic, and a message it
// reads whole writes back to a message that reads the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[2,"a","Heartbeat",{}]`, `[3,"a",{"x":1}]`, `[4,"a","GenericError","d",{}]`, `[5,"a"]`, `[`, `{}`, `[2,1,2,3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []ocppj.Version{ocppj.V16, ocppj.V201} {
			msgs, _, err := v.Decode(protocol.Text, data)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("Decode: %d messages, %v", len(msgs), err)
			}
			m := msgs[0]
			if m.Bad != nil {
				if m.ID == "" {
					t.Fatalf("a bad message without an ID to answer: %+v", m)
				}
				continue
			}
			_, out, err := v.Encode(msgs, false)
			if err != nil {
				t.Fatalf("Encode(%+v): %v", m, err)
			}
			back, _, _ := v.Decode(protocol.Text, out)
			if back[0].Bad != nil || back[0].Kind != m.Kind || back[0].ID != m.ID || back[0].Method != m.Method {
				t.Fatalf("%s reads back from %s as %+v", data, out, back[0])
			}
		}
	})
}
