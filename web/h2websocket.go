package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Websockets over HTTP/2 (RFC 8441): the client opens a stream with an
// extended CONNECT (":protocol: websocket"), the server answers 200, and
// the stream's DATA frames carry the websocket frames both ways.
// golang.org/x/net/http2 and net/http accept such a CONNECT only when the
// process started with GODEBUG=http2xconnect=1 (they then advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL); coder/websocket knows only the
// HTTP/1.1 upgrade, so acceptExtendedConnect presents the stream to it as
// a hijacked HTTP/1.1 connection.

// IsExtendedConnectWebsocket reports whether r opens a websocket over
// HTTP/2 (RFC 8441 section 4).
func IsExtendedConnectWebsocket(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

// fixedWebsocketKey stands in for the Sec-WebSocket-Key that RFC 8441
// requests do not carry; the accept value computed from it is never sent.
const fixedWebsocketKey = "AAAAAAAAAAAAAAAAAAAAAA=="

// acceptExtendedConnect accepts an RFC 8441 websocket with coder/websocket.
func acceptExtendedConnect(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, error) {
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "websocket over HTTP/2: Sec-WebSocket-Version must be 13", http.StatusBadRequest)
		return nil, errors.New("web: extended CONNECT without Sec-WebSocket-Version 13")
	}
	// The HTTP/1.1 upgrade request coder/websocket checks for.
	up := r.Clone(r.Context())
	up.Method, up.Proto, up.ProtoMajor, up.ProtoMinor = http.MethodGet, "HTTP/1.1", 1, 1
	up.Header.Del(":protocol")
	up.Header.Set("Connection", "Upgrade")
	up.Header.Set("Upgrade", "websocket")
	up.Header.Set("Sec-WebSocket-Key", fixedWebsocketKey)
	return websocket.Accept(&streamUpgrader{w: w, rc: http.NewResponseController(w), body: r.Body}, up, opts)
}

// streamUpgrader is the ResponseWriter coder/websocket writes its 101 to:
// the answer sent is RFC 8441's 200 (without the HTTP/1.1 upgrade
// headers), and "hijacking" yields the stream.
type streamUpgrader struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	body io.ReadCloser
}

func (u *streamUpgrader) Header() http.Header { return u.w.Header() }

func (u *streamUpgrader) Write(b []byte) (int, error) { return u.w.Write(b) }

func (u *streamUpgrader) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		u.w.WriteHeader(code)
		return
	}
	h := u.w.Header()
	for _, name := range []string{"Upgrade", "Connection", "Sec-WebSocket-Accept"} {
		h.Del(name)
	}
	u.w.WriteHeader(http.StatusOK)
	u.rc.Flush()
}

// Hijack returns the stream as a connection.
func (u *streamUpgrader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := &streamConn{body: u.body, w: u.w, rc: u.rc}
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

// streamConn is one HTTP/2 stream seen as a net.Conn: reads come from the
// request body, writes go to the response and are flushed.
type streamConn struct {
	body io.ReadCloser
	w    http.ResponseWriter
	rc   *http.ResponseController
}

func (c *streamConn) Read(p []byte) (int, error) { return c.body.Read(p) }

func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}

// Close ends the reading side; the stream ends when the handler returns.
func (c *streamConn) Close() error         { return c.body.Close() }
func (c *streamConn) LocalAddr() net.Addr  { return streamAddr{} }
func (c *streamConn) RemoteAddr() net.Addr { return streamAddr{} }
func (c *streamConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

type streamAddr struct{}

func (streamAddr) Network() string { return "http2" }
func (streamAddr) String() string  { return "http2-stream" }
