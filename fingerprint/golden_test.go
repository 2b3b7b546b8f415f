package fingerprint

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// A golden file (testdata/golden/NAME.txtar) is one real client captured
// on loopback by scripts/capture-goldens.sh. Its expected values come from
// tshark, the npm package read-tls-client-hello, and the lists tshark
// decoded (the txtar comment shows them); never from this package. Adding
// a file adds a test. FP_GOLDEN_DIR points the test at a fresh capture.
type golden struct {
	name       string
	hello      []byte
	expectTLS  map[string]string
	http1      []byte
	http2      []byte
	expectHTTP map[string]string
}

func goldenDir() string {
	if d := os.Getenv("FP_GOLDEN_DIR"); d != "" {
		return d
	}
	return filepath.Join("testdata", "golden")
}

func loadGoldens(tb testing.TB) []golden {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir(), "*.txtar"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []golden
	for _, f := range files {
		g, err := readGolden(f)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, g)
	}
	return out
}

func readGolden(path string) (golden, error) {
	a, err := txtar.ParseFile(path)
	if err != nil {
		return golden{}, err
	}
	g := golden{name: strings.TrimSuffix(filepath.Base(path), ".txtar")}
	for _, f := range a.Files {
		switch f.Name {
		case "hello.hex":
			g.hello, err = decodeHexLines(f.Data)
		case "http1.hex":
			g.http1, err = decodeHexLines(f.Data)
		case "http2.hex":
			g.http2, err = decodeHexLines(f.Data)
		case "expect-tls.txt":
			g.expectTLS = keyValues(f.Data)
		case "expect-http.txt":
			g.expectHTTP = keyValues(f.Data)
		}
		if err != nil {
			return g, fmt.Errorf("section %s: %w", f.Name, err)
		}
	}
	if g.hello == nil || g.expectTLS == nil {
		return g, fmt.Errorf("no hello.hex or expect-tls.txt section")
	}
	return g, nil
}

func decodeHexLines(b []byte) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
}

// keyValues reads "key value" lines; "source ..." lines are provenance.
func keyValues(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "source ") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		m[k] = v
	}
	return m
}

func TestGolden(t *testing.T) {
	goldens := loadGoldens(t)
	if len(goldens) == 0 {
		t.Fatalf("no golden files in %s", goldenDir())
	}
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			ch, err := ParseClientHello(g.hello)
			if err != nil {
				t.Fatalf("ParseClientHello: %v", err)
			}
			if ch.Consumed != len(g.hello) {
				t.Errorf("hello.hex has %d bytes, the hello took %d", len(g.hello), ch.Consumed)
			}
			fp := ComputeTLS(ch, TransportTCP)
			got := map[string]string{
				"sni": ch.ServerName, "alpn": strings.Join(ch.ALPN, ","),
				"ja3": fp.JA3, "ja3_hash": fp.JA3Hash, "ja3n": fp.JA3N, "ja3n_hash": fp.JA3NHash,
				"ja4": fp.JA4, "ja4_r": fp.JA4R, "ja4_o": fp.JA4O, "ja4_ro": fp.JA4RO,
				"peetprint": fp.PeetPrint, "peetprint_hash": fp.PeetPrintHash,
			}
			compare(t, "tls", g.expectTLS, got)
			if g.expectHTTP != nil {
				compare(t, "http", g.expectHTTP, httpValues(t, g))
			}
		})
	}
}

// httpValues computes the expect-http.txt keys from the golden's stream.
func httpValues(t *testing.T, g golden) map[string]string {
	t.Helper()
	var (
		reqs []*HTTPRequest
		conn *HTTP2Conn
	)
	switch {
	case g.http2 != nil:
		var err error
		conn, err = ParseHTTP2Client(g.http2, DefaultHTTP2Limits())
		if err != nil {
			t.Fatalf("ParseHTTP2Client: %v", err)
		}
		reqs = conn.Requests
	case g.http1 != nil:
		st, err := ParseHTTP1Stream(g.http1, DefaultHTTP1Limits())
		if err != nil {
			t.Fatalf("ParseHTTP1Stream: %v", err)
		}
		reqs = st.Requests
	default:
		t.Fatal("expect-http.txt without a stream section")
	}
	got := map[string]string{}
	for i, r := range reqs {
		k := fmt.Sprintf("req%d.", i+1)
		f := ComputeHTTP(r, conn)
		got[k+"method"], got[k+"path"], got[k+"http_version"] = r.Method, r.Target, r.Version.String()
		got[k+"ja4h"], got[k+"ja4h_r"], got[k+"ja4h_ro"] = f.JA4H, f.JA4HR, f.JA4HRO
		if conn != nil {
			got["akamai"], got["akamai_hash"] = f.Akamai, f.AkamaiHash
		}
	}
	return got
}

func compare(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s %s: expected %q, not computed", what, k, w)
			continue
		}
		if g != w {
			t.Errorf("%s %s:\n got  %s\n want %s", what, k, g, w)
		}
	}
}
