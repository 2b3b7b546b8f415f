package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	goldenfile "github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/tlsrecords"

	"github.com/coder/websocket"
	"github.com/pires/go-proxyproto"

	"github.com/fpwork/fp/fingerprint"
)

// startEcho runs the service on loopback ports chosen by the kernel.
func startEcho(t *testing.T) (httpsPort, httpAddr string) {
	t.Helper()
	b := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(b.https)
	return port, b.http
}

// startEchoWith runs the service with the given flags until the test ends.
func startEchoWith(t testing.TB, flags ...string) boundAddrs {
	t.Helper()
	cfg, err := parseConfig(append([]string{"echo"}, flags...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan boundAddrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(b boundAddrs) { addrs <- b })
	}()
	b := <-addrs
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}

// goldenDir is where the golden captures are, from this package.
const goldenDir = "../../fingerprint/testdata/golden"

// golden reads a "key value" section of a golden capture.
func golden(t *testing.T, name, section string) map[string]string {
	t.Helper()
	return goldenfile.Load(t, goldenDir, name).Values(section)
}

type report struct {
	HTTP struct {
		Version    string      `json:"version"`
		Method     string      `json:"method"`
		Path       string      `json:"path"`
		Headers    [][2]string `json:"headers"`
		Body       string      `json:"body"`
		BodyBase64 string      `json:"body_base64"`
		BodyLength int64       `json:"body_length"`
	} `json:"http"`
	TLS *struct {
		SNI          string `json:"sni"`
		CipherSuites []struct {
			ID     uint16 `json:"id"`
			GREASE bool   `json:"grease"`
		} `json:"cipher_suites"`
		ClientHelloHex string `json:"client_hello_hex"`
	} `json:"tls"`
	Fingerprints map[string]string `json:"fingerprints"`
	HTTP2        *struct {
		Settings []struct {
			ID    uint16 `json:"id"`
			Value uint32 `json:"value"`
		} `json:"settings"`
		PseudoHeaderOrder []string `json:"pseudo_header_order"`
	} `json:"http2"`
	Capture struct {
		StreamMatch string `json:"stream_match"`
	} `json:"capture"`
}

func decode(t *testing.T, body []byte) report {
	t.Helper()
	var r report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return r
}

func goClient(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// TestEchoGoClients: the echo of Go's client over h2 and HTTP/1.1 carries
// the golden captures' JA4 (npm oracle), JA4H and Akamai (tshark), the
// headers in wire order, and the hello's raw bytes.
func TestEchoGoClients(t *testing.T) {
	port, _ := startEcho(t)
	for _, tc := range []struct {
		golden  string
		h2      bool
		version string
		first   string
	}{{"go-1.26-h2", true, "HTTP/2.0", ":authority"}, {"go-1.26-h1", false, "HTTP/1.1", "Host"}} {
		t.Run(tc.golden, func(t *testing.T) {
			c := goClient(tc.h2)
			defer c.Transport.(*http.Transport).CloseIdleConnections()
			resp, err := c.Get("https://localhost:" + port + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// The answer's length is sent, so HTTP/1.1 does not chunk it.
			if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("Content-Length %d, Transfer-Encoding %v, for a body of %d bytes", resp.ContentLength, resp.TransferEncoding, len(body))
			}
			r := decode(t, body)
			tlsWant, httpWant := golden(t, tc.golden, "expect-tls.txt"), golden(t, tc.golden, "expect-http.txt")
			if r.HTTP.Version != tc.version || len(r.HTTP.Headers) == 0 || r.HTTP.Headers[0][0] != tc.first {
				t.Fatalf("http %+v", r.HTTP)
			}
			if r.Fingerprints["ja4"] != tlsWant["ja4"] || r.Fingerprints["ja4h"] != httpWant["req1.ja4h"] ||
				r.Fingerprints["akamai"] != httpWant["akamai"] {
				t.Fatalf("fingerprints %v, want ja4 %s ja4h %s akamai %q", r.Fingerprints, tlsWant["ja4"], httpWant["req1.ja4h"], httpWant["akamai"])
			}
			if r.TLS == nil || r.TLS.SNI != "localhost" || len(r.TLS.CipherSuites) == 0 || r.TLS.ClientHelloHex[:2] != "16" {
				t.Fatalf("tls %+v", r.TLS)
			}
			if tc.h2 && (r.HTTP2 == nil || len(r.HTTP2.Settings) == 0 || r.Capture.StreamMatch != "exact") {
				t.Fatalf("http2 %+v, capture %+v", r.HTTP2, r.Capture)
			}
		})
	}
}

// TestEchoBodies: a UTF-8 body comes back as text, another as base64.
func TestEchoBodies(t *testing.T) {
	_, plain := startEcho(t)
	for _, body := range [][]byte{[]byte("héllo"), {0xff, 0xfe, 0x00}} {
		resp, err := http.Post("http://"+plain+"/up?x=1", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := decode(t, raw)
		if r.HTTP.Method != "POST" || r.HTTP.Path != "/up" || r.HTTP.BodyLength != int64(len(body)) {
			t.Fatalf("%+v", r.HTTP)
		}
		if (r.HTTP.Body == string(body)) == (r.HTTP.BodyBase64 != "") {
			t.Fatalf("body %q base64 %q", r.HTTP.Body, r.HTTP.BodyBase64)
		}
	}
}

// TestEchoCurl: curl over h2, HTTP/1.1 and prior-knowledge h2c. Over h2
// the JA3 and Akamai equal tshark's for the same curl command (golden).
func TestEchoCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing; scripts/install-deps.sh installs it")
		}
		t.Skip("curl not installed")
	}
	port, plain := startEcho(t)
	for _, tc := range []struct {
		name    string
		args    []string
		version string
	}{
		{"h2", []string{"-sS", "-k", "--http2", "https://localhost:" + port + "/"}, "HTTP/2.0"},
		{"h1", []string{"-sS", "-k", "--http1.1", "https://localhost:" + port + "/"}, "HTTP/1.1"},
		{"h2c", []string{"-sS", "--http2-prior-knowledge", "http://" + plain + "/"}, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(curl, tc.args...).Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			r := decode(t, out)
			if r.HTTP.Version != tc.version {
				t.Fatalf("version %s", r.HTTP.Version)
			}
			want, httpWant := golden(t, "curl-7.88-h2", "expect-tls.txt"), golden(t, "curl-7.88-h2", "expect-http.txt")
			if tc.name == "h2" && (r.Fingerprints["ja3_hash"] != want["ja3_hash"] || r.Fingerprints["akamai"] != httpWant["akamai"]) {
				t.Fatalf("curl h2: ja3 %s akamai %q, want %s %q", r.Fingerprints["ja3_hash"], r.Fingerprints["akamai"], want["ja3_hash"], httpWant["akamai"])
			}
			if tc.name == "h2c" && r.Fingerprints["akamai"] != httpWant["akamai"] {
				t.Fatalf("curl h2c akamai %q", r.Fingerprints["akamai"])
			}
		})
	}
}

