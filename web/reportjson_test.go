package web

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/selfsigned"
)

// hostileStrings returns strings, by name, whose JSON encoding has every
// case of encoding/json's escaping: quotes and backslashes, each control
// character, <, > and & (escaped for HTML), DEL (not escaped), U+2028
// and U+2029, invalid UTF-8 (each bad byte becomes \ufffd, a valid
// U+FFFD stays as it is), surrogate halves, cut sequences and 4-byte
// runes.
func hostileStrings() map[string]string {
	return map[string]string{
		"empty":               "",
		"plain":               "GET /index.html",
		"quote and backslash": `a"b\c\"`,
		"short escapes":       "\b\f\n\r\t",
		"control characters":  "\x00\x01\x07\x0b\x0e\x1a\x1f",
		"html":                "<script>alert(1)</script>&amp;",
		"DEL":                 "a\x7fb",
		"line separators":     "a\u2028b\u2029c\u2027\u202a",
		"invalid bytes":       "a\xffb\xfe\xc0\x80",
		"valid replacement":   "a\uFFFDb",
		"surrogate half":      "\xed\xa0\x80\xed\xbf\xbf",
		"cut sequence":        "ok\xe2\x80",
		"cut at the start":    "\x80\x80abc",
		"four-byte runes":     "😀 𝄞 \U0010FFFF",
		"out of range":        "\xf4\x90\x80\x80",
		"latin-1 header":      "caf\xe9 na\xefve",
		"long plain":          strings.Repeat("0123456789abcdef", 300),
		"mixed":               "ä\"<\u2028\xff\t€",
	}
}

// TestAppendJSONString: each string as json.Marshal writes it.
func TestAppendJSONString(t *testing.T) {
	hostile := hostileStrings()
	for _, name := range slices.Sorted(maps.Keys(hostile)) {
		s := hostile[name]
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendJSONString([]byte("prefix"), s); string(got) != "prefix"+string(want) {
				t.Errorf("appendJSONString(%q)\n got %s\nwant %s", s, got[len("prefix"):], want)
			}
		})
	}
	// Every single byte and every rune around the escaped ones.
	for c := 0; c < 256; c++ {
		checkJSONString(t, string([]byte{byte(c)}))
		checkJSONString(t, "x"+string([]byte{byte(c)})+"y")
	}
	for r := rune(0); r < 0x3000; r++ {
		checkJSONString(t, string(r))
	}
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Errorf("appendJSONString(%q) = %s, json.Marshal %s", s, got, want)
	}
}

// goldenState is the TLS state of the golden's connection, from its
// comment ("negotiated ALPN h2, version 0x0304, cipher 0x1301").
func goldenState(t testing.TB, f *golden.File, ch *fingerprint.ClientHello) *tls.ConnectionState {
	t.Helper()
	_, line, ok := strings.Cut(f.Comment, "negotiated ALPN ")
	if !ok {
		t.Fatalf("%s: comment has no negotiated ALPN", f.Name)
	}
	var alpn string
	var version, cipher uint16
	if _, err := fmt.Sscanf(line, "%s version 0x%x, cipher 0x%x", &alpn, &version, &cipher); err != nil {
		t.Fatalf("%s: negotiated line %q: %v", f.Name, line, err)
	}
	alpn = strings.TrimSuffix(alpn, ",")
	if alpn == "none" {
		alpn = ""
	}
	return &tls.ConnectionState{Version: version, CipherSuite: cipher, NegotiatedProtocol: alpn, ServerName: ch.ServerName}
}

// goldenConn is a golden capture's connection as the echo reports it:
// the connection's part of the reports, and its requests.
type goldenConn struct {
	conn   *connReport
	h1     []*fingerprint.HTTPRequest
	h2     *fingerprint.HTTP2Conn // nil for HTTP/1
	scheme string
}

func loadGoldenConn(t testing.TB, f *golden.File) *goldenConn {
	t.Helper()
	raw := f.MustHex(t, "hello.hex")
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	fp := fingerprint.ComputeTLS(ch, fingerprint.TransportTCP)
	// The connection's sections encoded, as from its second request on.
	g := &goldenConn{conn: newConnReport(tlsInfo(goldenState(t, f, ch), ch, raw[:ch.Consumed], nil), fp), scheme: "https"}
	g.conn.encode()
	if b, err := f.Hex("http2.hex"); err != nil {
		t.Fatal(err)
	} else if b != nil {
		if g.h2, err = fingerprint.ParseHTTP2Client(b, fingerprint.DefaultHTTP2Limits()); err != nil {
			t.Fatalf("%s: http2.hex: %v", f.Name, err)
		}
	}
	if b, err := f.Hex("http1.hex"); err != nil {
		t.Fatal(err)
	} else if b != nil {
		st, err := fingerprint.ParseHTTP1Stream(b, fingerprint.DefaultHTTP1Limits())
		if err != nil {
			t.Fatalf("%s: http1.hex: %v", f.Name, err)
		}
		g.h1 = st.Requests
	}
	if g.h2 == nil && len(g.h1) == 0 {
		t.Fatalf("%s: no HTTP request", f.Name)
	}
	return g
}

// reports builds the reports of the golden's requests the way
// fromRecords does for a live connection.
func (g *goldenConn) reports() []Report {
	var out []Report
	add := func(rec *fingerprint.HTTPRequest, version string, conn *fingerprint.HTTP2Conn) {
		rep := Report{Client: "127.0.0.1:50000", TLS: g.conn.tls, conn: g.conn}
		rep.Fingerprints.TLSFingerprints = g.conn.fingerprints
		path, query, _ := strings.Cut(rec.Target, "?")
		rep.HTTP = HTTPInfo{Version: version, Method: rec.Method, Scheme: g.scheme, Path: path, Query: query,
			Headers: recordHeaders(rec)}
		for _, h := range rec.Headers {
			if strings.EqualFold(h.Name, "host") || h.Name == ":authority" {
				rep.HTTP.Authority = h.Value
			}
		}
		rep.Capture.Anomalies = rec.Anomalies
		rep.Fingerprints.HTTPFingerprints = fingerprint.ComputeHTTP(rec, conn)
		if conn != nil {
			rep.Capture.StreamMatch = string(capture.MatchExact)
			rep.HTTP2 = http2Info(conn, rec)
		}
		rep.Curl, rep.CurlNotes = CurlCommand(&rep.HTTP, rec.Target, true)
		out = append(out, rep)
	}
	for _, rec := range g.h1 {
		add(rec, rec.Proto, nil)
	}
	if g.h2 != nil {
		for _, rec := range g.h2.Requests {
			add(rec, "HTTP/2.0", g.h2)
		}
	}
	return out
}

// checkAppendJSON compares rep.AppendJSON with json.Marshal(rep), with
// the connection's cached encoding and without it.
func checkAppendJSON(t testing.TB, rep *Report) {
	t.Helper()
	want, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON differs from json.Marshal at byte %d\n got %s\nwant %s", firstDiff(got, want), got, want)
	}
	uncached := *rep
	uncached.conn = nil
	if got := uncached.AppendJSON([]byte("{}")); !bytes.Equal(got[2:], want) {
		t.Fatalf("AppendJSON without the connection's encoding differs at byte %d\n got %s\nwant %s", firstDiff(got[2:], want), got[2:], want)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReportAppendJSONGoldens: the reports of every golden capture's
// requests, as captured and in variants (hostile strings in every string
// the client controls, a body, a cut body, a binary body, an h2c upgrade
// section, no TLS, nil and empty lists), encode as json.Marshal encodes
// them.
func TestReportAppendJSONGoldens(t *testing.T) {
	files := golden.Glob(t, goldenDir)
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			g := loadGoldenConn(t, f)
			for i, rep := range g.reports() {
				for _, v := range reportVariants(&rep) {
					t.Run(fmt.Sprintf("request %d/%s", i+1, v.name), func(t *testing.T) {
						checkAppendJSON(t, &v.rep)
					})
				}
			}
		})
	}
}

