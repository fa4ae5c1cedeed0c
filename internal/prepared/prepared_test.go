package prepared

import (
	"context"
	"testing"

	"github.com/wsmap/wsmap/protocol"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ     protocol.MessageType
		data    string
		wantErr bool
	}{
		{protocol.Text, "hello", false},
		{protocol.Binary, "", false},
		{protocol.MessageType(0), "x", true},
		{protocol.MessageType(9), "ping", true}, // a control frame is not a message
	}
	for _, tt := range tests {
		data := []byte(tt.data)
		m, err := New(tt.typ, data)
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%v, %q): error %v, want error %t", tt.typ, tt.data, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if len(data) > 0 {
			data[0] = '!' // the message holds a copy
		}
		typ, payload := m.Frame()
		if typ != tt.typ || string(payload) != tt.data || m.Type() != tt.typ || m.Len() != len(tt.data) {
			t.Errorf("New(%v, %q): Frame %v %q, Type %v, Len %d", tt.typ, tt.data, typ, payload, m.Type(), m.Len())
		}
		pm, err := m.Compressed()
		if pm == nil || err != nil {
			t.Errorf("New(%v, %q).Compressed() = %v, %v", tt.typ, tt.data, pm, err)
		}
		if again, _ := m.Compressed(); again != pm {
			t.Errorf("New(%v, %q): Compressed made twice", tt.typ, tt.data)
		}
	}
}

// sender is a Sender that does nothing.
type sender struct{}

func (sender) Send(context.Context, ...*Message) error { return nil }
func (sender) TrySend(...*Message) int                 { return 0 }

func TestSenderOf(t *testing.T) {
	t.Parallel()
	with := context.WithValue(context.Background(), Key{}, Sender(sender{}))
	child, cancel := context.WithCancel(with)
	defer cancel()
	tests := []struct {
		name string
		ctx  context.Context
		ok   bool
	}{
		{"nil", nil, false},
		{"background", context.Background(), false},
		{"a value of another type", context.WithValue(context.Background(), Key{}, "x"), false},
		{"holding a Sender", with, true},
		{"a child of one holding a Sender", child, true},
	}
	for _, tt := range tests {
		s, ok := SenderOf(tt.ctx)
		if ok != tt.ok || (s != nil) != tt.ok {
			t.Errorf("%s: SenderOf = %v, %t, want a Sender: %t", tt.name, s, ok, tt.ok)
		}
	}
}
