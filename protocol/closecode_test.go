package protocol

import "testing"

func TestCloseCodeRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  CloseCode
		valid bool
		str   string
	}{
		{0, false, "0 (invalid)"},
		{999, false, "999 (invalid)"},
		{CloseNormal, true, "1000 (normal closure)"},
		{CloseGoingAway, true, "1001 (going away)"},
		{CloseProtocolError, true, "1002 (protocol error)"},
		{CloseUnsupportedData, true, "1003 (unsupported data)"},
		{1004, false, "1004 (invalid)"},
		{CloseNoStatus, false, "1005 (no status received)"},
		{CloseAbnormal, false, "1006 (abnormal closure)"},
		{CloseInvalidPayload, true, "1007 (invalid payload data)"},
		{ClosePolicyViolation, true, "1008 (policy violation)"},
		{CloseMessageTooBig, true, "1009 (message too big)"},
		{CloseMandatoryExtension, true, "1010 (mandatory extension)"},
		{CloseInternalError, true, "1011 (internal error)"},
		{CloseServiceRestart, true, "1012 (service restart)"},
		{CloseTryAgainLater, true, "1013 (try again later)"},
		{CloseBadGateway, true, "1014 (bad gateway)"},
		{CloseTLSHandshake, false, "1015 (TLS handshake failure)"},
		{1016, false, "1016 (invalid)"},
		{2999, false, "2999 (invalid)"},
		{3000, true, "3000 (registered use)"},
		{3999, true, "3999 (registered use)"},
		{4000, true, "4000 (private use)"},
		{4999, true, "4999 (private use)"},
		{5000, false, "5000 (invalid)"},
		{65535, false, "65535 (invalid)"},
	}
	for _, tt := range tests {
		if got := tt.code.ValidReceived(); got != tt.valid {
			t.Errorf("CloseCode(%d).ValidReceived() = %v, want %v", int(tt.code), got, tt.valid)
		}
		if got := tt.code.Sendable(); got != tt.valid {
			t.Errorf("CloseCode(%d).Sendable() = %v, want %v", int(tt.code), got, tt.valid)
		}
		if got := tt.code.String(); got != tt.str {
			t.Errorf("CloseCode(%d).String() = %q, want %q", int(tt.code), got, tt.str)
		}
	}
}

func TestMessageType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		t     MessageType
		valid bool
		str   string
	}{
		{Text, true, "text"}, {Binary, true, "binary"}, {0, false, "MessageType(0)"}, {9, false, "MessageType(9)"},
	} {
		if tt.t.Valid() != tt.valid || tt.t.String() != tt.str {
			t.Errorf("MessageType(%d): Valid=%v String=%q, want %v %q", int(tt.t), tt.t.Valid(), tt.t.String(), tt.valid, tt.str)
		}
	}
}
