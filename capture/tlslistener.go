package capture

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// alpnACMETLS is the ALPN protocol of ACME TLS-ALPN-01 validation (RFC 8737).
const alpnACMETLS = "acme-tls/1"

// TLSListener terminates TLS itself so that the plaintext can be recorded:
// it accepts raw connections, records each ClientHello (Conn), runs the
// handshake with crypto/tls on a goroutine of its own, and returns from
// Accept a PlainConn over the *tls.Conn, speaking HTTP/2 when ALPN chose
// "h2". A handshake that chose "acme-tls/1" (an ACME validator's) is
// closed at once and never returned. Serve it with a net/http Server whose
// Protocols include UnencryptedHTTP2: to net/http the connection is
// already plaintext.
// r.TLS is then nil; the TLS state is PlainConn.TLS, reachable through
// ConnContext.
type TLSListener struct {
	inner   net.Listener
	config  *tls.Config
	limits  Limits
	timeout time.Duration
	log     *slog.Logger
	onShake func(error)

	ready  chan *PlainConn
	done   chan struct{}
	once   sync.Once
	errMu  sync.Mutex
	accErr error
}

// NewTLSListener starts accepting on inner. Handshakes that take longer
// than timeout are dropped (and logged). onHandshake, when set, is told
// each handshake's result.
func NewTLSListener(inner net.Listener, config *tls.Config, lim Limits, timeout time.Duration, log *slog.Logger, onHandshake func(error)) *TLSListener {
	l := &TLSListener{inner: inner, config: config, limits: lim, timeout: timeout, log: log, onShake: onHandshake,
		ready: make(chan *PlainConn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *TLSListener) acceptLoop() {
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.errMu.Lock()
			l.accErr = err
			l.errMu.Unlock()
			l.Close()
			return
		}
		go l.handshake(raw)
	}
}

func (l *TLSListener) handshake(raw net.Conn) {
	rec := NewConn(raw, l.limits)
	tc := tls.Server(rec, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if l.onShake != nil {
		l.onShake(err)
	}
	if err != nil {
		l.log.Info("capture: TLS handshake failed", "remote", raw.RemoteAddr().String(), "err", err,
			"hello", rec.HelloState())
		raw.Close()
		return
	}
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == alpnACMETLS {
		// A TLS-ALPN-01 validator only wants the handshake's certificate
		// and closes; RFC 8737 section 3 allows no data on this connection.
		l.log.Debug("capture: closed an acme-tls/1 connection after its handshake", "remote", raw.RemoteAddr().String())
		tc.Close()
		return
	}
	proto := ProtocolHTTP1
	if state.NegotiatedProtocol == "h2" {
		proto = ProtocolHTTP2
	}
	pc := NewPlainConn(tc, proto)
	pc.hello, pc.tls = rec, &state
	select {
	case l.ready <- pc:
	case <-l.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake completed.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case pc := <-l.ready:
		return pc, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.accErr != nil {
			return nil, l.accErr
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already returned stay open.
func (l *TLSListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr is the inner listener's address.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }
