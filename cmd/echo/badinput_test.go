package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	goldenfile "github.com/fpwork/fp/internal/golden"
)

// logRecords is a slog handler that hands each record's text to a
// channel, so a test can wait for a line without polling.
type logRecords struct{ c chan string }

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logRecords) WithGroup(string) slog.Handler            { return h }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	select {
	case h.c <- b.String():
	default: // nobody waiting for this many lines: not kept
	}
	return nil
}

// waitLog waits for a logged line holding every one of parts.
func waitLog(t *testing.T, logs chan string, parts ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-logs:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		case <-deadline:
			t.Fatalf("no log line with %q", parts)
		}
	}
}

// TestEchoBadInput: a truncated hello, bytes that are not TLS, a client
// too slow to finish its hello, an oversized request head, a garbage
// HTTP/2 preface, a garbage request on the plain port and a client too
// slow to finish its head: each such connection ends, its reason is
// logged at the default level with the client's address, and the server
// goes on serving others.
func TestEchoBadInput(t *testing.T) {
	cfg, err := parseConfig([]string{"echo", "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--handshake-timeout", "300ms", "--read-header-timeout", "300ms"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := make(chan boundAddrs, 1), make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(logRecords{logs}).With(), func(b boundAddrs) { addrs <- b })
	}()
	b := <-addrs
	defer func() {
		cancel()
		<-done
	}()
	hello := goldenfile.Load(t, goldenDir, "go-1.26-h1").MustHex(t, "hello.hex")
	oversized := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n"
	for _, tc := range []struct {
		name   string
		addr   string
		tls    []string // ALPN: the test completes a handshake first
		send   []byte
		reason string // in the logged line
	}{
		{"truncated hello", b.https, nil, hello[:len(hello)/2], "hello=incomplete"},
		{"not TLS", b.https, nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "TLS handshake failed"},
		{"slow hello", b.https, nil, hello[:3], "TLS handshake failed"},
		{"oversized head", b.https, []string{"http/1.1"}, []byte(oversized), "request head exceeds limit"},
		{"garbage preface", b.https, []string{"h2"}, []byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\ngarbage"), "unreadable client data"},
		{"garbage request", b.http, nil, []byte("\x00\x01\x02 nonsense\r\n\r\n"), "ended inside a request head"},
		{"slow head", b.http, nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n"), "slow client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var c net.Conn = raw
			if tc.tls != nil {
				tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: tc.tls})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			c.Write(tc.send)
			if tc.name == "truncated hello" {
				raw.(*net.TCPConn).CloseWrite()
			}
			// The server ends the connection (after an error answer, maybe).
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("the server did not end the connection: %v", err)
			}
			line := waitLog(t, logs, "remote="+raw.LocalAddr().String(), tc.reason)
			t.Log(line)
		})
	}
	// And it goes on serving.
	resp, err := goClient(true).Get("https://localhost:" + strings.Split(b.https, ":")[1] + "/after")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r := decode(t, body); r.HTTP.Path != "/after" || r.Fingerprints["ja4"] == "" {
		t.Fatalf("%+v", r)
	}
}
