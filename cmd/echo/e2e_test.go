package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEndToEndAgainstTshark checks the echo's answers to real clients against tools
// that share no code with it. scripts/echo-e2e.sh runs the echo with --keylog, captures
// its ports with tshark, sends the clients (Go crypto/tls, every uTLS parrot, curl h1,
// h2 and h2c, openssl s_client, headless Chromium, Firefox ESR when installed), saves
// each answer and sets FP_ECHO_E2E_DIR to a directory holding:
//
//	ports.txt        "https PORT" and "http PORT" (plain HTTP and prior-knowledge h2c)
//	capture.pcapng   tshark's loopback capture of both ports
//	keylog.txt       the echo's TLS secrets (NSS key log)
//	expected.txt     the name of every answer the clients were to save, one a line
//	answers/NAME.*   the answers: .json (the body), .http (a raw HTTP/1.1 response)
//	                 or .html (a page whose <pre> holds the JSON: Chromium's DOM)
//
// For every answer the connection is found in the capture by the client's port (the
// echo's "client"), then: JA3 (string and hash) equals tshark's for that connection's
// ClientHello; JA4 equals the npm package read-tls-client-hello's for the ClientHello
// bytes tshark followed on the wire; over HTTP/2, the SETTINGS (ids and values in
// order), the connection WINDOW_UPDATE before the first HEADERS, and the header names
// in order of the request's stream equal tshark's decode of the decrypted frames; over
// HTTP/1, the header names in order equal tshark's decrypted request lines. Every
// piece (tshark, node, the oracle, an answer) is required once FP_ECHO_E2E_DIR is set.
func TestEndToEndAgainstTshark(t *testing.T) {
	dir := os.Getenv("FP_ECHO_E2E_DIR")
	if dir == "" {
		t.Skip("FP_ECHO_E2E_DIR is not set; scripts/echo-e2e.sh runs the clients and sets it")
	}
	run := loadE2ERun(t, dir)
	conns := tsharkConnections(t, run)

	answers := map[string]echoAnswer{}
	conn := map[string]*tsharkConn{}
	lookupErrs := map[string]error{}
	for _, name := range run.expected {
		a, err := loadAnswer(filepath.Join(dir, "answers"), name)
		if err != nil {
			lookupErrs[name] = err
			continue
		}
		answers[name] = a
		c, err := conns.byClient(a.Client, run)
		if err != nil {
			lookupErrs[name] = err
			continue
		}
		conn[name] = c
	}
	ja4 := npmJA4(t, run, conn)

	summary := &e2eSummary{kinds: map[string]int{}}
	for _, name := range run.expected {
		t.Run(name, func(t *testing.T) {
			if err := lookupErrs[name]; err != nil {
				summary.add(t, name, "-", []e2eResult{{"answer+connection", err}})
				return
			}
			a, c := answers[name], conn[name]
			var results []e2eResult
			for _, check := range e2eChecks(run, a, c, ja4[c.stream]) {
				results = append(results, e2eResult{check.name, check.run()})
			}
			summary.add(t, name, c.kind(run), results)
		})
	}
	summary.log(t)
	for _, kind := range []string{"tls+h2", "tls+h1", "h2c"} {
		if summary.kinds[kind] == 0 {
			t.Errorf("no answer passed its checks over %s: the matrix is incomplete", kind)
		}
	}
}

// e2eRun is what scripts/echo-e2e.sh left in FP_ECHO_E2E_DIR.
type e2eRun struct {
	dir                 string
	httpsPort, httpPort string
	expected            []string
}

func (r e2eRun) pcap() string   { return filepath.Join(r.dir, "capture.pcapng") }
func (r e2eRun) keylog() string { return filepath.Join(r.dir, "keylog.txt") }

func loadE2ERun(t *testing.T, dir string) e2eRun {
	t.Helper()
	run := e2eRun{dir: dir}
	ports, err := os.ReadFile(filepath.Join(dir, "ports.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(ports)), "\n") {
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "https":
			run.httpsPort = f[1]
		case len(f) == 2 && f[0] == "http":
			run.httpPort = f[1]
		}
	}
	if run.httpsPort == "" || run.httpPort == "" {
		t.Fatalf("ports.txt lacks a port: %q", ports)
	}
	expected, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	run.expected = strings.Fields(string(expected))
	if len(run.expected) == 0 {
		t.Fatal("expected.txt lists no answer")
	}
	for _, f := range []string{run.pcap(), run.keylog()} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	return run
}