// TestReportDecodes: every golden capture's report, encoded, decodes into
// a Report that encodes to the same bytes (the hex sections included).
func TestReportDecodes(t *testing.T) {
	for _, f := range golden.Glob(t, goldenDir) {
		g := loadGoldenConn(t, f)
		for i, rep := range g.reports() {
			enc := rep.AppendJSON(nil)
			var back Report
			if err := json.Unmarshal(enc, &back); err != nil {
				t.Fatalf("%s request %d: %v", f.Name, i+1, err)
			}
			if again := back.AppendJSON(nil); !bytes.Equal(again, enc) {
				t.Fatalf("%s request %d: decoded and encoded again, differs at byte %d", f.Name, i+1, firstDiff(again, enc))
			}
		}
	}
}

type reportVariant struct {
	name string
	rep  Report
}

// reportVariants returns rep and changed copies of it.
func reportVariants(rep *Report) []reportVariant {
	hostile := hostileStrings()
	out := []reportVariant{{"as captured", *rep}}
	add := func(name string, change func(r *Report)) {
		r := *rep
		r.HTTP.Headers = append([][2]string(nil), rep.HTTP.Headers...)
		change(&r)
		out = append(out, reportVariant{name, r})
	}
	add("hostile strings", func(r *Report) {
		h := hostile["mixed"] + hostile["html"] + hostile["invalid bytes"]
		r.Client = h
		r.HTTP.Path, r.HTTP.Query, r.HTTP.Authority, r.HTTP.Method = "/"+h, "q="+h, h, h
		r.HTTP.Headers = append(r.HTTP.Headers, [2]string{h, h}, [2]string{"X-Line", hostile["line separators"]})
		r.HTTP.Body = h
		r.Capture.Stopped = h
		r.Capture.Anomalies = append(append([]fingerprint.Anomaly(nil), r.Capture.Anomalies...),
			fingerprint.Anomaly{Code: fingerprint.AnomalyBareLF, Offset: 7, Detail: h}, fingerprint.Anomaly{Code: h})
		r.Curl, r.CurlNotes = CurlCommand(&r.HTTP, r.HTTP.Path+"?"+r.HTTP.Query, true)
	})
	add("binary body cut", func(r *Report) {
		r.HTTP.BodyBase64 = base64.StdEncoding.EncodeToString([]byte{0xff, 0, 1})
		r.HTTP.BodyLength, r.HTTP.BodyCut = 1<<40, true
		r.Curl, r.CurlNotes = CurlCommand(&r.HTTP, "/", false)
	})
	add("h2c upgrade", func(r *Report) {
		r.HTTP2 = upgradeHTTP2Info(&fingerprint.HTTPRequest{Headers: []fingerprint.Header{
			{Name: "HTTP2-Settings", Value: "AAMAAABkAAQAoAAAAAIAAAAA"}}})
		r.Capture.StreamMatch = string(capture.MatchUpgrade)
		r.Fingerprints.Akamai, r.Fingerprints.AkamaiHash = "", ""
	})
	add("no TLS", func(r *Report) {
		r.TLS, r.conn, r.HTTP.Scheme = nil, nil, "http"
		r.Fingerprints.TLSFingerprints = fingerprint.TLSFingerprints{}
	})
	add("nil lists", func(r *Report) {
		r.HTTP.Headers, r.CurlNotes, r.Capture.Anomalies = nil, nil, nil
		if r.HTTP2 != nil {
			r.HTTP2 = &HTTP2Info{StreamID: r.HTTP2.StreamID}
		}
	})
	add("empty lists", func(r *Report) {
		r.HTTP.Headers, r.CurlNotes, r.Capture.Anomalies = [][2]string{}, []string{}, []fingerprint.Anomaly{}
		r.HTTP2 = &HTTP2Info{Settings: []Setting{}, Priorities: []Priority{}, PseudoHeaderOrder: []string{}, Frames: []Frame{}}
	})
	add("TLS section changed", func(r *Report) {
		// The report no longer holds the connection's TLSInfo: the cached
		// encoding must not be used.
		info := *r.TLS
		info.SNI = hostile["html"]
		info.ALPNOffered, info.CipherSuites, info.Extensions = nil, nil, append([]Extension{}, info.Extensions...)
		info.Extensions = append(info.Extensions, Extension{CodePoint: CodePoint{ID: 0xfe0d, Name: "x"}, Data: &ExtensionData{
			ECH: &ECH{Type: "outer", KDF: &CodePoint{ID: 1, Name: "k"}, ConfigID: ptr(uint8(0)), PayloadLength: 3}}},
			Extension{Data: &ExtensionData{}}, Extension{Data: &ExtensionData{Groups: []CodePoint{}, Protocols: []string{},
				ServerName: ptr(""), RecordSizeLimit: ptr(uint16(0)), PSKIdentities: ptr(0), Length: ptr(-1),
				QUICParameters: []QUICParam{{ID: 1 << 62, ValueHex: HexBytes{0}}}, StatusType: &CodePoint{}}})
		r.TLS = &info
		r.Fingerprints.JA3 = hostile["html"]
	})
	return out
}

