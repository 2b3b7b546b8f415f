package capture

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"
)

// alpnACMETLS is the ALPN protocol of ACME TLS-ALPN-01 validation (RFC 8737).
const alpnACMETLS = "acme-tls/1"

// TLSListener terminates TLS itself so that the plaintext can be recorded:
// Accept wraps each raw connection in a ClientHello recorder (Conn) and a
// crypto/tls server, and returns a PlainConn over them. The handshake runs
// on the first Read or Write, on net/http's goroutine for the connection
// (as with tls.NewListener), bounded by the handshake timeout; then the
// PlainConn speaks HTTP/2 when ALPN chose "h2". A handshake that fails is
// logged and counted, and the connection ends; one that chose
// "acme-tls/1" (an ACME validator's) ends right after it. Serve the
// listener with a net/http Server whose Protocols include
// UnencryptedHTTP2: to net/http the connection is already plaintext.
// r.TLS is then nil; the TLS state is PlainConn.TLS, reachable through
// ConnContext.
type TLSListener struct {
	inner     net.Listener
	handshake tlsHandshake
}

// tlsHandshake is what a PlainConn needs to run its connection's
// handshake.
type tlsHandshake struct {
	config  *tls.Config
	limits  Limits
	timeout time.Duration
	log     *slog.Logger
	onShake func(error)
}

// NewTLSListener wraps inner. Handshakes that take longer than timeout
// fail (and are logged). onHandshake, when set, is told each handshake's
// result.
func NewTLSListener(inner net.Listener, config *tls.Config, lim Limits, timeout time.Duration, log *slog.Logger, onHandshake func(error)) *TLSListener {
	return &TLSListener{inner: inner, handshake: tlsHandshake{config: config, limits: lim, timeout: timeout, log: log, onShake: onHandshake}}
}

// Accept waits for the next connection and wraps it; its handshake runs
// when it is first read or written.
func (l *TLSListener) Accept() (net.Conn, error) {
	raw, err := l.inner.Accept()
	if err != nil {
		return nil, err
	}
	rec := NewConn(raw, l.handshake.limits)
	tc := tls.Server(rec, l.handshake.config)
	pc := NewPlainConn(tc, ProtocolHTTP1)
	pc.hello, pc.pending = rec, &l.handshake
	return pc, nil
}

// finishHandshake runs the connection's TLS handshake once, before its
// first read or write, and sets the protocol from ALPN.
func (pc *PlainConn) finishHandshake() error {
	pc.shakeOnce.Do(func() {
		h := pc.pending
		tc := pc.Conn.(*tls.Conn)
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if h.onShake != nil {
			h.onShake(err)
		}
		if err != nil {
			h.log.Info("capture: TLS handshake failed", "remote", tc.RemoteAddr().String(), "err", err,
				"hello", pc.hello.HelloState())
			pc.shakeErr = err
			return
		}
		state := tc.ConnectionState()
		if state.NegotiatedProtocol == alpnACMETLS {
			// A TLS-ALPN-01 validator only wants the handshake's certificate
			// and closes; RFC 8737 section 3 allows no data on this connection.
			h.log.Debug("capture: closed an acme-tls/1 connection after its handshake", "remote", tc.RemoteAddr().String())
			tc.Close()
			pc.shakeErr = io.EOF
			return
		}
		pc.mu.Lock()
		pc.tls = &state
		if state.NegotiatedProtocol == "h2" {
			pc.proto = ProtocolHTTP2
		}
		pc.mu.Unlock()
	})
	return pc.shakeErr
}

// Close closes the listener; connections already returned stay open.
func (l *TLSListener) Close() error { return l.inner.Close() }

// Addr is the inner listener's address.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }
