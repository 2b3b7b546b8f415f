package fingerprint

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// HTTP1Stop says why an HTTP1Parser stopped reading HTTP/1.
type HTTP1Stop uint8

// Reasons to stop.
const (
	HTTP1Going   HTTP1Stop = iota // still HTTP/1
	HTTP1Connect                  // a CONNECT request: a tunnel follows
	HTTP1HTTP2                    // the HTTP/2 preface follows (prior knowledge or h2c upgrade)
	HTTP1Upgrade                  // an Upgrade request, then bytes that are not HTTP/1
)

// HTTP1Parser follows a client's HTTP/1 byte stream as it arrives: it
// returns each request head when it completes and skips bodies (framed by
// Content-Length or chunked coding) without holding them. It holds at most
// one incomplete head (MaxHeadBytes) and a chunk-size line.
type HTTP1Parser struct {
	lim      HTTP1Limits
	head     []byte // an incomplete head (a copy)
	offset   int    // stream offset of the next byte to read
	count    int
	bodyLeft int64 // Content-Length bytes still to skip
	chunks   *chunkSkipper
	upgraded bool // the last request asked for an Upgrade
	stop     HTTP1Stop
}

// NewHTTP1Parser returns a parser for one client stream.
func NewHTTP1Parser(lim HTTP1Limits) *HTTP1Parser { return &HTTP1Parser{lim: lim} }

// Stopped says whether the parser stopped reading HTTP/1, and why.
func (p *HTTP1Parser) Stopped() HTTP1Stop { return p.stop }

// Held is the number of bytes of an incomplete head the parser holds.
func (p *HTTP1Parser) Held() int { return len(p.head) }

// inBody reports whether the stream ended inside a body.
func (p *HTTP1Parser) inBody() bool { return p.bodyLeft > 0 || p.chunks != nil }

// Write reads the next bytes of the stream. It returns the requests whose
// heads completed (Raw is a copy of the head, Offset its stream offset) and
// n, the bytes of b read as HTTP/1: n < len(b) only once the parser stopped
// (see Stopped), and the rest of b belongs to what follows. An error (a
// malformed head or chunk, a limit) ends the stream.
func (p *HTTP1Parser) Write(b []byte) (reqs []*HTTPRequest, n int, err error) {
	i := 0
	for i < len(b) && p.stop == HTTP1Going {
		switch {
		case p.bodyLeft > 0:
			k := int(min(p.bodyLeft, int64(len(b)-i)))
			p.bodyLeft -= int64(k)
			i += k
			p.offset += k
		case p.chunks != nil:
			k, done, err := p.chunks.skip(b[i:])
			i += k
			p.offset += k
			if err != nil {
				return reqs, i, http1Err(p.offset, err.Error(), ErrMalformed)
			}
			if done {
				p.chunks = nil
			}
		case len(p.head) == 0 && (b[i] == '\r' || b[i] == '\n'):
			i++ // blank lines between requests (RFC 9112 2.2)
			p.offset++
		default:
			r, k, err := p.readHead(b[i:])
			i += k
			if err != nil {
				return reqs, i, err
			}
			if r != nil {
				reqs = append(reqs, r)
			}
			if k == 0 && r == nil {
				return reqs, i, nil // stopped at this byte
			}
		}
	}
	return reqs, i, nil
}

