package main

import (
	"strings"
)

// A row of the live heap's table: the allocation sites whose stacks
// contain each of match's function names, in that order from the
// allocation outwards (a function name matches a frame's function when
// the frame's ends with it). A site goes to the first row it matches.
type row struct {
	group string
	what  string
	match []string
}

// Groups of rows, in the order of the table.
const (
	groupConn    = "wsmap's connection (service)"
	groupKept    = "what the connection keeps of its request, for Conn.Request"
	groupGorilla = "gorilla's connection (compressed connections only)"
	groupRequest = "what net/http made for the request and the connection keeps"
	groupSocket  = "the socket (net)"
	groupRuntime = "the goroutine and the runtime's timers"
	groupServer  = "the server's registry"
	groupOther   = "other"
	groupTool    = "this program's own records"
)

// rows attribute the live heap. The more specific rows come first: the
// runtime's own structures before the code on whose behalf they grew.
var rows = []row{
	// This program's own (the records of the first sample, live at the second).
	{groupTool, "", []string{"main.memRecords"}},
	{groupTool, "", []string{"main.sample"}},
	{groupTool, "", []string{"main.startClient"}},

	// The runtime's own, whatever the code that made it grow.
	{groupRuntime, "the goroutine's descriptor (runtime.g) and the runtime's records of it", []string{"runtime.malg"}},
	{groupRuntime, "the goroutine's descriptor (runtime.g) and the runtime's records of it", []string{"runtime.allgadd"}},
	{groupRuntime, "the goroutine's descriptor (runtime.g) and the runtime's records of it", []string{"runtime.acquireSudog"}},
	{groupRuntime, "the runtime's per-P heaps of timers (a keepalive timer and the socket's deadlines)", []string{"runtime.(*timers).addHeap"}},

	{groupConn, "the frame writer (wire.Writer) and its method value for writes that must not wait", []string{"wire.NewWriter"}},
	{groupConn, "the frame guard (wire.Guard) and its raw handle on the socket", []string{"wire.NewGuard"}},
	{groupConn, "its context's Done channel, made by a receive with a context of its own", []string{"context.(*cancelCtx).Done", "service.(*Conn).next"}},
	{groupConn, "the context (context.WithCancelCause)", []string{"context.", "service.newConn"}},
	{groupConn, "the reader's timer for the turn and the stall limit (time.AfterFunc) and its method value", []string{"service.(*reader).setAlarm"}},
	{groupConn, "its place in the server's schedule of keepalive pings", []string{"service.(*pingSchedule).add"}},
	{groupConn, "a keepalive timer of its own (served without a Server)", []string{"service.(*Conn).startKeepaliveLocked"}},
	{groupConn, "the frame guard's read method value", []string{"wire.(*Guard).waitChunk"}},
	{groupConn, "the Conn itself, and the parent of its context (the values of the one it was opened with, and its prepared.Sender)", []string{"service.newConn"}},

	{groupKept, "the headers, in one string", []string{"service.headerLines"}},
	{groupKept, "the path values its pattern names", []string{"service.pathValues"}},
	{groupKept, "its strings, the headers' aside (keptRequest)", []string{"service.keepRequest"}},

	{groupGorilla, "its bufio.Reader and 256-byte buffer", []string{"bufio.NewReaderSize", "websocket.newConn"}},
	{groupGorilla, "its write lock's channel", []string{"runtime.makechan", "websocket.newConn"}},
	{groupGorilla, "websocket.Conn", []string{"websocket.newConn"}},

	{groupRequest, "the header's strings the kept headers share (values net/http allocated on their own)", []string{"textproto.readMIMEHeader"}},
	{groupRequest, "the request line (method, URI, protocol), which the kept strings share", []string{"textproto.(*Reader).ReadLine", "http.readRequest"}},
	{groupRequest, "its context: the request's cancelCtx, and the Done channel of the one above", []string{"context.", "http.(*conn).readRequest"}},
	{groupRequest, "its context: the HTTP connection's cancelCtx and local address value", []string{"context.", "http.(*conn).serve"}},
	{groupRequest, "the remote address string (RemoteAddr)", []string{"net.JoinHostPort", "http.(*conn).serve"}},

	{groupSocket, "net's file descriptor (netFD)", []string{"net.newFD"}},
	{groupSocket, "the local and remote addresses (TCPAddr over the syscall's sockaddr)", []string{"syscall.anyToSockaddr"}},
	{groupSocket, "the local and remote addresses (TCPAddr over the syscall's sockaddr)", []string{"net.sockaddrToTCP"}},
	{groupSocket, "net.TCPConn", []string{"net.newTCPConn"}},

	{groupServer, "the registry's map", []string{"service.(*registry).add"}},
}

// rowOf returns the row a site's stack goes to, and false for a site
// no row matches.
func rowOf(stack []string) (row, bool) {
	for _, r := range rows {
		if matches(stack, r.match) {
			return r, true
		}
	}
	return row{}, false
}

// matches reports whether stack holds each of funcs, in order, from
// the allocation outwards.
func matches(stack []string, funcs []string) bool {
	i := 0
	for _, f := range funcs {
		for ; i < len(stack); i++ {
			if fnEnds(stack[i], f) {
				break
			}
		}
		if i == len(stack) {
			return false
		}
		i++
	}
	return true
}

// fnEnds reports whether frame's function (its text before the space)
// ends with name, or begins with it at a package boundary when name ends
// with a dot ("context." matches every function of package context).
func fnEnds(frame, name string) bool {
	fn, _, _ := strings.Cut(frame, " ")
	if strings.HasSuffix(name, ".") {
		pkg := fn[strings.LastIndex(fn, "/")+1:]
		return strings.HasPrefix(pkg, name)
	}
	return fn == name || strings.HasSuffix(fn, "/"+name)
}
