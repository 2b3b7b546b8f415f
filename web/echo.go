// Package web holds the HTTP handlers of the services. The echo handler
// answers any request with what the client sent: the request as received
// (header order and case from the wire), the TLS ClientHello, the HTTP/2
// connection preface, and every fingerprint.
package web

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"crypto/tls"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
)

// Report is the echo's JSON answer. Field names are a public interface.
type Report struct {
	Client       string       `json:"client"`
	HTTP         HTTPInfo     `json:"http"`
	TLS          *TLSInfo     `json:"tls,omitempty"`
	Fingerprints Fingerprints `json:"fingerprints"`
	HTTP2        *HTTP2Info   `json:"http2,omitempty"`
	Capture      CaptureInfo  `json:"capture"`
}

// HTTPInfo is the request as the client sent it.
type HTTPInfo struct {
	Version    string      `json:"version"`
	Method     string      `json:"method"`
	Scheme     string      `json:"scheme"`
	Authority  string      `json:"authority"`
	Path       string      `json:"path"`
	Query      string      `json:"query"`
	Headers    [][2]string `json:"headers"` // wire order and case (HTTP/2: pseudo-headers included)
	Body       string      `json:"body,omitempty"`
	BodyBase64 string      `json:"body_base64,omitempty"` // when the body is not UTF-8
	BodyLength int64       `json:"body_length"`
	BodyCut    bool        `json:"body_truncated,omitempty"`
}

// TLSInfo describes the handshake and the client's hello.
type TLSInfo struct {
	RecordVersion     string      `json:"record_version"`
	HandshakeVersion  string      `json:"handshake_version"`
	NegotiatedVersion string      `json:"negotiated_version"`
	NegotiatedCipher  string      `json:"negotiated_cipher"`
	SNI               string      `json:"sni"`
	ALPNOffered       []string    `json:"alpn_offered"`
	ALPNNegotiated    string      `json:"alpn_negotiated"`
	Resumed           bool        `json:"resumed"`
	CipherSuites      []CodePoint `json:"cipher_suites"`
	Extensions        []Extension `json:"extensions"`
	ClientHelloHex    string      `json:"client_hello_hex"` // the records as received
}

// CodePoint is a numbered value with its name; GREASE is marked.
type CodePoint struct {
	ID     uint16 `json:"id"`
	Name   string `json:"name"`
	GREASE bool   `json:"grease,omitempty"`
}

// Extension is one hello extension in wire order.
type Extension struct {
	CodePoint
	DataHex string `json:"data_hex"`
}

// Fingerprints are all the fingerprints of the request and its connection.
type Fingerprints struct {
	fingerprint.TLSFingerprints
	fingerprint.HTTPFingerprints
}

// HTTP2Info is what the client sent on the connection before this
// request's HEADERS.
type HTTP2Info struct {
	Settings          []Setting  `json:"settings"`
	WindowUpdate      uint32     `json:"window_update"`
	Priorities        []Priority `json:"priorities"`
	PseudoHeaderOrder []string   `json:"pseudo_header_order"`
	StreamID          uint32     `json:"stream_id"`
	Frames            []Frame    `json:"frames"`
}

// Setting is one SETTINGS parameter.
type Setting struct {
	ID    uint16 `json:"id"`
	Name  string `json:"name"`
	Value uint32 `json:"value"`
}

// Priority is one PRIORITY frame.
type Priority struct {
	StreamID  uint32 `json:"stream_id"`
	Exclusive bool   `json:"exclusive"`
	DependsOn uint32 `json:"depends_on"`
	Weight    uint16 `json:"weight"`
}

// Frame is one frame header, in the order received.
type Frame struct {
	Type     string `json:"type"`
	Flags    uint8  `json:"flags"`
	StreamID uint32 `json:"stream_id"`
	Length   int    `json:"length"`
}

// CaptureInfo says how the request's record was found.
type CaptureInfo struct {
	StreamMatch string                `json:"stream_match,omitempty"` // HTTP/2: exact, ambiguous, none
	Stopped     string                `json:"stopped,omitempty"`      // why recording ended early
	Anomalies   []fingerprint.Anomaly `json:"anomalies,omitempty"`
}

// EchoLimits bound what the echo reads of a request.
type EchoLimits struct {
	MaxBody int64
}

// Echo answers every request with its Report.
type Echo struct {
	Limits  EchoLimits
	Metrics *Metrics // optional
	page    *template.Template
}

// NewEcho returns an Echo with the given limits; metrics may be nil.
func NewEcho(lim EchoLimits, metrics *Metrics) *Echo {
	return &Echo{Limits: lim, Metrics: metrics, page: template.Must(template.New("echo").Parse(echoPageTemplate))}
}

// ServeHTTP implements http.Handler: JSON, or a page of the same data
// when the client prefers text/html.
func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep := e.Report(r)
	e.Metrics.observeReport(&rep, r.Proto, time.Since(start))
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		http.Error(w, "encoding the report failed", http.StatusInternalServerError)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Everything is escaped by html/template; nothing is loaded or run.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		e.page.Execute(w, struct {
			Report Report
			JSON   string
		}{rep, string(body)})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(append(body, '\n'))
}

