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
	"slices"
	"strconv"
	"strings"
	"sync"
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
	TLS          *TLSInfo     `json:"tls,omitempty"` // in the echo's reports, shared by a connection's: read only
	Fingerprints Fingerprints `json:"fingerprints"`
	HTTP2        *HTTP2Info   `json:"http2,omitempty"`
	Capture      CaptureInfo  `json:"capture"`
	// Curl is a curl command line that repeats the request as far as curl
	// can; CurlNotes says what it cannot repeat.
	Curl      string   `json:"curl"`
	CurlNotes []string `json:"curl_notes"`

	// conn is the connection's part of the report, shared by the reports
	// of all its requests, when the report is the echo's: TLS points to
	// its TLSInfo, and AppendJSON copies its encoding.
	conn *connReport
}

// connReport is what the reports of a connection's requests have in
// common: the TLS section and the TLS fingerprints, built once per
// connection (capture.PlainConn.Memo) and then only read: the reports of
// the connection share the *TLSInfo. A connection's first answer encodes
// them with the rest of the report; from its second request on they are
// kept encoded (encode), and each answer copies them.
type connReport struct {
	tls              *TLSInfo
	fingerprints     fingerprint.TLSFingerprints
	tlsJSON          []byte // tls as json.Marshal encodes it, once encoded
	fingerprintsJSON []byte // the members of fingerprints, without braces, once encoded

	trackMeOnce sync.Once
	trackMe     *TrackMeTLS // /api/all's TLS section, built by the first request that asks
}

// newConnReport returns a connection's part of its reports.
func newConnReport(info *TLSInfo, fp fingerprint.TLSFingerprints) *connReport {
	return &connReport{tls: info, fingerprints: fp}
}

// encode keeps c's sections encoded, for the connection's later answers
// to copy. It runs before c is shared.
func (c *connReport) encode() {
	// The hello's bytes are in the section twice in hex, as a whole and
	// extension by extension, next to some 50 bytes for each named value.
	c.tlsJSON = c.tls.AppendJSON(make([]byte, 0, 4*len(c.tls.ClientHelloHex)+64*len(c.tls.CipherSuites)+4096))
	fp := &c.fingerprints
	long := len(fp.JA3) + len(fp.JA3N) + len(fp.JA4R) + len(fp.JA4RO) + len(fp.PeetPrint) // the rest is short
	c.fingerprintsJSON = appendTLSFingerprintMembers(make([]byte, 0, long+512), fp)
}

// trackMeTLS returns /api/all's TLS section of the connection, built by
// build on the first call.
func (c *connReport) trackMeTLS(build func() *TrackMeTLS) *TrackMeTLS {
	c.trackMeOnce.Do(func() { c.trackMe = build() })
	return c.trackMe
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
	ClientHelloHex    HexBytes    `json:"client_hello_hex"` // the records as received
}

// CodePoint is a numbered value with its name; GREASE is marked.
type CodePoint struct {
	ID     uint16 `json:"id"`
	Name   string `json:"name"`
	GREASE bool   `json:"grease,omitempty"`
}

// HexBytes are bytes that JSON and text show in lower-case hex. In a
// report they are the recorded hello's own bytes, which are never changed
// after the recording: a report shares them rather than copying them.
type HexBytes []byte

// MarshalText returns h in hex: JSON encodes it as a string.
func (h HexBytes) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

