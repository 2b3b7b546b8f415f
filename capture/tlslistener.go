package capture

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
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
	buffers sync.Pool // of *[]byte, for the connections' held writes
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
	pc.hello, pc.pending, pc.buffers = rec, &l.handshake, &l.handshake.buffers
	return pc, nil
}

// finishHandshake runs the connection's TLS handshake once, before its
// first read or write, and sets the protocol from ALPN. The handshake is
// bounded by deadlines on the connection, not by a context: with a
// context crypto/tls starts a goroutine per handshake to watch it, which
// costs more CPU than the deadlines. The deadlines net/http set before
// its first read are kept and put back once the handshake is done.
func (pc *PlainConn) finishHandshake() error {
	pc.shakeOnce.Do(func() {
		h := pc.pending
		tc := pc.Conn.(*tls.Conn)
		pc.startShake(time.Now().Add(h.timeout))
		err := tc.Handshake()
		pc.endShake()
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

// handshakeDeadlines are a TLSListener connection's deadlines as its user
// set them. While the handshake runs the connection has the earlier of
// each and the handshake's deadline; afterwards it has them again.
type handshakeDeadlines struct {
	mu          sync.Mutex
	shaking     bool
	read, write time.Time
}

// startShake bounds both directions by the handshake's deadline.
func (pc *PlainConn) startShake(deadline time.Time) {
	d := &pc.deadlines
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shaking = true
	pc.Conn.SetReadDeadline(earlier(d.read, deadline))
	pc.Conn.SetWriteDeadline(earlier(d.write, deadline))
}

// endShake puts back the deadlines the user set.
func (pc *PlainConn) endShake() {
	d := &pc.deadlines
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shaking = false
	pc.Conn.SetReadDeadline(d.read)
	pc.Conn.SetWriteDeadline(d.write)
}

// earlier is the earlier of a deadline (zero: none) and t.
func earlier(deadline, t time.Time) time.Time {
	if deadline.IsZero() || t.Before(deadline) {
		return t
	}
	return deadline
}

// SetDeadline sets the read and write deadlines; see SetReadDeadline.
func (pc *PlainConn) SetDeadline(t time.Time) error {
	if err := pc.SetReadDeadline(t); err != nil {
		return err
	}
	return pc.SetWriteDeadline(t)
}

// SetReadDeadline sets the connection's read deadline. On a TLSListener's
// connection whose handshake has not finished, it is kept and takes
// effect as the handshake ends (the handshake's own deadline bounds it).
func (pc *PlainConn) SetReadDeadline(t time.Time) error {
	return pc.setDeadline(t, &pc.deadlines.read, pc.Conn.SetReadDeadline)
}

// SetWriteDeadline is SetReadDeadline for writes.
func (pc *PlainConn) SetWriteDeadline(t time.Time) error {
	return pc.setDeadline(t, &pc.deadlines.write, pc.Conn.SetWriteDeadline)
}

func (pc *PlainConn) setDeadline(t time.Time, kept *time.Time, set func(time.Time) error) error {
	if pc.pending == nil {
		return set(t)
	}
	d := &pc.deadlines
	d.mu.Lock()
	defer d.mu.Unlock()
	*kept = t
	if d.shaking {
		return nil
	}
	return set(t)
}

// Close closes the listener; connections already returned stay open.
func (l *TLSListener) Close() error { return l.inner.Close() }

// Addr is the inner listener's address.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }
