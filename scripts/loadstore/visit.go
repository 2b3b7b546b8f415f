package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/storage"
)

// jsFS holds chromium-js-values.json: the JavaScript values the fp page's
// script reports (navigator with userAgentData's high-entropy values,
// screen, timezone), as Chrome 149 on Linux gives them.
//
//go:embed chromium-js-values.json
var jsFS embed.FS

// Where the inputs are, relative to the module root (the working
// directory of scripts/bench-storage.sh).
const (
	defaultGolden   = "fingerprint/testdata/golden/chromium-156-linux.txtar"
	defaultProfiles = "storage/testdata/rama-ua-profiles.json"
	// defaultAgent is the rama profile of a desktop Chrome on Linux.
	defaultAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
)

// chromium is what a real Chromium visit is built from: the connection of
// a golden capture (its ClientHello, PSK zeroed, and HTTP/2 preface), the
// header lists a real Chrome sent per request context (rama's profile,
// over HTTP/2 and over HTTP/1.1), and the JavaScript values of the page.
type chromium struct {
	hello       []byte
	preface     []byte   // the client's HTTP/2 stream before its first HEADERS
	pseudo      []string // pseudo-header order of the first HEADERS
	tlsVersion  uint16
	cipherSuite uint16
	h2Derived   storage.ConnectionFingerprints // of the HTTP/2 connection
	h1Derived   storage.ConnectionFingerprints // of a connection without HTTP/2 (the websocket's)
	// h2 and h1 are the header lists per context in wire order and case:
	// h2 without pseudo-headers, h1 with Host.
	h2, h1 map[storage.RequestKind][]fingerprint.Header
	agent  storage.UserAgent
	js     json.RawMessage // compact
}

// loadChromium reads the golden capture and the rama profile of agent.
func loadChromium(goldenPath, profilesPath, agent string) (*chromium, error) {
	g, err := golden.Read(goldenPath)
	if err != nil {
		return nil, fmt.Errorf("loadstore: %w", err)
	}
	c := &chromium{}
	raw, err := g.Hex("hello.hex")
	if err != nil || raw == nil {
		return nil, fmt.Errorf("loadstore: %s: hello.hex: %v", goldenPath, err)
	}
	if c.hello, err = fingerprint.RedactPSK(raw); err != nil {
		return nil, fmt.Errorf("loadstore: %s: %w", goldenPath, err)
	}
	negotiated := regexp.MustCompile(`negotiated ALPN h2, version 0x([0-9a-f]{4}), cipher 0x([0-9a-f]{4})`)
	m := negotiated.FindStringSubmatch(g.Comment)
	if m == nil {
		return nil, fmt.Errorf("loadstore: %s: not an HTTP/2 connection (no negotiated ALPN h2 line)", goldenPath)
	}
	v, _ := strconv.ParseUint(m[1], 16, 16)
	cs, _ := strconv.ParseUint(m[2], 16, 16)
	c.tlsVersion, c.cipherSuite = uint16(v), uint16(cs)
	stream, err := g.Hex("http2.hex")
	if err != nil || stream == nil {
		return nil, fmt.Errorf("loadstore: %s: http2.hex: %v", goldenPath, err)
	}
	h2, err := fingerprint.ParseHTTP2Client(stream, fingerprint.DefaultHTTP2Limits())
	if err != nil || h2.FirstHeaders < 0 || h2.First == nil {
		return nil, fmt.Errorf("loadstore: %s: http2.hex: no HEADERS frame (%v)", goldenPath, err)
	}
	c.preface = stream[:h2.Frames[h2.FirstHeaders].Offset]
	c.pseudo = h2.First.PseudoHeaderOrder()
	if c.h2Derived, err = storage.DeriveConnection(c.connection("", time.Time{}, true)); err != nil {
		return nil, err
	}
	if c.h1Derived, err = storage.DeriveConnection(c.connection("", time.Time{}, false)); err != nil {
		return nil, err
	}
	if err := c.readProfile(profilesPath, agent); err != nil {
		return nil, err
	}
	values, err := jsFS.ReadFile("chromium-js-values.json")
	if err != nil {
		return nil, fmt.Errorf("loadstore: %w", err)
	}
	var js bytes.Buffer
	if err := json.Compact(&js, values); err != nil {
		return nil, fmt.Errorf("loadstore: chromium-js-values.json: %w", err)
	}
	c.js = js.Bytes()
	return c, nil
}

