package main

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"
)

// xconnectChildEnv marks the copy of this test binary that runs with
// GODEBUG=http2xconnect=1 from its start.
const xconnectChildEnv = "FP_TEST_XCONNECT_CHILD"

// TestEchoWebsocketHTTP2: websockets over HTTP/2 extended CONNECT (RFC
// 8441) with --h2-websocket. net/http and x/net/http2 read the switch
// only when a process starts, so the test runs again in a child process
// started with GODEBUG=http2xconnect=1. The client is x/net/http2's
// transport (which sends the extended CONNECT) under coder/websocket's
// own client, through a small adapter.
func TestEchoWebsocketHTTP2(t *testing.T) {
	if os.Getenv(xconnectChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEchoWebsocketHTTP2$", "-test.v", "-test.count=1")
		cmd.Env = append(withGODEBUG(os.Environ(), xconnectGODEBUG), xconnectChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestEchoWebsocketHTTP2") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	cfg, err := parseConfig([]string{"echo", "--https-addr", "127.0.0.1:0", "--http-addr", "", "--h2-websocket"},
		os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := make(chan boundAddrs, 1), make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(b boundAddrs) { addrs <- b })
	}()
	b := <-addrs
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	h2 := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}}
	defer h2.CloseIdleConnections()
	client := &http.Client{Transport: extendedConnect{h2}}
	wsURL := "wss://" + b.https + "/ws"
	for _, tc := range []struct {
		name, protocol, in, want string
	}{
		{"echo", "echo", "Hello, World", "Hello, World"},
		{"upper", "echo-upper", "Hello, World", "HELLO, WORLD"},
		{"lower", "echo-lower", "Hello, World", "hello, world"},
		{"none offered", "", "MiXeD", "MiXeD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := &websocket.DialOptions{HTTPClient: client}
			if tc.protocol != "" {
				opts.Subprotocols = []string{tc.protocol}
			}
			c, resp, err := websocket.Dial(ctx, wsURL, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.ProtoMajor != 2 || c.Subprotocol() != tc.protocol {
				t.Fatalf("%s, subprotocol %q", resp.Proto, c.Subprotocol())
			}
			for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
				if err := c.Write(ctx, typ, []byte(tc.in)); err != nil {
					t.Fatal(err)
				}
				gotTyp, got, err := c.Read(ctx)
				want := tc.want
				if typ == websocket.MessageBinary {
					want = tc.in // binary messages come back unchanged
				}
				if err != nil || gotTyp != typ || string(got) != want {
					t.Fatalf("%v: got %v %q, %v; want %q", typ, gotTyp, got, err, want)
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
	// Offered subprotocols none of which is known are refused, as over
	// HTTP/1.1.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	_, resp, err := websocket.Dial(ctx2, wsURL, &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"chat"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown subprotocol: %v, %+v", err, resp)
	}
}

// TestEchoH2WebsocketNeedsGODEBUG: without GODEBUG=http2xconnect=1 at
// process start the flag cannot work, and serve says so.
func TestEchoH2WebsocketNeedsGODEBUG(t *testing.T) {
	cfg, err := parseConfig([]string{"echo", "--https-addr", "127.0.0.1:0", "--h2-websocket"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "GODEBUG=http2xconnect=1") {
		t.Fatalf("serve: %v", err)
	}
}

func TestWithGODEBUG(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"none", []string{"A=1"}, []string{"A=1", "GODEBUG=http2xconnect=1"}},
		{"kept", []string{"GODEBUG=x=1", "A=1"}, []string{"A=1", "GODEBUG=x=1,http2xconnect=1"}},
		{"first of two", []string{"GODEBUG=x=1", "GODEBUG=y=1"}, []string{"GODEBUG=x=1,http2xconnect=1"}},
		{"empty", []string{"GODEBUG="}, []string{"GODEBUG=http2xconnect=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withGODEBUG(tc.in, xconnectGODEBUG); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if !hasGODEBUG("a=1, http2xconnect=1", xconnectGODEBUG) || hasGODEBUG("http2xconnect=10", xconnectGODEBUG) {
		t.Fatal("hasGODEBUG")
	}
}

// extendedConnect turns coder/websocket's HTTP/1.1 upgrade request into
// an RFC 8441 extended CONNECT over HTTP/2, and the server's 200 into the
// 101 coder/websocket expects, with the stream as its body.
type extendedConnect struct{ h2 *http2.Transport }

func (t extendedConnect) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.Scheme = "https"
	pr, pw := io.Pipe()
	c := &http.Request{Method: http.MethodConnect, URL: &u, Host: u.Host, Header: http.Header{}, Body: pr,
		ContentLength: -1}
	c = c.WithContext(req.Context())
	c.Header.Set(":protocol", "websocket")
	for _, name := range []string{"Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Origin", "User-Agent"} {
		if v := req.Header.Values(name); len(v) > 0 {
			c.Header[name] = v
		}
	}
	resp, err := t.h2.RoundTrip(c)
	if err != nil {
		pw.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		pw.Close()
		return resp, nil
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	h := resp.Header.Clone()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	return &http.Response{Status: "101 Switching Protocols", StatusCode: http.StatusSwitchingProtocols,
		Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor, Header: h, Request: req,
		Body: stream{ReadCloser: resp.Body, w: pw}}, nil
}

// stream is the client's side of the extended CONNECT stream.
type stream struct {
	io.ReadCloser
	w *io.PipeWriter
}

func (s stream) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s stream) Close() error {
	s.w.Close()
	return s.ReadCloser.Close()
}
