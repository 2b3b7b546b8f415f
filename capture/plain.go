package capture

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fpwork/fp/fingerprint"
)

// Protocol is what a PlainConn carries.
type Protocol uint8

// Protocols of a connection's plaintext.
const (
	ProtocolHTTP1 Protocol = iota + 1 // HTTP/1.x (an h2c preface switches it to HTTP2)
	ProtocolHTTP2                     // HTTP/2 (ALPN h2, or prior-knowledge h2c)
)

// PlainConn wraps a connection's plaintext side (a *tls.Conn after the
// handshake, or the raw connection on a plain port) and parses what the
// client sends as the server reads it: each HTTP/1 head, exactly as sent,
// or the HTTP/2 frames with one HPACK decoder, so a request's record
// exists before its handler runs. Handlers claim their request's record.
type PlainConn struct {
	net.Conn
	limits plainLimits
	hello  *Conn                // the raw side's recorder, when TLS
	tls    *tls.ConnectionState // the handshake's result, when TLS

	mu      sync.Mutex
	proto   Protocol
	h1      *fingerprint.HTTP1Parser
	heads   []*fingerprint.HTTPRequest // HTTP/1 heads not yet claimed, in order
	h2      *fingerprint.HTTP2Parser
	claimed map[*fingerprint.HTTPRequest]bool // HTTP/2 requests claimed
	stopped bool                              // parsing ended (error, limit, or not HTTP)
	reason  string                            // why it ended early
	failed  bool                              // it ended on bad input or a limit
	readErr error                             // the first read error other than EOF

	// preface holds the HTTP/2 stream from its connection preface until
	// the first HEADERS frame has been parsed, then exactly the bytes
	// before that frame (prefaceDone); nil when it outgrew maxPreface.
	preface     []byte
	prefaceDone bool

	h1Claim   Claimed // ClaimRecords' claim for the HTTP/1 request being served
	h1Claimed bool
	memoOnce  sync.Once
	memo      any

	// pending, on a TLSListener's connection, runs the handshake on the
	// first Read or Write.
	pending   *tlsHandshake
	shakeOnce sync.Once
	shakeErr  error
	deadlines handshakeDeadlines

	// holding makes Write keep what it is given in held (HoldWrites).
	holding    atomic.Bool
	heldMu     sync.Mutex
	held       *[]byte
	heldErr    error // a failed write of what was held, for the writes after it
	heldFailed atomic.Bool
	buffers    *sync.Pool // of *[]byte for held; shared by a listener's connections
}

// maxHeld bounds what HoldWrites keeps: past it, writes go through.
const maxHeld = 64 << 10

type plainLimits struct {
	http1     fingerprint.HTTP1Limits
	http2     fingerprint.HTTP2Limits
	maxQueued int // unclaimed HTTP/1 heads kept
	// keptStreams bounds the HTTP/2 records kept: past it the oldest are
	// forgotten (a handler that never claims its record, /healthz say,
	// must not fill the table). It exceeds net/http's default of 250
	// concurrent streams, so a record still to be claimed is not among them.
	keptStreams int
	// maxPreface bounds the HTTP/2 bytes kept before the first HEADERS
	// frame (HTTP2Preface).
	maxPreface int
}

// NewPlainConn wraps c, whose client speaks proto.
func NewPlainConn(c net.Conn, proto Protocol) *PlainConn {
	h2 := fingerprint.DefaultHTTP2Limits()
	// A live connection needs the preface's frames, not a log of every
	// frame: list the first 256 (8 KiB).
	h2.MaxFrames = 256
	pc := &PlainConn{Conn: c, proto: proto, claimed: map[*fingerprint.HTTPRequest]bool{},
		limits: plainLimits{http1: liveHTTP1Limits(), http2: h2, maxQueued: 64, keptStreams: 512, maxPreface: 16 << 10}}
	return pc
}

// Read reads from the connection and parses what it read. Parsing never
// changes what the reader gets; what it cannot parse ends the recording,
// with the reason kept.
func (pc *PlainConn) Read(p []byte) (int, error) {
	if pc.pending != nil {
		if err := pc.finishHandshake(); err != nil {
			return 0, err
		}
	}
	n, err := pc.Conn.Read(p)
	if n > 0 || err != nil {
		pc.mu.Lock()
		if n > 0 {
			pc.parse(p[:n])
		}
		if err != nil && pc.readErr == nil && !errors.Is(err, io.EOF) {
			pc.readErr = err
		}
		pc.mu.Unlock()
	}
	return n, err
}

