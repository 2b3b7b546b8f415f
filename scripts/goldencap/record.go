package main

import (
	"crypto/tls"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/cryptobyte"
)

// maxHelloBytes caps the raw bytes kept while looking for the end of the ClientHello.
const maxHelloBytes = 1 << 20

// maxStreamBytes caps the decrypted client stream written per connection.
const maxStreamBytes = 256 << 10

// helloRecorder sits below crypto/tls and keeps the raw bytes the client sent until the
// TLS record that completes the first handshake message (the ClientHello) has arrived.
// onDone is called once with exactly those records (possibly several, when the client
// fragments the hello). If the connection ends first, onDone gets what arrived.
type helloRecorder struct {
	net.Conn

	mu     sync.Mutex
	buf    []byte
	done   bool
	onDone func(hello []byte, complete bool)
}

func (c *helloRecorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.done && n > 0 {
		c.buf = append(c.buf, p[:n]...)
		if end, ok := helloEnd(c.buf); ok {
			c.finish(c.buf[:end], true)
		} else if len(c.buf) > maxHelloBytes {
			c.finish(c.buf, false)
		}
	}
	if !c.done && err != nil {
		c.finish(c.buf, false)
	}
	return n, err
}

func (c *helloRecorder) Close() error {
	c.mu.Lock()
	if !c.done {
		c.finish(c.buf, false)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *helloRecorder) finish(b []byte, complete bool) {
	c.done = true
	out := make([]byte, len(b))
	copy(out, b)
	c.buf = nil
	c.onDone(out, complete)
}

// helloEnd reports the offset just past the TLS record that completes the first
// handshake message in b, reading the 5-byte record headers and the 4-byte handshake
// header. ok is false while more bytes are needed. A non-handshake record before the
// message completes ends the search at that record (ok true, the hello incomplete).
func helloEnd(b []byte) (end int, ok bool) {
	s := cryptobyte.String(b)
	var hs []byte
	pos := 0
	for {
		var typ uint8
		var vers uint16
		var body cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint16(&vers) || !s.ReadUint16LengthPrefixed(&body) {
			return 0, false
		}
		if typ != 22 { // not a handshake record
			return pos, true
		}
		pos += 5 + len(body)
		hs = append(hs, body...)
		msg := cryptobyte.String(hs)
		var msgType uint8
		var msgLen uint32
		if msg.ReadUint8(&msgType) && msg.ReadUint24(&msgLen) && len(msg) >= int(msgLen) {
			return pos, true
		}
	}
}

// streamRecorder sits above crypto/tls and writes the decrypted bytes the client sent to
// a file, up to maxStreamBytes. It forwards ConnectionState so that x/net/http2 still
// sees the TLS parameters.
type streamRecorder struct {
	*tls.Conn

	mu      sync.Mutex
	f       *os.File
	written int
}

func (c *streamRecorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if room := maxStreamBytes - c.written; room > 0 && c.f != nil {
			w := min(n, room)
			if _, werr := c.f.Write(p[:w]); werr == nil {
				c.written += w
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *streamRecorder) Close() error {
	c.mu.Lock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// oneConnListener hands one connection to net/http's Server.Serve, then blocks Accept
// until that connection is closed so that Serve returns after it.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{closed: make(chan struct{})}
	l.conn = &notifyCloseConn{Conn: c, closed: l.closed}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type notifyCloseConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyCloseConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}
