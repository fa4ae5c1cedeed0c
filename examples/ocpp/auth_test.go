package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// writeFile writes text to a file of the test's and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// basic returns the Authorization header of HTTP Basic credentials.
func basic(user, password string) http.Header {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

// TestBasicAuth: with -basic-auth, a station connects with HTTP Basic
// credentials naming itself, and its password; any other handshake is
// refused with 401 and a Basic challenge, before the version is chosen.
func TestBasicAuth(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "passwords", "# station:password\nCP-1:s3cret:with:colons\n\nCP-2:other-password\n")
	p := start(t, "-basic-auth", file)

	s, err := dial(t, p.Addr, "CP-1", basic("CP-1", "s3cret:with:colons"), "ocpp2.0.1")
	if err != nil {
		t.Fatalf("with the right credentials: %v", err)
	}
	s.boot()

	s, err = dial(t, p.Addr, "CP-2", basic("CP-2", "other-password"), "ocpp9")
	if err != nil {
		t.Fatalf("with the right credentials and no version served: %v", err)
	}
	if code, _ := s.closed(); code != protocol.ClosePolicyViolation {
		t.Errorf("with no version served: closed with %d, want 1008", code)
	}

	tests := []struct {
		name   string
		id     string
		header http.Header
		reason string
	}{
		{"no credentials", "CP-1", nil, "missing credentials"},
		{"a bearer token", "CP-1", http.Header{"Authorization": {"Bearer abc"}}, "credentials must be HTTP Basic"},
		{"another station's credentials", "CP-1", basic("CP-2", "other-password"), `the user must be the station's id, "CP-1"`},
		{"a wrong password", "CP-1", basic("CP-1", "s3cret"), "invalid credentials"},
		{"a station without a password", "CP-3", basic("CP-3", ""), "invalid credentials"},
		{"no version served and no credentials", "CP-2", nil, "missing credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := dial(t, p.Addr, tt.id, tt.header, "ocpp1.6")
			var he *service.HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Reason != tt.reason {
				t.Fatalf("dial: %v, want 401 %q", err, tt.reason)
			}
			if got := he.Header.Get("Www-Authenticate"); got != basicChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, basicChallenge)
			}
		})
	}

	t.Run("the API", func(t *testing.T) {
		t.Parallel()
		if list := stations(t, p.Addr); len(list) != 1 || list[0].ID != "CP-1" {
			t.Errorf("GET /stations: %+v, want CP-1 alone", list)
		}
	})
}

// TestPasswordFile: the mistakes of a password file stop the program
// with the line they are on.
func TestPasswordFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"no colon", "CP-1\n", ":1: want station:password"},
		{"no password", "# comment\nCP-1:\n", ":2: want station:password"},
		{"not a station id", "CP 1:pw\n", `:1: "CP 1" is not a station id`},
		{"listed twice", "CP-1:a\nCP-1:b\n", ":2: station CP-1 listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "passwords", tt.text)
			_, err := loadPasswords(path)
			if err == nil || !strings.Contains(err.Error(), path+tt.want) {
				t.Errorf("loadPasswords: %v, want %q", err, path+tt.want)
			}
		})
	}
}
