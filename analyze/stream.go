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
)

var http2PrefaceStart = []byte("PRI * HTTP/2.0")

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
	case bytes.HasPrefix(b, http2PrefaceStart) || bytes.HasPrefix(http2PrefaceStart, b):
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
	hellos int
	// HTTP/1
	requests  int
	inBody    *fingerprint.HTTPRequest
	bodyStart int // stream offset where the pending body starts
	// HTTP/2
	h2        *fingerprint.HTTP2Parser
	h2Base    int // stream offset of the preface
	h2Emitted int
	ch        fingerprint.ClientHello
}

type segOffset struct {
	off  int
	time time.Time
}

func newClientStream(raw *Raw) *clientStream { return &clientStream{raw: raw} }

// held is the number of bytes buffered.
func (cs *clientStream) held() int { return cap(cs.buf) }

// timeAt returns the arrival time of the segment holding stream offset off.
func (cs *clientStream) timeAt(off int) string {
	var t time.Time
	for _, s := range cs.segs {
		if s.off > off {
			break
		}
		t = s.time
	}
	return t.UTC().Format(timeLayout)
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
	if cs.mode == 0 {
		cs.mode = modeOf(cs.buf)
		if cs.mode == modeHTTP2 {
			cs.h2Base = cs.base
			buf := cs.buf
			cs.buf, cs.base = nil, cs.base+len(buf)
			cs.segs = cs.segs[len(cs.segs)-1:]
			return cs.feedHTTP2(buf)
		}
	}
	switch cs.mode {
	case modeTLS:
		return cs.readHellos()
	case modeHTTP1:
		return cs.readHTTP1()
	}
	return nil, true
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
			// A ChangeCipherSpec may come before a second hello (HRR).
			if n := changeCipherSpecLen(cs.buf); n > 0 {
				cs.consume(n)
				continue
			}
			if cs.buf[0] != 0x16 {
				return recs, true // application data: the handshake is over
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
		cs.consume(cs.ch.Consumed)
	}
	return recs, false
}

func (cs *clientStream) readHTTP1() ([]Record, bool) {
	var recs []Record
	for {
		if cs.inBody != nil {
			n, complete, err := cs.inBody.BodyLen(cs.buf)
			if err != nil {
				return recs, true
			}
			if !complete {
				return recs, false
			}
			cs.inBody = nil
			cs.consume(n)
		}
		for len(cs.buf) > 0 && (cs.buf[0] == '\r' || cs.buf[0] == '\n') {
			cs.consume(1)
		}
		if len(cs.buf) == 0 {
			return recs, false
		}
		if bytes.HasPrefix(cs.buf, http2PrefaceStart) || bytes.HasPrefix(http2PrefaceStart, cs.buf) {
			// h2c after an upgrade, or prior knowledge after HTTP/1.
			cs.mode, cs.h2Base = modeHTTP2, cs.base
			buf := cs.buf
			cs.buf, cs.base = nil, cs.base+len(buf)
			more, done := cs.feedHTTP2(buf)
			return append(recs, more...), done
		}
		r, n, err := fingerprint.ParseHTTP1Head(cs.buf, cs.raw.HTTP1)
		switch {
		case errors.Is(err, fingerprint.ErrTruncated):
			return recs, false
		case err != nil:
			return recs, true
		}
		cs.requests++
		rec := httpRecord("", cs.requests, r, nil)
		rec.Time = cs.timeAt(cs.base)
		recs = append(recs, rec)
		// r aliases buf; BodyLen reads only its headers, copied strings.
		r.Raw = nil
		cs.inBody = r
		cs.consume(n)
	}
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
		if cs.h2Emitted == len(conn.Requests)-1 && cs.headersOpen() {
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

// headersOpen reports whether the last HEADERS frame's block is still
// incomplete (CONTINUATION frames to come).
func (cs *clientStream) headersOpen() bool {
	conn := cs.h2.Conn()
	for i := len(conn.Frames) - 1; i >= 0; i-- {
		f := conn.Frames[i]
		if f.Type == fingerprint.FrameHeaders || f.Type == fingerprint.FrameContinuation {
			return f.Flags&0x4 == 0
		}
	}
	return false
}