// TestEchoWebsocket: the three subprotocols over HTTP/1.1 upgrades, on
// /ws and on any path; none offered is echo; unknown ones get 400.
func TestEchoWebsocket(t *testing.T) {
	port, plain := startEcho(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	httpsClient := goClient(false)
	for _, tc := range []struct {
		url      string
		protos   []string
		text     string
		wantText string
	}{
		{"wss://localhost:" + port + "/ws", []string{"echo"}, "MiXeD", "MiXeD"},
		{"wss://localhost:" + port + "/anything", []string{"echo-upper"}, "MiXeD", "MIXED"},
		{"ws://" + plain + "/ws", []string{"nope", "echo-lower"}, "MiXeD", "mixed"},
		{"ws://" + plain + "/ws", nil, "MiXeD", "MiXeD"},
	} {
		client := http.DefaultClient
		if strings.HasPrefix(tc.url, "wss") {
			client = httpsClient
		}
		c, _, err := websocket.Dial(ctx, tc.url, &websocket.DialOptions{Subprotocols: tc.protos, HTTPClient: client})
		if err != nil {
			t.Fatalf("%s %v: %v", tc.url, tc.protos, err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(tc.text)); err != nil {
			t.Fatal(err)
		}
		if typ, msg, err := c.Read(ctx); err != nil || typ != websocket.MessageText || string(msg) != tc.wantText {
			t.Fatalf("%v: %v %q %v, want %q", tc.protos, typ, msg, err, tc.wantText)
		}
		bin := []byte{0xff, 'a', 'B'}
		c.Write(ctx, websocket.MessageBinary, bin)
		if typ, msg, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || !bytes.Equal(msg, bin) {
			t.Fatalf("%v binary: %v %x %v", tc.protos, typ, msg, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	_, resp, err := websocket.Dial(ctx, "ws://"+plain+"/ws", &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown subprotocol: err %v, resp %v", err, resp)
	}
}

func TestEchoIP(t *testing.T) {
	_, plain := startEcho(t)
	for accept, want := range map[string]string{"": "127.0.0.1\n", "application/json": `{"ip":"127.0.0.1"}` + "\n",
		"text/html": "<!doctype html><title>Your IP</title><p>127.0.0.1</p>\n"} {
		req, _ := http.NewRequest("GET", "http://"+plain+"/ip", nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("Accept %q: %q", accept, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + plain + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", p, err)
		}
		resp.Body.Close()
	}
}

// TestEchoPeetCompatibleAPI decodes /api/clean and /api/raw into the field
// names of tls.peet.ws's answers (as its clients declare them).
func TestEchoPeetCompatibleAPI(t *testing.T) {
	port, _ := startEcho(t)
	var clean struct {
		JA3           string `json:"ja3"`
		JA3Hash       string `json:"ja3_hash"`
		JA4           string `json:"ja4"`
		JA4R          string `json:"ja4_r"`
		Akamai        string `json:"akamai"`
		AkamaiHash    string `json:"akamai_hash"`
		PeetPrint     string `json:"peetprint"`
		PeetPrintHash string `json:"peetprint_hash"`
		HTTPVersion   string `json:"http_version"`
	}
	for _, h2 := range []bool{true, false} {
		c := goClient(h2)
		resp, err := c.Get("https://localhost:" + port + "/api/clean")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&clean)
		resp.Body.Close()
		golden := golden(t, map[bool]string{true: "go-1.26-h2", false: "go-1.26-h1"}[h2], "expect-tls.txt")
		if clean.JA3Hash != golden["ja3_hash"] || clean.JA4 != golden["ja4"] || clean.PeetPrintHash != golden["peetprint_hash"] {
			t.Fatalf("h2=%v clean %+v", h2, clean)
		}
		if (h2 && (clean.HTTPVersion != "h2" || clean.Akamai == "-")) || (!h2 && (clean.HTTPVersion != "HTTP/1.1" || clean.Akamai != "-")) {
			t.Fatalf("h2=%v clean %+v", h2, clean)
		}
		c.Transport.(*http.Transport).CloseIdleConnections()
	}
	resp, err := goClient(true).Get("https://localhost:" + port + "/api/raw")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Raw    string `json:"raw"`
		RawB64 string `json:"raw_b64"`
	}
	json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	msg, err := hex.DecodeString(raw.Raw)
	if err != nil || len(msg) < 4 || msg[0] != 1 || base64.StdEncoding.EncodeToString(msg) != raw.RawB64 {
		t.Fatalf("raw %+v", raw)
	}
	if ch, err := fingerprint.ParseClientHello(msg); err != nil || ch.ServerName != "localhost" {
		t.Fatalf("raw is not the bare hello: %v", err)
	}
}

// TestEchoProxyProtocol: with --proxy-protocol required, the address in a
// PROXY v2 (and v1) header is the client's; a connection without one is
// refused while others go on.
func TestEchoProxyProtocol(t *testing.T) {
	addr := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "", "--proxy-protocol", "required").https
	for _, version := range []byte{1, 2} {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		src := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40000 + int(version)}
		if _, err := proxyproto.HeaderProxyFromAddrs(version, src, raw.RemoteAddr()).WriteTo(raw); err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		var rep struct {
			Client string `json:"client"`
		}
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		tc.Close()
		if rep.Client != src.String() {
			t.Fatalf("v%d: client %q, want %s", version, rep.Client, src)
		}
	}
	// No header: refused.
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Fatal("a connection without a PROXY header was served")
	}
}

// TestEchoRateLimit: past the burst a client gets 429 with Retry-After;
// the limit is per client address.
func TestEchoRateLimit(t *testing.T) {
	addr := startEchoWith(t, "--https-addr", "", "--http-addr", "127.0.0.1:0", "--rate", "0.5", "--rate-burst", "2").http
	var codes []int
	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v", codes)
	}
}

