package capture

import (
	"bytes"
	"os"
	"testing"
)

// FuzzConnRecord feeds bytes to a recording Conn in reads of a chosen
// size: no panic, and a reported hello is exactly a prefix of the input.
func FuzzConnRecord(f *testing.F) {
	hello, err := os.ReadFile("../cmd/fp/sample/chromium-156-linux.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hello, uint8(7))
	f.Add(append([]byte{0x16, 3, 1, 0, 1, 1, 0x16, 3, 1, 0, 3}, 0, 0, 0), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, Limits{MaxHelloBytes: 4096})
		buf := make([]byte, int(step)+1)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if ch, raw, err := c.ClientHello(); err == nil {
			if !bytes.HasPrefix(in, raw) || ch.Consumed != len(raw) {
				t.Fatalf("hello of %d bytes is not a prefix of the input", len(raw))
			}
		}
	})
}
