package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// sentStream is one request of TestEchoConcurrentHTTP2Streams: its header fields in the
// order written, pseudo-headers included.
type sentStream struct {
	name    string
	headers [][2]string
}

// names lists the stream's header names in the order sent.
func (s sentStream) names() []string {
	out := make([]string, 0, len(s.headers))
	for _, h := range s.headers {
		out = append(out, h[0])
	}
	return out
}

// key is what capture.ClaimHTTP2 matches a request by besides header values: method,
// authority and path.
func (s sentStream) key() string {
	var m, a, p string
	for _, h := range s.headers {
		switch h[0] {
		case ":method":
			m = h[1]
		case ":authority":
			a = h[1]
		case ":path":
			p = h[1]
		}
	}
	return m + " " + a + " " + p
}

// concurrentStreams are requests sent on one connection before anything is read:
// different paths, different header orders (pseudo-headers included), and two
// requests with the same method, authority, path and header values that differ only
// in header order.
func concurrentStreams(scheme, authority string) []sentStream {
	return []sentStream{
		{"alpha, pseudo-headers m s a p", [][2]string{{":method", "GET"}, {":scheme", scheme}, {":authority", authority},
			{":path", "/alpha?x=1"}, {"user-agent", "streams-test"}, {"accept", "application/json"}, {"x-first", "1"}}},
		{"beta, pseudo-headers m p a s", [][2]string{{":method", "GET"}, {":path", "/beta"}, {":authority", authority},
			{":scheme", scheme}, {"x-second", "2"}, {"accept-language", "da, en-gb;q=0.8"}, {"accept", "application/json"},
			{"user-agent", "streams-test"}}},
		{"gamma, authority first", [][2]string{{":authority", authority}, {":method", "GET"}, {":scheme", scheme},
			{":path", "/gamma/deep/path"}, {"x-c", "c"}, {"x-b", "b"}, {"x-a", "a"}, {"cache-control", "no-cache"}}},
		{"delta, DELETE", [][2]string{{":method", "DELETE"}, {":scheme", scheme}, {":path", "/delta"},
			{":authority", authority}, {"accept", "application/json"}, {"user-agent", "streams-test"}}},
		{"same request, order one", [][2]string{{":method", "GET"}, {":scheme", scheme}, {":authority", authority},
			{":path", "/same"}, {"accept", "application/json"}, {"user-agent", "streams-test"}, {"x-order", "same"}}},
		{"same request, order two", [][2]string{{":method", "GET"}, {":authority", authority}, {":scheme", scheme},
			{":path", "/same"}, {"x-order", "same"}, {"user-agent", "streams-test"}, {"accept", "application/json"}}},
	}
}

