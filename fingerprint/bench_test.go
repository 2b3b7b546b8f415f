package fingerprint_test

import (
	"crypto/tls"
	"os"
	"testing"
	"time"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/selfsigned"
	"github.com/fpwork/fp/internal/threadcpu"
)

// The speed target: parse + JA3 + JA4 of a ~2 KB Chrome hello costs under
// 2% of a server-side TLS 1.3 handshake (ECDSA P-256, X25519), and all TLS
// fingerprints together under 5%. BenchmarkFingerprintBudget measures both
// in the same run and reports the ratios; nothing here asserts a time.

func chromeHello(b *testing.B) []byte {
	b.Helper()
	return golden.Load(b, "testdata/golden", "chromium-156-linux").MustHex(b, "hello.hex")
}

func parseJA3JA4(raw []byte) (string, string) {
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		panic(err)
	}
	return fingerprint.JA3Hash(ch), fingerprint.JA4(ch, fingerprint.TransportTCP)
}

// parseJA3JA4Into is parseJA3JA4 reusing one ClientHello, as a server
// worker or a capture-file reader does.
func parseJA3JA4Into(ch *fingerprint.ClientHello, raw []byte) (string, string) {
	if err := ch.Parse(raw); err != nil {
		panic(err)
	}
	return fingerprint.JA3Hash(ch), fingerprint.JA4(ch, fingerprint.TransportTCP)
}

func allTLSInto(ch *fingerprint.ClientHello, raw []byte) fingerprint.TLSFingerprints {
	if err := ch.Parse(raw); err != nil {
		panic(err)
	}
	return fingerprint.ComputeTLS(ch, fingerprint.TransportTCP)
}

func allTLS(raw []byte) fingerprint.TLSFingerprints {
	ch, err := fingerprint.ParseClientHello(raw)
	if err != nil {
		panic(err)
	}
	return fingerprint.ComputeTLS(ch, fingerprint.TransportTCP)
}

func BenchmarkParseClientHello(b *testing.B) {
	raw := chromeHello(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := fingerprint.ParseClientHello(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJA3JA4(b *testing.B) {
	raw := chromeHello(b)
	b.ReportAllocs()
	for b.Loop() {
		parseJA3JA4(raw)
	}
}

func BenchmarkParseJA3JA4Reused(b *testing.B) {
	raw := chromeHello(b)
	var ch fingerprint.ClientHello
	b.ReportAllocs()
	for b.Loop() {
		parseJA3JA4Into(&ch, raw)
	}
}

func BenchmarkAllTLSFingerprintsReused(b *testing.B) {
	raw := chromeHello(b)
	var ch fingerprint.ClientHello
	b.ReportAllocs()
	for b.Loop() {
		allTLSInto(&ch, raw)
	}
}

func BenchmarkAllTLSFingerprints(b *testing.B) {
	raw := chromeHello(b)
	b.ReportAllocs()
	for b.Loop() {
		allTLS(raw)
	}
}

func serverConfig(b *testing.B) *tls.Config {
	b.Helper()
	cert, err := selfsigned.Localhost()
	if err != nil {
		b.Fatal(err)
	}
	return threadcpu.TLSServerConfig(cert)
}

// serverHandshakes returns the server-side CPU time of n handshakes.
func serverHandshakes(b *testing.B, cfg *tls.Config, n int) time.Duration {
	b.Helper()
	d, err := threadcpu.ServerHandshakes(cfg, n, nil)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkTLS13ServerHandshake is the baseline: the server's CPU time per
// handshake as server-cpu-ns/op (ns/op is the wall time of both ends).
func BenchmarkTLS13ServerHandshake(b *testing.B) {
	cfg := serverConfig(b)
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		cpu += serverHandshakes(b, cfg, 1)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "server-cpu-ns/op")
}

// BenchmarkFingerprintBudget measures the handshake baseline and the
// fingerprint work in the same run and reports their ratio in percent.
func BenchmarkFingerprintBudget(b *testing.B) {
	if os.Getenv("FP_SKIP_HANDSHAKE_BENCH") != "" {
		b.Skip("FP_SKIP_HANDSHAKE_BENCH set")
	}
	raw := chromeHello(b)
	cfg := serverConfig(b)
	b.ReportAllocs()
	const handshakes = 300
	var hs, fpCPU, allCPU, fpReused, allReused time.Duration
	var ch fingerprint.ClientHello
	for b.Loop() {
		hs += serverHandshakes(b, cfg, handshakes)
		fpCPU += threadcpu.Run(func() {
			for i := 0; i < handshakes; i++ {
				parseJA3JA4(raw)
			}
		})
		allCPU += threadcpu.Run(func() {
			for i := 0; i < handshakes; i++ {
				allTLS(raw)
			}
		})
		fpReused += threadcpu.Run(func() {
			for i := 0; i < handshakes; i++ {
				parseJA3JA4Into(&ch, raw)
			}
		})
		allReused += threadcpu.Run(func() {
			for i := 0; i < handshakes; i++ {
				allTLSInto(&ch, raw)
			}
		})
	}
	pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(hs) }
	b.ReportMetric(pct(fpCPU), "ja3ja4-%")
	b.ReportMetric(pct(allCPU), "all-tls-%")
	b.ReportMetric(pct(fpReused), "ja3ja4-reused-%")
	b.ReportMetric(pct(allReused), "all-tls-reused-%")
	b.ReportMetric(float64(hs.Nanoseconds())/float64(b.N*handshakes), "server-cpu-ns/handshake")
}

func BenchmarkJA4H(b *testing.B) {
	head := []byte("GET /page?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Referer: https://example.com/\r\nCookie: session=abc; theme=dark; _ga=GA1.2.3\r\nConnection: keep-alive\r\n\r\n")
	lim := fingerprint.DefaultHTTP1Limits()
	b.ReportAllocs()
	for b.Loop() {
		r, _, err := fingerprint.ParseHTTP1Head(head, lim)
		if err != nil {
			b.Fatal(err)
		}
		fingerprint.JA4HAll(r)
	}
}

func BenchmarkHTTP2Akamai(b *testing.B) {
	stream := golden.Load(b, "testdata/golden", "chromium-156-linux").MustHex(b, "http2.hex")
	lim := fingerprint.DefaultHTTP2Limits()
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		conn, err := fingerprint.ParseHTTP2Client(stream, lim)
		if err != nil {
			b.Fatal(err)
		}
		fingerprint.Akamai(conn)
	}
}
