// Package natstest runs real NATS servers inside a test's process, on
// loopback ports, for the tests of what carries rooms over NATS.
package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a NATS server on a loopback port, which a test may stop and
// start again on the same port.
type Server struct {
	// Port is the port it listens on, the same after a restart.
	Port int

	storeDir string // JetStream's, kept across restarts; "" without JetStream

	mu  sync.Mutex
	srv *server.Server // the running instance; nil while stopped
}

// Start starts a NATS server on 127.0.0.1:port (-1: a free port), shut
// down at the end of the test, after the cleanups registered later.
func Start(t testing.TB, port int) *Server {
	t.Helper()
	return start(t, port, "")
}

// StartJetStream starts a NATS server with JetStream, which keeps its
// streams in a directory of the test's, across restarts.
func StartJetStream(t testing.TB, port int) *Server {
	t.Helper()
	return start(t, port, t.TempDir())
}

func start(t testing.TB, port int, storeDir string) *Server {
	t.Helper()
	s := &Server{storeDir: storeDir}
	s.srv = listen(t, port, storeDir)
	s.Port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again on its port after Stop, with the same
// JetStream streams if it has JetStream. It is still shut down by
// Start's cleanup, so that what the test started after Start (clients
// that close at the end of the test) goes first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	srv := listen(t, s.Port, s.storeDir)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// listen starts a NATS server on port, with JetStream in storeDir if it
// is not "". A port given back a moment ago may still be held: it tries
// again for a few seconds.
func listen(t testing.TB, port int, storeDir string) *server.Server {
	t.Helper()
	for try := 0; ; try++ {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
			JetStream: storeDir != "", StoreDir: storeDir})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		if srv.ReadyForConnections(10 * time.Second) {
			return srv
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		if try == 20 {
			t.Fatalf("NATS server on port %d did not start", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down and waits until it has; calling it again
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// URL returns the nats:// URL clients connect to.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }
