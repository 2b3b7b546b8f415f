package fingerprint

import (
	"encoding/base64"
	"strconv"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// http2Preface is the client connection preface (RFC 9113 3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const http2FrameHeaderLen = 9

// HTTP2FrameType is an HTTP/2 frame type.
type HTTP2FrameType uint8

// Frame types (RFC 9113 6).
const (
	FrameData         HTTP2FrameType = 0
	FrameHeaders      HTTP2FrameType = 1
	FramePriority     HTTP2FrameType = 2
	FrameRSTStream    HTTP2FrameType = 3
	FrameSettings     HTTP2FrameType = 4
	FramePushPromise  HTTP2FrameType = 5
	FramePing         HTTP2FrameType = 6
	FrameGoAway       HTTP2FrameType = 7
	FrameWindowUpdate HTTP2FrameType = 8
	FrameContinuation HTTP2FrameType = 9
)

// String returns the RFC name of the frame type or UNKNOWN_<n>.
func (t HTTP2FrameType) String() string {
	switch t {
	case FrameData:
		return "DATA"
	case FrameHeaders:
		return "HEADERS"
	case FramePriority:
		return "PRIORITY"
	case FrameRSTStream:
		return "RST_STREAM"
	case FrameSettings:
		return "SETTINGS"
	case FramePushPromise:
		return "PUSH_PROMISE"
	case FramePing:
		return "PING"
	case FrameGoAway:
		return "GOAWAY"
	case FrameWindowUpdate:
		return "WINDOW_UPDATE"
	case FrameContinuation:
		return "CONTINUATION"
	}
	return "UNKNOWN_" + strconv.Itoa(int(t))
}

// Frame flags used by the parser.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// HTTP2Limits bound what the HTTP/2 parser keeps.
type HTTP2Limits struct {
	MaxFrames         int // frames listed per connection; later ones are parsed, not listed
	MaxFrameLen       int // payload length of one frame
	MaxHeaderBlock    int // encoded bytes of one header block (HEADERS + CONTINUATION)
	MaxHeaderListSize int // decoded header list size (RFC 9113 6.5.2 accounting)
	MaxStreams        int // requests kept at once (see HTTP2Parser.Forget)
	MaxSettings       int // settings kept per SETTINGS frame
	MaxAnomalies      int // connection anomalies kept; later ones are counted
}

// DefaultHTTP2Limits returns the limits the services and fp analyze use.
func DefaultHTTP2Limits() HTTP2Limits {
	return HTTP2Limits{
		MaxFrames:         10000,
		MaxFrameLen:       1 << 20,
		MaxHeaderBlock:    256 << 10,
		MaxHeaderListSize: 256 << 10,
		MaxStreams:        1000,
		MaxSettings:       64,
		MaxAnomalies:      64,
	}
}

// HTTP2Frame is the header of one frame, in the order read.
type HTTP2Frame struct {
	Type     HTTP2FrameType
	Flags    uint8
	StreamID uint32
	Length   int
	Offset   int // of the frame header in the stream
}

// HTTP2Setting is one SETTINGS parameter.
type HTTP2Setting struct {
	ID    SettingID
	Value uint32
}

// HTTP2Settings is one non-ACK SETTINGS frame.
type HTTP2Settings struct {
	Frame    int // index in HTTP2Conn.Frames
	Settings []HTTP2Setting
}

// HTTP2WindowUpdate is one WINDOW_UPDATE frame.
type HTTP2WindowUpdate struct {
	Frame     int
	StreamID  uint32
	Increment uint32
}

// HTTP2Priority is a priority record from a PRIORITY frame or the
// priority fields of a HEADERS frame. Weight is the wire byte + 1 (1..256).
type HTTP2Priority struct {
	Frame     int
	StreamID  uint32
	Exclusive bool
	DependsOn uint32
	Weight    uint16
}

// HTTP2Conn is what a client sent on one HTTP/2 connection.
type HTTP2Conn struct {
	Preface bool
	// Frames lists the first MaxFrames frames; FrameCount counts them all.
	// The SETTINGS, WINDOW_UPDATE and PRIORITY records below are those of
	// listed frames, and their Frame fields index Frames.
	Frames        []HTTP2Frame
	FrameCount    int
	Settings      []HTTP2Settings
	WindowUpdates []HTTP2WindowUpdate
	Priorities    []HTTP2Priority // PRIORITY frames only
	// Requests in the order their HEADERS frames arrived; each HTTPRequest's
	// Offset is that of its HEADERS frame. A live reader removes the ones it
	// is done with (HTTP2Parser.Forget).
	Requests []*HTTPRequest
	// First is the request of the first HEADERS frame, kept when Requests
	// no longer holds it.
	First *HTTPRequest
	// FirstHeaders is the frame number (index in Frames while listed) of
	// the first HEADERS frame, -1 when there is none.
	FirstHeaders int
	Anomalies    []Anomaly
	// AnomaliesDropped counts anomalies past MaxAnomalies, not kept.
	AnomaliesDropped int
	// Consumed counts the stream bytes fully parsed.
	Consumed int
}

// HTTP2Parser reads the client side of an HTTP/2 connection incrementally,
// with one HPACK decoder for the whole connection.
type HTTP2Parser struct {
	lim  HTTP2Limits
	conn HTTP2Conn
	dec  *hpack.Decoder
	buf  []byte // a partial frame (or preface) held between writes
	err  error

	// The header block being decoded.
	block      *HTTPRequest // nil while a discarded block is being decoded
	inBlock    bool
	blockBytes int
	listSize   int
	listCut    bool
	blockOff   int
	maxStream  uint32 // highest stream id that opened a request
}

// NewHTTP2Parser returns a parser for one connection's client stream.
func NewHTTP2Parser(lim HTTP2Limits) *HTTP2Parser {
	p := &HTTP2Parser{lim: lim}
	p.conn.FirstHeaders = -1
	// The client's encoder follows the server's HEADER_TABLE_SIZE, which a
	// one-sided stream does not show: allow any size up to 64 KiB.
	p.dec = hpack.NewDecoder(4096, p.emit)
	p.dec.SetAllowedMaxDynamicTableSize(64 << 10)
	// Strings are bounded by the header block cap (Huffman codes are at
	// least 5 bits); the list size cap applies to what is kept.
	p.dec.SetMaxStringLength(lim.MaxHeaderBlock * 8 / 5)
	return p
}

// ParseHTTP2Client parses a whole client stream that starts with the
// connection preface. The result holds everything read before an error.
func ParseHTTP2Client(b []byte, lim HTTP2Limits) (*HTTP2Conn, error) {
	p := NewHTTP2Parser(lim)
	err := p.Write(b)
	if err == nil {
		err = p.Close()
	}
	return p.Conn(), err
}

// Conn returns what has been parsed so far. It aliases the parser's state.
func (p *HTTP2Parser) Conn() *HTTP2Conn { return &p.conn }

// Forget removes from Conn().Requests every request for which done
// reports true, so a long-lived connection keeps only the records still
// needed (MaxStreams bounds those kept at once). It returns how many it
// removed. Conn().First stays.
func (p *HTTP2Parser) Forget(done func(*HTTPRequest) bool) int {
	kept := p.conn.Requests[:0]
	for _, r := range p.conn.Requests {
		if !done(r) {
			kept = append(kept, r)
		}
	}
	n := len(p.conn.Requests) - len(kept)
	clear(p.conn.Requests[len(kept):])
	p.conn.Requests = kept
	return n
}

// InHeaderBlock reports whether a header block is open: its HEADERS frame
// has arrived and CONTINUATION frames are still to come.
func (p *HTTP2Parser) InHeaderBlock() bool { return p.inBlock }

// Close reports ErrTruncated when the stream ended inside a frame or a
// header block.
func (p *HTTP2Parser) Close() error {
	if p.err != nil {
		return p.err
	}
	if len(p.buf) > 0 || p.inBlock {
		return h2Err(p.conn.Consumed+len(p.buf), "stream ends inside a frame or header block", ErrTruncated)
	}
	return nil
}

func h2Err(off int, msg string, err error) *ParseError {
	return &ParseError{Parser: "http2", Offset: off, Msg: msg, Err: err}
}

// Write feeds the next bytes of the client stream. Only an incomplete
// frame at the end of b is copied and held (at most MaxFrameLen bytes).
// After an error every Write returns the same error.
func (p *HTTP2Parser) Write(b []byte) error {
	if p.err != nil {
		return p.err
	}
	// Complete a held unit first, copying only the bytes it needs.
	for len(p.buf) > 0 && len(b) > 0 {
		take := min(p.need(p.buf)-len(p.buf), len(b))
		p.buf = append(p.buf, b[:take]...)
		b = b[take:]
		if p.need(p.buf) > p.lim.MaxFrameLen+http2FrameHeaderLen {
			p.err = h2Err(p.conn.Consumed, "frame length exceeds limit", ErrTooLarge)
			return p.err
		}
		if len(p.buf) < p.need(p.buf) {
			continue // the frame header just became known, or b ran out
		}
		if _, err := p.consume(p.buf); err != nil {
			p.err = err
			return err
		}
		p.buf = p.buf[:0]
	}
	if len(b) == 0 {
		return nil
	}
	n, err := p.consume(b)
	if err != nil {
		p.err = err
		return err
	}
	if rest := b[n:]; len(rest) > 0 {
		// consume has checked the length of a frame whose header is whole.
		p.buf = append(p.buf[:0], rest...)
	}
	return nil
}

// need returns how many bytes the next unit (preface or frame) takes,
// given its first bytes.
func (p *HTTP2Parser) need(b []byte) int {
	if !p.conn.Preface {
		return len(http2Preface)
	}
	if len(b) < http2FrameHeaderLen {
		return http2FrameHeaderLen
	}
	return http2FrameHeaderLen + (int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
}

// consume parses as many whole units as b holds and returns the bytes used.
func (p *HTTP2Parser) consume(b []byte) (int, error) {
	used := 0
	for {
		rest := b[used:]
		if !p.conn.Preface {
			if len(rest) < len(http2Preface) {
				if !strings.HasPrefix(http2Preface, string(rest)) {
					return used, h2Err(0, "stream does not start with the HTTP/2 connection preface", ErrMalformed)
				}
				return used, nil
			}
			if string(rest[:len(http2Preface)]) != http2Preface {
				return used, h2Err(0, "stream does not start with the HTTP/2 connection preface", ErrMalformed)
			}
			p.conn.Preface = true
			used += len(http2Preface)
			p.conn.Consumed += len(http2Preface)
			continue
		}
		if len(rest) < http2FrameHeaderLen {
			return used, nil
		}
		length := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
		if length > p.lim.MaxFrameLen {
			return used, h2Err(p.conn.Consumed, "frame length exceeds limit", ErrTooLarge)
		}
		if len(rest) < http2FrameHeaderLen+length {
			return used, nil
		}
		f := HTTP2Frame{
			Type:     HTTP2FrameType(rest[3]),
			Flags:    rest[4],
			StreamID: (uint32(rest[5])<<24 | uint32(rest[6])<<16 | uint32(rest[7])<<8 | uint32(rest[8])) & 0x7fffffff,
			Length:   length,
			Offset:   p.conn.Consumed,
		}
		if err := p.frame(f, rest[http2FrameHeaderLen:http2FrameHeaderLen+length]); err != nil {
			return used, err
		}
		used += http2FrameHeaderLen + length
		p.conn.Consumed += http2FrameHeaderLen + length
	}
}

func (p *HTTP2Parser) anomaly(code string, off int, detail string) {
	if len(p.conn.Anomalies) >= p.lim.MaxAnomalies {
		p.conn.AnomaliesDropped++
		return
	}
	p.conn.Anomalies = append(p.conn.Anomalies, Anomaly{Code: code, Offset: off, Detail: detail})
}

// frame handles one complete frame.
func (p *HTTP2Parser) frame(f HTTP2Frame, payload []byte) error {
	idx := p.conn.FrameCount
	p.conn.FrameCount++
	listed := idx < p.lim.MaxFrames
	if listed {
		p.conn.Frames = append(p.conn.Frames, f)
	} else if idx == p.lim.MaxFrames {
		p.anomaly(AnomalyFramesNotListed, f.Offset, "frames from here on are parsed but not listed")
	}
	if p.inBlock && f.Type != FrameContinuation {
		return h2Err(f.Offset, f.Type.String()+" frame inside a header block", ErrMalformed)
	}
	switch f.Type {
	case FrameSettings:
		if f.Flags&flagAck != 0 || !listed {
			return nil
		}
		if f.Length%6 != 0 {
			p.anomaly(AnomalyBadFrameSize, f.Offset, "SETTINGS length not a multiple of 6")
		}
		s := HTTP2Settings{Frame: idx, Settings: make([]HTTP2Setting, 0, min(len(payload)/6, p.lim.MaxSettings))}
		for i := 0; i+6 <= len(payload); i += 6 {
			if len(s.Settings) == p.lim.MaxSettings {
				p.anomaly(AnomalyTooManySettings, f.Offset, "the rest of the frame is not kept")
				break
			}
			s.Settings = append(s.Settings, HTTP2Setting{
				ID:    SettingID(uint16(payload[i])<<8 | uint16(payload[i+1])),
				Value: uint32(payload[i+2])<<24 | uint32(payload[i+3])<<16 | uint32(payload[i+4])<<8 | uint32(payload[i+5]),
			})
		}
		p.conn.Settings = append(p.conn.Settings, s)
	case FrameWindowUpdate:
		if !listed {
			return nil
		}
		if len(payload) != 4 {
			p.anomaly(AnomalyBadFrameSize, f.Offset, "WINDOW_UPDATE length not 4")
			return nil
		}
		p.conn.WindowUpdates = append(p.conn.WindowUpdates, HTTP2WindowUpdate{
			Frame: idx, StreamID: f.StreamID, Increment: be31(payload),
		})
	case FramePriority:
		if !listed {
			return nil
		}
		if len(payload) != 5 {
			p.anomaly(AnomalyBadFrameSize, f.Offset, "PRIORITY length not 5")
			return nil
		}
		pr := readPriority(payload, f.StreamID, idx)
		p.conn.Priorities = append(p.conn.Priorities, pr)
	case FrameHeaders:
		return p.headers(f, idx, payload)
	case FrameContinuation:
		if !p.inBlock {
			p.anomaly(AnomalyUnexpectedContinuation, f.Offset, "")
			return nil
		}
		return p.fragment(f, payload)
	case FrameData:
		if f.Flags&flagEndStream != 0 {
			if r := p.stream(f.StreamID); r != nil {
				r.EndStream = true
			}
		}
	}
	return nil
}

func be31(b []byte) uint32 {
	return (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) & 0x7fffffff
}

func readPriority(b []byte, stream uint32, frame int) HTTP2Priority {
	return HTTP2Priority{
		Frame:     frame,
		StreamID:  stream,
		Exclusive: b[0]&0x80 != 0,
		DependsOn: be31(b),
		Weight:    uint16(b[4]) + 1,
	}
}

func (p *HTTP2Parser) stream(id uint32) *HTTPRequest {
	for i := len(p.conn.Requests) - 1; i >= 0; i-- {
		if p.conn.Requests[i].StreamID == id {
			return p.conn.Requests[i]
		}
	}
	return nil
}

func (p *HTTP2Parser) headers(f HTTP2Frame, idx int, payload []byte) error {
	var pr *HTTP2Priority
	if f.Flags&flagPadded != 0 {
		if len(payload) < 1 || int(payload[0]) > len(payload)-1 {
			return h2Err(f.Offset, "HEADERS padding exceeds the frame", ErrMalformed)
		}
		pad := int(payload[0])
		payload = payload[1 : len(payload)-pad]
	}
	if f.Flags&flagPriority != 0 {
		if len(payload) < 5 {
			return h2Err(f.Offset, "HEADERS priority fields cut short", ErrMalformed)
		}
		v := readPriority(payload, f.StreamID, idx)
		pr = &v
		payload = payload[5:]
	}
	if p.conn.FirstHeaders < 0 {
		p.conn.FirstHeaders = idx
	}
	p.inBlock, p.blockBytes, p.listSize, p.listCut, p.blockOff = true, 0, 0, false, f.Offset
	p.block = nil
	switch {
	case f.StreamID == 0:
		p.anomaly(AnomalyStreamZeroHeaders, f.Offset, "")
	case f.StreamID <= p.maxStream:
		// Trailers (client streams only count up): decoded for the HPACK
		// state, not kept.
		if r := p.stream(f.StreamID); r != nil && f.Flags&flagEndStream != 0 {
			r.EndStream = true
		}
	case len(p.conn.Requests) >= p.lim.MaxStreams:
		p.maxStream = f.StreamID
		p.anomaly(AnomalyTooManyStreams, f.Offset, "the request is not kept")
	default:
		p.maxStream = f.StreamID
		p.block = &HTTPRequest{Version: HTTP2, StreamID: f.StreamID, Priority: pr,
			EndStream: f.Flags&flagEndStream != 0, Offset: f.Offset}
		p.conn.Requests = append(p.conn.Requests, p.block)
		if p.conn.First == nil && p.conn.FirstHeaders == idx {
			p.conn.First = p.block
		}
	}
	return p.fragment(f, payload)
}

// fragment decodes one piece of a header block.
func (p *HTTP2Parser) fragment(f HTTP2Frame, frag []byte) error {
	p.blockBytes += len(frag)
	if p.blockBytes > p.lim.MaxHeaderBlock {
		return h2Err(f.Offset, "header block exceeds limit", ErrTooLarge)
	}
	if _, err := p.dec.Write(frag); err != nil {
		p.anomaly(AnomalyHPACK, f.Offset, err.Error())
		return h2Err(f.Offset, "HPACK: "+err.Error(), ErrMalformed)
	}
	if f.Flags&flagEndHeaders == 0 {
		return nil
	}
	p.inBlock = false
	if err := p.dec.Close(); err != nil {
		p.anomaly(AnomalyHPACK, f.Offset, err.Error())
		return h2Err(f.Offset, "HPACK: "+err.Error(), ErrMalformed)
	}
	return nil
}

// emit receives each decoded header field of the current block.
func (p *HTTP2Parser) emit(hf hpack.HeaderField) {
	r := p.block
	if r == nil {
		return
	}
	p.listSize += int(hf.Size())
	if p.listSize > p.lim.MaxHeaderListSize {
		if !p.listCut {
			p.listCut = true
			r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyHeaderListTooLarge, Offset: p.blockOff,
				Detail: "the rest of the header list is not kept"})
		}
		return
	}
	isPseudo := strings.HasPrefix(hf.Name, ":")
	if isPseudo && len(r.Headers) > 0 && !strings.HasPrefix(r.Headers[len(r.Headers)-1].Name, ":") {
		r.Anomalies = append(r.Anomalies, Anomaly{Code: AnomalyPseudoAfterRegular, Offset: p.blockOff, Detail: hf.Name})
	}
	r.Headers = append(r.Headers, Header{Name: hf.Name, Value: hf.Value})
	switch hf.Name {
	case ":method":
		r.Method = hf.Value
	case ":path":
		r.Target = hf.Value
	}
}

// ParseHTTP2SettingsPayload reads the body of a SETTINGS frame.
func ParseHTTP2SettingsPayload(b []byte) ([]HTTP2Setting, error) {
	if len(b)%6 != 0 {
		return nil, h2Err(len(b)-len(b)%6, "SETTINGS payload not a multiple of 6 bytes", ErrMalformed)
	}
	if len(b)/6 > DefaultHTTP2Limits().MaxSettings {
		return nil, h2Err(0, "more settings than the limit", ErrTooLarge)
	}
	out := make([]HTTP2Setting, 0, len(b)/6)
	for i := 0; i < len(b); i += 6 {
		out = append(out, HTTP2Setting{
			ID:    SettingID(uint16(b[i])<<8 | uint16(b[i+1])),
			Value: uint32(b[i+2])<<24 | uint32(b[i+3])<<16 | uint32(b[i+4])<<8 | uint32(b[i+5]),
		})
	}
	return out, nil
}

// ParseHTTP2SettingsHeader decodes the value of an HTTP2-Settings upgrade
// header: the base64url SETTINGS payload (RFC 7540 3.2.1), padding
// tolerated.
func ParseHTTP2SettingsHeader(value string) ([]HTTP2Setting, error) {
	v := strings.TrimRight(strings.TrimSpace(value), "=")
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, &ParseError{Parser: "http2", Msg: "HTTP2-Settings is not base64url: " + err.Error(), Err: ErrMalformed}
	}
	return ParseHTTP2SettingsPayload(b)
}
