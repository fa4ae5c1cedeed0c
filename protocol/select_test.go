package protocol

import (
	"testing"
)

func TestSelect(t *testing.T) {
	t.Parallel()
	supported := []string{"echo.v1", "echo.v2"}
	tests := []struct {
		name   string
		offer  Offer
		policy Policy
		want   string
		wantOK bool
	}{
		{"client order, v1 first", Offer{"echo.v1", "echo.v2"}, ClientOrder, "echo.v1", true},
		{"client order, v2 first", Offer{"echo.v2", "echo.v1"}, ClientOrder, "echo.v2", true},
		{"server order, v1 first", Offer{"echo.v1", "echo.v2"}, ServerOrder, "echo.v1", true},
		{"server order, v2 first", Offer{"echo.v2", "echo.v1"}, ServerOrder, "echo.v1", true},
		{"unsupported first", Offer{"x", "echo.v2"}, ClientOrder, "echo.v2", true},
		{"none supported", Offer{"x", "y"}, ClientOrder, "", false},
		{"none supported, server order", Offer{"x"}, ServerOrder, "", false},
		{"empty offer", nil, ClientOrder, "", false},
		{"case sensitive", Offer{"ECHO.V1"}, ClientOrder, "", false},
		{"case sensitive, server order", Offer{"Echo.v2"}, ServerOrder, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Select(tt.offer, supported, tt.policy)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Select(%q, %q, %v) = %q, %v; want %q, %v", tt.offer, supported, tt.policy, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPolicyString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Policy]string{ClientOrder: "client order", ServerOrder: "server order", Policy(7): "Policy(7)"} {
		if got := p.String(); got != want {
			t.Errorf("Policy(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}

// FuzzSelect checks that whatever the client offers, the selected protocol
// is one the client offered and one the server supports.
func FuzzSelect(f *testing.F) {
	f.Add("echo.v1, echo.v2", "echo.v2,echo.v1", false)
	f.Add("a", "b", true)
	f.Add("", "a", false)
	f.Fuzz(func(t *testing.T, offerLine, supportedLine string, serverOrder bool) {
		offer, err := ParseOffer([]string{offerLine})
		if err != nil {
			return
		}
		supported, err := ParseOffer([]string{supportedLine})
		if err != nil {
			return
		}
		policy := ClientOrder
		if serverOrder {
			policy = ServerOrder
		}
		got, ok := Select(offer, supported, policy)
		if !ok {
			for _, o := range offer {
				if Offer(supported).Contains(o) {
					t.Fatalf("Select(%q, %q) found nothing but %q is common", offer, supported, o)
				}
			}
			return
		}
		if !offer.Contains(got) {
			t.Fatalf("Select(%q, %q) = %q, which the client did not offer", offer, supported, got)
		}
		if !Offer(supported).Contains(got) {
			t.Fatalf("Select(%q, %q) = %q, which the server does not support", offer, supported, got)
		}
	})
}
