package analyze

import (
	"bytes"
	"errors"
	"time"

	"github.com/fpwork/fp/fingerprint"
)

// streamMode is what a client byte stream turned out to carry.
type streamMode uint8

const (
	modeTLS streamMode = iota + 1
	modeHTTP1
	modeHTTP2
	modeTLSRecords // after the hellos, with the session's secrets: decrypt
)

// maxServerHelloBytes caps the server bytes held while waiting for its
// ServerHello.
const maxServerHelloBytes = 64 << 10

// http2PrefaceStart is the start of the HTTP/2 connection preface.
const http2PrefaceStart = "PRI * HTTP/2.0"

// startsHTTP2 reports whether b starts with the preface, or is a start of it.
func startsHTTP2(b []byte) bool {
	if len(b) >= len(http2PrefaceStart) {
		return string(b[:len(http2PrefaceStart)]) == http2PrefaceStart
	}
	return len(b) > 0 && string(b) == http2PrefaceStart[:len(b)]
}

// looksLikeClient reports whether the first bytes of a direction are
// those of a client: a TLS handshake record, the HTTP/2 preface, or an
// HTTP/1 request line.
func looksLikeClient(b []byte) bool {
	return modeOf(b) != 0
}

func modeOf(b []byte) streamMode {
	switch {
	case len(b) >= 1 && b[0] == 0x16:
		return modeTLS
	case startsHTTP2(b):
		return modeHTTP2
	case looksLikeRequestLine(b):
		return modeHTTP1
	}
	return 0
}

// looksLikeRequestLine accepts an uppercase token followed by a space.
func looksLikeRequestLine(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case c < 'A' || c > 'Z', i > 16:
			return false
		}
	}
	return false
}

// clientStream turns the in-order bytes a client sent into records. It
// holds only the bytes of the message being read: consumed bytes are
// dropped.
type clientStream struct {
	raw  *Raw
	mode streamMode
	buf  []byte      // unconsumed bytes
	base int         // stream offset of buf[0]
	segs []segOffset // arrival time of the bytes from each offset on
	// TLS
	hellos  int
	tunnels int // CONNECT and SOCKS exchanges followed
	// HTTP/1
	requests int
	h1       *fingerprint.HTTP1Parser
	h1Base   int // stream offset where the HTTP/1 parser started
	// HTTP/2
	h2        *fingerprint.HTTP2Parser
	h2Base    int // stream offset of the preface
	h2Emitted int
	ch        fingerprint.ClientHello
	// Decryption (a key log with this session's secrets).
	keys         *KeyLog
	secrets      *sessionSecrets
	clientRandom []byte
	sbuf         []byte // server bytes until its ServerHello
	serverGaveUp bool
	opener       *recordOpener
	appSeen      bool          // a record decrypted with the application keys
	ccsSeen      bool          // the client's ChangeCipherSpec
	inner        *clientStream // the decrypted stream
}

type segOffset struct {
	off  int
	time time.Time
}

func newClientStream(raw *Raw, keys *KeyLog) *clientStream {
	return &clientStream{raw: raw, keys: keys}
}

// held is the number of bytes buffered.
func (cs *clientStream) held() int { return cap(cs.buf) }

// timeAt returns the arrival time of the segment holding stream offset off.
func (cs *clientStream) timeAt(off int) string {
	return cs.arrival(off).UTC().Format(timeLayout)
}

func (cs *clientStream) arrival(off int) time.Time {
	var t time.Time
	for _, s := range cs.segs {
		if s.off > off {
			break
		}
		t = s.time
	}
	return t
}

// timeLayout is RFC 3339 with all nine digits of nanoseconds.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// feed takes the next in-order bytes and returns the records they
// completed; done means nothing more will be read from this stream.
func (cs *clientStream) feed(b []byte, at time.Time, maxHeld int) (recs []Record, done bool) {
	cs.segs = append(cs.segs, segOffset{off: cs.base + len(cs.buf), time: at})
	if cs.mode == modeHTTP2 {
		return cs.feedHTTP2(b)
	}
	if len(cs.buf)+len(b) > maxHeld {
		return nil, true // a message larger than we read
	}
	cs.buf = append(cs.buf, b...)
	for {
		if cs.mode == 0 {
			switch cs.detect() {
			case detectWait:
				return recs, false
			case detectGiveUp:
				return recs, true
			}
		}
		var more []Record
		prev := cs.mode
		switch cs.mode {
		case modeTLS:
			more, done = cs.readHellos()
		case modeHTTP1:
			more, done = cs.readHTTP1()
		case modeTLSRecords:
			more, done = cs.readRecords(maxHeld)
		case modeHTTP2:
			buf := cs.buf
			cs.h2Base = cs.base
			cs.buf, cs.base = nil, cs.base+len(buf)
			more, done = cs.feedHTTP2(buf)
		}
		recs = append(recs, more...)
		if done || cs.mode == prev {
			return recs, done
		}
		// The mode changed (a CONNECT tunnel, an h2c switch): go on with
		// the bytes held.
	}
}