// readHead reads from b into the pending head. It returns a completed
// request, or nil while the head is incomplete (all of b consumed) or the
// stream stops here (nothing consumed).
func (p *HTTP1Parser) readHead(b []byte) (*HTTPRequest, int, error) {
	held := len(p.head)
	data := b
	if held > 0 {
		data = append(p.head, b[:min(len(b), p.lim.MaxHeadBytes)]...)
	}
	start := p.offset - held
	if len(data) > 0 && data[0] == 'P' {
		switch {
		case len(data) < len(http2Preface) && strings.HasPrefix(http2Preface, string(data)):
			// Perhaps the preface: hold and wait.
			p.head = append(p.head[:0:0], data...)
			p.offset += len(data) - held
			return nil, len(data) - held, nil
		case bytes.HasPrefix(data, []byte(http2Preface)):
			return nil, 0, p.stopAt(HTTP1HTTP2, start)
		case len(data) >= 14 && string(data[:14]) == http2Preface[:14]:
			return nil, 0, http1Err(start, "broken HTTP/2 connection preface", ErrMalformed)
		}
	}
	if p.upgraded && !looksLikeRequest(data) {
		return nil, 0, p.stopAt(HTTP1Upgrade, start)
	}
	r, n, err := ParseHTTP1Head(data, p.lim)
	switch {
	case err == nil:
	case errors.Is(err, ErrTruncated):
		p.head = append(p.head[:0:0], data...)
		p.offset += len(data) - held
		return nil, len(data) - held, nil
	default:
		return nil, 0, shiftErr(err, start)
	}
	if p.count >= p.lim.MaxRequests {
		return nil, 0, http1Err(start, "request count exceeds limit", ErrTooLarge)
	}
	if n < held {
		// Only a held preface start can hold a whole head, and that case
		// is an error above; keep the invariant explicit.
		return nil, 0, http1Err(start, "request head inside held bytes", ErrMalformed)
	}
	p.count++
	r.Raw = append([]byte(nil), data[:n]...)
	r.Offset = start
	p.head = nil
	used := n - held
	p.offset += used
	p.upgraded = false
	if strings.EqualFold(r.Method, "CONNECT") {
		p.stop = HTTP1Connect
		return r, used, nil
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, "Upgrade") {
			p.upgraded = true
		}
	}
	chunked, length, err := bodyFraming(r)
	switch {
	case err != nil:
		return r, used, shiftErr(err, start)
	case chunked:
		p.chunks = &chunkSkipper{}
	case length > 0:
		p.bodyLeft = length
	}
	return r, used, nil
}

// stopAt stops the parser at stream offset off; bytes it held from
// there on are returned by Rest.
func (p *HTTP1Parser) stopAt(why HTTP1Stop, off int) error {
	p.stop, p.offset = why, off
	return nil
}

// Rest returns the bytes the parser held when it stopped (an incomplete
// head that turned out to be the start of what follows). The caller
// passes Rest and then the unread part of the last Write to the next
// reader.
func (p *HTTP1Parser) Rest() []byte {
	if p.stop == HTTP1Going {
		return nil
	}
	return p.head
}

// looksLikeRequest accepts an uppercase token then a space (or bytes that
// may still become one).
func looksLikeRequest(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case c < 'A' || c > 'Z' || i > 20:
			return false
		}
	}
	return true
}

// chunkSkipper follows chunked coding (RFC 9112 7.1) without holding the
// data: size line, data, CRLF, ... last chunk, trailers, blank line.
type chunkSkipper struct {
	line     []byte // the size or trailer line being read (capped)
	left     int64  // data bytes of the current chunk still to skip
	afterCRL int    // CRLF bytes still expected after a chunk's data
	trailers bool
}

const maxChunkLine = 4096

// skip consumes from b and reports whether the body ended.
func (c *chunkSkipper) skip(b []byte) (int, bool, error) {
	i := 0
	for i < len(b) {
		switch {
		case c.left > 0:
			k := int(min(c.left, int64(len(b)-i)))
			c.left -= int64(k)
			i += k
			if c.left == 0 {
				c.afterCRL = 2
			}
		case c.afterCRL > 0:
			switch {
			case b[i] == '\r' && c.afterCRL == 2:
				c.afterCRL = 1
			case b[i] == '\n':
				c.afterCRL = 0
			default:
				return i, false, errString("chunk data not followed by CRLF")
			}
			i++
		default:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				if len(c.line)+len(b)-i > maxChunkLine {
					return i, false, errString("chunk line too long")
				}
				c.line = append(c.line, b[i:]...)
				return len(b), false, nil
			}
			if len(c.line)+j > maxChunkLine {
				return i, false, errString("chunk line too long")
			}
			line := bytes.TrimRight(append(c.line, b[i:i+j]...), "\r")
			c.line = c.line[:0]
			i += j + 1
			if c.trailers {
				if len(line) == 0 {
					return i, true, nil
				}
				continue
			}
			sizeHex, _, _ := bytes.Cut(line, []byte{';'})
			size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeHex)), 16, 62)
			if err != nil {
				return i, false, errString("invalid chunk size")
			}
			if size == 0 {
				c.trailers = true
				continue
			}
			c.left = int64(size)
		}
	}
	return i, false, nil
}

type errString string

func (e errString) Error() string { return string(e) }
