package capture

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// chunkConn is a connection whose reads return at most size bytes of what
// the client sent.
type chunkConn struct {
	net.Conn
	r    *bytes.Reader
	size int
}

func (c *chunkConn) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.size)]) }

// clientStream is an HTTP/2 client stream: the preface frames built by
// before, then one HEADERS frame (:method, :authority, :scheme, :path)
// and a DATA frame. It returns the stream and the offset of the HEADERS
// frame.
func clientStream(t *testing.T, before func(*http2.Framer)) ([]byte, int) {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	before(fr)
	at := buf.Len()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":authority", "a.test"}, {":scheme", "https"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteData(1, true, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), at
}

func TestHTTP2Preface(t *testing.T) {
	settings := func(fr *http2.Framer) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 65536}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 6291456})
		fr.WriteWindowUpdate(0, 15663105)
		fr.WritePriority(3, http2.PriorityParam{StreamDep: 0, Weight: 200})
	}
	manyPings := func(fr *http2.Framer) {
		for range 1100 { // 1100 x 17 bytes: past the 16 KiB bound
			fr.WritePing(false, [8]byte{})
		}
	}
	tests := []struct {
		name       string
		proto      Protocol
		before     func(*http2.Framer)
		chunk      int
		cut        int // bytes of the stream sent; 0: all
		wantOK     bool
		wantPseudo []string
	}{
		{name: "ALPN h2, one read", proto: ProtocolHTTP2, before: settings, chunk: 1 << 16, wantOK: true,
			wantPseudo: []string{":method", ":authority", ":scheme", ":path"}},
		{name: "ALPN h2, 7-byte reads", proto: ProtocolHTTP2, before: settings, chunk: 7, wantOK: true,
			wantPseudo: []string{":method", ":authority", ":scheme", ":path"}},
		{name: "prior-knowledge h2c on a plain port", proto: ProtocolHTTP1, before: settings, chunk: 5, wantOK: true,
			wantPseudo: []string{":method", ":authority", ":scheme", ":path"}},
		{name: "no HEADERS yet", proto: ProtocolHTTP2, before: settings, chunk: 64, cut: -10},
		{name: "preface past 16 KiB", proto: ProtocolHTTP2, before: manyPings, chunk: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, at := clientStream(t, tt.before)
			sent := stream
			if tt.cut < 0 {
				sent = stream[:at+tt.cut]
			}
			pc := NewPlainConn(&chunkConn{r: bytes.NewReader(sent), size: tt.chunk}, tt.proto)
			if _, err := io.Copy(io.Discard, pc); err != nil {
				t.Fatal(err)
			}
			raw, pseudo, ok := pc.HTTP2Preface()
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (stopped: %v)", ok, tt.wantOK, pc.reason)
			}
			if !ok {
				if raw != nil || pseudo != nil {
					t.Fatalf("not ok but raw %d bytes, pseudo %v", len(raw), pseudo)
				}
				return
			}
			if !bytes.Equal(raw, stream[:at]) {
				t.Fatalf("preface: got %d bytes, want the %d before the HEADERS frame", len(raw), at)
			}
			if !slices.Equal(pseudo, tt.wantPseudo) {
				t.Fatalf("pseudo-header order %v, want %v", pseudo, tt.wantPseudo)
			}
			raw[0] = 'X' // the result is the caller's
			if again, _, _ := pc.HTTP2Preface(); again[0] != 'P' {
				t.Fatal("HTTP2Preface returned the connection's own buffer")
			}
		})
	}
}
