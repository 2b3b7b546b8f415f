package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"

	"github.com/fpwork/fp/capture"
)

// H2CUpgrade serves the HTTP/1.1 upgrade to cleartext HTTP/2 (RFC 7540
// section 3.2: "Upgrade: h2c" with one HTTP2-Settings header) on a plain
// port: it answers 101 Switching Protocols and serves the rest of the
// connection as HTTP/2 with next, the upgrading request becoming stream
// 1. net/http serves prior-knowledge h2c itself (Protocols
// UnencryptedHTTP2) but not this upgrade; golang.org/x/net/http2/h2c,
// which did, is deprecated and reads the upgrading request's body without
// a bound. Here the body is bounded by maxBody: a longer one is served
// over HTTP/1.1 without upgrading, as a server may always decline. Every
// other request, and any request over TLS, goes to next unchanged.
func H2CUpgrade(next http.Handler, maxBody int64) http.Handler {
	srv := &http2.Server{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		settings, ok := h2cUpgradeSettings(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return // the client went away
		}
		if int64(len(body)) > maxBody {
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		if err := rw.Flush(); err != nil {
			return
		}
		opts := &http2.ServeConnOpts{Context: r.Context(), Handler: next, Settings: settings,
			UpgradeRequest: r.WithContext(context.WithValue(r.Context(), h2cUpgradeKey{}, true))}
		if base, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
			opts.BaseConfig = base
		}
		srv.ServeConn(bufferedConn{Conn: conn, r: rw.Reader}, opts)
	})
}

type h2cUpgradeKey struct{}

// H2CUpgraded reports whether r is the HTTP/1.1 request that asked for
// the h2c upgrade, answered as HTTP/2 stream 1. It is not itself part of
// the HTTP/2 connection: the client's preface is sent after it.
func H2CUpgraded(r *http.Request) bool {
	v, _ := r.Context().Value(h2cUpgradeKey{}).(bool)
	return v
}

// h2cUpgradeSettings reports whether r asks for an h2c upgrade the server
// can take, and returns the SETTINGS payload of its HTTP2-Settings header.
func h2cUpgradeSettings(r *http.Request) ([]byte, bool) {
	if r.ProtoMajor != 1 || r.TLS != nil || r.Method == http.MethodConnect {
		return nil, false
	}
	if pc, ok := capture.PlainFromContext(r.Context()); ok && pc.TLS() != nil {
		return nil, false // h2c is cleartext only (RFC 7540 section 3.2)
	}
	if !httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") ||
		!httpguts.HeaderValuesContainsToken(r.Header["Connection"], "HTTP2-Settings") ||
		!httpguts.HeaderValuesContainsToken(r.Header["Connection"], "Upgrade") {
		return nil, false
	}
	values := r.Header["Http2-Settings"]
	if len(values) != 1 {
		return nil, false
	}
	settings, err := base64.RawURLEncoding.DecodeString(values[0])
	if err != nil || len(settings)%6 != 0 {
		return nil, false
	}
	return settings, true
}

// bufferedConn reads what the HTTP/1 server had buffered before the
// connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}