type detectResult uint8

const (
	detected detectResult = iota
	detectWait
	detectGiveUp
)

// Bounds of the search for a hello after plaintext, and of tunnels.
const (
	maxPreamble = 4096 // bytes searched for a ClientHello after unknown plaintext
	maxTunnels  = 4    // CONNECT or SOCKS exchanges followed on one stream
)

// detect sets cs.mode from the first bytes of buf. It follows SOCKS 4/5
// requests (consuming them; what follows is the tunnel), and after
// unknown plaintext it looks for a TLS ClientHello record.
func (cs *clientStream) detect() detectResult {
	if len(cs.buf) == 0 {
		return detectWait
	}
	switch n, ok := proxyHeaderLen(cs.buf); {
	case ok && n > 0 && cs.tunnels < maxTunnels:
		cs.tunnels++
		cs.consume(n)
		return cs.detect()
	case ok && n == 0:
		return detectWait
	}
	if m := modeOf(cs.buf); m != 0 {
		cs.mode = m
		return detected
	}
	if cs.tunnels < maxTunnels {
		switch n, ok := socksRequestLen(cs.buf); {
		case ok && n > 0:
			cs.tunnels++
			cs.consume(n)
			return cs.detect()
		case ok: // a SOCKS request, not complete yet
			return detectWait
		}
	}
	if i := findHelloRecord(cs.buf); i >= 0 {
		cs.consume(i)
		cs.mode = modeTLS
		return detected
	}
	if cs.base+len(cs.buf) >= maxPreamble {
		return detectGiveUp
	}
	return detectWait
}

// findHelloRecord returns the offset of the first bytes that start a TLS
// handshake record holding a ClientHello, or -1.
func findHelloRecord(b []byte) int {
	for i := 0; i+6 <= len(b) && i < maxPreamble; i++ {
		if b[i] == 0x16 && b[i+1] == 0x03 && b[i+2] <= 0x04 && b[i+5] == 0x01 {
			return i
		}
	}
	return -1
}

// proxyV2Signature starts a PROXY protocol version 2 header.
const proxyV2Signature = "\r\n\r\n\x00\r\nQUIT\n"

// proxyHeaderLen recognises a PROXY protocol header (version 1 text or
// version 2 binary) that a load balancer put before the client's bytes.
// n is 0 while the header is incomplete; ok is false when b is not one.
func proxyHeaderLen(b []byte) (n int, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte("PROXY ")):
		end := bytes.Index(b, []byte("\r\n"))
		if end < 0 {
			return 0, len(b) < 108 // the longest v1 line is 107 bytes
		}
		return end + 2, end+2 <= 108
	case len(b) >= len(proxyV2Signature) && string(b[:len(proxyV2Signature)]) == proxyV2Signature:
		if len(b) < 16 {
			return 0, true
		}
		n = 16 + int(b[14])<<8 | int(b[15])
		if len(b) < n {
			return 0, true
		}
		return n, true
	case len(b) < len(proxyV2Signature) && len(b) >= 4 && string(b) == proxyV2Signature[:len(b)]:
		return 0, true
	}
	return 0, false
}

