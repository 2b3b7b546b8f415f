package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
)

// goldenDir holds the golden captures shared by every package's tests.
const goldenDir = "../fingerprint/testdata/golden"

// echoTestServer is the echo service as cmd/echo serves it: the full
// router behind a capture TLS listener (HTTP/1.1 and h2 by ALPN) and a
// plain listener, with capture.ConnContext.
type echoTestServer struct {
	tlsAddr, plainAddr string
	certPEM            []byte // the self-signed certificate, its own CA
}

func startEchoServer(t *testing.T) *echoTestServer {
	t.Helper()
	handler := EchoRouter(NewEcho(EchoLimits{MaxBody: 1 << 20}, nil), &WebsocketEcho{MaxMessage: 1 << 16, IdleTimeout: 5 * time.Second})
	tlsAddr, plainAddr, cert := startCaptureServerCert(t, handler)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	return &echoTestServer{tlsAddr: tlsAddr, plainAddr: plainAddr, certPEM: certPEM}
}

// tlsURL is the URL of path on the TLS port, by name (the hello then
// carries SNI, as the golden clients' did).
func (s *echoTestServer) tlsURL(path string) string {
	_, port, _ := net.SplitHostPort(s.tlsAddr)
	return "https://localhost:" + port + path
}

// goClient is Go's HTTP client over h2 or HTTP/1.1 only, as the golden
// captures go-1.26-h2 and go-1.26-h1 were made.
func goClient(t *testing.T, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// getJSON fetches url and decodes the JSON answer into v; it returns the
// local address of the connection that carried the request.
func getJSON(t *testing.T, c *http.Client, url string, v any) string {
	t.Helper()
	var local string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { local = info.Conn.LocalAddr().String() }})
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v\n%s", url, err, body)
	}
	return local
}

// The tm* types mirror the structs TrackMe (tls.peet.ws) marshals its
// /api/all answer from: their field names, types and JSON tags.
type tmResponse struct {
	Donate      string          `json:"donate"`
	IP          string          `json:"ip"`
	HTTPVersion string          `json:"http_version"`
	Method      string          `json:"method"`
	UserAgent   string          `json:"user_agent,omitempty"`
	TLS         *tmTLSDetails   `json:"tls"`
	Http1       *tmHttp1Details `json:"http1,omitempty"`
	Http2       *tmHttp2Details `json:"http2,omitempty"`
	TCPIP       tmTCPIPDetails  `json:"tcpip,omitempty"`
}

type tmTLSDetails struct {
	Ciphers          []string      `json:"ciphers"`
	Extensions       []interface{} `json:"extensions"`
	RecordVersion    string        `json:"tls_version_record"`
	NegotiatedVesion string        `json:"tls_version_negotiated"`
	JA3              string        `json:"ja3"`
	JA3Hash          string        `json:"ja3_hash"`
	JA4              string        `json:"ja4"`
	JA4_r            string        `json:"ja4_r"`
	PeetPrint        string        `json:"peetprint"`
	PeetPrintHash    string        `json:"peetprint_hash"`
	ClientRandom     string        `json:"client_random"`
	SessionID        string        `json:"session_id"`
}

type tmHttp1Details struct {
	Headers []string `json:"headers"`
}

type tmHttp2Details struct {
	AkamaiFingerprint     string          `json:"akamai_fingerprint"`
	AkamaiFingerprintHash string          `json:"akamai_fingerprint_hash"`
	SendFrames            []tmParsedFrame `json:"sent_frames"`
}

type tmTCPIPDetails struct {
	CapLen int `json:"cap_length,omitempty"`
}

type tmPriority struct {
	Weight    int `json:"weight"`
	DependsOn int `json:"depends_on"`
	Exclusive int `json:"exclusive"`
}

type tmGoAway struct {
	LastStreamID uint32
	ErrCode      uint32
	DebugData    []byte
}

type tmParsedFrame struct {
	Type      string      `json:"frame_type,omitempty"`
	Stream    uint32      `json:"stream_id,omitempty"`
	Length    uint32      `json:"length,omitempty"`
	Payload   []byte      `json:"payload,omitempty"`
	Headers   []string    `json:"headers,omitempty"`
	Settings  []string    `json:"settings,omitempty"`
	Increment uint32      `json:"increment,omitempty"`
	Flags     []string    `json:"flags,omitempty"`
	Priority  *tmPriority `json:"priority,omitempty"`
	GoAway    *tmGoAway   `json:"goaway,omitempty"`
}

// tmExtension is what TrackMe's extension objects may hold (each type
// sets some of these).
type tmExtension struct {
	Name               string              `json:"name"`
	ServerName         string              `json:"server_name"`
	SupportedGroups    []string            `json:"supported_groups"`
	PointFormats       []string            `json:"elliptic_curves_point_formats"`
	Algorithms         []string            `json:"signature_algorithms"`
	Protocols          []string            `json:"protocols"`
	Versions           []string            `json:"versions"`
	SharedKeys         []map[string]string `json:"shared_keys"`
	PSKKeyExchangeMode string              `json:"PSK_Key_Exchange_Mode"`
	Data               string              `json:"data"`
}

// tshark reads the "  key: value" lines of a golden file's comment.
func tshark(f *golden.File) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(f.Comment, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && strings.HasPrefix(k, "tls.") {
			m[k] = v
		}
	}
	return m
}

// requestLines returns the header lines (HTTP/1 "Name: value", HTTP/2
// "name: value") of request n in a golden file's comment.
func requestLines(f *golden.File, n int) []string {
	var out []string
	in := false
	for _, line := range strings.Split(f.Comment, "\n") {
		switch {
		case strings.HasPrefix(line, fmt.Sprintf("  request %d:", n)):
			in = true
		case in && strings.HasPrefix(line, "    "):
			out = append(out, strings.TrimPrefix(line, "    "))
		case in:
			return out
		}
	}
	return out
}

func TestTrackMeAPIWithGoClients(t *testing.T) {
	srv := startEchoServer(t)
	_, port, _ := net.SplitHostPort(srv.tlsAddr)
	for _, tc := range []struct {
		name, golden string
		h2           bool
	}{
		{"h2", "go-1.26-h2", true},
		{"http1.1", "go-1.26-h1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := golden.Load(t, goldenDir, tc.golden)
			wantTLS, wantHTTP := g.Values("expect-tls.txt"), g.Values("expect-http.txt")
			c := goClient(t, tc.h2)

			var all tmResponse
			local := getJSON(t, c, srv.tlsURL("/api/all"), &all)
			var clean CleanReport
			getJSON(t, c, srv.tlsURL("/api/clean"), &clean)
			var raw RawReport
			getJSON(t, c, srv.tlsURL("/api/raw"), &raw)
			var tlsOnly tmResponse
			getJSON(t, c, srv.tlsURL("/api/tls"), &tlsOnly)

			if all.Donate == "" || all.IP != local || all.Method != "GET" {
				t.Errorf("donate %q ip %q (client %s) method %q", all.Donate, all.IP, local, all.Method)
			}
			if all.TLS == nil {
				t.Fatal("no tls")
			}
			tl := all.TLS
			// Fingerprints: the golden values for Go's client, and /api/clean's.
			for _, f := range []struct{ field, got, golden, clean string }{
				{"ja3", tl.JA3, wantTLS["ja3"], clean.JA3},
				{"ja3_hash", tl.JA3Hash, wantTLS["ja3_hash"], clean.JA3Hash},
				{"ja4", tl.JA4, wantTLS["ja4"], clean.JA4},
				{"ja4_r", tl.JA4_r, wantTLS["ja4_r"], clean.JA4R},
				{"peetprint", tl.PeetPrint, wantTLS["peetprint"], clean.PeetPrint},
				{"peetprint_hash", tl.PeetPrintHash, wantTLS["peetprint_hash"], clean.PeetPrintHash},
			} {
				if f.got != f.golden || f.got != f.clean || f.got == "" {
					t.Errorf("tls.%s = %q, golden %q, /api/clean %q", f.field, f.got, f.golden, f.clean)
				}
			}
			if tl.RecordVersion != "771" || tl.NegotiatedVesion != strconv.Itoa(tls.VersionTLS13) {
				t.Errorf("versions: record %q negotiated %q", tl.RecordVersion, tl.NegotiatedVesion)
			}
			// client_random and session_id sit at fixed places of the
			// handshake message /api/raw returns: type, length (4 bytes),
			// version (2), random (32), session id length (1), session id.
			if len(raw.Raw) < 2*39 || tl.ClientRandom != raw.Raw[12:76] {
				t.Errorf("client_random %q, /api/raw %q", tl.ClientRandom, raw.Raw[:min(len(raw.Raw), 80)])
			} else if n, _ := strconv.ParseUint(raw.Raw[76:78], 16, 8); tl.SessionID != raw.Raw[78:78+2*n] || n == 0 {
				t.Errorf("session_id %q, /api/raw has %d bytes: %q", tl.SessionID, n, raw.Raw[78:78+2*n])
			}
			// Ciphers in wire order, named as crypto/tls names them.
			ts := tshark(g)
			var wantCiphers []string
			for _, h := range strings.Split(ts["tls.handshake.ciphersuite"], ",") {
				id, _ := strconv.ParseUint(h, 16, 16)
				wantCiphers = append(wantCiphers, tls.CipherSuiteName(uint16(id)))
			}
			if strings.Join(tl.Ciphers, ",") != strings.Join(wantCiphers, ",") {
				t.Errorf("ciphers %q\nwant %q", tl.Ciphers, wantCiphers)
			}
			checkTrackMeExtensions(t, tl.Extensions, ts, raw.Raw)

			if tc.h2 {
				checkTrackMeHTTP2(t, &all, g, wantHTTP, port)
				if all.HTTPVersion != "h2" || all.UserAgent != "Go-http-client/2.0" || all.Http1 != nil {
					t.Errorf("http_version %q user_agent %q http1 %v", all.HTTPVersion, all.UserAgent, all.Http1)
				}
			} else {
				if all.HTTPVersion != "HTTP/1.1" || all.UserAgent != "Go-http-client/1.1" || all.Http2 != nil {
					t.Errorf("http_version %q user_agent %q http2 %v", all.HTTPVersion, all.UserAgent, all.Http2)
				}
				// The header lines tshark decoded from the golden capture
				// of the same client, with our port.
				want := strings.ReplaceAll(strings.Join(requestLines(g, 1), "\n"), ":49651", ":"+port)
				if all.Http1 == nil || strings.Join(all.Http1.Headers, "\n") != want {
					t.Errorf("http1 %+v\nwant %q", all.Http1, want)
				}
				if clean.Akamai != "-" || clean.AkamaiHash != "-" {
					t.Errorf("/api/clean akamai %q %q on HTTP/1.1", clean.Akamai, clean.AkamaiHash)
				}
			}

			// /api/tls: the same TLS part alone (same connection, same hello).
			if tlsOnly.TLS == nil || tlsOnly.TLS.JA4 != tl.JA4 || tlsOnly.TLS.ClientRandom != tl.ClientRandom ||
				len(tlsOnly.TLS.Extensions) != len(tl.Extensions) || strings.Join(tlsOnly.TLS.Ciphers, ",") != strings.Join(tl.Ciphers, ",") {
				t.Errorf("/api/tls tls %+v\n/api/all tls %+v", tlsOnly.TLS, tl)
			}
			if tlsOnly.Donate != "" || tlsOnly.IP != "" || tlsOnly.Method != "" || tlsOnly.HTTPVersion != "" ||
				tlsOnly.Http1 != nil || tlsOnly.Http2 != nil {
				t.Errorf("/api/tls carries more than tls: %+v", tlsOnly)
			}
		})
	}
}

// checkTrackMeExtensions compares the extension objects with what tshark
// decoded from the golden capture of the same client, and the key_share
// keys with the hello's bytes.
func checkTrackMeExtensions(t *testing.T, exts []interface{}, ts map[string]string, rawHex string) {
	t.Helper()
	types := strings.Split(ts["tls.handshake.extension.type"], ",")
	if len(exts) != len(types) {
		t.Fatalf("%d extensions, tshark %d", len(exts), len(types))
	}
	byName := map[string]tmExtension{}
	for i, x := range exts {
		b, _ := json.Marshal(x)
		var e tmExtension
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("extension %d: %v", i, err)
		}
		if !strings.HasSuffix(e.Name, " ("+types[i]+")") {
			t.Errorf("extension %d: name %q, tshark type %s", i, e.Name, types[i])
		}
		byName[strings.Fields(e.Name)[0]] = e
	}
	if got := byName["server_name"].ServerName; got != ts["tls.handshake.extensions_server_name"] {
		t.Errorf("server_name %q, tshark %q", got, ts["tls.handshake.extensions_server_name"])
	}
	if alpn := ts["tls.handshake.extensions_alpn_str"]; alpn != "(absent)" {
		if got := strings.Join(byName["application_layer_protocol_negotiation"].Protocols, ","); got != alpn {
			t.Errorf("alpn %q, tshark %q", got, alpn)
		}
	}
	var groups []string
	for _, h := range strings.Split(ts["tls.handshake.extensions_supported_group"], ",") {
		id, _ := strconv.ParseUint(h, 16, 16)
		groups = append(groups, fmt.Sprintf("(%d)", id))
	}
	got := byName["supported_groups"].SupportedGroups
	if len(got) != len(groups) {
		t.Fatalf("supported_groups %q, tshark %q", got, groups)
	}
	for i := range got {
		if !strings.HasSuffix(got[i], " "+groups[i]) {
			t.Errorf("supported_groups %q, tshark %q", got, groups)
		}
	}
	if got := byName["supported_groups"].SupportedGroups; got[3] != "x25519 (29)" {
		t.Errorf("supported_groups[3] %q, want x25519 (29)", got[3])
	}
	// Each shared key is in the hello right after its group and length.
	shares := byName["key_share"].SharedKeys
	if len(shares) == 0 {
		t.Fatal("no shared_keys")
	}
	for _, m := range shares {
		for name, key := range m {
			var id uint64
			fmt.Sscanf(name[strings.LastIndex(name, "(")+1:], "%d)", &id)
			entry := fmt.Sprintf("%04x%04x%s", id, len(key)/2, key)
			if len(key) < 64 || !strings.Contains(rawHex, entry) {
				t.Errorf("shared key %s (%d hex digits) is not in the hello", name, len(key))
			}
		}
	}
	sigs := byName["signature_algorithms"].Algorithms
	if len(sigs) == 0 || sigs[0] != "rsa_pss_rsae_sha256" || len(sigs) != len(strings.Split(ts["tls.handshake.sig_hash_alg (extension 13 only)"], ",")) {
		t.Errorf("signature_algorithms %q, tshark %s", sigs, ts["tls.handshake.sig_hash_alg (extension 13 only)"])
	}
	if v := byName["supported_versions"].Versions; strings.Join(v, ",") != "TLS 1.3,TLS 1.2" {
		t.Errorf("versions %q", v)
	}
}

func checkTrackMeHTTP2(t *testing.T, all *tmResponse, g *golden.File, wantHTTP map[string]string, port string) {
	t.Helper()
	h2 := all.Http2
	if h2 == nil {
		t.Fatal("no http2")
	}
	if h2.AkamaiFingerprint != wantHTTP["akamai"] || h2.AkamaiFingerprintHash != wantHTTP["akamai_hash"] {
		t.Errorf("akamai %q %q, golden %q %q", h2.AkamaiFingerprint, h2.AkamaiFingerprintHash, wantHTTP["akamai"], wantHTTP["akamai_hash"])
	}
	// The golden's first SETTINGS as golang.org/x/net/http2 names them,
	// its WINDOW_UPDATE, and the request's headers as tshark decoded them.
	var wantSettings []string
	for _, s := range strings.Split(strings.Split(wantHTTP["akamai"], "|")[0], ";") {
		id, val, _ := strings.Cut(s, ":")
		n, _ := strconv.Atoi(id)
		wantSettings = append(wantSettings, http2.SettingID(n).String()+" = "+val)
	}
	wantWU, _ := strconv.ParseUint(strings.Split(wantHTTP["akamai"], "|")[1], 10, 32)
	wantHeaders := strings.ReplaceAll(strings.Join(requestLines(g, 1), "\n"), ":49651", ":"+port)
	wantHeaders = strings.Replace(wantHeaders, ":path: /\n", ":path: /api/all\n", 1)
	var sawSettings, sawWU, sawHeaders bool
	for _, f := range h2.SendFrames {
		switch f.Type {
		case "SETTINGS":
			if !sawSettings && len(f.Flags) == 0 {
				sawSettings = true
				if strings.Join(f.Settings, ",") != strings.Join(wantSettings, ",") || f.Stream != 0 || f.Length != uint32(6*len(wantSettings)) {
					t.Errorf("first SETTINGS %+v, want %q", f, wantSettings)
				}
			}
		case "WINDOW_UPDATE":
			if !sawWU && f.Stream == 0 {
				sawWU = true
				if f.Increment != uint32(wantWU) || f.Length != 4 {
					t.Errorf("WINDOW_UPDATE %+v, want increment %d", f, wantWU)
				}
			}
		case "HEADERS":
			sawHeaders = true
			if strings.Join(f.Headers, "\n") != wantHeaders || f.Stream%2 != 1 ||
				strings.Join(f.Flags, ",") != "EndStream (0x1),EndHeaders (0x4)" {
				t.Errorf("HEADERS %+v\nwant headers %q", f, wantHeaders)
			}
		}
	}
	if !sawSettings || !sawWU || !sawHeaders {
		t.Errorf("sent_frames %+v: SETTINGS %v WINDOW_UPDATE %v HEADERS %v", h2.SendFrames, sawSettings, sawWU, sawHeaders)
	}
	if last := h2.SendFrames[len(h2.SendFrames)-1]; last.Type != "HEADERS" {
		t.Errorf("last frame %+v, want this request's HEADERS", last)
	}
}

// TestTrackMeAPIPlainHTTP: on the plain port there is no hello, so tls
// is null, as tls.peet.ws writes it when it has none.
func TestTrackMeAPIPlainHTTP(t *testing.T) {
	srv := startEchoServer(t)
	resp, err := http.Get("http://" + srv.plainAddr + "/api/all")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var all tmResponse
	if err := json.Unmarshal(body, &all); err != nil {
		t.Fatal(err)
	}
	var generic map[string]json.RawMessage
	json.Unmarshal(body, &generic)
	if string(generic["tls"]) != "null" || all.HTTPVersion != "HTTP/1.1" || all.Http1 == nil || len(all.Http1.Headers) == 0 ||
		!strings.HasPrefix(all.Http1.Headers[0], "Host: 127.0.0.1:") {
		t.Errorf("plain /api/all: %s", body)
	}
}

// TestExtensionDataMatchesTshark: the decoded extension data of every
// golden hello, through the report's JSON, says what tshark decoded from
// the same capture (the comment's "tshark-decoded ClientHello fields").
func TestExtensionDataMatchesTshark(t *testing.T) {
	files := golden.Glob(t, goldenDir)
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			ch, err := fingerprint.ParseClientHello(f.MustHex(t, "hello.hex"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(helloExtensions(ch))
			if err != nil {
				t.Fatal(err)
			}
			var exts []extensionJSON
			if err := json.Unmarshal(b, &exts); err != nil {
				t.Fatal(err)
			}
			ts := tshark(f)
			var ids []string
			first := map[uint16]*extensionJSON{}
			for i := range exts {
				x := &exts[i]
				ids = append(ids, strconv.Itoa(int(x.ID)))
				if x.GREASE != isGREASE(x.ID) {
					t.Errorf("extension %d: grease %v", x.ID, x.GREASE)
				}
				if first[x.ID] == nil {
					first[x.ID] = x
				}
			}
			if got := strings.Join(ids, ","); got != ts["tls.handshake.extension.type"] {
				t.Errorf("extension types %s, tshark %s", got, ts["tls.handshake.extension.type"])
			}
			data := func(id uint16) *extensionDataJSON {
				if x := first[id]; x != nil && x.Data != nil {
					return x.Data
				}
				return nil
			}
			for _, c := range []struct {
				field string
				ext   uint16
				got   func(d *extensionDataJSON) string
			}{
				{"tls.handshake.extensions_server_name", 0, func(d *extensionDataJSON) string { return *d.ServerName }},
				{"tls.handshake.extensions_supported_group", 10, func(d *extensionDataJSON) string { return hexIDs(d.Groups) }},
				{"tls.handshake.extensions_ec_point_format", 11, func(d *extensionDataJSON) string { return decIDs(d.PointFormats) }},
				{"tls.handshake.sig_hash_alg (extension 13 only)", 13, func(d *extensionDataJSON) string { return hexIDs(d.SignatureAlgorithms) }},
				{"tls.handshake.extensions_alpn_str", 16, func(d *extensionDataJSON) string { return strings.Join(d.Protocols, ",") }},
				{"tls.handshake.extensions.supported_version", 43, func(d *extensionDataJSON) string { return hexIDs(d.Versions) }},
				{"tls.extension.psk_ke_mode", 45, func(d *extensionDataJSON) string { return decIDs(d.PSKModes) }},
				{"tls.compress_certificate.algorithm", 27, func(d *extensionDataJSON) string { return decIDs(d.CertCompression) }},
			} {
				want, ok := ts[c.field]
				if !ok {
					t.Fatalf("comment has no %s", c.field)
				}
				d := data(c.ext)
				switch {
				case want == "(absent)" && first[c.ext] == nil:
				case want == "(absent)" || d == nil:
					t.Errorf("extension %d: data %+v, tshark %s: %s", c.ext, d, c.field, want)
				case c.got(d) != want:
					t.Errorf("extension %d: %s, tshark %s: %s", c.ext, c.got(d), c.field, want)
				}
			}
			// Names and GREASE marks of the code points.
			if d := data(10); d != nil {
				for _, g := range d.Groups {
					if g.GREASE != isGREASE(g.ID) || g.Name == "" || g.GREASE != (g.Name == "GREASE") {
						t.Errorf("group %+v", g)
					}
				}
			}
			if d := data(51); d != nil {
				for _, k := range d.KeyShares {
					if k.Group.GREASE != isGREASE(k.Group.ID) || k.KeyLength <= 0 && !k.Group.GREASE {
						t.Errorf("key share %+v", k)
					}
				}
			}
		})
	}
}

// TestExtensionDataChromium spells out a few decoded values of the
// Chromium golden hello, with the names a reader sees.
func TestExtensionDataChromium(t *testing.T) {
	f := golden.Load(t, goldenDir, "chromium-156-linux")
	ch, err := fingerprint.ParseClientHello(f.MustHex(t, "hello.hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(helloExtensions(ch))
	var exts []extensionJSON
	if err := json.Unmarshal(b, &exts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range exts {
		if x.Data == nil {
			continue
		}
		d := x.Data
		switch x.Name {
		case "server_name":
			got[x.Name] = *d.ServerName
		case "supported_groups":
			got[x.Name] = names(d.Groups)
		case "application_layer_protocol_negotiation", "application_settings":
			got[x.Name] = strings.Join(d.Protocols, ",")
		case "supported_versions":
			got[x.Name] = names(d.Versions)
		case "key_share":
			var s []string
			for _, k := range d.KeyShares {
				s = append(s, fmt.Sprintf("%s/%d", k.Group.Name, k.KeyLength))
			}
			got[x.Name] = strings.Join(s, ",")
		case "psk_key_exchange_modes":
			got[x.Name] = names(d.PSKModes)
		case "compress_certificate":
			got[x.Name] = names(d.CertCompression)
		case "encrypted_client_hello":
			got[x.Name] = fmt.Sprintf("%s %s %s", d.ECH.Type, d.ECH.KDF.Name, d.ECH.AEAD.Name)
		case "status_request":
			got[x.Name] = d.StatusType.Name
		}
	}
	for k, want := range map[string]string{
		"server_name":                            "localhost",
		"supported_groups":                       "GREASE,X25519MLKEM768,x25519,secp256r1,secp384r1",
		"application_layer_protocol_negotiation": "h2,http/1.1",
		"application_settings":                   "h2",
		"supported_versions":                     "GREASE,TLS 1.3,TLS 1.2",
		"key_share":                              "GREASE/1,X25519MLKEM768/1216,x25519/32",
		"psk_key_exchange_modes":                 "psk_dhe_ke",
		"compress_certificate":                   "brotli",
		"encrypted_client_hello":                 "outer HKDF-SHA256 AES-128-GCM",
		"status_request":                         "ocsp",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

// extensionJSON and extensionDataJSON read the report's extension JSON
// (test-local, so a renamed field fails the test).
type extensionJSON struct {
	ID     uint16             `json:"id"`
	Name   string             `json:"name"`
	GREASE bool               `json:"grease"`
	Data   *extensionDataJSON `json:"data"`
}

type codePointJSON struct {
	ID     uint16 `json:"id"`
	Name   string `json:"name"`
	GREASE bool   `json:"grease"`
}

type extensionDataJSON struct {
	ServerName          *string         `json:"server_name"`
	StatusType          *codePointJSON  `json:"status_type"`
	Groups              []codePointJSON `json:"groups"`
	PointFormats        []codePointJSON `json:"point_formats"`
	SignatureAlgorithms []codePointJSON `json:"signature_algorithms"`
	Protocols           []string        `json:"protocols"`
	Versions            []codePointJSON `json:"versions"`
	PSKModes            []codePointJSON `json:"psk_key_exchange_modes"`
	KeyShares           []struct {
		Group     codePointJSON `json:"group"`
		KeyLength int           `json:"key_length"`
	} `json:"key_shares"`
	CertCompression []codePointJSON `json:"cert_compression_algorithms"`
	ECH             *struct {
		Type string         `json:"type"`
		KDF  *codePointJSON `json:"kdf"`
		AEAD *codePointJSON `json:"aead"`
	} `json:"ech"`
}

func hexIDs(cps []codePointJSON) string {
	var s []string
	for _, c := range cps {
		s = append(s, hex.EncodeToString([]byte{byte(c.ID >> 8), byte(c.ID)}))
	}
	return strings.Join(s, ",")
}

func decIDs(cps []codePointJSON) string {
	var s []string
	for _, c := range cps {
		s = append(s, strconv.Itoa(int(c.ID)))
	}
	return strings.Join(s, ",")
}

func names(cps []codePointJSON) string {
	var s []string
	for _, c := range cps {
		s = append(s, c.Name)
	}
	return strings.Join(s, ",")
}

// isGREASE is RFC 8701's rule, written out here rather than taken from
// the code under test: 0x?a?a with both bytes equal.
func isGREASE(v uint16) bool { return v>>8 == v&0xff && v&0x0f == 0x0a }

// TestTrackMeFrames: the sent_frames of a request on a connection whose
// frames are written here with golang.org/x/net/http2: names, settings,
// increments, priorities, flags and headers as written, and the frames
// of other streams after the request's HEADERS left out.
func TestTrackMeFrames(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte{}, hb.Bytes()...)
	}
	fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 8, Val: 1}, http2.Setting{ID: 0x0a0a, Val: 1})
	fr.WriteWindowUpdate(0, 15663105)
	fr.WritePriority(3, http2.PriorityParam{StreamDep: 0, Weight: 200})
	fr.WriteRawFrame(0x0b, 0, 0, []byte{1, 2})
	first := block(":method", "POST", ":authority", "a", ":scheme", "https", ":path", "/x", "content-type", "text/plain")
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first[:3],
		Priority: http2.PriorityParam{StreamDep: 3, Exclusive: true, Weight: 41}})
	fr.WriteContinuation(1, true, first[3:])
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(":method", "GET", ":authority", "a", ":scheme", "https", ":path", "/y"),
		EndHeaders: true, EndStream: true})
	fr.WriteData(1, true, []byte("abc"))
	fr.WriteData(1, false, []byte("after the end")) // a broken client's: not the request's
	fr.WritePing(false, [8]byte{})

	conn, err := fingerprint.ParseHTTP2Client(buf.Bytes(), fingerprint.DefaultHTTP2Limits())
	if err != nil {
		t.Fatal(err)
	}
	var rec *fingerprint.HTTPRequest
	for _, r := range conn.Requests {
		if r.StreamID == 1 {
			rec = r
		}
	}
	if rec == nil {
		t.Fatalf("no request on stream 1: %+v", conn.Requests)
	}
	got, _ := json.Marshal(trackMeFrames(conn, rec))
	var frames []tmParsedFrame
	if err := json.Unmarshal(got, &frames); err != nil {
		t.Fatal(err)
	}
	want := []tmParsedFrame{
		{Type: "SETTINGS", Length: 18, Settings: []string{"HEADER_TABLE_SIZE = 65536", "ENABLE_CONNECT_PROTOCOL = 1", "UNKNOWN_SETTING_2570 = 1"}},
		{Type: "WINDOW_UPDATE", Length: 4, Increment: 15663105},
		{Type: "PRIORITY", Stream: 3, Length: 5, Priority: &tmPriority{Weight: 201}},
		{Type: "UNKNOWN_FRAME_TYPE_11", Length: 2},
		{Type: "HEADERS", Stream: 1, Length: 5 + 3, Flags: []string{"Priority (0x20)"}, Priority: &tmPriority{Weight: 42, DependsOn: 3, Exclusive: 1},
			Headers: []string{":method: POST", ":authority: a", ":scheme: https", ":path: /x", "content-type: text/plain"}},
		{Type: "CONTINUATION", Stream: 1, Length: uint32(len(first) - 3), Flags: []string{"EndHeaders (0x4)"}},
		{Type: "DATA", Stream: 1, Length: 3, Flags: []string{"EndStream (0x1)"}},
	}
	wantJSON, _ := json.Marshal(want)
	if gotJSON, _ := json.Marshal(frames); string(gotJSON) != string(wantJSON) {
		t.Errorf("sent_frames\n got %s\nwant %s", gotJSON, wantJSON)
	}
}
