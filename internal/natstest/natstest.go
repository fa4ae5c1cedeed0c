// Package natstest runs real NATS servers inside a test's process, on
// loopback ports, for the tests of what carries rooms over NATS.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server on a loopback port.
type Server struct {
	*server.Server
	// Port is the port it listens on, the same after a restart.
	Port int
}

// Start starts a NATS server on 127.0.0.1:port (-1: a free port), shut
// down at the end of the test. A port given back a moment ago may still
// be held: Start tries again for a few seconds.
func Start(t testing.TB, port int) *Server {
	t.Helper()
	for try := 0; ; try++ {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if s.ReadyForConnections(10 * time.Second) {
			ns := &Server{Server: s, Port: s.Addr().(*net.TCPAddr).Port}
			t.Cleanup(ns.Stop)
			return ns
		}
		s.Shutdown()
		s.WaitForShutdown()
		if try == 20 {
			t.Fatalf("NATS server on port %d did not start", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down and waits until it has; calling it again
// does nothing.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// URL returns the nats:// URL clients connect to.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }
