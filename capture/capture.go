// Package capture records what clients send on accepted connections, as a
// passive observer of the bytes crypto/tls and net/http read: the TLS
// ClientHello, assembled from any number of records and reads while
// crypto/tls reads the same bytes. Records are reachable from handlers
// through the request context.
package capture

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/fpwork/fp/fingerprint"
)

// Limits bound what one connection records.
type Limits struct {
	// MaxHelloBytes caps the bytes held while a ClientHello is incomplete;
	// past it recording stops (the connection goes on).
	MaxHelloBytes int
}

// DefaultLimits returns the limits the services use.
func DefaultLimits() Limits { return Limits{MaxHelloBytes: 64 << 10} }

// Listener wraps accepted connections in a recording Conn.
type Listener struct {
	net.Listener
	limits Limits
}

// NewListener wraps l. Put it under tls.NewListener: the recording Conn
// sees the raw bytes.
func NewListener(l net.Listener, lim Limits) *Listener { return &Listener{Listener: l, limits: lim} }

// Accept waits for the next connection and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c, l.limits), nil
}

// Conn records the first bytes the client sends until they hold a whole
// ClientHello. It never changes what the reader gets.
type Conn struct {
	net.Conn
	limits Limits

	mu      sync.Mutex
	fpOnce  sync.Once
	fp      fingerprint.TLSFingerprints
	buf     []byte // the raw bytes of the hello so far
	walk    recordWalk
	done    bool // recording finished (hello complete, not TLS, or over the cap)
	hello   *fingerprint.ClientHello
	helloEr error
}

// NewConn wraps c.
func NewConn(c net.Conn, lim Limits) *Conn { return &Conn{Conn: c, limits: lim} }

// ErrNoHello: the connection did not start with a ClientHello, or it was
// larger than the limit.
var ErrNoHello = errors.New("capture: no ClientHello recorded")

// Read reads from the connection and records the bytes of the hello.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.done {
			c.record(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// record appends b and parses once the records hold a whole hello.
func (c *Conn) record(b []byte) {
	if len(c.buf)+len(b) > c.limits.MaxHelloBytes {
		c.done, c.buf, c.helloEr = true, nil, ErrNoHello
		return
	}
	c.buf = append(c.buf, b...)
	switch c.walk.advance(c.buf) {
	case walkMore:
		return
	case walkNotTLS:
		c.done, c.buf, c.helloEr = true, nil, ErrNoHello
		return
	}
	ch, err := fingerprint.ParseClientHello(c.buf)
	c.done = true
	if err != nil {
		c.buf, c.helloEr = nil, err
		return
	}
	// Keep exactly the hello's records: crypto/tls may read more.
	c.buf = c.buf[:ch.Consumed:ch.Consumed]
	c.hello = ch
}

// ClientHello returns the parsed hello and its raw records. Until the
// hello is complete it returns ErrNoHello wrapped with the reason.
func (c *Conn) ClientHello() (*fingerprint.ClientHello, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hello != nil {
		return c.hello, c.buf, nil
	}
	if c.helloEr != nil {
		return nil, nil, c.helloEr
	}
	return nil, nil, ErrNoHello
}

// HelloState says, for logs, how far the hello got: "complete", what
// stopped its recording, or how many bytes of it had arrived.
func (c *Conn) HelloState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.hello != nil:
		return "complete"
	case c.helloEr != nil:
		return c.helloEr.Error()
	}
	return fmt.Sprintf("incomplete: %d bytes received", len(c.buf))
}

// Fingerprints returns the TLS fingerprints of the connection's hello,
// computed once for all the requests the connection carries.
func (c *Conn) Fingerprints() (fingerprint.TLSFingerprints, error) {
	ch, _, err := c.ClientHello()
	if err != nil {
		return fingerprint.TLSFingerprints{}, err
	}
	c.fpOnce.Do(func() { c.fp = fingerprint.ComputeTLS(ch, fingerprint.TransportTCP) })
	return c.fp, nil
}

// contextKey is the type of the context key of a connection's record.
type contextKey struct{}

// plainKey is the context key of a connection's PlainConn.
type plainKey struct{}

// ConnContext is an http.Server ConnContext. It puts the connection's
// records into its context: the PlainConn a TLSListener (or a plain-port
// wrapper) returned, and the ClientHello recorder, under a *tls.Conn when
// net/http did the handshake itself.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*PlainConn); ok {
		ctx = context.WithValue(ctx, plainKey{}, pc)
		if pc.hello != nil {
			ctx = context.WithValue(ctx, contextKey{}, pc.hello)
		}
		return ctx
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if rc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, contextKey{}, rc)
	}
	return ctx
}

// FromContext returns the ClientHello recorder of a request's connection.
func FromContext(ctx context.Context) (*Conn, bool) {
	c, ok := ctx.Value(contextKey{}).(*Conn)
	return c, ok
}

// PlainFromContext returns the plaintext recorder of a request's
// connection.
func PlainFromContext(ctx context.Context) (*PlainConn, bool) {
	c, ok := ctx.Value(plainKey{}).(*PlainConn)
	return c, ok
}

// recordWalk follows TLS record headers as bytes arrive, so a hello sent
// in many small reads is parsed once, when its last record is in, and
// each byte is looked at once.
type recordWalk struct {
	next  int     // offset of the next record header
	got   int     // handshake bytes in complete records
	head  [4]byte // the handshake header
	headN int
}

type walkResult uint8

const (
	walkMore walkResult = iota
	walkComplete
	walkNotTLS
)

func (w *recordWalk) advance(buf []byte) walkResult {
	for w.next+5 <= len(buf) {
		if buf[w.next] != 22 {
			return walkNotTLS
		}
		n := int(buf[w.next+3])<<8 | int(buf[w.next+4])
		if w.next+5+n > len(buf) {
			return walkMore
		}
		frag := buf[w.next+5 : w.next+5+n]
		k := copy(w.head[w.headN:], frag)
		w.headN += k
		w.got += n
		w.next += 5 + n
		if w.headN == 4 {
			if w.head[0] != 1 {
				return walkNotTLS
			}
			if w.got >= 4+(int(w.head[1])<<16|int(w.head[2])<<8|int(w.head[3])) {
				return walkComplete
			}
		}
	}
	if len(buf) > 0 && buf[0] != 22 {
		return walkNotTLS
	}
	return walkMore
}