// UnmarshalText reads hex: a report decodes into a Report.
func (h *HexBytes) UnmarshalText(text []byte) error {
	b, err := hex.AppendDecode(nil, text) // never into the bytes h held: they may be a hello's
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// String returns h in hex.
func (h HexBytes) String() string { return hex.EncodeToString(h) }

// Extension is one hello extension in wire order.
type Extension struct {
	CodePoint
	DataHex HexBytes `json:"data_hex"`
	// Data is the decoded body, for the types fingerprint.ClientHello
	// decodes. It is absent for other types, for a repeated extension (only
	// the first of a type is decoded) and for one that did not decode (see
	// the hello's anomalies).
	Data *ExtensionData `json:"data,omitempty"`
}

// ExtensionData is the decoded body of one extension: only the fields of
// its type are present (a list the client sent empty prints as []).
type ExtensionData struct {
	ServerName          *string     `json:"server_name,omitzero"`          // server_name (0): the host_name entry
	StatusType          *CodePoint  `json:"status_type,omitzero"`          // status_request (5)
	Groups              []CodePoint `json:"groups,omitzero"`               // supported_groups (10)
	PointFormats        []CodePoint `json:"point_formats,omitzero"`        // ec_point_formats (11)
	SignatureAlgorithms []CodePoint `json:"signature_algorithms,omitzero"` // signature_algorithms (13), signature_algorithms_cert (50), delegated_credentials (34)
	Protocols           []string    `json:"protocols,omitzero"`            // ALPN (16), application_settings (17513, 17613)
	Versions            []CodePoint `json:"versions,omitzero"`             // supported_versions (43)
	PSKModes            []CodePoint `json:"psk_key_exchange_modes,omitzero"`
	KeyShares           []KeyShare  `json:"key_shares,omitzero"`                  // key_share (51)
	CertCompression     []CodePoint `json:"cert_compression_algorithms,omitzero"` // compress_certificate (27)
	RecordSizeLimit     *uint16     `json:"record_size_limit,omitzero"`           // record_size_limit (28)
	PSKIdentities       *int        `json:"psk_identities,omitzero"`              // pre_shared_key (41): number of identities
	ECH                 *ECH        `json:"ech,omitzero"`                         // encrypted_client_hello (65037)
	QUICParameters      []QUICParam `json:"quic_transport_parameters,omitzero"`   // 57, 65445
	// Length is the body length of padding (21), and the length of the
	// ticket of session_ticket (35) and of the cookie of cookie (44).
	Length *int `json:"length,omitzero"`
}

// KeyShare is one key_share entry: its group and the length of its key.
type KeyShare struct {
	Group     CodePoint `json:"group"`
	KeyLength int       `json:"key_length"`
}

// ECH is an encrypted_client_hello extension: an outer one's HPKE suite,
// config id and lengths, or an inner one's type byte alone.
type ECH struct {
	Type          string     `json:"type"` // outer, inner or UNKNOWN_<n>
	KDF           *CodePoint `json:"kdf,omitempty"`
	AEAD          *CodePoint `json:"aead,omitempty"`
	ConfigID      *uint8     `json:"config_id,omitempty"`
	EncLength     int        `json:"enc_length,omitempty"`
	PayloadLength int        `json:"payload_length,omitempty"`
}

// QUICParam is one QUIC transport parameter.
type QUICParam struct {
	ID       uint64   `json:"id"`
	ValueHex HexBytes `json:"value_hex"`
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
	StreamMatch string                `json:"stream_match,omitempty"` // HTTP/2: exact, ambiguous, none, upgrade
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
	answers sync.Pool // of *[]byte: buffers for the JSON answers
}

// NewEcho returns an Echo with the given limits; metrics may be nil.
func NewEcho(lim EchoLimits, metrics *Metrics) *Echo {
	return &Echo{Limits: lim, Metrics: metrics, page: template.Must(template.New("echo").Parse(echoPageTemplate))}
}

// maxPooledAnswer bounds the buffers kept for reuse: a large body's
// answer does not stay in memory.
const maxPooledAnswer = 64 << 10

// ServeHTTP implements http.Handler: JSON, or a page of the same data
// when the client prefers text/html.
func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep := e.Report(r)
	e.Metrics.observeReport(&rep, r.Proto, time.Since(start))
	html := strings.Contains(r.Header.Get("Accept"), "text/html")
	if html || (r.URL.RawQuery != "" && r.URL.Query().Has("pretty")) {
		// Indented for people: ?pretty, or the page.
		e.servePretty(w, rep, html)
		return
	}
	buf, _ := e.answers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	body := append(rep.AppendJSON((*buf)[:0]), '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	// With its length known, HTTP/1.1 sends the answer as it is, not in
	// chunks (net/http chunks a body larger than its 2 KB buffer).
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	// Held, the head and the answer leave in one write (HTTP/1 only).
	if pc, ok := capture.PlainFromContext(r.Context()); ok && r.ProtoMajor == 1 {
		pc.HoldWrites()
		defer func() {
			http.NewResponseController(w).Flush()
			pc.ReleaseWrites()
		}()
	}
	// The buffer is reused only after a write that succeeded: an HTTP/2
	// write that failed (the stream was reset) may leave a DATA frame
	// queued that still points into it.
	if _, err := w.Write(body); err == nil && cap(body) <= maxPooledAnswer {
		*buf = body
		e.answers.Put(buf)
	}
}

// servePretty answers with rep indented, as JSON or in the page. rep is
// a copy: the page keeps a pointer to it, which would move the caller's
// report to the heap on every request.
func (e *Echo) servePretty(w http.ResponseWriter, rep Report, html bool) {
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		http.Error(w, "encoding the report failed", http.StatusInternalServerError)
		return
	}
	if html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Everything is escaped by html/template; nothing is loaded or run.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		e.page.Execute(w, struct {
			Report *Report
			JSON   string
		}{&rep, string(body)})
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
	rep, _ := e.report(r)
	return rep
}

// report is Report that also returns the request's capture record, nil
// when there is none.
func (e *Echo) report(r *http.Request) (Report, *fingerprint.HTTPRequest) {
	rep := Report{Client: r.RemoteAddr}
	body, n, cut := readBody(r.Body, e.Limits.MaxBody)
	rep.HTTP = HTTPInfo{Version: r.Proto, Method: r.Method, Authority: r.Host, Path: r.URL.Path,
		Query: r.URL.RawQuery, BodyLength: n, BodyCut: cut, Scheme: "http"}
	if utf8.Valid(body) {
		rep.HTTP.Body = string(body)
	} else {
		rep.HTTP.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	rec := fromRecords(&rep, r)
	if rec == nil {
		// Without the record, the order net/http kept is all there is.
		rep.HTTP.Headers = headersOf(r.Header)
	}
	rep.Curl, rep.CurlNotes = CurlCommand(&rep.HTTP, r.RequestURI, rec != nil)
	return rep, rec
}

// headersOf lists h's fields, names sorted (net/http keeps no order), each
// name's values in order; nil when h is empty.
func headersOf(h http.Header) [][2]string {
	n := 0
	names := make([]string, 0, len(h))
	for name, values := range h {
		names = append(names, name)
		n += len(values)
	}
	if n == 0 {
		return nil
	}
	slices.Sort(names)
	out := make([][2]string, 0, n)
	for _, name := range names {
		for _, v := range h[name] {
			out = append(out, [2]string{name, v})
		}
	}
	return out
}

// fromRecords fills rep from the connection's capture records and returns
// the request's record, nil when there is none.
func fromRecords(rep *Report, r *http.Request) *fingerprint.HTTPRequest {
	pc, ok := capture.PlainFromContext(r.Context())
	if !ok {
		return nil
	}
	if state := pc.TLS(); state != nil {
		rep.HTTP.Scheme = "https"
		c := connReportOf(pc, state)
		rep.TLS, rep.Fingerprints.TLSFingerprints, rep.conn = c.tls, c.fingerprints, c
	}
	var rec *fingerprint.HTTPRequest
	var m capture.StreamMatch
	if c, ok := capture.ClaimedFor(r); ok {
		rec, m = c.Record, c.Match
	} else if r.ProtoMajor == 2 {
		rec, m = pc.ClaimHTTP2(r)
	} else {
		rec, _ = pc.ClaimHTTP1(r)
	}
	rep.Capture.StreamMatch = string(m)
	if r.ProtoMajor == 1 && rec != nil && H2CUpgraded(r) {
		m = capture.MatchUpgrade
		rep.Capture.StreamMatch = string(m)
	}
	if stopped, why := pc.Stopped(); stopped {
		rep.Capture.Stopped = why
	}
	if rec == nil {
		return nil
	}
	rep.HTTP.Headers = recordHeaders(rec)
	rep.Capture.Anomalies = rec.Anomalies
	rep.Fingerprints.HTTPFingerprints = pc.Fingerprints(rec)
	switch {
	case m == capture.MatchUpgrade:
		// Sent as HTTP/1.1, before the HTTP/2 connection it asked for: no
		// Akamai fingerprint.
		rep.Fingerprints.Akamai, rep.Fingerprints.AkamaiHash = "", ""
		rep.HTTP2 = upgradeHTTP2Info(rec)
	case r.ProtoMajor == 2:
		pc.WithHTTP2(func(c *fingerprint.HTTP2Conn) { rep.HTTP2 = http2Info(c, rec) })
	}
	return rec
}

// connReportOf returns the connection's part of its reports. The first
// request builds it for itself; the second builds it again and the
// connection keeps it for the rest. A connection that serves one request
// (most fingerprint checks) so keeps nothing: its TLS section, a few KiB,
// would otherwise stay as long as the connection idles.
func connReportOf(pc *capture.PlainConn, state *tls.ConnectionState) *connReport {
	build := func() *connReport {
		ch, raw, err := pc.Hello().ClientHello()
		fp, _ := pc.Hello().Fingerprints() // zero when there is no hello
		return newConnReport(tlsInfo(state, ch, raw, err), fp)
	}
	cache, ok := pc.Memo(func() any { return new(connReportCache) }).(*connReportCache)
	if !ok {
		return build() // another handler keeps something else there
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.kept != nil {
		return cache.kept
	}
	c := build()
	if cache.served {
		c.encode()
		cache.kept = c
	}
	cache.served = true
	return c
}

// connReportCache holds a connection's connReport from its second request
// on.
type connReportCache struct {
	mu     sync.Mutex
	served bool // a request has been served
	kept   *connReport
}

// recordHeaders lists a record's headers in wire order; nil when it has
// none.
func recordHeaders(rec *fingerprint.HTTPRequest) [][2]string {
	if len(rec.Headers) == 0 {
		return nil
	}
	out := make([][2]string, len(rec.Headers))
	for i, h := range rec.Headers {
		out[i] = [2]string{h.Name, h.Value}
	}
	return out
}

// upgradeHTTP2Info is the HTTP/2 section of an HTTP/1.1 request that
// asked for the h2c upgrade: the settings are those of its HTTP2-Settings
// header (RFC 7540 section 3.2.1), the stream is 1.
func upgradeHTTP2Info(rec *fingerprint.HTTPRequest) *HTTP2Info {
	info := &HTTP2Info{StreamID: 1}
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Name, "HTTP2-Settings") {
			settings, _ := fingerprint.ParseHTTP2SettingsHeader(h.Value)
			for _, s := range settings {
				info.Settings = append(info.Settings, Setting{ID: uint16(s.ID), Name: s.ID.String(), Value: s.Value})
			}
		}
	}
	return info
}