// EndReason says why the connection ended, when that was not the
// ordinary end (the client closing between requests, or the server
// closing an idle or finished connection): what the client sent could not
// be read as HTTP or hit a limit, the client was too slow to finish a
// request head, the connection ended inside one (the server refused it,
// or the client left), or reading failed. It is "" otherwise.
func (pc *PlainConn) EndReason() string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	held := 0
	if pc.h1 != nil {
		held = pc.h1.Held()
	}
	var ne net.Error
	switch {
	case pc.failed:
		return "unreadable client data: " + pc.reason
	case pc.readErr != nil && errors.As(pc.readErr, &ne) && ne.Timeout():
		if held > 0 {
			return fmt.Sprintf("slow client: a request head incomplete (%d bytes) at the read timeout", held)
		}
		return "" // idle
	case pc.readErr != nil && !errors.Is(pc.readErr, net.ErrClosed):
		return "read failed: " + pc.readErr.Error()
	case held > 0:
		return fmt.Sprintf("ended inside a request head (%d bytes): refused by the server, or the client left", held)
	}
	return ""
}

func (pc *PlainConn) stop(reason string) {
	pc.stopped, pc.reason = true, reason
	pc.h1, pc.heads = nil, nil
}

func (pc *PlainConn) parse(b []byte) {
	for len(b) > 0 && !pc.stopped {
		if pc.proto == ProtocolHTTP2 {
			if pc.h2 == nil {
				pc.h2 = fingerprint.NewHTTP2Parser(pc.limits.http2)
			}
			pc.keepPreface(b)
			if err := pc.h2.Write(b); err != nil {
				pc.stopped, pc.reason, pc.failed = true, err.Error(), true
			}
			pc.cutPreface()
			pc.forgetHTTP2()
			return
		}
		if pc.h1 == nil {
			pc.h1 = fingerprint.NewHTTP1Parser(pc.limits.http1)
		}
		reqs, n, err := pc.h1.Write(b)
		for _, r := range reqs {
			if len(pc.heads) >= pc.limits.maxQueued {
				pc.stop("more unclaimed HTTP/1 requests than kept")
				pc.failed = true
				return
			}
			pc.heads = append(pc.heads, r)
		}
		if err != nil {
			pc.stop(err.Error())
			pc.failed = true
			return
		}
		switch pc.h1.Stopped() {
		case fingerprint.HTTP1HTTP2:
			rest := append(append([]byte(nil), pc.h1.Rest()...), b[n:]...)
			pc.proto, pc.h1 = ProtocolHTTP2, nil
			b = rest
			continue
		case fingerprint.HTTP1Connect, fingerprint.HTTP1Upgrade:
			pc.stopped, pc.reason = true, "the connection left HTTP/1 (CONNECT or Upgrade)"
		}
		return
	}
}

// keepPreface adds b, the next bytes of the HTTP/2 stream, to the kept
// preface while no HEADERS frame has been parsed. The caller holds pc.mu.
func (pc *PlainConn) keepPreface(b []byte) {
	if pc.prefaceDone {
		return
	}
	if len(pc.preface) > pc.limits.maxPreface {
		pc.preface, pc.prefaceDone = nil, true
		return
	}
	pc.preface = append(pc.preface, b...) // at most maxPreface + one read
}

// cutPreface, once the parser has seen the first HEADERS frame, keeps
// only the bytes before it. The caller holds pc.mu.
func (pc *PlainConn) cutPreface() {
	if pc.prefaceDone {
		return
	}
	conn := pc.h2.Conn()
	switch {
	case conn.FirstHeaders >= 0 && conn.FirstHeaders < len(conn.Frames) &&
		conn.Frames[conn.FirstHeaders].Offset <= min(len(pc.preface), pc.limits.maxPreface):
		end := conn.Frames[conn.FirstHeaders].Offset
		pc.preface, pc.prefaceDone = pc.preface[:end:end], true
	case conn.FirstHeaders >= 0, len(pc.preface) > pc.limits.maxPreface:
		// The first HEADERS frame is past the listed frames, or the
		// preface outgrew its bound: nothing exact to keep.
		pc.preface, pc.prefaceDone = nil, true
	}
}

// HTTP2Preface returns what the client sent on an HTTP/2 connection
// before its first HEADERS frame (the connection preface, SETTINGS,
// WINDOW_UPDATE and PRIORITY frames), raw, and the pseudo-header order of
// that first HEADERS frame: what storage keeps of a connection to derive
// its Akamai fingerprint again. ok is false on an HTTP/1 connection,
// before the first HEADERS frame, and when those bytes outgrew their
// bound (16 KiB). The result aliases nothing of the connection.
func (pc *PlainConn) HTTP2Preface() (raw []byte, pseudo []string, ok bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h2 == nil || !pc.prefaceDone || pc.preface == nil {
		return nil, nil, false
	}
	conn := pc.h2.Conn()
	if conn.First == nil {
		return nil, nil, false
	}
	return append([]byte(nil), pc.preface...), conn.First.PseudoHeaderOrder(), true
}

