// Command ocpp is an OCPP-J central system (a CSMS) that charging
// stations of OCPP 2.0.1 and OCPP 1.6 connect to, each version served by
// its own handler over business code they share, with an HTTP API to
// list the stations and call them.
//
// Usage:
//
//	ocpp [-addr 127.0.0.1:8080] [-call-timeout 30s] [-heartbeat 5m] [-basic-auth FILE] [-asyncapi]
//
// With -asyncapi it prints the AsyncAPI 3.0.0 document of its WebSocket
// route (see package asyncapi) and exits: the calls each version serves,
// with their schemas, the calls the HTTP API makes, and CALLERROR.
// Otherwise it prints "listening on HOST:PORT" once it accepts connections and
// serves until interrupted (SIGINT or SIGTERM), then closes every
// station's connection with 1001 (going away) and exits. Stations,
// their boots and statuses, and messages that could not be used are
// logged to standard error.
//
// # Flags
//
//	-addr          address to listen on; port 0 picks a free port
//	-call-timeout  how long a call to a station waits for its answer (30s)
//	-heartbeat     the heartbeat interval BootNotification gives (5m)
//	-basic-auth    a file of station:password lines (# comments); when set,
//	               stations must authenticate (see Authentication)
//	-asyncapi      print the AsyncAPI document and exit
//
// # Routes
//
//	/ocpp/{station}            WebSocket, subprotocols ocpp2.0.1 and ocpp1.6
//	GET /stations              the stations connected
//	POST /stations/{id}/call   a call to a station
//
// A station id is 1 to 48 of A-Z, a-z, 0-9, ".", "_" and "-". The
// version is the first of the station's offer that is served (the
// client's order). A station that offers neither (or no subprotocol)
// gets what OCPP-J asks: the handshake completes without
// Sec-WebSocket-Protocol, and the connection is closed at once with
// 1008 and a reason naming the versions served. A station that connects
// again takes the place of its earlier connection, which is closed with
// 1000 and the reason "replaced by a newer connection of station ID".
//
// # Stations' calls
//
// BootNotification (always Accepted, with the current time and the
// heartbeat interval), Heartbeat and StatusNotification are served in
// both versions, one call after another as OCPP-J asks. Every payload,
// received or sent, is validated against the OCA's JSON schema of its
// version and action (embedded from schemas/). A call is answered with a
// CALLERROR when:
//
//	the action is not one of the version's           NotImplemented
//	the action is the version's, but not served      NotSupported
//	the payload is not an object, or has a property
//	  the schema does not (additionalProperties)     FormationViolation (1.6), FormatViolation (2.0.1)
//	a required property is missing, an array has
//	  too few or too many items                      OccurenceConstraintViolation
//	a property has the wrong JSON type               TypeConstraintViolation
//	a value is outside its enum, length, range,
//	  pattern or format (date-time, uri)             PropertyConstraintViolation
//
// A payload that breaks several constraints gets the code of the first
// kind above that it breaks; the description says where and what, and
// the details hold "location" (a JSON pointer into the payload),
// "keyword" (the schema keyword) and "violations" (how many there are).
// A message that is not an OCPP-J message at all is answered as package
// message/ocppj says (FormationViolation in 1.6; RpcFrameworkError or
// MessageTypeNotSupported in 2.0.1).
//
// # HTTP API
//
// GET /stations answers 200 with a JSON array, sorted by id, of
//
//	{"id": "CP1", "protocol": "ocpp1.6", "calls": 0,
//	 "vendor": "…", "model": "…", "connectors": {"1": "Available"}}
//
// where calls counts the API's calls to the station in progress (made or
// waiting their turn), vendor and model are those of its
// BootNotification and connectors the last status of each connector
// ("2" in 1.6, "EVSE/connector" such as "1/2" in 2.0.1); the last three
// are left out until the station has sent them.
//
// POST /stations/{id}/call with the body {"action": "GetVariables",
// "payload": {…}} calls the station with any action its version defines
// (GetConfiguration in 1.6, GetVariables in 2.0.1, …); a payload left
// out is {}. It answers:
//
//	200 {"result": {…}}                     the station's CALLRESULT, valid for the action
//	400 {"reason": "…"}                     a body that is not a call, an action the station's
//	                                        version does not define, a payload its schema refuses
//	404 {"reason": "…"}                     no station connected as id
//	502 {"error": {"code": "…",             the station's CALLERROR, details {} when it gave none
//	     "description": "…", "details": {…}}}
//	502 {"reason": "…", "result": {…}}      a CALLRESULT the action's schema refuses
//	502 {"reason": "…"}                     the connection ended before the answer
//	504 {"reason": "…"}                     no answer within -call-timeout
//
// A station has one call in flight at a time: concurrent calls to it
// wait their turn, in order, and the timeout runs from their turn. The
// API itself is not authenticated: serve it where only operators reach
// it.
//
// # Authentication
//
// With -basic-auth, a station authenticates as OCPP's security profile
// 1 has it: HTTP Basic credentials on the handshake, whose user is the
// station's id (the one in the path) and whose password is the file's
// for that id. Credentials are checked before the version is chosen. A
// handshake is refused with 401 and a WWW-Authenticate: Basic challenge
// when it has no Authorization header ("missing credentials"), one that
// is not Basic ("credentials must be HTTP Basic"), a user that is another
// id than the path's (the reason says so), a wrong password or an id the
// file lacks ("invalid credentials"). Refused handshakes are logged with
// their reason. Basic credentials travel in the clear: serve stations
// over TLS (a reverse proxy in front) outside a test bench.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/middleware"
	"github.com/wsmap/wsmap/mux"
	"github.com/wsmap/wsmap/service"
)