// socksRequestLen recognises the client side of a SOCKS 4/4a or SOCKS 5
// connect (greeting, optional username/password, request). It returns
// ok=false when b is not SOCKS, and n=0 while the request is incomplete.
func socksRequestLen(b []byte) (n int, ok bool) {
	switch {
	case b[0] == 4 && len(b) >= 2 && (b[1] == 1 || b[1] == 2):
		// VN CD DSTPORT(2) DSTIP(4) USERID NUL [DOMAIN NUL when DSTIP is 0.0.0.x]
		if len(b) < 9 {
			return 0, true
		}
		end := bytes.IndexByte(b[8:], 0)
		if end < 0 {
			return 0, len(b) < 8+256
		}
		n = 8 + end + 1
		if b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] != 0 { // SOCKS 4a
			d := bytes.IndexByte(b[n:], 0)
			if d < 0 {
				return 0, len(b) < n+256
			}
			n += d + 1
		}
		return n, true
	case b[0] == 5 && len(b) >= 2 && b[1] >= 1:
		n = 2 + int(b[1]) // VER NMETHODS METHODS
		if len(b) < n+1 {
			return 0, true
		}
		if b[n] == 1 { // username/password sub-negotiation (RFC 1929)
			if len(b) < n+2 || len(b) < n+2+int(b[n+1])+1 {
				return 0, true
			}
			plen := int(b[n+2+int(b[n+1])])
			n += 3 + int(b[n+1]) + plen
			if len(b) < n+1 {
				return 0, true
			}
		}
		// VER CMD RSV ATYP ADDR PORT
		if b[n] != 5 {
			return 0, false
		}
		if len(b) < n+5 {
			return 0, true
		}
		switch b[n+3] {
		case 1:
			n += 4 + 4 + 2
		case 4:
			n += 4 + 16 + 2
		case 3:
			n += 4 + 1 + int(b[n+4]) + 2
		default:
			return 0, false
		}
		if len(b) < n {
			return 0, true
		}
		return n, true
	}
	return 0, false
}

// consume drops n bytes from the front of buf.
func (cs *clientStream) consume(n int) {
	cs.buf = cs.buf[n:]
	cs.base += n
	if len(cs.buf) == 0 {
		cs.buf = nil
	}
	cs.trimSegs(cs.base)
}

// trimSegs forgets arrival times of bytes before stream offset off,
// keeping the segment that holds off.
func (cs *clientStream) trimSegs(off int) {
	i := 0
	for i+1 < len(cs.segs) && cs.segs[i+1].off <= off {
		i++
	}
	cs.segs = cs.segs[i:]
}

func (cs *clientStream) readHellos() ([]Record, bool) {
	var recs []Record
	for len(cs.buf) > 0 {
		if cs.hellos > 0 {
			if len(cs.buf) < 6 && (cs.buf[0] == 20 || cs.buf[0] == 0x16) {
				return recs, false // too short to tell what record follows
			}
			// A ChangeCipherSpec: before a second hello (after a
			// HelloRetryRequest), or where TLS 1.2 encryption starts.
			if n := changeCipherSpecLen(cs.buf); n > 0 {
				cs.ccsSeen = true
				cs.consume(n)
				continue
			}
			if cs.buf[0] != 0x16 || cs.buf[5] != 0x01 {
				// Not another hello: the handshake goes on (encrypted, or
				// TLS 1.2's key exchange). Decrypt with the key log's
				// secrets, or stop.
				if cs.secrets != nil {
					cs.mode = modeTLSRecords
					return recs, false
				}
				return recs, true
			}
		}
		err := cs.ch.Parse(cs.buf)
		switch {
		case errors.Is(err, fingerprint.ErrTruncated):
			return recs, false // wait for more bytes
		case err != nil:
			return recs, true // not a hello: nothing to fingerprint here
		}
		cs.hellos++
		r := tlsRecord("", cs.hellos, &cs.ch, fingerprint.TransportTCP)
		r.Time = cs.timeAt(cs.base)
		recs = append(recs, r)
		if s := cs.keys.lookup(cs.ch.Random); s != nil && cs.secrets == nil {
			cs.secrets, cs.clientRandom = s, append([]byte(nil), cs.ch.Random...)
		}
		cs.consume(cs.ch.Consumed)
	}
	return recs, false
}

// wantsServer reports whether the server's bytes are needed: its
// ServerHello, to decrypt the client's records.
func (cs *clientStream) wantsServer() bool {
	return cs.secrets != nil && cs.opener == nil && !cs.serverGaveUp
}

// feedServer takes the server's in-order bytes until its ServerHello.
func (cs *clientStream) feedServer(b []byte, maxHeld int) ([]Record, bool) {
	if !cs.wantsServer() {
		return nil, false
	}
	if len(cs.sbuf)+len(b) > maxServerHelloBytes {
		return cs.giveUpDecryption()
	}
	cs.sbuf = append(cs.sbuf, b...)
	for {
		if n := changeCipherSpecLen(cs.sbuf); n > 0 {
			cs.sbuf = cs.sbuf[n:]
			continue
		}
		sh, err := fingerprint.ParseServerHello(cs.sbuf)
		if errors.Is(err, fingerprint.ErrTruncated) {
			return nil, false
		}
		if err != nil {
			return cs.giveUpDecryption()
		}
		if sh.HelloRetryRequest {
			cs.sbuf = cs.sbuf[sh.Consumed:]
			continue
		}
		opener, err := newRecordOpener(sh, cs.clientRandom, cs.secrets)
		cs.sbuf = nil
		if err != nil {
			return cs.giveUpDecryption()
		}
		cs.opener = opener
		if cs.mode != modeTLSRecords {
			return nil, false
		}
		return cs.readRecords(maxHeld)
	}
}