// echoPageTemplate renders a report for people; html/template escapes
// every value.
const echoPageTemplate = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>What your client sent</title>
<h1>What your client sent</h1>
<dl>
<dt>HTTP</dt><dd>{{.Report.HTTP.Version}} {{.Report.HTTP.Method}} {{.Report.HTTP.Path}}</dd>
<dt>JA4</dt><dd>{{.Report.Fingerprints.JA4}}</dd>
<dt>JA3</dt><dd>{{.Report.Fingerprints.JA3Hash}}</dd>
<dt>JA4H</dt><dd>{{.Report.Fingerprints.JA4H}}</dd>
<dt>Akamai</dt><dd>{{.Report.Fingerprints.Akamai}}</dd>
<dt>PeetPrint</dt><dd>{{.Report.Fingerprints.PeetPrintHash}}</dd>
</dl>
<h2>Headers, in the order sent</h2>
<ol>{{range .Report.HTTP.Headers}}<li><code>{{index . 0}}: {{index . 1}}</code></li>{{end}}</ol>
<h2>Everything</h2>
<pre>{{.JSON}}</pre>
</html>
`

// Report builds the report of r from the connection's records.
func (e *Echo) Report(r *http.Request) Report {
	rep := Report{Client: r.RemoteAddr}
	body, n, cut := readBody(r.Body, e.Limits.MaxBody)
	rep.HTTP = HTTPInfo{Version: r.Proto, Method: r.Method, Authority: r.Host, Path: r.URL.Path,
		Query: r.URL.RawQuery, BodyLength: n, BodyCut: cut, Scheme: "http"}
	if utf8.Valid(body) {
		rep.HTTP.Body = string(body)
	} else {
		rep.HTTP.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	pc, ok := capture.PlainFromContext(r.Context())
	if !ok {
		return rep
	}
	if state := pc.TLS(); state != nil {
		rep.HTTP.Scheme = "https"
		rep.TLS = tlsInfo(pc, state)
		if fp, err := pc.Hello().Fingerprints(); err == nil {
			rep.Fingerprints.TLSFingerprints = fp
		}
	}
	var rec *fingerprint.HTTPRequest
	if r.ProtoMajor == 2 {
		var m capture.StreamMatch
		rec, m = pc.ClaimHTTP2(r)
		rep.Capture.StreamMatch = string(m)
	} else if head, ok := pc.ClaimHTTP1(r); ok {
		rec = head
	}
	if stopped, why := pc.Stopped(); stopped {
		rep.Capture.Stopped = why
	}
	if rec == nil {
		// Without the record, the order net/http kept is all there is.
		for name, values := range r.Header {
			for _, v := range values {
				rep.HTTP.Headers = append(rep.HTTP.Headers, [2]string{name, v})
			}
		}
		return rep
	}
	for _, h := range rec.Headers {
		rep.HTTP.Headers = append(rep.HTTP.Headers, [2]string{h.Name, h.Value})
	}
	rep.Capture.Anomalies = rec.Anomalies
	rep.Fingerprints.HTTPFingerprints = pc.Fingerprints(rec)
	if r.ProtoMajor == 2 {
		pc.WithHTTP2(func(c *fingerprint.HTTP2Conn) { rep.HTTP2 = http2Info(c, rec) })
	}
	return rep
}

// maxCountedBody bounds the body bytes read past MaxBody only to count them.
const maxCountedBody = 64 << 20

func readBody(r io.Reader, max int64) ([]byte, int64, bool) {
	if r == nil {
		return nil, 0, false
	}
	body, _ := io.ReadAll(io.LimitReader(r, max))
	// The rest is counted, up to a bound: a client cannot keep a handler
	// reading forever.
	rest, _ := io.CopyN(io.Discard, r, maxCountedBody)
	return body, int64(len(body)) + rest, rest > 0
}

func tlsInfo(pc *capture.PlainConn, state *tls.ConnectionState) *TLSInfo {
	info := &TLSInfo{NegotiatedVersion: tls.VersionName(state.Version), NegotiatedCipher: tls.CipherSuiteName(state.CipherSuite),
		ALPNNegotiated: state.NegotiatedProtocol, Resumed: state.DidResume, SNI: state.ServerName}
	ch, raw, err := pc.Hello().ClientHello()
	if err != nil {
		return info
	}
	info.RecordVersion = tls.VersionName(ch.RecordVersion)
	info.HandshakeVersion = tls.VersionName(ch.LegacyVersion)
	info.ALPNOffered = append([]string{}, ch.ALPN...)
	info.ClientHelloHex = hex.EncodeToString(raw)
	for _, c := range ch.CipherSuites {
		info.CipherSuites = append(info.CipherSuites, CodePoint{ID: uint16(c), Name: c.String(), GREASE: fingerprint.IsGREASE(uint16(c))})
	}
	for _, x := range ch.Extensions {
		info.Extensions = append(info.Extensions, Extension{CodePoint: CodePoint{ID: uint16(x.Type), Name: x.Type.String(),
			GREASE: x.GREASE()}, DataHex: hex.EncodeToString(x.Data)})
	}
	return info
}

func http2Info(c *fingerprint.HTTP2Conn, rec *fingerprint.HTTPRequest) *HTTP2Info {
	info := &HTTP2Info{StreamID: rec.StreamID, PseudoHeaderOrder: rec.PseudoHeaderOrder()}
	if len(c.Settings) > 0 {
		for _, s := range c.Settings[0].Settings {
			info.Settings = append(info.Settings, Setting{ID: uint16(s.ID), Name: s.ID.String(), Value: s.Value})
		}
	}
	for _, w := range c.WindowUpdates {
		if w.StreamID == 0 && (c.FirstHeaders < 0 || w.Frame < c.FirstHeaders) {
			info.WindowUpdate = w.Increment
			break
		}
	}
	for _, p := range c.Priorities {
		if c.FirstHeaders < 0 || p.Frame < c.FirstHeaders {
			info.Priorities = append(info.Priorities, Priority{StreamID: p.StreamID, Exclusive: p.Exclusive, DependsOn: p.DependsOn, Weight: p.Weight})
		}
	}
	for _, f := range c.Frames {
		if f.Offset > rec.Offset {
			break
		}
		info.Frames = append(info.Frames, Frame{Type: f.Type.String(), Flags: f.Flags, StreamID: f.StreamID, Length: f.Length})
	}
	return info
}
