package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/service"
)

// basicChallenge is the WWW-Authenticate header of a refused station.
const basicChallenge = `Basic realm="ocpp", charset="UTF-8"`

// loadPasswords reads a file of "station:password" lines; empty lines
// and lines starting with # are skipped. Passwords are kept as their
// SHA-256, compared in constant time.
func loadPasswords(path string) (map[string][sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	passwords := map[string][sha256.Size]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, password, ok := strings.Cut(line, ":")
		switch {
		case !ok || password == "":
			return nil, fmt.Errorf("%s:%d: want station:password", path, n)
		case !stationID.MatchString(id):
			return nil, fmt.Errorf("%s:%d: %q is not a station id (%s)", path, n, id, stationIDPattern)
		}
		if _, dup := passwords[id]; dup {
			return nil, fmt.Errorf("%s:%d: station %s listed twice", path, n, id)
		}
		passwords[id] = sha256.Sum256([]byte(password))
	}
	return passwords, sc.Err()
}

// basicAuth is handshake middleware that admits a station whose HTTP
// Basic credentials, as OCPP's security profile 1 has it, name the
// station of the path as the user, with its password.
func basicAuth(passwords map[string][sha256.Size]byte) func(http.Handler) http.Handler {
	unauthorized := func(reason string) error {
		return &service.HandshakeError{Status: http.StatusUnauthorized, Reason: reason,
			Header: http.Header{"Www-Authenticate": {basicChallenge}}}
	}
	return middleware.Auth(&middleware.AuthOptions{
		Tokens:    []middleware.TokenSource{middleware.HeaderToken("Authorization")},
		Challenge: basicChallenge,
		Verify: func(r *http.Request, _ string) (any, error) {
			user, password, ok := r.BasicAuth()
			if !ok {
				return nil, unauthorized("credentials must be HTTP Basic")
			}
			id := r.PathValue("station")
			if user != id {
				return nil, unauthorized(fmt.Sprintf("the user must be the station's id, %q", id))
			}
			want, known := passwords[id]
			got := sha256.Sum256([]byte(password))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
				return nil, errors.New("wrong password") // 401 "invalid credentials"
			}
			return id, nil
		},
	})
}