// Memo returns what compute returns, computing it once per connection:
// handlers keep there what is the same for every request of the
// connection (the report of its TLS hello, say). Every caller must pass a
// compute returning the same type.
func (pc *PlainConn) Memo(compute func() any) any {
	pc.memoOnce.Do(func() { pc.memo = compute() })
	return pc.memo
}

// Hello returns the recorder of the connection's ClientHello (nil on a
// plain port).
func (pc *PlainConn) Hello() *Conn { return pc.hello }

// Write writes to the connection (after the TLS handshake, on a
// TLSListener's connection), or keeps p while writes are held.
func (pc *PlainConn) Write(p []byte) (int, error) {
	if pc.pending != nil {
		if err := pc.finishHandshake(); err != nil {
			return 0, err
		}
	}
	if pc.holding.Load() || pc.heldFailed.Load() {
		pc.heldMu.Lock()
		defer pc.heldMu.Unlock()
		if pc.heldErr != nil {
			return 0, pc.heldErr
		}
		if pc.held != nil && len(*pc.held)+len(p) <= maxHeld {
			*pc.held = append(*pc.held, p...)
			return len(p), nil
		}
		if err := pc.writeHeldLocked(); err != nil {
			return 0, err
		}
	}
	return pc.Conn.Write(p)
}

// HoldWrites keeps what is written to an HTTP/1 connection until
// ReleaseWrites, which writes it at once. net/http writes a response
// larger than its 4 KiB buffer in two or three writes (the full buffer,
// the rest of a large write, and what is left buffered when the handler
// returns); a handler that holds the writes, writes its answer, flushes
// and releases sends it in one TLS record and one system call. At most
// 64 KiB are held; past that, writes go through in order. It does nothing
// on HTTP/2, whose frames a connection-wide goroutine writes.
func (pc *PlainConn) HoldWrites() {
	pc.mu.Lock()
	h2 := pc.proto == ProtocolHTTP2
	pc.mu.Unlock()
	if h2 || pc.holding.Load() {
		return
	}
	pc.heldMu.Lock()
	if pc.buffers != nil {
		pc.held, _ = pc.buffers.Get().(*[]byte)
	}
	if pc.held == nil {
		pc.held = new([]byte)
	}
	*pc.held = (*pc.held)[:0]
	pc.heldMu.Unlock()
	pc.holding.Store(true)
}

// ReleaseWrites writes what was held since HoldWrites, in one write, and
// writes go through again.
func (pc *PlainConn) ReleaseWrites() error {
	if !pc.holding.Load() {
		return nil
	}
	pc.heldMu.Lock()
	defer pc.heldMu.Unlock()
	pc.holding.Store(false)
	err := pc.writeHeldLocked()
	if pc.buffers != nil && cap(*pc.held) <= maxHeld {
		pc.buffers.Put(pc.held)
	}
	pc.held = nil
	return err
}

// writeHeldLocked writes and empties what is held; a failure is kept for
// the writes after it, which would otherwise go out with a gap.
func (pc *PlainConn) writeHeldLocked() error {
	if pc.heldErr != nil {
		return pc.heldErr
	}
	if pc.held == nil || len(*pc.held) == 0 {
		return nil
	}
	_, err := pc.Conn.Write(*pc.held)
	*pc.held = (*pc.held)[:0]
	if err != nil {
		pc.heldErr = err
		pc.heldFailed.Store(true)
	}
	return err
}

// TLS returns the connection's TLS state: nil on a plain port, and before
// the handshake has completed. net/http leaves Request.TLS nil for a
// connection it did not handshake itself.
func (pc *PlainConn) TLS() *tls.ConnectionState {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.tls
}

// Stopped reports whether recording ended before the connection did, and
// why.
func (pc *PlainConn) Stopped() (bool, string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.stopped, pc.reason
}

// ClaimHTTP1 takes the oldest unclaimed HTTP/1 head: net/http serves a
// connection's requests in order, so the n-th handler takes the n-th head.
// ok is false when there is none or its method and target differ from
// r's (then nothing is taken).
func (pc *PlainConn) ClaimHTTP1(r *http.Request) (*fingerprint.HTTPRequest, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.heads) == 0 {
		return nil, false
	}
	head := pc.heads[0]
	if head.Method != r.Method || head.Target != r.RequestURI {
		return nil, false
	}
	pc.heads = pc.heads[1:]
	return head, true
}

// StreamMatch says how an HTTP/2 request was matched to its record.
type StreamMatch string