// stationIDPattern is what a station id may be.
const stationIDPattern = `[A-Za-z0-9._-]{1,48}`

var stationID = regexp.MustCompile(`^` + stationIDPattern + `$`)

// config is what the flags set.
type config struct {
	addr        string
	callTimeout time.Duration
	heartbeat   time.Duration
	basicAuth   string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free port")
	flag.DurationVar(&cfg.callTimeout, "call-timeout", 30*time.Second, "how long a call to a station waits for its answer")
	flag.DurationVar(&cfg.heartbeat, "heartbeat", 5*time.Minute, "the heartbeat interval BootNotification gives stations")
	flag.StringVar(&cfg.basicAuth, "basic-auth", "", "a file of station:password lines; when set, stations must authenticate with HTTP Basic")
	document := flag.Bool("asyncapi", false, "print the AsyncAPI document of the WebSocket route and exit")
	flag.Parse()
	if *document {
		if err := writeAsyncAPI(os.Stdout, cfg); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

// newHandler builds the server's routes: the stations' WebSocket route
// and the HTTP API.
func newHandler(cfg config, logw io.Writer) (http.Handler, error) {
	h, _, err := newRoutes(cfg, logw)
	return h, err
}

// newRoutes builds the server's routes, returning the stations' mux too.
func newRoutes(cfg config, logw io.Writer) (http.Handler, *mux.Mux, error) {
	if cfg.callTimeout <= 0 {
		return nil, nil, fmt.Errorf("-call-timeout %v: want a positive duration", cfg.callTimeout)
	}
	if cfg.heartbeat < time.Second {
		return nil, nil, fmt.Errorf("-heartbeat %v: want a second or more", cfg.heartbeat)
	}
	logger := slog.New(slog.NewTextHandler(logw, nil))
	cs := &central{interval: cfg.heartbeat, log: logger, now: time.Now}
	s, err := newCSMS(cs, cfg.callTimeout, logger)
	if err != nil {
		return nil, nil, err
	}

	route := mux.Route{
		Pattern:         `/ocpp/(?P<station>` + stationIDPattern + `)`,
		Doc:             stationsDoc,
		NoProtocol:      s.noVersion(),
		FallbackNoMatch: true,
	}
	for _, v := range versions {
		route.Protocols = append(route.Protocols, mux.Protocol{Name: string(v), Handler: s.serve(v), Doc: s.describe(v)})
	}
	if cfg.basicAuth != "" {
		var passwords map[string][sha256.Size]byte
		if passwords, err = loadPasswords(cfg.basicAuth); err != nil {
			return nil, nil, err
		}
		route.Middleware = append(route.Middleware, basicAuth(passwords))
	}
	stations, err := mux.New(route)
	if err != nil {
		return nil, nil, err
	}
	stations.Use(middleware.LogHandshake(logger))

	m := http.NewServeMux()
	m.HandleFunc("GET /stations", s.listStations)
	m.HandleFunc("POST /stations/{id}/call", s.callStation)
	m.Handle("/ocpp/", stations)
	return m, stations, nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, cfg config, stdout, logw io.Writer) error {
	h, err := newHandler(cfg, logw)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &service.Server{Handler: h}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	return srv.ServeUntil(ctx, l, 10*time.Second)
}
