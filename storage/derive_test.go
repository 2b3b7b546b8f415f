package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/fpwork/fp/fingerprint"
	goldenfile "github.com/fpwork/fp/internal/golden"
)

const goldenDir = "../fingerprint/testdata/golden"

// TestDeriveConnectionFromStoredBytes: what is stored of a connection (its
// hello with the PSK zeroed, the HTTP/2 bytes before the first HEADERS,
// the first HEADERS' pseudo-header order) rebuilds the fingerprints the
// golden captures expect (tshark and read-tls-client-hello).
func TestDeriveConnectionFromStoredBytes(t *testing.T) {
	h2 := 0
	for _, f := range goldenfile.Glob(t, goldenDir) {
		hello, err := fingerprint.RedactPSK(f.MustHex(t, "hello.hex"))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		c := &Connection{ID: "c", Transport: fingerprint.TransportTCP, Hello: hello}
		if stream, ok := f.Section("http2.hex"); ok && len(stream) > 0 {
			raw := f.MustHex(t, "http2.hex")
			conn, _ := fingerprint.ParseHTTP2Client(raw, fingerprint.DefaultHTTP2Limits())
			if conn.First == nil {
				t.Fatalf("%s: no HEADERS in the golden stream", f.Name)
			}
			c.HTTP2Preface = raw[:conn.Frames[conn.FirstHeaders].Offset]
			c.PseudoHeaderOrder = conn.First.PseudoHeaderOrder()
			h2++
		}
		d, err := DeriveConnection(c)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		want, unstable := f.Values("expect-tls.txt"), f.UnstableKeys()
		for key, got := range map[string]string{"ja3_hash": d.TLS.JA3Hash, "ja3n_hash": d.TLS.JA3NHash, "ja4": d.TLS.JA4,
			"ja4_r": d.TLS.JA4R, "ja4_o": d.TLS.JA4O, "peetprint_hash": d.TLS.PeetPrintHash} {
			if !unstable[key] && want[key] != "" && got != want[key] {
				t.Errorf("%s: %s %q, want %q", f.Name, key, got, want[key])
			}
		}
		if c.HTTP2Preface != nil {
			if w := f.Values("expect-http.txt")["akamai"]; d.Akamai != w {
				t.Errorf("%s: akamai %q, want %q", f.Name, d.Akamai, w)
			}
		}
	}
	if h2 == 0 {
		t.Fatal("no golden HTTP/2 stream")
	}
}

// TestDeriveObservationFromStoredHeaders: JA4H is rebuilt from the
// stored (redacted) header list as the goldens expect, except for a
// request that carried cookies, whose values are not kept.
func TestDeriveObservationFromStoredHeaders(t *testing.T) {
	rebuilt, refused := 0, 0
	for _, f := range goldenfile.Glob(t, goldenDir) {
		raw, ok := f.Section("http1.hex")
		if !ok || len(raw) == 0 {
			continue
		}
		s, err := fingerprint.ParseHTTP1Stream(f.MustHex(t, "http1.hex"), fingerprint.DefaultHTTP1Limits())
		if err != nil || len(s.Requests) == 0 {
			t.Fatalf("%s: %v", f.Name, err)
		}
		r := s.Requests[0]
		o := &Observation{ID: "o", Method: r.Method, HTTPVersion: "HTTP/" + r.Version.String(), Headers: Redact(r.Headers)}
		d, err := DeriveObservation(o)
		hasCookie := strings.Contains(strings.ToLower(string(r.Raw)), "\ncookie:")
		switch {
		case hasCookie && errors.Is(err, ErrNotRebuildable):
			refused++
		case hasCookie || err != nil:
			t.Fatalf("%s: cookie %v, err %v", f.Name, hasCookie, err)
		default:
			if want := f.Values("expect-http.txt")["req1.ja4h"]; d.JA4H != want {
				t.Fatalf("%s: ja4h %q, want %q", f.Name, d.JA4H, want)
			}
			rebuilt++
		}
	}
	if rebuilt == 0 || refused == 0 {
		t.Fatalf("%d rebuilt, %d refused: the goldens should hold both kinds", rebuilt, refused)
	}
}