// readProfile reads the header lists of agent's rama profile.
func (c *chromium) readProfile(path, agent string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("loadstore: %w", err)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return fmt.Errorf("loadstore: %s: %w", path, err)
	}
	suffixes := map[storage.RequestKind]string{storage.KindNavigate: "navigate", storage.KindFetch: "fetch",
		storage.KindXHR: "xhr", storage.KindForm: "form", storage.KindWebsocket: "ws"}
	for _, row := range rows {
		var ua string
		if json.Unmarshal(row["uastr"], &ua) != nil || ua != agent {
			continue
		}
		c.h2, c.h1 = map[storage.RequestKind][]fingerprint.Header{}, map[storage.RequestKind][]fingerprint.Header{}
		for kind, suffix := range suffixes {
			var l2, l1 [][2]string
			if json.Unmarshal(row["h2_headers_"+suffix], &l2) != nil || json.Unmarshal(row["h1_headers_"+suffix], &l1) != nil {
				return fmt.Errorf("loadstore: %s: %s: bad %s header lists", path, agent, suffix)
			}
			c.h2[kind], c.h1[kind] = headerList(l2), headerList(l1)
		}
		c.agent = storage.ParseUserAgent(agent)
		return nil
	}
	return fmt.Errorf("loadstore: %s: no profile of %q", path, agent)
}

func headerList(pairs [][2]string) []fingerprint.Header {
	out := make([]fingerprint.Header, len(pairs))
	for i, p := range pairs {
		out[i] = fingerprint.Header{Name: p[0], Value: p[1]}
	}
	return out
}

// connection is a connection that sent the golden's hello: its HTTP/2
// connection (with the preface) or, http2 false, one negotiating
// HTTP/1.1 (a websocket's). Hello and preface are shared, not copied.
func (c *chromium) connection(id storage.ConnectionID, at time.Time, http2 bool) *storage.Connection {
	conn := &storage.Connection{ID: id, At: at, Transport: fingerprint.TransportTCP, ALPN: "http/1.1",
		TLSVersion: c.tlsVersion, CipherSuite: c.cipherSuite, Hello: c.hello, Derived: c.h1Derived}
	if http2 {
		conn.ALPN, conn.HTTP2Preface, conn.PseudoHeaderOrder, conn.Derived = "h2", c.preface, c.pseudo, c.h2Derived
	}
	return conn
}

// The fp page's paths per request context, and its cookies: consent and
// the visit id.
func requestLine(kind storage.RequestKind) (method, path string) {
	switch kind {
	case storage.KindFetch:
		return "POST", "/api/fetch"
	case storage.KindXHR:
		return "POST", "/api/xhr"
	case storage.KindForm:
		return "POST", "/form"
	case storage.KindWebsocket:
		return "GET", "/api/ws"
	}
	return "GET", "/report"
}

// kindOfPath is the request context of a path of the page; false for
// others.
func kindOfPath(path string) (storage.RequestKind, bool) {
	for _, k := range storage.Kinds() {
		if _, p := requestLine(k); p == path {
			return k, true
		}
	}
	return "", false
}

const visitCookie = "fp_visit"

func cookieValue(visit storage.VisitID) string {
	return "fp_consent=yes; " + visitCookie + "=" + string(visit)
}

// xhrBody and formBody are what the page's XHR and form send.
const (
	xhrBody  = `{"xhr":"ping"}`
	formBody = "field=form-value&submit=Send"
)

// bodyOf is the body of a context's request: the JavaScript values on the
// fetch.
func (c *chromium) bodyOf(kind storage.RequestKind) []byte {
	switch kind {
	case storage.KindFetch:
		return c.js
	case storage.KindXHR:
		return []byte(xhrBody)
	case storage.KindForm:
		return []byte(formBody)
	}
	return nil
}

