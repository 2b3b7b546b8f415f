package fingerprint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/fpwork/fp/internal/golden"
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
	var out []golden
	for _, f := range goldenfile.Glob(tb, goldenDir()) {
		g := golden{name: f.Name, expectTLS: f.Values("expect-tls.txt"), expectHTTP: f.Values("expect-http.txt")}
		var err error
		for _, sec := range []struct {
			name string
			dst  *[]byte
		}{{"hello.hex", &g.hello}, {"http1.hex", &g.http1}, {"http2.hex", &g.http2}} {
			if *sec.dst, err = f.Hex(sec.name); err != nil {
				tb.Fatal(err)
			}
		}
		if g.hello == nil || g.expectTLS == nil {
			tb.Fatalf("golden %s: no hello.hex or expect-tls.txt section", f.Name)
		}
		out = append(out, g)
	}
	return out
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
