// Command client is a command-line WebSocket client. It connects to a
// ws:// or wss:// URL, sends every line read from standard input as a text
// message, and prints every message that arrives: text as it is, binary
// as "binary: " and its bytes in hexadecimal.
//
// Usage:
//
//	client [-protocols echo,chat] [-wait 500ms] URL
//
// At the end of input it keeps printing until no message has arrived for
// the -wait duration, then closes the connection normally. Status lines
// (the negotiated protocol, the close code) go to standard error. It exits
// with status 0 when the connection closes normally (1000 or 1001), 1
// otherwise.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

func main() {
	protocols := flag.String("protocols", "", "comma-separated subprotocols to offer, most preferred first")
	wait := flag.Duration("wait", 500*time.Millisecond, "at the end of input, how long to wait for more messages before closing")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: client [flags] URL\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var offer []string
	if *protocols != "" {
		offer = strings.Split(*protocols, ",")
	}
	code, err := run(ctx, flag.Arg(0), offer, *wait, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		var refused *service.HandshakeError
		if errors.As(err, &refused) {
			// The server's own words, without the URL's query, which may
			// hold a token.
			fmt.Fprintf(os.Stderr, "client: refused by %s: %d %s: %s\n", refused.URL, refused.Status, http.StatusText(refused.Status), refused.Reason)
			if after := refused.Header.Get("Retry-After"); after != "" {
				fmt.Fprintf(os.Stderr, "client: the server asks to retry after %s s\n", after)
			}
		} else {
			fmt.Fprintln(os.Stderr, "client:", err)
		}
		os.Exit(1)
	}
	if code != protocol.CloseNormal && code != protocol.CloseGoingAway {
		os.Exit(1)
	}
}

// run talks to url until the input ends or the connection closes, and
// returns the close code.
func run(ctx context.Context, url string, offer []string, wait time.Duration, stdin io.Reader, stdout, stderr io.Writer) (protocol.CloseCode, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, _, err := service.Dial(dctx, url, &service.DialOptions{Subprotocols: offer})
	cancel()
	if err != nil {
		return 0, err
	}
	proto := c.Subprotocol()
	if proto == "" {
		proto = "none"
	}
	fmt.Fprintf(stderr, "connected to %s (subprotocol: %s)\n", url, proto)

	received := make(chan struct{}, 1)
	closed := make(chan error, 1)
	go func() {
		for {
			typ, data, err := c.Recv(ctx)
			if err != nil {
				closed <- err
				return
			}
			if typ == protocol.Binary {
				fmt.Fprintf(stdout, "binary: %s\n", hex.EncodeToString(data))
			} else {
				fmt.Fprintf(stdout, "%s\n", data)
			}
			select {
			case received <- struct{}{}:
			default:
			}
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for sending := true; sending; {
		select {
		case line, ok := <-lines:
			if !ok {
				sending = false
				break
			}
			if err := c.Send(ctx, protocol.Text, []byte(line)); err != nil {
				sending = false
			}
		case <-closed:
			return report(c, stderr)
		case <-ctx.Done():
			sending = false
		}
	}
	// Input ended: wait for quiet, then close.
	for quiet := false; !quiet; {
		select {
		case <-received:
		case <-closed:
			return report(c, stderr)
		case <-time.After(wait):
			quiet = true
		}
	}
	_ = c.Close(protocol.CloseNormal, "")
	<-closed
	return report(c, stderr)
}

func report(c *service.Conn, stderr io.Writer) (protocol.CloseCode, error) {
	<-c.Done()
	code, reason := service.CloseStatus(c.Err())
	fmt.Fprintf(stderr, "closed: %v %q\n", code, reason)
	return code, nil
}
