package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fpwork/fp/internal/oracle"
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
// The decoding and the JA4 oracle are internal/oracle's, shared with cmd/fp's browser test.
func TestEndToEndAgainstTshark(t *testing.T) {
	dir := os.Getenv("FP_ECHO_E2E_DIR")
	if dir == "" {
		t.Skip("FP_ECHO_E2E_DIR is not set; scripts/echo-e2e.sh runs the clients and sets it")
	}
	run := loadE2ERun(t, dir)
	if err := oracle.Missing(); err != nil {
		t.Fatal(err)
	}
	capture, err := oracle.Decode(run.pcap(), oracle.DecodeOptions{
		TLSPorts: []string{run.httpsPort}, H2CPorts: []string{run.httpPort}, KeyLog: run.keylog()})
	if err != nil {
		t.Fatal(err)
	}

	answers := map[string]echoAnswer{}
	conn := map[string]*oracle.Conn{}
	lookupErrs := map[string]error{}
	for _, name := range run.expected {
		a, err := loadAnswer(filepath.Join(dir, "answers"), name)
		if err != nil {
			lookupErrs[name] = err
			continue
		}
		answers[name] = a
		c, err := byClient(capture, a.Client, a.TLS != nil)
		if err != nil {
			lookupErrs[name] = err
			continue
		}
		conn[name] = c
	}
	var used []*oracle.Conn
	for _, c := range conn {
		used = append(used, c)
	}
	ja4, err := oracle.JA4(run.pcap(), used)
	if err != nil {
		t.Fatal(err)
	}

	summary := &e2eSummary{kinds: map[string]int{}}
	for _, name := range run.expected {
		t.Run(name, func(t *testing.T) {
			if err := lookupErrs[name]; err != nil {
				summary.add(t, name, "-", []e2eResult{{"answer+connection", err}})
				return
			}
			a, c := answers[name], conn[name]
			var results []e2eResult
			for _, check := range e2eChecks(a, c, ja4[c.Stream]) {
				results = append(results, e2eResult{check.name, check.run()})
			}
			summary.add(t, name, kind(c), results)
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

// kind names the connection's transport: tls+h2, tls+h1, h2c or h1.
func kind(c *oracle.Conn) string {
	proto := "h1"
	if len(c.HTTP2) > 0 {
		proto = "h2"
	}
	if c.TLS {
		return "tls+" + proto
	}
	if proto == "h2" {
		return "h2c"
	}
	return proto
}

// byClient finds the connection of an answer by the echo's "client"
// address and whether the answer came over TLS: the kernel may give two
// connections to different ports of the echo the same client port.
func byClient(capture *oracle.Capture, client string, overTLS bool) (*oracle.Conn, error) {
	host, port, err := net.SplitHostPort(client)
	if err != nil || host != "127.0.0.1" {
		return nil, fmt.Errorf("the echo's client %q is not a 127.0.0.1 address", client)
	}
	found := slices.DeleteFunc(capture.ByClientPort(port), func(c *oracle.Conn) bool { return c.TLS != overTLS })
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("tshark decoded no connection from port %s (the echo's client %s, TLS %v)", port, client, overTLS)
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("port %s was used by %d connections in the capture: which one is the answer's is not known", port, len(found))
	}
}

// e2eCheck is one comparison of an answer with the oracles.
type e2eCheck struct {
	name string
	run  func() error
}

// e2eChecks lists the comparisons for an answer on connection c; ja4 is the npm
// oracle's JA4 of its ClientHello.
func e2eChecks(a echoAnswer, c *oracle.Conn, ja4 string) []e2eCheck {
	var checks []e2eCheck
	if c.TLS {
		checks = append(checks,
			e2eCheck{"ja3", func() error {
				if a.TLS == nil {
					return errors.New("the echo reports no TLS on its HTTPS port")
				}
				if len(c.JA3Full) == 0 || len(c.JA3) == 0 {
					return errors.New("tshark found no ClientHello on the connection")
				}
				if a.Fingerprints.JA3 != c.JA3Full[0] || a.Fingerprints.JA3Hash != c.JA3[0] {
					return fmt.Errorf("\n  tshark ja3_full %s\n  echo   ja3      %s\n  tshark ja3 %s, echo ja3_hash %s (tshark saw %d hello(s))",
						c.JA3Full[0], a.Fingerprints.JA3, c.JA3[0], a.Fingerprints.JA3Hash, len(c.JA3))
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
			if a.TLS != nil || len(c.JA3) > 0 {
				return fmt.Errorf("a plain connection: echo tls %v, tshark hellos %d", a.TLS != nil, len(c.JA3))
			}
			return nil
		}})
	}
	if len(c.HTTP2) > 0 {
		return append(checks, http2Checks(a, c)...)
	}
	return append(checks, e2eCheck{"http1-headers", func() error {
		if a.HTTP.Version != "HTTP/1.1" && a.HTTP.Version != "HTTP/1.0" {
			return fmt.Errorf("tshark decoded HTTP/1 on the connection, the echo says %s", a.HTTP.Version)
		}
		matching := c.HTTP1Requests(a.HTTP.Method, a.target())
		if len(matching) != 1 {
			return fmt.Errorf("tshark decoded %d requests %s %s on the connection (of %d), want 1", len(matching), a.HTTP.Method, a.target(), len(c.HTTP1))
		}
		return oracle.DiffNames(matching[0].HeaderNames, a.headerNames())
	}})
}

// http2Checks compares the connection's first SETTINGS, its WINDOW_UPDATE before the
// first HEADERS and the request's header names with tshark's frames.
func http2Checks(a echoAnswer, c *oracle.Conn) []e2eCheck {
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
			settings, ok := c.FirstSettings()
			if !ok {
				return errors.New("tshark decoded no SETTINGS from the client")
			}
			var want, got []string
			for _, s := range settings {
				want = append(want, fmt.Sprintf("%d:%d", s[0], s[1]))
			}
			for _, s := range a.HTTP2.Settings {
				got = append(got, fmt.Sprintf("%d:%d", s.ID, s.Value))
			}
			return oracle.DiffNames(want, got)
		}},
		{"http2-window-update", func() error {
			if err := need(); err != nil {
				return err
			}
			if want := c.WindowUpdateBeforeHeaders(); a.HTTP2.WindowUpdate != want {
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
			hf, ok := c.HeadersOn(a.HTTP2.StreamID)
			if !ok {
				return fmt.Errorf("tshark decoded no HEADERS on stream %d", a.HTTP2.StreamID)
			}
			if hf.Header(":method") != a.HTTP.Method || hf.Header(":path") != a.target() {
				return fmt.Errorf("stream %d is %s %s in tshark's decode, the echo answered %s %s on it",
					a.HTTP2.StreamID, hf.Header(":method"), hf.Header(":path"), a.HTTP.Method, a.target())
			}
			if err := oracle.DiffNames(hf.HeaderNames(), a.headerNames()); err != nil {
				return fmt.Errorf("stream %d: %w", a.HTTP2.StreamID, err)
			}
			var pseudo []string
			for _, n := range hf.HeaderNames() {
				if strings.HasPrefix(n, ":") {
					pseudo = append(pseudo, n)
				}
			}
			if err := oracle.DiffNames(pseudo, a.HTTP2.PseudoHeaderOrder); err != nil {
				return fmt.Errorf("stream %d pseudo_header_order: %w", a.HTTP2.StreamID, err)
			}
			return nil
		}},
	}
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
