package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestEchoRecordsStayInStepOnLongConnections: on one keep-alive
// connection, requests answered by handlers that do not read the capture
// (/ip, /healthz, a 429) must not leave their records behind for the
// echo's request to take: the echo after 300 of them, over HTTP/1.1 and
// over h2, carries its own header order and case.
func TestEchoRecordsStayInStepOnLongConnections(t *testing.T) {
	b := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rate", "1e9", "--rate-burst", "1000000")
	t.Run("HTTP/1.1", func(t *testing.T) {
		c, err := tls.Dial("tcp", b.https, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; i < 300; i++ {
			path := []string{"/ip", "/healthz", "/readyz"}[i%3]
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nx-n: %d\r\n\r\n", path, i)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		io.WriteString(c, "GET /mine?q=1 HTTP/1.1\r\nhost: localhost\r\nx-lower-case: 1\r\nX-UPPER: 2\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		r := decode(t, body)
		got := fmt.Sprint(r.HTTP.Headers)
		if want := "[[host localhost] [x-lower-case 1] [X-UPPER 2]]"; got != want {
			t.Fatalf("headers %s, want %s", got, want)
		}
	})
	t.Run("h2", func(t *testing.T) {
		c := goClient(true)
		defer c.Transport.(*http.Transport).CloseIdleConnections()
		base := "https://localhost:" + strings.Split(b.https, ":")[1]
		for i := 0; i < 600; i++ {
			resp, err := c.Get(base + []string{"/ip", "/healthz", "/readyz"}[i%3])
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		req, _ := http.NewRequest("GET", base+"/mine", nil)
		req.Header.Set("X-Mine", "1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := decode(t, body)
		if r.Capture.StreamMatch != "exact" || !strings.HasPrefix(r.HTTP.Headers[0][0], ":") || !strings.Contains(fmt.Sprint(r.HTTP.Headers), "[x-mine 1]") {
			t.Fatalf("match %q, headers %v", r.Capture.StreamMatch, r.HTTP.Headers)
		}
	})
}