// TestReportAppendJSONEveryField: a report with every field of every
// struct in it set (by reflection: strings with characters to escape,
// numbers at their type's maximum, true, pointers and lists of two), so
// a field added to a struct and not to its AppendJSON fails here even
// when no golden sets it; and the same report with each zero field.
func TestReportAppendJSONEveryField(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill func(v reflect.Value)
	}{
		{"every field set", func(v reflect.Value) { fillEveryField(v, "<&>\u2028\xff\"") }},
		{"every field zero", func(v reflect.Value) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep Report
			tc.fill(reflect.ValueOf(&rep).Elem())
			checkAppendJSON(t, &rep)
		})
	}
}

// fillEveryField sets every exported field reachable from v: text is
// the strings' content.
func fillEveryField(v reflect.Value, text string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillEveryField(v.Field(i), text+v.Type().Field(i).Name)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillEveryField(v.Elem(), text)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			fillEveryField(v.Index(i), text)
		}
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-1 << (v.Type().Bits() - 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1<<v.Type().Bits() - 1)
	default:
		panic("fillEveryField: no value for " + v.Type().String())
	}
}

// FuzzReportAppendJSON: a golden report with fuzzed strings in what the
// client controls (header names and values, path, query, body, client
// address, SNI, ALPN), encoded by AppendJSON and by json.Marshal.
func FuzzReportAppendJSON(f *testing.F) {
	base := loadGoldenConn(f, golden.Load(f, goldenDir, "chromium-156-linux"))
	reps := base.reports()
	if len(reps) == 0 {
		f.Fatal("no requests")
	}
	f.Add("user-agent", "Mozilla/5.0", "/", "a=1", "", uint8(0))
	hostile := hostileStrings()
	for _, name := range slices.Sorted(maps.Keys(hostile)) {
		s := hostile[name]
		f.Add("x-"+name, s, "/"+s, s, s, uint8(len(name)))
	}
	f.Fuzz(func(t *testing.T, name, value, path, query, body string, flags uint8) {
		rep := reps[0]
		info := *base.conn.tls
		info.SNI = value
		info.ALPNOffered = []string{name, value}
		info.Extensions = append([]Extension{{CodePoint: CodePoint{Name: name}, DataHex: HexBytes(value),
			Data: &ExtensionData{ServerName: &value, Protocols: []string{query}}}}, info.Extensions...)
		fp := base.conn.fingerprints
		fp.JA4 = name
		rep.conn = newConnReport(&info, fp)
		rep.conn.encode()
		rep.TLS, rep.Fingerprints.TLSFingerprints = rep.conn.tls, rep.conn.fingerprints
		rep.Client = name
		rep.HTTP.Path, rep.HTTP.Query, rep.HTTP.Authority = path, query, value
		rep.HTTP.Headers = append(append([][2]string(nil), rep.HTTP.Headers...), [2]string{name, value})
		rep.HTTP.BodyLength = int64(len(body))
		if flags&1 != 0 {
			rep.HTTP.BodyBase64 = base64.StdEncoding.EncodeToString([]byte(body))
		} else {
			rep.HTTP.Body = body
		}
		rep.Fingerprints.Akamai = query
		rep.Capture.Stopped = body
		rep.Capture.Anomalies = []fingerprint.Anomaly{{Code: name, Offset: -len(value), Detail: value}}
		rep.Curl, rep.CurlNotes = CurlCommand(&rep.HTTP, path+"?"+query, flags&2 != 0)
		if flags&4 != 0 {
			rep.HTTP.Headers, rep.CurlNotes, rep.Capture.Anomalies = nil, nil, nil
		}
		if flags&8 != 0 {
			rep.HTTP2 = nil
		}
		if flags&16 != 0 {
			rep.TLS, rep.conn = nil, nil
		}
		checkAppendJSON(t, &rep)
	})
}