// echoAnswer is the part of the echo's JSON answer the matrix compares.
type echoAnswer struct {
	Client string `json:"client"`
	HTTP   struct {
		Version string      `json:"version"`
		Method  string      `json:"method"`
		Path    string      `json:"path"`
		Query   string      `json:"query"`
		Headers [][2]string `json:"headers"`
	} `json:"http"`
	TLS *struct {
		ClientHelloHex string `json:"client_hello_hex"`
	} `json:"tls"`
	Fingerprints struct {
		JA3     string `json:"ja3"`
		JA3Hash string `json:"ja3_hash"`
		JA4     string `json:"ja4"`
	} `json:"fingerprints"`
	HTTP2 *struct {
		Settings []struct {
			ID    uint16 `json:"id"`
			Value uint32 `json:"value"`
		} `json:"settings"`
		WindowUpdate      uint32   `json:"window_update"`
		PseudoHeaderOrder []string `json:"pseudo_header_order"`
		StreamID          uint32   `json:"stream_id"`
	} `json:"http2"`
	Capture struct {
		StreamMatch string `json:"stream_match"`
	} `json:"capture"`
}

// headerNames lists the echoed header names in order.
func (a echoAnswer) headerNames() []string {
	names := make([]string, 0, len(a.HTTP.Headers))
	for _, h := range a.HTTP.Headers {
		names = append(names, h[0])
	}
	return names
}

// target is the request target as sent: path, and "?query" when there is one.
func (a echoAnswer) target() string {
	if a.HTTP.Query == "" {
		return a.HTTP.Path
	}
	return a.HTTP.Path + "?" + a.HTTP.Query
}

// loadAnswer reads answers/NAME.json, NAME.http (a raw HTTP/1.1 response, chunked or
// not) or NAME.html (the echo's page: the JSON is the text of its <pre>).
func loadAnswer(dir, name string) (echoAnswer, error) {
	var a echoAnswer
	var body []byte
	var err error
	for _, ext := range []string{".json", ".http", ".html"} {
		if body, err = os.ReadFile(filepath.Join(dir, name+ext)); err == nil {
			if ext == ".http" {
				resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(body)), nil)
				if rerr != nil {
					return a, fmt.Errorf("%s%s is not an HTTP response: %w", name, ext, rerr)
				}
				body, rerr = io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil {
					return a, fmt.Errorf("%s%s: %w", name, ext, rerr)
				}
			}
			break
		}
	}
	if err != nil {
		return a, fmt.Errorf("no answer saved for %s (answers/%s.json, .http or .html): the client failed", name, name)
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '<' {
		start, end := bytes.Index(body, []byte("<pre>")), bytes.LastIndex(body, []byte("</pre>"))
		if start < 0 || end < start {
			return a, fmt.Errorf("%s: a page without a <pre>: %.300s", name, body)
		}
		body = []byte(html.UnescapeString(string(body[start+len("<pre>") : end])))
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("%s: the answer is not the echo's JSON: %v: %.300s", name, err, body)
	}
	if a.Client == "" {
		return a, fmt.Errorf("%s: the answer has no client address", name)
	}
	return a, nil
}

// tsharkConn is what tshark decoded of one TCP connection, client to server.
type tsharkConn struct {
	stream           string // tcp.stream
	srcPort, dstPort string
	ja3Full, ja3     []string // of each ClientHello, in order
	h1               []tsharkHTTP1Request
	h2               []tsharkHTTP2Frame
}

// kind names the connection's transport: tls+h2, tls+h1, h2c or h1.
func (c *tsharkConn) kind(run e2eRun) string {
	proto := "h1"
	if len(c.h2) > 0 {
		proto = "h2"
	}
	if c.dstPort == run.httpsPort {
		return "tls+" + proto
	}
	if proto == "h2" {
		return "h2c"
	}
	return proto
}

type tsharkHTTP1Request struct {
	method, uri string
	headerNames []string
}

type tsharkHTTP2Frame struct {
	typ       uint8
	flags     uint8
	streamID  uint32
	settings  [][2]uint32 // id, value
	increment uint32      // WINDOW_UPDATE
	headers   [][2]string // HEADERS: name, value
}

// headerNames lists the frame's header names in order.
func (f tsharkHTTP2Frame) headerNames() []string {
	names := make([]string, 0, len(f.headers))
	for _, h := range f.headers {
		names = append(names, h[0])
	}
	return names
}

// header returns the value of the frame's first header named name.
func (f tsharkHTTP2Frame) header(name string) string {
	for _, h := range f.headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// HTTP/2 frame types and the SETTINGS ACK flag (RFC 9113, section 6).
const (
	h2FrameHeaders      = 0x1
	h2FrameSettings     = 0x4
	h2FrameWindowUpdate = 0x8
	h2FlagAck           = 0x1
)

type tsharkConns struct {
	byStream map[string]*tsharkConn
	byPort   map[string][]*tsharkConn // client port → connections (a port can be reused)
}

// byClient finds the connection of an answer by the echo's "client" address.
func (cs tsharkConns) byClient(client string, run e2eRun) (*tsharkConn, error) {
	host, port, err := net.SplitHostPort(client)
	if err != nil || host != "127.0.0.1" {
		return nil, fmt.Errorf("the echo's client %q is not a 127.0.0.1 address", client)
	}
	var found []*tsharkConn
	for _, c := range cs.byPort[port] {
		if c.dstPort == run.httpsPort || c.dstPort == run.httpPort {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("tshark decoded no connection from port %s (the echo's client %s)", port, client)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("port %s was used by %d connections in the capture: which one is the answer's is not known", port, len(found))
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

// each calls f on every field under f's fields, depth first, in document order.
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

// tshark runs tshark with args and returns its standard output.
func tshark(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark is missing; scripts/install-deps.sh installs it")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v: %s", args, err, stderr.Bytes())
	}
	return out
}

// tsharkConnections decodes the capture with tshark (TLS on the HTTPS port, HTTP/2 on
// the plain port, the echo's key log to decrypt) into connections, client side only.
func tsharkConnections(t *testing.T, run e2eRun) tsharkConns {
	t.Helper()
	out := tshark(t, "-r", run.pcap(), "-d", "tcp.port=="+run.httpsPort+",tls", "-d", "tcp.port=="+run.httpPort+",http2",
		"-o", "tls.keylog_file:"+run.keylog(), "-Y", "tls.handshake.type == 1 || http.request || http2", "-T", "pdml")
	cs := tsharkConns{byStream: map[string]*tsharkConn{}, byPort: map[string][]*tsharkConn{}}
	dec := xml.NewDecoder(bytes.NewReader(out))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("tshark PDML: %v", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "packet" {
			continue
		}
		var p pdmlPacket
		if err := dec.DecodeElement(&p, &start); err != nil {
			t.Fatalf("tshark PDML packet: %v", err)
		}
		cs.addPacket(t, p, run)
	}
	return cs
}

func (cs tsharkConns) addPacket(t *testing.T, p pdmlPacket, run e2eRun) {
	t.Helper()
	var stream, src, dst string
	for _, proto := range p.Protos {
		if proto.Name != "tcp" {
			continue
		}
		s, ok1 := proto.first("tcp.stream")
		sp, ok2 := proto.first("tcp.srcport")
		dp, ok3 := proto.first("tcp.dstport")
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("tshark PDML: a TCP packet without stream or ports")
		}
		stream, src, dst = s.Show, sp.Show, dp.Show
	}
	if stream == "" || (dst != run.httpsPort && dst != run.httpPort) {
		return // not a packet the client sent
	}
	c := cs.byStream[stream]
	if c == nil {
		c = &tsharkConn{stream: stream, srcPort: src, dstPort: dst}
		cs.byStream[stream] = c
		cs.byPort[src] = append(cs.byPort[src], c)
	}
	for _, proto := range p.Protos {
		switch proto.Name {
		case "tls":
			proto.each(func(f pdmlField) {
				switch f.Name {
				case "tls.handshake.ja3_full":
					c.ja3Full = append(c.ja3Full, f.Show)
				case "tls.handshake.ja3":
					c.ja3 = append(c.ja3, f.Show)
				}
			})
		case "http":
			if m, ok := proto.first("http.request.method"); ok {
				req := tsharkHTTP1Request{method: m.Show}
				if u, ok := proto.first("http.request.uri"); ok {
					req.uri = u.Show
				}
				proto.each(func(f pdmlField) {
					if f.Name == "http.request.line" {
						line := string(f.bytes())
						name, _, _ := strings.Cut(line, ":")
						req.headerNames = append(req.headerNames, name)
					}
				})
				c.h1 = append(c.h1, req)
			}
		case "http2":
			for _, s := range proto.Fields {
				if s.Name != "http2.stream" {
					continue
				}
				if fr, ok := http2Frame(s); ok {
					c.h2 = append(c.h2, fr)
				}
			}
		}
	}
}

// http2Frame reads one frame of tshark's http2.stream field; ok is false for the
// connection preface ("Magic").
func http2Frame(s pdmlField) (tsharkHTTP2Frame, bool) {
	var fr tsharkHTTP2Frame
	typ, ok := s.first("http2.type")
	if !ok {
		return fr, false
	}
	n, _ := strconv.ParseUint(typ.Show, 10, 8)
	fr.typ = uint8(n)
	if flags, ok := s.first("http2.flags"); ok && len(flags.bytes()) == 1 {
		fr.flags = flags.bytes()[0]
	}
	if id, ok := s.first("http2.streamid"); ok {
		n, _ := strconv.ParseUint(id.Show, 10, 32)
		fr.streamID = uint32(n)
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
			fr.settings = append(fr.settings, [2]uint32{uint32(id), uint32(value)})
		case "http2.window_update.window_size_increment":
			n, _ := strconv.ParseUint(f.Show, 10, 32)
			fr.increment = uint32(n)
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
			fr.headers = append(fr.headers, h)
		}
	})
	return fr, true
}

