// Command connsize measures what an idle wsmap server connection holds,
// allocation by allocation, and prints it as Markdown tables.
//
// Usage:
//
//	go run ./internal/perf/connsize [-conns 2000] [-sources 1] [-messages 0] [-browser] [-hold 4s] [-ping 0] [-sites] [-json] [-memprofile FILE]
//
// The server is a service.Server serving a mux of one route,
// /conn/(?P<id>[0-9]+) with the subprotocol "echo", whose handler
// receives until the connection ends, as users write it:
//
//	for {
//		if _, _, err := c.Recv(ctx); err != nil {
//			return err
//		}
//	}
//
// A client process of its own (this program again) opens -conns
// connections with gorilla/websocket, from -sources loopback source
// addresses (127.0.0.1 and up), with the headers gorilla's dialer
// writes (or, with -browser, those of a browser too: Origin,
// User-Agent, Accept-Encoding, Accept-Language, Cache-Control, Pragma,
// Sec-WebSocket-Extensions and a session cookie), has each send
// -messages text messages, and holds them, answering pings, so that the
// server process's figures are the server's alone. Before it starts,
// the server opens and closes 64 connections of its own, so that what
// only the first connections pay is left out. After -hold the server
// reads the growth of its figures since before the client started, as found:
// the heap the runtime holds (HeapInuse + HeapIdle - HeapReleased),
// goroutine stacks (StackInuse), the runtime's metadata and resident
// memory (VmRSS), as the comparison's idle scenario reads it; then it
// collects the garbage twice and reads the live heap (HeapAlloc) and
// the spans that hold it (HeapInuse).
//
// The measurement runs twice, each in a server process of its own: once
// plain, for the figures above, and once recording every allocation
// (runtime.MemProfileRate = 1, which costs the runtime a record per live
// object), from whose heap records the live heap's growth is told by
// allocation site: each site is put under a row of the table by the
// functions on its stack (see rows). The rows' sum is the second
// process's HeapAlloc growth, which it also prints. -sites lists every
// site, with its stack, under the row it went to; -memprofile writes the
// second process's heap profile for go tool pprof
// (-sample_index=inuse_space).
//
// The report ends with the garbage the connections left, by the code
// that allocated it, and the layout of service.Conn and of its larger
// parts, field by field, from reflection.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"time"
)

func main() {
	role := flag.String("role", "", "internal: server or client")
	url := flag.String("url", "", "internal: the client's server")
	profile := flag.Bool("profile", false, "internal: the server records every allocation")
	conns := flag.Int("conns", 2000, "connections to hold")
	sources := flag.Int("sources", 1, "loopback source addresses for the client (127.0.0.1 and up), for more than about 28,000 connections")
	messages := flag.Int("messages", 0, "text messages each connection sends once open")
	browser := flag.Bool("browser", false, "the client sends the headers a browser sends (Origin, User-Agent, a cookie...)")
	parallel := flag.Int("parallel", 64, "handshakes under way at once")
	hold := flag.Duration("hold", 4*time.Second, "how long the connections are held before measuring")
	ping := flag.Duration("ping", 0, "the connections' keepalive PingInterval; 0 for the default")
	sites := flag.Bool("sites", false, "list every allocation site under its row")
	asJSON := flag.Bool("json", false, "print the figures and the rows as JSON instead of Markdown")
	memprofile := flag.String("memprofile", "", "write the recording server's heap profile to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("connsize: ")
	cc := clientConfig{url: *url, conns: *conns, sources: *sources, messages: *messages, parallel: *parallel, browser: *browser}
	switch *role {
	case "client":
		if err := runClient(cc); err != nil {
			log.Fatal(err)
		}
	case "server":
		m, err := runServer(serverConfig{client: cc, profile: *profile, hold: *hold, ping: *ping,
			memprofile: *memprofile, clientStart: 5 * time.Minute})
		if err != nil {
			log.Fatal(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(m); err != nil {
			log.Fatal(err)
		}
	case "":
		args := []string{"-conns", strconv.Itoa(*conns), "-sources", strconv.Itoa(*sources),
			"-messages", strconv.Itoa(*messages), "-parallel", strconv.Itoa(*parallel), "-browser=" + strconv.FormatBool(*browser),
			"-hold", hold.String(), "-ping", ping.String()}
		plain, err := serverProcess(args)
		if err != nil {
			log.Fatal(err)
		}
		if *memprofile != "" {
			args = append(args, "-memprofile", *memprofile)
		}
		rec, err := serverProcess(append(args, "-profile"))
		if err != nil {
			log.Fatal(err)
		}
		if *asJSON {
			if err := reportJSON(os.Stdout, plain, rec); err != nil {
				log.Fatal(err)
			}
			return
		}
		report(os.Stdout, plain, rec, *sites)
	default:
		log.Fatalf("unknown -role %q", *role)
	}
}

// serverProcess runs this program as a server process with args and
// returns its measurement.
func serverProcess(args []string) (*measurement, error) {
	cmd := exec.Command(os.Args[0], append([]string{"-role", "server"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("server %v: %w", args, err)
	}
	var m measurement
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("server %v: %w", args, err)
	}
	return &m, nil
}