// maxCountedBody bounds the body bytes read past MaxBody only to count them.
const maxCountedBody = 64 << 20

func readBody(r io.Reader, max int64) ([]byte, int64, bool) {
	if r == nil || r == http.NoBody {
		return nil, 0, false
	}
	body, _ := io.ReadAll(io.LimitReader(r, max))
	// The rest is counted, up to a bound: a client cannot keep a handler
	// reading forever.
	rest, _ := io.CopyN(io.Discard, r, maxCountedBody)
	return body, int64(len(body)) + rest, rest > 0
}

// tlsInfo is the TLS section of a connection's reports: its handshake's
// state and the hello ch with its raw records, or what stopped its
// recording (err; ch is nil then).
func tlsInfo(state *tls.ConnectionState, ch *fingerprint.ClientHello, raw []byte, err error) *TLSInfo {
	// The suite's name from the fingerprint package's table, which names
	// every suite crypto/tls does the same way, without the list
	// crypto/tls.CipherSuiteName builds on every call.
	info := &TLSInfo{NegotiatedVersion: tls.VersionName(state.Version), NegotiatedCipher: fingerprint.CipherSuite(state.CipherSuite).String(),
		ALPNNegotiated: state.NegotiatedProtocol, Resumed: state.DidResume, SNI: state.ServerName}
	if err != nil {
		return info
	}
	info.RecordVersion = tls.VersionName(ch.RecordVersion)
	info.HandshakeVersion = tls.VersionName(ch.LegacyVersion)
	info.ALPNOffered = append([]string{}, ch.ALPN...)
	info.ClientHelloHex = raw
	if len(ch.CipherSuites) > 0 {
		info.CipherSuites = make([]CodePoint, 0, len(ch.CipherSuites))
	}
	for _, c := range ch.CipherSuites {
		info.CipherSuites = append(info.CipherSuites, CodePoint{ID: uint16(c), Name: c.String(), GREASE: fingerprint.IsGREASE(uint16(c))})
	}
	info.Extensions = helloExtensions(ch)
	return info
}

// helloExtensions lists the hello's extensions in wire order with the
// parser's decoded view of each.
func helloExtensions(ch *fingerprint.ClientHello) []Extension {
	out := make([]Extension, 0, len(ch.Extensions))
	for i, x := range ch.Extensions {
		e := Extension{CodePoint: CodePoint{ID: uint16(x.Type), Name: x.Type.String(), GREASE: x.GREASE()},
			DataHex: x.Data}
		// The parser decodes the first extension of a type only, and leaves
		// a malformed one's fields empty.
		first := !slices.ContainsFunc(ch.Extensions[:i], func(y fingerprint.Extension) bool { return y.Type == x.Type })
		if first && !malformed(ch, x) {
			e.Data = extensionData(ch, x.Type)
		}
		out = append(out, e)
	}
	return out
}

