package fingerprint

import (
	"bytes"
	"strconv"
	"strings"
)

// HTTP1Limits bound what the HTTP/1 parser reads. A head shorter than
// MaxHeadBytes with at most MaxHeaders fields is never cut.
type HTTP1Limits struct {
	MaxHeadBytes int // request line through the blank line
	MaxHeaders   int
	MaxRequests  int // per stream
}

// DefaultHTTP1Limits returns the limits the services and fp analyze use.
func DefaultHTTP1Limits() HTTP1Limits {
	return HTTP1Limits{MaxHeadBytes: 64 << 10, MaxHeaders: 256, MaxRequests: 1000}
}

func http1Err(off int, msg string, err error) *ParseError {
	return &ParseError{Parser: "http1", Offset: off, Msg: msg, Err: err}
}

// ParseHTTP1Head parses one request head at the start of b and returns it
// with the number of bytes it used. Line ends may be CRLF or a bare LF (an
// anomaly). Errors wrap ErrTruncated when b ends inside the head and is
// still shorter than the limit, ErrTooLarge past a limit, ErrMalformed
// otherwise.
func ParseHTTP1Head(b []byte, lim HTTP1Limits) (*HTTPRequest, int, error) {
	end, err := headEnd(b, lim.MaxHeadBytes)
	if err != nil {
		return nil, 0, err
	}
	head := b[:end]
	r := &HTTPRequest{Raw: head}
	// Names and values are substrings of one copy of the head: one
	// allocation for all of them.
	text := string(head)
	r.Headers = make([]Header, 0, min(bytes.Count(head, []byte{'\n'}), lim.MaxHeaders))
	lines := head
	line, lines, lf := cutLine(lines)
	if lf {
		r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyBareLF, Offset: len(line)})
	}
	if err := r.parseRequestLine(line); err != nil {
		return nil, 0, err
	}
	for len(lines) > 0 {
		off := len(head) - len(lines)
		line, lines, lf = cutLine(lines)
		if len(line) == 0 {
			break // the blank line that ends the head
		}
		if lf {
			r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyBareLF, Offset: off + len(line)})
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation of the previous field's value.
			r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyObsFold, Offset: off})
			if n := len(r.Headers); n > 0 {
				r.Headers[n-1].Value += " " + string(bytes.TrimSpace(line))
				continue
			}
			return nil, 0, http1Err(off, "continuation line before any header", ErrMalformed)
		}
		if len(r.Headers) >= lim.MaxHeaders {
			return nil, 0, http1Err(off, "header count exceeds limit", ErrTooLarge)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyHeaderWithoutColon, Offset: off,
				Detail: string(line)})
			continue
		}
		if bytes.ContainsAny(name, " \t") {
			r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyWhitespaceBeforeColon, Offset: off})
		}
		valueOff := off + len(name) + 1
		trimmed := bytes.TrimLeft(value, " \t")
		valueOff += len(value) - len(trimmed)
		trimmed = bytes.TrimRight(trimmed, " \t")
		r.Headers = append(r.Headers, Header{Name: text[off : off+len(name)], Value: text[valueOff : valueOff+len(trimmed)]})
	}
	return r, end, nil
}

// headEnd returns the length of the head at the start of b, through the
// blank line.
func headEnd(b []byte, max int) (int, error) {
	search := b
	if len(search) > max {
		search = search[:max]
	}
	for i := 0; i < len(search); i++ {
		if search[i] != '\n' {
			continue
		}
		// "\n\n" or "\n\r\n" ends the head.
		if i+1 < len(search) && search[i+1] == '\n' {
			return i + 2, nil
		}
		if i+2 < len(search) && search[i+1] == '\r' && search[i+2] == '\n' {
			return i + 3, nil
		}
	}
	if len(b) >= max {
		return 0, http1Err(max, "request head exceeds limit", ErrTooLarge)
	}
	return 0, http1Err(len(b), "request head cut short", ErrTruncated)
}

// cutLine splits the first line off b and reports whether it ended in a
// bare LF. The returned line holds neither CR nor LF.
func cutLine(b []byte) (line, rest []byte, bareLF bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1], rest, false
	}
	return line, rest, true
}

func (r *HTTPRequest) parseRequestLine(line []byte) error {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return http1Err(0, "request line is not METHOD SP TARGET SP VERSION", ErrMalformed)
	}
	r.Method, r.Target, r.Proto = string(method), string(target), string(proto)
	switch r.Proto {
	case "HTTP/1.1":
		r.Version = HTTP11
	case "HTTP/1.0":
		r.Version = HTTP10
	case "HTTP/2.0":
		r.Version = HTTP2 // the HTTP/2 connection preface
	default:
		return http1Err(len(method)+len(target)+2, "unknown HTTP version "+strconv.Quote(r.Proto), ErrMalformed)
	}
	return nil
}

// HTTP1Stream is the result of parsing a client's HTTP/1 byte stream.
type HTTP1Stream struct {
	Requests []*HTTPRequest
	// Consumed is where parsing stopped: the end of the input, or the start
	// of an HTTP/2 connection preface (prior knowledge or after an h2c
	// upgrade), or the start of a request that could not be read.
	Consumed int
	// Switched is set when an HTTP/2 connection preface follows.
	Switched bool
	// BodyTruncated is set when the input ends inside the last body.
	BodyTruncated bool
}

// ParseHTTP1Stream parses successive requests from a whole client byte
// stream with an HTTP1Parser: bodies framed by Content-Length or chunked
// coding are skipped; it stops at an HTTP/2 preface (Switched), a CONNECT
// or an accepted Upgrade. The requests read before an error are returned
// with it; a head cut short at the end of b is ErrTruncated.
func ParseHTTP1Stream(b []byte, lim HTTP1Limits) (*HTTP1Stream, error) {
	p := NewHTTP1Parser(lim)
	reqs, n, err := p.Write(b)
	st := &HTTP1Stream{Requests: reqs, Consumed: n - p.Held(), Switched: p.Stopped() == HTTP1HTTP2, BodyTruncated: p.inBody()}
	if err == nil && p.Stopped() == HTTP1Going && p.Held() > 0 {
		err = http1Err(len(b), "request head cut short", ErrTruncated)
	}
	return st, err
}

func shiftErr(err error, by int) error {
	if pe, ok := err.(*ParseError); ok {
		pe.Offset += by
	}
	return err
}

// bodyFraming reads how a request's body is framed: chunked (the last
// transfer coding), or a Content-Length (-1 when absent).
func bodyFraming(r *HTTPRequest) (chunked bool, contentLength int64, err error) {
	contentLength = -1
	for _, h := range r.Headers {
		switch {
		case strings.EqualFold(h.Name, "Transfer-Encoding"):
			codings := strings.Split(h.Value, ",")
			chunked = strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked")
		case strings.EqualFold(h.Name, "Content-Length"):
			n, err := strconv.ParseInt(h.Value, 10, 64)
			if err != nil || n < 0 {
				return false, 0, http1Err(0, "invalid Content-Length", ErrMalformed)
			}
			contentLength = n
		}
	}
	return chunked, contentLength, nil
}
