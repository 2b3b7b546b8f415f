package oracle

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// DecodeOptions tell Decode how to read a capture.
type DecodeOptions struct {
	// TLSPorts are the servers' TLS ports (decoded as TLS, then by ALPN).
	TLSPorts []string
	// H2CPorts are plain ports that carry prior-knowledge HTTP/2 (h2c).
	H2CPorts []string
	// KeyLog is an NSS key log file holding the secrets of the TLS
	// connections ("" decrypts nothing).
	KeyLog string
}

// Capture is what tshark decoded of a capture: the client side of every
// connection to one of the servers' ports that carried a ClientHello or an
// HTTP request.
type Capture struct {
	// Conns in order of first appearance.
	Conns    []*Conn
	byStream map[string]*Conn
}

// Conn is what tshark decoded of one TCP connection, client to server.
type Conn struct {
	Stream     string // tshark's tcp.stream
	ClientPort string
	ServerPort string
	TLS        bool     // ServerPort is one of DecodeOptions.TLSPorts
	JA3Full    []string // tls.handshake.ja3_full of each ClientHello, in order
	JA3        []string // tls.handshake.ja3 (the MD5) of each ClientHello
	HTTP1      []HTTP1Request
	HTTP2      []HTTP2Frame // every frame but the connection preface, in order
}

// HTTP1Request is one HTTP/1 request as tshark decoded it.
type HTTP1Request struct {
	Method      string
	URI         string // the request target as sent
	HeaderNames []string
	Headers     [][2]string // name, value (without the surrounding whitespace), in order
}

// HTTP2Frame is one HTTP/2 frame the client sent.
type HTTP2Frame struct {
	Type      uint8
	Flags     uint8
	StreamID  uint32
	Settings  [][2]uint32 // SETTINGS: id, value, in order
	Increment uint32      // WINDOW_UPDATE
	Headers   [][2]string // HEADERS: name, value, in order
}

// HTTP/2 frame types and the SETTINGS ACK flag (RFC 9113, section 6).
const (
	FrameHeaders      = 0x1
	FrameSettings     = 0x4
	FrameWindowUpdate = 0x8
	FlagAck           = 0x1
)

// HeaderNames lists the frame's header names in order.
func (f HTTP2Frame) HeaderNames() []string {
	names := make([]string, 0, len(f.Headers))
	for _, h := range f.Headers {
		names = append(names, h[0])
	}
	return names
}