// npmJA4 follows the client side of every TLS connection with tshark (the bytes as
// captured), and returns read-tls-client-hello's JA4 of each ClientHello (or the
// oracle's error) by tcp.stream.
func npmJA4(t *testing.T, run e2eRun, conns map[string]*tsharkConn) map[string]string {
	t.Helper()
	args := []string{"-r", run.pcap(), "-q"}
	var streams []string
	for _, c := range conns {
		if c.dstPort == run.httpsPort && !slices.Contains(streams, c.stream) {
			streams = append(streams, c.stream)
			args = append(args, "-z", "follow,tcp,raw,"+c.stream)
		}
	}
	if len(streams) == 0 {
		return nil
	}
	clientBytes := followClientBytes(t, tshark(t, args...), conns)
	dir := t.TempDir()
	var files []string
	fileStream := map[string]string{}
	for _, s := range streams {
		f := filepath.Join(dir, "stream-"+s+".bin")
		if err := os.WriteFile(f, clientBytes[s], 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		fileStream[f] = s
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing; scripts/install-deps.sh installs it")
	}
	script := filepath.Join("..", "..", "scripts", "oracle", "ja4.js")
	if _, err := os.Stat(filepath.Join("..", "..", "scripts", "oracle", "node_modules", "read-tls-client-hello")); err != nil {
		t.Fatal("the npm oracle is not installed: run npm ci in scripts/oracle (scripts/install-deps.sh does)")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(node, append([]string{script}, files...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node ja4.js: %v: %s", err, stderr.Bytes())
	}
	ja4 := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			File, JA4, Error string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("ja4.js line %q: %v", line, err)
		}
		if r.Error != "" {
			r.JA4 = "error: " + r.Error
		}
		ja4[fileStream[r.File]] = r.JA4
	}
	return ja4
}

// followClientBytes reads tshark's "-z follow,tcp,raw" blocks: per stream, two "Node"
// lines, then one hex line per segment, the second node's indented by a tab. It returns
// the bytes the client (the node on the connection's client port) sent, by stream.
func followClientBytes(t *testing.T, out []byte, conns map[string]*tsharkConn) map[string][]byte {
	t.Helper()
	clientPort := map[string]string{}
	for _, c := range conns {
		clientPort[c.stream] = c.srcPort
	}
	got := map[string][]byte{}
	var stream string
	clientIndented := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "Filter: tcp.stream eq "):
			stream = strings.TrimPrefix(line, "Filter: tcp.stream eq ")
		case strings.HasPrefix(line, "Node 0: "):
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(line, "Node 0: "))
			clientIndented = port != clientPort[stream]
		case strings.HasPrefix(line, "====") || strings.HasPrefix(line, "Follow: ") || strings.HasPrefix(line, "Node 1: ") || line == "":
		default:
			indented := strings.HasPrefix(line, "\t")
			if indented != clientIndented {
				continue
			}
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("tshark follow line %q: %v", line, err)
			}
			got[stream] = append(got[stream], b...)
		}
	}
	return got
}

// e2eCheck is one comparison of an answer with the oracles.
type e2eCheck struct {
	name string
	run  func() error
}

// e2eChecks lists the comparisons for an answer on connection c; ja4 is the npm
// oracle's JA4 of its ClientHello.
func e2eChecks(run e2eRun, a echoAnswer, c *tsharkConn, ja4 string) []e2eCheck {
	var checks []e2eCheck
	if c.dstPort == run.httpsPort {
		checks = append(checks,
			e2eCheck{"ja3", func() error {
				if a.TLS == nil {
					return errors.New("the echo reports no TLS on its HTTPS port")
				}
				if len(c.ja3Full) == 0 || len(c.ja3) == 0 {
					return errors.New("tshark found no ClientHello on the connection")
				}
				if a.Fingerprints.JA3 != c.ja3Full[0] || a.Fingerprints.JA3Hash != c.ja3[0] {
					return fmt.Errorf("\n  tshark ja3_full %s\n  echo   ja3      %s\n  tshark ja3 %s, echo ja3_hash %s (tshark saw %d hello(s))",
						c.ja3Full[0], a.Fingerprints.JA3, c.ja3[0], a.Fingerprints.JA3Hash, len(c.ja3))
				}
				return nil
			}},
			e2eCheck{"ja4", func() error {
				if ja4 == "" || strings.HasPrefix(ja4, "error: ") {
					return fmt.Errorf("read-tls-client-hello gave no JA4 for the captured hello: %q", ja4)
				}
				if a.Fingerprints.JA4 != ja4 {
					return fmt.Errorf("read-tls-client-hello %s, echo %s", ja4, a.Fingerprints.JA4)
				}
				return nil
			}})
	} else {
		checks = append(checks, e2eCheck{"no-tls", func() error {
			if a.TLS != nil || len(c.ja3) > 0 {
				return fmt.Errorf("a plain connection: echo tls %v, tshark hellos %d", a.TLS != nil, len(c.ja3))
			}
			return nil
		}})
	}
	if len(c.h2) > 0 {
		return append(checks, http2Checks(a, c)...)
	}
	return append(checks, e2eCheck{"http1-headers", func() error {
		if a.HTTP.Version != "HTTP/1.1" && a.HTTP.Version != "HTTP/1.0" {
			return fmt.Errorf("tshark decoded HTTP/1 on the connection, the echo says %s", a.HTTP.Version)
		}
		var matching []tsharkHTTP1Request
		for _, r := range c.h1 {
			if r.method == a.HTTP.Method && r.uri == a.target() {
				matching = append(matching, r)
			}
		}
		if len(matching) != 1 {
			return fmt.Errorf("tshark decoded %d requests %s %s on the connection (of %d), want 1", len(matching), a.HTTP.Method, a.target(), len(c.h1))
		}
		return diffNames(matching[0].headerNames, a.headerNames())
	}})
}

