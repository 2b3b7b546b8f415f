package web

import (
	"encoding/json"
	"testing"

	"github.com/fpwork/fp/internal/golden"
)

// BenchmarkEchoReport encodes the echo's report of a golden request (a
// browser over h2, Go's client over HTTP/1.1) with json.Marshal, with
// AppendJSON into a reused buffer with the connection's TLS section
// encoded once (as the echo answers a keep-alive request), and with
// AppendJSON encoding the whole report (as on a new connection).
func BenchmarkEchoReport(b *testing.B) {
	for _, name := range []string{"chromium-156-linux", "go-1.26-h1"} {
		g := loadGoldenConn(b, golden.Load(b, goldenDir, name))
		rep := g.reports()[0]
		uncached := rep
		uncached.conn = nil
		b.Run(name+"/json.Marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := json.Marshal(&rep)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(out)))
			}
		})
		b.Run(name+"/AppendJSON", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = rep.AppendJSON(buf[:0])
				b.SetBytes(int64(len(buf)))
			}
		})
		b.Run(name+"/AppendJSON-whole", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = uncached.AppendJSON(buf[:0])
				b.SetBytes(int64(len(buf)))
			}
		})
	}
}