// Header returns the value of the frame's first header named name.
func (f HTTP2Frame) Header(name string) string {
	for _, h := range f.Headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// Stream returns the connection tshark numbered s, nil when none.
func (c *Capture) Stream(s string) *Conn { return c.byStream[s] }

// ByClientPort returns the connections from the client port (a port can be
// reused, so there may be more than one).
func (c *Capture) ByClientPort(port string) []*Conn {
	var out []*Conn
	for _, conn := range c.Conns {
		if conn.ClientPort == port {
			out = append(out, conn)
		}
	}
	return out
}

// FirstSettings returns the settings of the client's first SETTINGS frame
// that is not an ACK.
func (c *Conn) FirstSettings() ([][2]uint32, bool) {
	i := slices.IndexFunc(c.HTTP2, func(f HTTP2Frame) bool { return f.Type == FrameSettings && f.Flags&FlagAck == 0 })
	if i < 0 {
		return nil, false
	}
	return c.HTTP2[i].Settings, true
}

// WindowUpdateBeforeHeaders returns the increment of the connection-level
// WINDOW_UPDATE sent before the first HEADERS frame, 0 when there is none.
func (c *Conn) WindowUpdateBeforeHeaders() uint32 {
	for _, f := range c.HTTP2 {
		if f.Type == FrameHeaders {
			break
		}
		if f.Type == FrameWindowUpdate && f.StreamID == 0 {
			return f.Increment
		}
	}
	return 0
}

// HeadersOn returns the HEADERS frame that opened stream id.
func (c *Conn) HeadersOn(id uint32) (HTTP2Frame, bool) {
	i := slices.IndexFunc(c.HTTP2, func(f HTTP2Frame) bool { return f.Type == FrameHeaders && f.StreamID == id })
	if i < 0 {
		return HTTP2Frame{}, false
	}
	return c.HTTP2[i], true
}

// Requests returns the HTTP/2 HEADERS frames whose :method and :path are
// method and path (the target with its query), in order.
func (c *Conn) Requests(method, path string) []HTTP2Frame {
	var out []HTTP2Frame
	for _, f := range c.HTTP2 {
		if f.Type == FrameHeaders && f.Header(":method") == method && f.Header(":path") == path {
			out = append(out, f)
		}
	}
	return out
}

// HTTP1Requests returns the HTTP/1 requests with method and target uri, in
// order.
func (c *Conn) HTTP1Requests(method, uri string) []HTTP1Request {
	var out []HTTP1Request
	for _, r := range c.HTTP1 {
		if r.Method == method && r.URI == uri {
			out = append(out, r)
		}
	}
	return out
}

// Decode runs tshark over the capture file pcap and returns the client
// side of the connections to the ports of o.
func Decode(pcap string, o DecodeOptions) (*Capture, error) {
	args := []string{"-r", pcap}
	for _, p := range o.TLSPorts {
		args = append(args, "-d", "tcp.port=="+p+",tls")
	}
	for _, p := range o.H2CPorts {
		args = append(args, "-d", "tcp.port=="+p+",http2")
	}
	if o.KeyLog != "" {
		args = append(args, "-o", "tls.keylog_file:"+o.KeyLog)
	}
	args = append(args, "-Y", "tls.handshake.type == 1 || http.request || http2", "-T", "pdml")
	out, err := tshark(args...)
	if err != nil {
		return nil, err
	}
	return decodePDML(out, o)
}

// tshark runs tshark with args and returns its standard output.
func tshark(args ...string) ([]byte, error) {
	path, err := exec.LookPath("tshark")
	if err != nil {
		return nil, fmt.Errorf("%w: tshark is not installed (scripts/install-deps.sh installs it)", ErrMissing)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("oracle: tshark %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// decodePDML reads tshark's PDML into connections.
func decodePDML(pdml []byte, o DecodeOptions) (*Capture, error) {
	c := &Capture{byStream: map[string]*Conn{}}
	dec := xml.NewDecoder(bytes.NewReader(pdml))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("oracle: tshark PDML: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "packet" {
			continue
		}
		var p pdmlPacket
		if err := dec.DecodeElement(&p, &start); err != nil {
			return nil, fmt.Errorf("oracle: tshark PDML packet: %w", err)
		}
		if err := c.addPacket(p, o); err != nil {
			return nil, err
		}
	}
}

// pdmlField is one field of tshark's PDML, with the fields it holds.
type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Value  string      `xml:"value,attr"`
	Fields []pdmlField `xml:"field"`
}

type pdmlPacket struct {
	Protos []pdmlField `xml:"proto"`
}

// each calls fn on every field under f, depth first, in document order.
func (f pdmlField) each(fn func(pdmlField)) {
	for _, c := range f.Fields {
		fn(c)
		c.each(fn)
	}
}

// first returns the first field named name under f.
func (f pdmlField) first(name string) (pdmlField, bool) {
	var out pdmlField
	found := false
	f.each(func(c pdmlField) {
		if !found && c.Name == name {
			out, found = c, true
		}
	})
	return out, found
}

// bytes decodes the field's hex value (the bytes it covers).
func (f pdmlField) bytes() []byte {
	b, _ := hex.DecodeString(f.Value)
	return b
}

func (c *Capture) addPacket(p pdmlPacket, o DecodeOptions) error {
	var stream, src, dst string
	for _, proto := range p.Protos {
		if proto.Name != "tcp" {
			continue
		}
		s, ok1 := proto.first("tcp.stream")
		sp, ok2 := proto.first("tcp.srcport")
		dp, ok3 := proto.first("tcp.dstport")
		if !ok1 || !ok2 || !ok3 {
			return errors.New("oracle: tshark PDML: a TCP packet without stream or ports")
		}
		stream, src, dst = s.Show, sp.Show, dp.Show
	}
	isTLS := slices.Contains(o.TLSPorts, dst)
	if stream == "" || (!isTLS && !slices.Contains(o.H2CPorts, dst)) {
		return nil // not a packet a client sent to one of the servers
	}
	conn := c.byStream[stream]
	if conn == nil {
		conn = &Conn{Stream: stream, ClientPort: src, ServerPort: dst, TLS: isTLS}
		c.byStream[stream] = conn
		c.Conns = append(c.Conns, conn)
	}
	for _, proto := range p.Protos {
		switch proto.Name {
		case "tls":
			proto.each(func(f pdmlField) {
				switch f.Name {
				case "tls.handshake.ja3_full":
					conn.JA3Full = append(conn.JA3Full, f.Show)
				case "tls.handshake.ja3":
					conn.JA3 = append(conn.JA3, f.Show)
				}
			})
		case "http":
			if m, ok := proto.first("http.request.method"); ok {
				req := HTTP1Request{Method: m.Show}
				if u, ok := proto.first("http.request.uri"); ok {
					req.URI = u.Show
				}
				proto.each(func(f pdmlField) {
					if f.Name == "http.request.line" {
						name, value, _ := strings.Cut(string(f.bytes()), ":")
						req.HeaderNames = append(req.HeaderNames, name)
						req.Headers = append(req.Headers, [2]string{name, strings.Trim(value, " \t\r\n")})
					}
				})
				conn.HTTP1 = append(conn.HTTP1, req)
			}
		case "http2":
			for _, s := range proto.Fields {
				if s.Name != "http2.stream" {
					continue
				}
				if fr, ok := http2Frame(s); ok {
					conn.HTTP2 = append(conn.HTTP2, fr)
				}
			}
		}
	}
	return nil
}

// http2Frame reads one frame of tshark's http2.stream field; ok is false for
// the connection preface ("Magic").
func http2Frame(s pdmlField) (HTTP2Frame, bool) {
	var fr HTTP2Frame
	typ, ok := s.first("http2.type")
	if !ok {
		return fr, false
	}
	n, _ := strconv.ParseUint(typ.Show, 10, 8)
	fr.Type = uint8(n)
	if flags, ok := s.first("http2.flags"); ok && len(flags.bytes()) == 1 {
		fr.Flags = flags.bytes()[0]
	}
	if id, ok := s.first("http2.streamid"); ok {
		n, _ := strconv.ParseUint(id.Show, 10, 32)
		fr.StreamID = uint32(n)
	}
	s.each(func(f pdmlField) {
		switch f.Name {
		case "http2.settings":
			// An id field, then one value field named after the setting.
			var id, value uint64
			for _, c := range f.Fields {
				b := c.bytes()
				v, _ := strconv.ParseUint(hex.EncodeToString(b), 16, 64)
				if c.Name == "http2.settings.id" {
					id = v
				} else if len(b) == 4 {
					value = v
				}
			}
			fr.Settings = append(fr.Settings, [2]uint32{uint32(id), uint32(value)})
		case "http2.window_update.window_size_increment":
			n, _ := strconv.ParseUint(f.Show, 10, 32)
			fr.Increment = uint32(n)
		case "http2.header":
			var h [2]string
			for _, c := range f.Fields {
				switch c.Name {
				case "http2.header.name":
					h[0] = string(c.bytes())
				case "http2.header.value":
					h[1] = string(c.bytes())
				}
			}
			fr.Headers = append(fr.Headers, h)
		}
	})
	return fr, true
}