func malformed(ch *fingerprint.ClientHello, x fingerprint.Extension) bool {
	for _, a := range ch.Anomalies {
		if a.Code == fingerprint.AnomalyMalformedExtension && a.Offset == x.Offset {
			return true
		}
	}
	return false
}

// extensionData returns the decoded view of the first extension of type
// t, from the fields the parser filled; nil for a type it does not decode.
func extensionData(ch *fingerprint.ClientHello, t fingerprint.ExtensionType) *ExtensionData {
	var d ExtensionData
	switch t {
	case fingerprint.ExtServerName:
		d.ServerName = ptr(ch.ServerName)
	case fingerprint.ExtStatusRequest:
		d.StatusType = &CodePoint{ID: uint16(ch.StatusRequestType), Name: statusTypeName(ch.StatusRequestType)}
	case fingerprint.ExtSupportedGroups:
		d.Groups = codePoints(ch.SupportedGroups)
	case fingerprint.ExtECPointFormats:
		d.PointFormats = byteCodePoints(ch.ECPointFormats, pointFormatName)
	case fingerprint.ExtSignatureAlgorithms:
		d.SignatureAlgorithms = codePoints(ch.SignatureAlgorithms)
	case fingerprint.ExtSignatureAlgorithmsCert:
		d.SignatureAlgorithms = codePoints(ch.SignatureAlgorithmsCert)
	case fingerprint.ExtDelegatedCredentials:
		d.SignatureAlgorithms = codePoints(ch.DelegatedCredentials)
	case fingerprint.ExtALPN:
		d.Protocols = append([]string{}, ch.ALPN...)
	case fingerprint.ExtApplicationSettings, fingerprint.ExtApplicationSettingsOld:
		if ch.ApplicationSettingsType != t {
			return nil // the other ALPS type came first and was the one decoded
		}
		d.Protocols = append([]string{}, ch.ApplicationSettings...)
	case fingerprint.ExtSupportedVersions:
		d.Versions = make([]CodePoint, 0, len(ch.SupportedVersions))
		for _, v := range ch.SupportedVersions {
			d.Versions = append(d.Versions, versionCodePoint(v))
		}
	case fingerprint.ExtPSKKeyExchangeModes:
		d.PSKModes = byteCodePoints(ch.PSKKeyExchangeModes, pskModeName)
	case fingerprint.ExtKeyShare:
		d.KeyShares = make([]KeyShare, 0, len(ch.KeyShares))
		for _, k := range ch.KeyShares {
			d.KeyShares = append(d.KeyShares, KeyShare{Group: codePoint(k.Group), KeyLength: k.KeyLen})
		}
	case fingerprint.ExtCompressCertificate:
		d.CertCompression = make([]CodePoint, 0, len(ch.CertCompressionAlgs))
		for _, a := range ch.CertCompressionAlgs {
			d.CertCompression = append(d.CertCompression, CodePoint{ID: a, Name: certCompressionName(a)})
		}
	case fingerprint.ExtRecordSizeLimit:
		d.RecordSizeLimit = ptr(ch.RecordSizeLimit)
	case fingerprint.ExtPreSharedKey:
		d.PSKIdentities = ptr(ch.PSKIdentities)
	case fingerprint.ExtEncryptedClientHello:
		if ch.ECH == nil {
			return nil
		}
		d.ECH = echView(ch.ECH)
	case fingerprint.ExtQUICTransportParameters, fingerprint.ExtQUICTransportParamsDraft:
		d.QUICParameters = make([]QUICParam, 0, len(ch.QUICTransportParameters))
		for _, p := range ch.QUICTransportParameters {
			d.QUICParameters = append(d.QUICParameters, QUICParam{ID: p.ID, ValueHex: p.Value})
		}
	case fingerprint.ExtPadding:
		d.Length = ptr(ch.PaddingLen)
	case fingerprint.ExtSessionTicket:
		d.Length = ptr(len(ch.SessionTicket))
	case fingerprint.ExtCookie:
		d.Length = ptr(len(ch.Cookie))
	default:
		return nil
	}
	return &d
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// codePoint names a typed 16-bit ID by its String(), GREASE marked.
func codePoint[T interface {
	~uint16
	String() string
}](v T) CodePoint {
	return CodePoint{ID: uint16(v), Name: v.String(), GREASE: fingerprint.IsGREASE(uint16(v))}
}

func codePoints[T interface {
	~uint16
	String() string
}](vs []T) []CodePoint {
	out := make([]CodePoint, 0, len(vs))
	for _, v := range vs {
		out = append(out, codePoint(v))
	}
	return out
}

func byteCodePoints(vs []byte, name func(uint8) string) []CodePoint {
	out := make([]CodePoint, 0, len(vs))
	for _, v := range vs {
		out = append(out, CodePoint{ID: uint16(v), Name: name(v)})
	}
	return out
}

// versionCodePoint names a supported_versions entry ("TLS 1.3"); GREASE
// marked, an unknown value as crypto/tls prints it (0x0305).
func versionCodePoint(v uint16) CodePoint {
	if fingerprint.IsGREASE(v) {
		return CodePoint{ID: v, Name: "GREASE", GREASE: true}
	}
	return CodePoint{ID: v, Name: tls.VersionName(v)}
}

func echView(e *fingerprint.ECHOuter) *ECH {
	switch e.Type {
	case 0:
		return &ECH{Type: "outer", KDF: &CodePoint{ID: e.KDF, Name: hpkeKDFName(e.KDF)},
			AEAD: &CodePoint{ID: e.AEAD, Name: hpkeAEADName(e.AEAD)}, ConfigID: ptr(e.ConfigID), EncLength: e.EncLen, PayloadLength: e.PayloadLen}
	case 1:
		return &ECH{Type: "inner"}
	}
	return &ECH{Type: "UNKNOWN_" + strconv.Itoa(int(e.Type))}
}

// Names of the one-byte and small code points the extensions carry; the
// 16-bit registries with typed IDs are named in package fingerprint.

// pointFormatName names an ec_point_formats entry (RFC 8422 5.1.2).
func pointFormatName(v uint8) string {
	switch v {
	case 0:
		return "uncompressed"
	case 1:
		return "ansiX962_compressed_prime"
	case 2:
		return "ansiX962_compressed_char2"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

// pskModeName names a psk_key_exchange_modes entry (RFC 8446 4.2.9).
func pskModeName(v uint8) string {
	switch v {
	case 0:
		return "psk_ke"
	case 1:
		return "psk_dhe_ke"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

// certCompressionName names a compress_certificate algorithm (RFC 8879).
func certCompressionName(v uint16) string {
	switch v {
	case 1:
		return "zlib"
	case 2:
		return "brotli"
	case 3:
		return "zstd"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

// statusTypeName names a status_request CertificateStatusType (RFC 6066 8).
func statusTypeName(v uint8) string {
	if v == 1 {
		return "ocsp"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

// hpkeKDFName and hpkeAEADName name the HPKE ids of an ECH cipher suite
// (RFC 9180 7.2, 7.3).
func hpkeKDFName(v uint16) string {
	switch v {
	case 1:
		return "HKDF-SHA256"
	case 2:
		return "HKDF-SHA384"
	case 3:
		return "HKDF-SHA512"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

func hpkeAEADName(v uint16) string {
	switch v {
	case 1:
		return "AES-128-GCM"
	case 2:
		return "AES-256-GCM"
	case 3:
		return "ChaCha20Poly1305"
	case 0xffff:
		return "Export-only"
	}
	return "UNKNOWN_" + strconv.Itoa(int(v))
}

// http2Info is the HTTP/2 section of the report of rec, a request of
// connection c.
func http2Info(c *fingerprint.HTTP2Conn, rec *fingerprint.HTTPRequest) *HTTP2Info {
	info := &HTTP2Info{StreamID: rec.StreamID, PseudoHeaderOrder: rec.PseudoHeaderOrder()}
	if len(c.Settings) > 0 && len(c.Settings[0].Settings) > 0 {
		info.Settings = make([]Setting, len(c.Settings[0].Settings))
		for i, s := range c.Settings[0].Settings {
			info.Settings[i] = Setting{ID: uint16(s.ID), Name: s.ID.String(), Value: s.Value}
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
	frames := 0 // the frames through rec's HEADERS
	for frames < len(c.Frames) && c.Frames[frames].Offset <= rec.Offset {
		frames++
	}
	if frames > 0 {
		info.Frames = make([]Frame, frames)
		for i, f := range c.Frames[:frames] {
			info.Frames[i] = Frame{Type: f.Type.String(), Flags: f.Flags, StreamID: f.StreamID, Length: f.Length}
		}
	}
	return info
}
