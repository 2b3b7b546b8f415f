package web

import (
	"encoding/json"
	"testing"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
)

// BenchmarkEchoReport encodes the echo's report of a golden request (a
// browser over h2, Go's client over HTTP/1.1) with json.Marshal, with
// AppendJSON into a reused buffer with the connection's TLS section
// encoded once (as the echo answers a keep-alive request), with the TLS
// section built and the whole report encoded (as on a new connection),
// and with AppendJSON encoding the whole report alone.
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
		b.Run(name+"/first-answer", func(b *testing.B) {
			// What a connection's first request pays: its TLS section built
			// from the parsed hello, and the whole report encoded.
			f := golden.Load(b, goldenDir, name)
			raw := f.MustHex(b, "hello.hex")
			ch, err := fingerprint.ParseClientHello(raw)
			if err != nil {
				b.Fatal(err)
			}
			state := goldenState(b, f, ch)
			first := rep
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				first.conn = newConnReport(tlsInfo(state, ch, raw[:ch.Consumed], nil), rep.conn.fingerprints)
				first.TLS = first.conn.tls
				buf = first.AppendJSON(buf[:0])
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