// TestReportAppendJSONFromEcho: the reports the echo builds for real
// clients (HTTP/1.1 and h2 over TLS through capture.NewTLSListener, and
// HTTP/1.1 and prior-knowledge h2c on a plain port; several requests a
// connection, so the later ones use the connection's cached TLS
// section), with hostile paths, queries, header values and bodies,
// encode as json.Marshal encodes them.
func TestReportAppendJSONFromEcho(t *testing.T) {
	echo := NewEcho(EchoLimits{MaxBody: 1 << 10}, nil)
	hostile := hostileStrings()
	var mu sync.Mutex
	checked, conns := 0, map[*connReport]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := echo.Report(r)
		want, err := json.Marshal(&rep)
		if err != nil {
			t.Error(err)
		}
		got := rep.AppendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %s: AppendJSON differs from json.Marshal at byte %d\n got %s\nwant %s", r.Proto, r.URL, firstDiff(got, want), got, want)
		}
		mu.Lock()
		checked++
		if rep.conn != nil {
			conns[rep.conn] = true
		}
		mu.Unlock()
		w.Write(got)
	})
	tlsAddr, plainAddr := startCaptureServer(t, handler)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(h2c.CloseIdleConnections)
	clients := []struct {
		name, base string
		client     *http.Client
	}{
		{"HTTP/1.1 over TLS", "https://localhost:" + tlsPort, goClient(t, false)},
		{"h2 over TLS", "https://localhost:" + tlsPort, goClient(t, true)},
		{"HTTP/1.1 plain", "http://" + plainAddr, &http.Client{Timeout: 10 * time.Second}},
		{"h2c prior knowledge", "http://" + plainAddr, &http.Client{Transport: h2c, Timeout: 10 * time.Second}},
	}
	requests := []struct {
		name, method, target, header, body string
	}{
		{"plain GET", "GET", "/", "Mozilla/5.0", ""},
		{"hostile path and query", "GET", "/%3Cscript%3E/a&b?q=%3C%3E%26%E2%80%A8&x=%FF%22", "a\"<b>&\xff\xe9", ""},
		{"text body", "POST", "/post?pretty=0", "v", "<html>\u2028\u2029 \"quoted\" \\ \t\n" + hostile["html"]},
		{"binary body", "PUT", "/bin", "v", "\xff\xfe\x00\x01"},
		{"cut body", "POST", "/big", "v", strings.Repeat("é", 1000)},
		{"same again", "GET", "/", "Mozilla/5.0", ""},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, rq := range requests {
				req, err := http.NewRequest(rq.method, c.base+rq.target, strings.NewReader(rq.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Hostile", rq.header)
				resp, err := c.client.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", rq.name, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !json.Valid(body) {
					t.Errorf("%s: answer is not JSON: %s", rq.name, body)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if want := len(clients) * len(requests); checked != want {
		t.Errorf("%d reports checked, want %d", checked, want)
	}
	// Two TLS sections for each of the two TLS connections: the first
	// request's own, and the one the second request builds and the
	// connection keeps for the rest.
	if len(conns) != 4 {
		t.Errorf("%d TLS sections built for the requests of 2 TLS connections, want 4", len(conns))
	}
}

// startCaptureServer serves handler as cmd/echo serves the echo: behind
// a capture TLS listener (HTTP/1.1 and h2 by ALPN) and a plain listener
// (HTTP/1.1 and prior-knowledge h2c), with capture.ConnContext.
func startCaptureServer(t *testing.T, handler http.Handler) (tlsAddr, plainAddr string) {
	t.Helper()
	tlsAddr, plainAddr, _ = startCaptureServerCert(t, handler)
	return tlsAddr, plainAddr
}

// startCaptureServerCert is startCaptureServer, also returning the
// server's certificate.
func startCaptureServerCert(t *testing.T, handler http.Handler) (tlsAddr, plainAddr string, cert tls.Certificate) {
	t.Helper()
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	newServer := func() *http.Server {
		s := &http.Server{Handler: handler, ConnContext: capture.ConnContext, ReadHeaderTimeout: 5 * time.Second}
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
		return s
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := capture.NewTLSListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		capture.DefaultLimits(), 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	s1, s2 := newServer(), newServer()
	go s1.Serve(tl)
	go s2.Serve(capture.NewPlainListener(plainLn))
	t.Cleanup(func() { s1.Close(); s2.Close() })
	return tlsLn.Addr().String(), plainLn.Addr().String(), cert
}

// TestEchoAnswersOnOneConnection: the echo's JSON answers, written from
// reused buffers, on one keep-alive connection: each is the report of its
// own request, whatever the size of the one before.
func TestEchoAnswersOnOneConnection(t *testing.T) {
	srv := startEchoServer(t)
	c := goClient(t, false)
	for _, body := range []string{"", strings.Repeat("x", 5000), "small", strings.Repeat("<\u2028", 3000), ""} {
		req, err := http.NewRequest("POST", srv.tlsURL("/answers"), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			HTTP struct {
				Body       string `json:"body"`
				BodyLength int    `json:"body_length"`
			} `json:"http"`
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("body of %d bytes: %v\n%s", len(body), err, raw)
		}
		if got.HTTP.Body != body || got.HTTP.BodyLength != len(body) {
			t.Errorf("answer to a body of %d bytes: body %d bytes, body_length %d", len(body), len(got.HTTP.Body), got.HTTP.BodyLength)
		}
		if !bytes.HasSuffix(raw, []byte("}\n")) {
			t.Errorf("answer does not end in a newline: %q", raw[max(0, len(raw)-10):])
		}
	}
}

// TestEchoCompactAndPretty: the JSON answer is compact (one line) unless
// the query asks for ?pretty, which indents it; both are the report.
func TestEchoCompactAndPretty(t *testing.T) {
	srv := startEchoServer(t)
	c := goClient(t, true)
	for _, tc := range []struct {
		name, target string
		indented     bool
	}{
		{"compact", "/compact", false},
		{"compact with a query", "/compact?a=1", false},
		{"pretty", "/pretty?pretty", true},
		{"pretty among others", "/pretty?a=1&pretty=1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(srv.tlsURL(tc.target))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var rep struct {
				HTTP struct {
					Path string `json:"path"`
				} `json:"http"`
			}
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			if path, _, _ := strings.Cut(tc.target, "?"); rep.HTTP.Path != path {
				t.Errorf("path %q, want %q", rep.HTTP.Path, path)
			}
			lines := bytes.Count(raw, []byte("\n"))
			if indented := bytes.HasPrefix(raw, []byte("{\n  \"client\": ")); indented != tc.indented || !tc.indented && lines != 1 {
				t.Errorf("indented %v (%d lines), want %v", indented, lines, tc.indented)
			}
		})
	}
}
