package service_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"time"

	"github.com/wsmap/wsmap/protocol"
	"github.com/wsmap/wsmap/service"
)

// A Redialer resumes where it left off: BeforeDial puts the last message
// it received in the query of each attempt, and the server sends what
// follows. Here the server sends the numbers after ?since= two at a time,
// closing each connection with 1012 (service restart) after them.
// BeforeDial runs once Recv has returned every message of the connection
// that ended and been called again, so it sees the last one the client
// handled.
func ExampleRedialOptions_beforeDial() {
	srv := httptest.NewServer(&service.Endpoint{Handler: service.HandlerFunc(func(ctx context.Context, c *service.Conn) error {
		since, _ := strconv.Atoi(c.Request().URL.Query().Get("since"))
		for n := since + 1; n <= since+2; n++ {
			if err := c.Send(ctx, protocol.Text, []byte(strconv.Itoa(n))); err != nil {
				return err
			}
		}
		return &service.CloseError{Code: protocol.CloseServiceRestart, Reason: "restarting"}
	})})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last := "" // the last message handled; set by the loop below, read by BeforeDial
	r := service.Redial(ctx, wsURL(srv)+"/count", &service.RedialOptions{
		MinBackoff: 10 * time.Millisecond,
		BeforeDial: func(ctx context.Context, u *url.URL, h http.Header) error {
			if last != "" {
				q := u.Query()
				q.Set("since", last)
				u.RawQuery = q.Encode()
			}
			fmt.Println("dial", u.RequestURI())
			return nil
		},
	})
	defer r.Close()
	for range 6 {
		_, msg, err := r.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		last = string(msg)
		fmt.Println(last)
	}
	// Output:
	// dial /count
	// 1
	// 2
	// dial /count?since=2
	// 3
	// 4
	// dial /count?since=4
	// 5
	// 6
}