func (cs *clientStream) giveUpDecryption() ([]Record, bool) {
	cs.serverGaveUp, cs.sbuf = true, nil
	return nil, cs.mode == modeTLSRecords
}

// readRecords decrypts the client's records after its hello and feeds the
// plaintext to an inner stream. Records wait for the ServerHello.
func (cs *clientStream) readRecords(maxHeld int) ([]Record, bool) {
	var recs []Record
	for len(cs.buf) >= 5 && cs.opener != nil {
		n := 5 + (int(cs.buf[3])<<8 | int(cs.buf[4]))
		if len(cs.buf) < n {
			return recs, false
		}
		at := cs.arrival(cs.base)
		switch cs.buf[0] {
		case 20: // ChangeCipherSpec: plaintext; in TLS 1.2 encryption starts
			cs.ccsSeen = true
		case 21, 22, 23:
			if !cs.opener.tls13 && !cs.ccsSeen {
				break // TLS 1.2 handshake before ChangeCipherSpec: plaintext
			}
			typ, plain, err := cs.opener.open(cs.buf[:n])
			if err != nil {
				if cs.opener.tls13 && !cs.appSeen {
					break // under the handshake keys (the client's Finished)
				}
				return recs, true
			}
			if cs.opener.tls13 {
				cs.appSeen = true
			}
			if typ == 21 {
				return recs, true // an alert: the connection ends
			}
			if typ == 23 && len(plain) > 0 {
				if cs.inner == nil {
					cs.inner = newClientStream(cs.raw, nil)
				}
				more, done := cs.inner.feed(plain, at, maxHeld)
				recs = append(recs, more...)
				if done {
					return recs, true
				}
			}
		default:
			return recs, true
		}
		cs.consume(n)
	}
	return recs, false
}

func (cs *clientStream) readHTTP1() ([]Record, bool) {
	if cs.h1 == nil {
		cs.h1, cs.h1Base = fingerprint.NewHTTP1Parser(cs.raw.HTTP1), cs.base
	}
	reqs, n, err := cs.h1.Write(cs.buf)
	var recs []Record
	for _, r := range reqs {
		cs.requests++
		rec := httpRecord("", cs.requests, r, nil)
		rec.Time = cs.timeAt(cs.h1Base + r.Offset)
		recs = append(recs, rec)
	}
	cs.consume(n)
	if err != nil {
		return recs, true
	}
	switch cs.h1.Stopped() {
	case fingerprint.HTTP1Connect:
		if cs.tunnels >= maxTunnels {
			return recs, true
		}
		// The tunnel's bytes follow: detect them afresh.
		cs.tunnels++
		cs.h1, cs.mode = nil, 0
	case fingerprint.HTTP1HTTP2:
		// h2c after an upgrade, or prior knowledge after HTTP/1: the bytes
		// the parser held are the start of the preface.
		rest := cs.h1.Rest()
		cs.buf = append(append([]byte(nil), rest...), cs.buf...)
		cs.base -= len(rest)
		cs.h1, cs.mode = nil, modeHTTP2
	case fingerprint.HTTP1Upgrade:
		return recs, true // a websocket or other protocol: not ours to read
	}
	return recs, false
}

func (cs *clientStream) feedHTTP2(b []byte) ([]Record, bool) {
	if cs.h2 == nil {
		cs.h2 = fingerprint.NewHTTP2Parser(cs.raw.HTTP2)
	}
	err := cs.h2.Write(b)
	conn := cs.h2.Conn()
	var recs []Record
	for ; cs.h2Emitted < len(conn.Requests); cs.h2Emitted++ {
		r := conn.Requests[cs.h2Emitted]
		if cs.h2Emitted == len(conn.Requests)-1 && cs.h2.InHeaderBlock() {
			break // its header block is still arriving
		}
		rec := httpRecord("", cs.requests+1, r, conn)
		cs.requests++
		rec.Time = cs.timeAt(cs.h2Base + r.Offset)
		recs = append(recs, rec)
	}
	cs.base += len(b)
	// Later requests start at or after the first byte not yet parsed.
	next := cs.h2Base + conn.Consumed
	if cs.h2Emitted < len(conn.Requests) {
		next = cs.h2Base + conn.Requests[cs.h2Emitted].Offset
	}
	cs.trimSegs(next)
	return recs, err != nil
}