// http2Checks compares the connection's first SETTINGS, its WINDOW_UPDATE before the
// first HEADERS and the request's header names with tshark's frames.
func http2Checks(a echoAnswer, c *tsharkConn) []e2eCheck {
	need := func() error {
		if a.HTTP.Version != "HTTP/2.0" || a.HTTP2 == nil {
			return fmt.Errorf("tshark decoded HTTP/2 on the connection, the echo says %s (http2 section present: %v)", a.HTTP.Version, a.HTTP2 != nil)
		}
		return nil
	}
	return []e2eCheck{
		{"http2-settings", func() error {
			if err := need(); err != nil {
				return err
			}
			i := slices.IndexFunc(c.h2, func(f tsharkHTTP2Frame) bool { return f.typ == h2FrameSettings && f.flags&h2FlagAck == 0 })
			if i < 0 {
				return errors.New("tshark decoded no SETTINGS from the client")
			}
			var want, got []string
			for _, s := range c.h2[i].settings {
				want = append(want, fmt.Sprintf("%d:%d", s[0], s[1]))
			}
			for _, s := range a.HTTP2.Settings {
				got = append(got, fmt.Sprintf("%d:%d", s.ID, s.Value))
			}
			return diffNames(want, got)
		}},
		{"http2-window-update", func() error {
			if err := need(); err != nil {
				return err
			}
			var want uint32
			for _, f := range c.h2 {
				if f.typ == h2FrameHeaders {
					break
				}
				if f.typ == h2FrameWindowUpdate && f.streamID == 0 {
					want = f.increment
					break
				}
			}
			if a.HTTP2.WindowUpdate != want {
				return fmt.Errorf("tshark %d, echo %d", want, a.HTTP2.WindowUpdate)
			}
			return nil
		}},
		{"http2-headers", func() error {
			if err := need(); err != nil {
				return err
			}
			if a.Capture.StreamMatch != "exact" {
				return fmt.Errorf("stream_match %q: the echo did not find the request's record", a.Capture.StreamMatch)
			}
			i := slices.IndexFunc(c.h2, func(f tsharkHTTP2Frame) bool {
				return f.typ == h2FrameHeaders && f.streamID == a.HTTP2.StreamID
			})
			if i < 0 {
				return fmt.Errorf("tshark decoded no HEADERS on stream %d", a.HTTP2.StreamID)
			}
			hf := c.h2[i]
			if hf.header(":method") != a.HTTP.Method || hf.header(":path") != a.target() {
				return fmt.Errorf("stream %d is %s %s in tshark's decode, the echo answered %s %s on it",
					a.HTTP2.StreamID, hf.header(":method"), hf.header(":path"), a.HTTP.Method, a.target())
			}
			if err := diffNames(hf.headerNames(), a.headerNames()); err != nil {
				return fmt.Errorf("stream %d: %w", a.HTTP2.StreamID, err)
			}
			var pseudo []string
			for _, n := range hf.headerNames() {
				if strings.HasPrefix(n, ":") {
					pseudo = append(pseudo, n)
				}
			}
			if err := diffNames(pseudo, a.HTTP2.PseudoHeaderOrder); err != nil {
				return fmt.Errorf("stream %d pseudo_header_order: %w", a.HTTP2.StreamID, err)
			}
			return nil
		}},
	}
}

// diffNames compares tshark's list with the echo's, naming the first difference.
func diffNames(tshark, echo []string) error {
	if slices.Equal(tshark, echo) {
		return nil
	}
	i := 0
	for i < len(tshark) && i < len(echo) && tshark[i] == echo[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return strconv.Quote(l[i])
		}
		return "(end)"
	}
	return fmt.Errorf("first difference at #%d: tshark %s, echo %s\n  tshark %q\n  echo   %q", i, at(tshark), at(echo), tshark, echo)
}

// e2eResult is the outcome of one check.
type e2eResult struct {
	check string
	err   error
}

// e2eSummary keeps one line per answer for the closing table.
type e2eSummary struct {
	rows          []string
	passed, total int
	kinds         map[string]int // answers that passed every check, by transport
}

// add reports an answer's failed checks on t and adds its line.
func (s *e2eSummary) add(t *testing.T, answer, kind string, results []e2eResult) {
	t.Helper()
	status := "PASS"
	var names []string
	for _, r := range results {
		s.total++
		if r.err != nil {
			status = "FAIL"
			names = append(names, r.check+"=FAIL")
			t.Errorf("%s: %v", r.check, r.err)
			continue
		}
		s.passed++
		names = append(names, r.check)
	}
	if status == "PASS" {
		s.kinds[kind]++
	}
	s.rows = append(s.rows, fmt.Sprintf("%s %-36s %-7s %s", status, answer, kind, strings.Join(names, " ")))
}

func (s *e2eSummary) log(t *testing.T) {
	t.Helper()
	t.Logf("%d answers, %d of %d checks passed:\n%s", len(s.rows), s.passed, s.total, strings.Join(s.rows, "\n"))
}