// TestEchoConcurrentHTTP2Streams opens one HTTP/2 connection with a raw client (a
// Framer and an HPACK encoder, so the header order is the test's), writes the HEADERS
// of every stream before reading anything, and checks that each answer echoes the
// header order its own stream sent. A request whose method, authority and path are
// shared with another stream may instead come back "ambiguous" (the echo does not
// guess), never with the other stream's order.
func TestEchoConcurrentHTTP2Streams(t *testing.T) {
	// startEcho's listeners, with a rate limit above the test's requests.
	b := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--rate", "10000", "--rate-burst", "10000")
	_, httpsPort, _ := net.SplitHostPort(b.https)
	plain := b.http
	const rounds = 10
	for _, tc := range []struct {
		name      string
		scheme    string
		authority string
		dial      func() (net.Conn, error)
	}{
		{"h2 over TLS", "https", "localhost:" + httpsPort, func() (net.Conn, error) {
			c, err := tls.Dial("tcp", "127.0.0.1:"+httpsPort,
				&tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err == nil && c.ConnectionState().NegotiatedProtocol != "h2" {
				c.Close()
				return nil, fmt.Errorf("ALPN %q, want h2", c.ConnectionState().NegotiatedProtocol)
			}
			return c, err
		}},
		{"h2c prior knowledge", "http", plain, func() (net.Conn, error) { return net.Dial("tcp", plain) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams := concurrentStreams(tc.scheme, tc.authority)
			shared := map[string]int{}
			for _, s := range streams {
				shared[s.key()]++
			}
			matches := map[string]int{}
			for range rounds {
				conn, err := tc.dial()
				if err != nil {
					t.Fatal(err)
				}
				answers, err := sendConcurrentStreams(conn, streams)
				conn.Close()
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range streams {
					id := streamID(i)
					a := answers[id]
					matches[a.Capture.StreamMatch]++
					if a.Capture.StreamMatch == "ambiguous" && shared[s.key()] > 1 {
						continue
					}
					if err := checkStreamAnswer(a, id, s); err != nil {
						t.Errorf("stream %d (%s): %v", id, s.name, err)
					}
				}
			}
			t.Logf("%d connections of %d streams: stream_match %v", rounds, len(streams), matches)
		})
	}
}

// checkStreamAnswer checks that the echo matched stream id to its own record.
func checkStreamAnswer(a echoAnswer, id uint32, s sentStream) error {
	if a.Capture.StreamMatch != "exact" {
		return fmt.Errorf("stream_match %q, want exact", a.Capture.StreamMatch)
	}
	if a.HTTP2 == nil || a.HTTP2.StreamID != id {
		return fmt.Errorf("the echo's http2 section names another stream: %+v", a.HTTP2)
	}
	if got := a.headerNames(); !slices.Equal(got, s.names()) {
		return fmt.Errorf("header order\n  sent   %q\n  echoed %q", s.names(), got)
	}
	var pseudo []string
	for _, n := range s.names() {
		if strings.HasPrefix(n, ":") {
			pseudo = append(pseudo, n)
		}
	}
	if !slices.Equal(a.HTTP2.PseudoHeaderOrder, pseudo) {
		return fmt.Errorf("pseudo_header_order %q, sent %q", a.HTTP2.PseudoHeaderOrder, pseudo)
	}
	return nil
}

// streamID is the client stream id of the i-th request (1, 3, 5, ...).
func streamID(i int) uint32 { return uint32(2*i + 1) }

// sendConcurrentStreams writes the connection preface, SETTINGS, a connection
// WINDOW_UPDATE and every stream's HEADERS (END_STREAM) before reading, then reads
// until every stream has ended and decodes each answer, by stream id.
func sendConcurrentStreams(conn net.Conn, streams []sentStream) (map[uint32]echoAnswer, error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return nil, err
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		return nil, err
	}
	if err := fr.WriteWindowUpdate(0, 1<<24); err != nil {
		return nil, err
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i, s := range streams {
		block.Reset()
		for _, h := range s.headers {
			if err := enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}); err != nil {
				return nil, err
			}
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID(i), BlockFragment: block.Bytes(),
			EndStream: true, EndHeaders: true}); err != nil {
			return nil, err
		}
	}
	bodies := map[uint32][]byte{}
	status := map[uint32]string{}
	open := len(streams)
	for open > 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("reading frames (%d streams open): %w", open, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return nil, err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					return nil, err
				}
			}
		case *http2.MetaHeadersFrame:
			status[f.StreamID] = f.PseudoValue("status")
			if f.StreamEnded() {
				open--
			}
		case *http2.DataFrame:
			bodies[f.StreamID] = append(bodies[f.StreamID], f.Data()...)
			if f.StreamEnded() {
				open--
			}
		case *http2.RSTStreamFrame:
			return nil, fmt.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			return nil, fmt.Errorf("GOAWAY %v: %s", f.ErrCode, f.DebugData())
		}
	}
	answers := map[uint32]echoAnswer{}
	for i := range streams {
		id := streamID(i)
		if status[id] != "200" {
			return nil, fmt.Errorf("stream %d: status %q: %.300s", id, status[id], bodies[id])
		}
		var a echoAnswer
		if err := json.Unmarshal(bodies[id], &a); err != nil {
			return nil, errors.Join(fmt.Errorf("stream %d: the answer is not JSON: %.300s", id, bodies[id]), err)
		}
		answers[id] = a
	}
	return answers, nil
}