// sentHeaders is a context's header list as Chrome sends it to the page
// (HTTP/2: pseudo-headers first, in the golden's order), with the page's
// cookies, authority and body length.
func (c *chromium) sentHeaders(kind storage.RequestKind, http2 bool, authority string, visit storage.VisitID) []fingerprint.Header {
	method, path := requestLine(kind)
	list := c.h1[kind]
	var out []fingerprint.Header
	if http2 {
		list = c.h2[kind]
		values := map[string]string{":method": method, ":authority": authority, ":scheme": "https", ":path": path}
		for _, name := range c.pseudo {
			out = append(out, fingerprint.Header{Name: name, Value: values[name]})
		}
	}
	body := c.bodyOf(kind)
	for _, h := range list {
		switch strings.ToLower(h.Name) {
		case "cookie":
			h.Value = cookieValue(visit)
		case "host":
			h.Value = authority
		case "content-length":
			h.Value = strconv.Itoa(len(body))
		}
		out = append(out, h)
	}
	if kind == storage.KindForm && len(body) > 0 && !hasHeader(out, "content-length") {
		// rama's form list is the navigation's (a GET); the page's form
		// is POSTed.
		out = append(out, fingerprint.Header{Name: "content-type", Value: "application/x-www-form-urlencoded"},
			fingerprint.Header{Name: "content-length", Value: strconv.Itoa(len(body))})
		if !http2 {
			out[len(out)-2].Name, out[len(out)-1].Name = "Content-Type", "Content-Length"
		}
	}
	return out
}

func hasHeader(hs []fingerprint.Header, name string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// visitBatch is one complete Chromium visit as the page stores it: the
// visit, its HTTP/2 connection and its websocket's HTTP/1.1 connection,
// and one observation per context, each derived (DeriveRequest) from the
// headers as sent and stored redacted (Redact), the JavaScript values on
// the fetch. Every row is at now.
func (c *chromium) visitBatch(random io.Reader, now time.Time) (*storage.Batch, error) {
	ids := make([]storage.ID, 3+len(storage.Kinds()))
	for i := range ids {
		id, err := storage.NewID(random)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	visit := storage.VisitID(ids[0])
	b := &storage.Batch{
		Visits:       []storage.Visit{{ID: visit, Start: now}},
		Connections:  []storage.Connection{*c.connection(storage.ConnectionID(ids[1]), now, true), *c.connection(storage.ConnectionID(ids[2]), now, false)},
		Observations: make([]storage.Observation, 0, len(storage.Kinds())),
	}
	for i, kind := range storage.Kinds() {
		http2 := kind != storage.KindWebsocket
		conn, version, httpVersion := b.Connections[0].ID, fingerprint.HTTP2, "HTTP/2"
		if !http2 {
			conn, version, httpVersion = b.Connections[1].ID, fingerprint.HTTP11, "HTTP/1.1"
		}
		method, path := requestLine(kind)
		sent := c.sentHeaders(kind, http2, "fp.example", visit)
		o := storage.Observation{ID: storage.ObservationID(ids[3+i]), VisitID: visit, ConnectionID: conn, At: now,
			Kind: kind, HTTPVersion: httpVersion, Method: method, Path: path, UserAgent: c.agent,
			Derived: storage.DeriveRequest(&fingerprint.HTTPRequest{Version: version, Method: method, Target: path, Headers: sent}),
			Headers: storage.Redact(sent)}
		if kind == storage.KindFetch {
			o.JS = c.js
		}
		b.Observations = append(b.Observations, o)
	}
	return b, nil
}

// storedSize is a rough size of what a batch stores: raw bytes, header
// names and values, JavaScript values and fingerprint strings (not the
// database's own overhead).
func storedSize(b *storage.Batch) int {
	n := 0
	for _, c := range b.Connections {
		d := c.Derived
		n += len(c.Hello) + len(c.HTTP2Preface) + len(d.TLS.JA3) + len(d.TLS.JA3N) + len(d.TLS.JA4R) + len(d.TLS.JA4O) +
			len(d.TLS.JA4RO) + len(d.TLS.PeetPrint) + len(d.Akamai) + 5*32
	}
	for _, o := range b.Observations {
		for _, h := range o.Headers {
			n += len(h.Name) + len(h.Value)
		}
		n += len(o.JS) + len(o.UserAgent.Raw) + len(o.Derived.JA4H) + len(o.Derived.JA4HR) + len(o.Derived.JA4HRO)
	}
	return n
}