// Outcomes of ClaimHTTP2.
const (
	MatchExact     StreamMatch = "exact"     // one open record matched
	MatchAmbiguous StreamMatch = "ambiguous" // several matched but in different header orders: not guessed
	MatchNone      StreamMatch = "none"
	// MatchUpgrade: the request was sent as HTTP/1.1 asking for the h2c
	// upgrade and answered as HTTP/2 stream 1; its record is that HTTP/1
	// head (ClaimHTTP1).
	MatchUpgrade StreamMatch = "upgrade"
)

// ClaimHTTP2 finds the record of an HTTP/2 request: the oldest unclaimed
// stream with the same method, authority, raw path and header values
// (golang.org/x/net/http2 does not tell a handler its stream id). When
// several match and their header orders differ, it returns
// MatchAmbiguous and claims none of them.
func (pc *PlainConn) ClaimHTTP2(r *http.Request) (*fingerprint.HTTPRequest, StreamMatch) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h2 == nil {
		return nil, MatchNone
	}
	var found []*fingerprint.HTTPRequest
	for _, rec := range pc.h2.Conn().Requests {
		if !pc.claimed[rec] && sameRequest(rec, r) {
			found = append(found, rec)
		}
	}
	switch {
	case len(found) == 0:
		return nil, MatchNone
	case len(found) > 1 && !sameOrder(found):
		return nil, MatchAmbiguous
	}
	pc.claimed[found[0]] = true
	if found[0].EndStream {
		pc.forgetHTTP2()
	}
	return found[0], MatchExact
}

// forgetHTTP2 releases the HTTP/2 records no longer needed: those claimed
// whose stream the client has ended, then the oldest past keptStreams.
// The caller holds pc.mu.
func (pc *PlainConn) forgetHTTP2() {
	reqs := pc.h2.Conn().Requests
	if len(pc.claimed) == 0 && len(reqs) <= pc.limits.keptStreams {
		return
	}
	pc.h2.Forget(func(r *fingerprint.HTTPRequest) bool {
		if pc.claimed[r] && r.EndStream {
			delete(pc.claimed, r)
			return true
		}
		return false
	})
	excess := len(pc.h2.Conn().Requests) - pc.limits.keptStreams
	if excess <= 0 {
		return
	}
	pc.h2.Forget(func(r *fingerprint.HTTPRequest) bool {
		if excess == 0 {
			return false
		}
		excess--
		delete(pc.claimed, r)
		return true
	})
}

// sameRequest compares a record with what net/http decoded.
func sameRequest(rec *fingerprint.HTTPRequest, r *http.Request) bool {
	var authority, path string
	for _, h := range rec.Headers {
		switch {
		case h.Name == ":authority":
			authority = h.Value
		case h.Name == ":path":
			path = h.Value
		case strings.HasPrefix(h.Name, ":"):
		default:
			if !containsValue(r.Header.Values(h.Name), h.Value) && !strings.EqualFold(h.Name, "cookie") {
				return false
			}
		}
	}
	return rec.Method == r.Method && authority == r.Host && path == r.RequestURI
}

func containsValue(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// sameOrder reports whether the records list the same header names in
// the same order (then which one is which does not change the result).
func sameOrder(recs []*fingerprint.HTTPRequest) bool {
	for _, rec := range recs[1:] {
		if len(rec.Headers) != len(recs[0].Headers) {
			return false
		}
		for i := range rec.Headers {
			if rec.Headers[i] != recs[0].Headers[i] {
				return false
			}
		}
	}
	return true
}

// WithHTTP2 calls f with the connection's HTTP/2 record under the
// connection's lock (frames may still arrive); f must not keep it. It
// reports whether the connection speaks HTTP/2.
func (pc *PlainConn) WithHTTP2(f func(*fingerprint.HTTP2Conn)) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.h2 == nil {
		return false
	}
	f(pc.h2.Conn())
	return true
}

// Fingerprints computes the HTTP fingerprints of a claimed request: JA4H,
// and for HTTP/2 the connection's Akamai fingerprint, read under the
// connection's lock while frames may still arrive.
func (pc *PlainConn) Fingerprints(rec *fingerprint.HTTPRequest) fingerprint.HTTPFingerprints {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var conn *fingerprint.HTTP2Conn
	if pc.h2 != nil {
		conn = pc.h2.Conn()
	}
	return fingerprint.ComputeHTTP(rec, conn)
}

// PlainListener wraps a plain port's connections in PlainConns (HTTP/1,
// switching to HTTP/2 at a prior-knowledge preface).
type PlainListener struct {
	net.Listener
	buffers sync.Pool // of *[]byte, for the connections' held writes
}

// NewPlainListener wraps l.
func NewPlainListener(l net.Listener) *PlainListener { return &PlainListener{Listener: l} }

// Accept waits for the next connection and wraps it.
func (l *PlainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := NewPlainConn(c, ProtocolHTTP1)
	pc.buffers = &l.buffers
	return pc, nil
}
