package capture

import (
	"net"
	"testing"
	"time"

	"github.com/fpwork/fp/internal/selfsigned"
	"github.com/fpwork/fp/internal/threadcpu"
)

// BenchmarkHandshakeThroughCapture compares the server's CPU per TLS 1.3
// handshake with the recording Conn against plain crypto/tls, A/B
// interleaved in the same run (target: at most 1.1x). The ratio is the
// capture-vs-plain metric.
func BenchmarkHandshakeThroughCapture(b *testing.B) {
	cert, err := selfsigned.Localhost()
	if err != nil {
		b.Fatal(err)
	}
	cfg := threadcpu.TLSServerConfig(cert)
	wrap := func(c net.Conn) net.Conn { return NewConn(c, DefaultLimits()) }
	const batch = 100
	var plain, captured time.Duration
	b.ReportAllocs()
	for b.Loop() {
		p, err := threadcpu.ServerHandshakes(cfg, batch, nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := threadcpu.ServerHandshakes(cfg, batch, wrap)
		if err != nil {
			b.Fatal(err)
		}
		plain += p
		captured += c
	}
	b.ReportMetric(float64(captured)/float64(plain), "capture-vs-plain")
	b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N*batch), "plain-cpu-ns/handshake")
	b.ReportMetric(float64(captured.Nanoseconds())/float64(b.N*batch), "capture-cpu-ns/handshake")
}