// TestEchoHTMLPage: Accept text/html gives a page with every value
// escaped and a strict Content-Security-Policy.
func TestEchoHTMLPage(t *testing.T) {
	_, plain := startEcho(t)
	req, _ := http.NewRequest("GET", "http://"+plain+"/<script>alert(1)</script>", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("X-Evil", `"><img src=x onerror=alert(1)>`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	page := string(body)
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") || !strings.Contains(page, "X-Evil") {
		t.Fatalf("page not escaped or incomplete:\n%s", page)
	}
}

// TestEchoMetrics: requests, handshakes and HTTP/2 stream matches show on
// the metrics endpoint.
func TestEchoMetrics(t *testing.T) {
	b := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "", "--metrics-addr", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(b.https)
	c := goClient(true)
	defer c.Transport.(*http.Transport).CloseIdleConnections()
	resp, err := c.Get("https://localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`echo_requests_total{proto="HTTP/2.0"} 1`, `echo_tls_handshakes_total{result="ok"} 1`,
		`echo_http2_stream_matches_total{match="exact"} 1`, "echo_fingerprint_seconds_count 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestEchoAnswerInOneRecord: over HTTP/1.1 the echo's answer, head and
// JSON (about 11 KB for Go's client), leaves in one TLS record, not in the
// four to six of crypto/tls's dynamic record sizing and net/http's 4 KiB
// buffer.
func TestEchoAnswerInOneRecord(t *testing.T) {
	port, _ := startEcho(t)
	raw, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rec := &tlsrecords.ReadLog{Conn: raw}
	c := tls.Client(rec, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	answer, err := io.ReadAll(c)
	if err != nil || !bytes.HasPrefix(answer, []byte("HTTP/1.1 200 OK\r\n")) || len(answer) < 8000 {
		t.Fatalf("answer of %d bytes, %v: %.60q", len(answer), err, answer)
	}
	records, err := rec.Lengths()
	if err != nil {
		t.Fatal(err)
	}
	// A TLS 1.3 record carries its content type and a 16-byte tag after
	// the plaintext.
	if !slices.Contains(records, len(answer)+17) {
		t.Fatalf("no record holds the whole %d-byte answer; the server's records: %v", len(answer), records)
	}
}
