package fingerprint

import (
	"golang.org/x/crypto/cryptobyte"
)

// testExt is an extension for testHello: a type and its body.
type testExt struct {
	typ  uint16
	body []byte
}

// testHello describes a ClientHello to encode for tests.
type testHello struct {
	version uint16
	ciphers []uint16
	exts    []testExt // nil: no extensions block at all
	noExts  bool
}

// bare encodes the hello as a handshake message.
func (h testHello) bare() []byte {
	var b cryptobyte.Builder
	b.AddUint8(handshakeClientHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(h.version)
		b.AddBytes(make([]byte, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {})
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, c := range h.ciphers {
				b.AddUint16(c)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		if h.noExts {
			return
		}
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range h.exts {
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.body) })
			}
		})
	})
	return b.BytesOrPanic()
}

// records wraps msg in handshake records of at most size bytes each.
func records(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// Extension body encoders.

func u16List(vs ...uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range vs {
			b.AddUint16(v)
		}
	})
	return b.BytesOrPanic()
}

func u8ListOf16(vs ...uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range vs {
			b.AddUint16(v)
		}
	})
	return b.BytesOrPanic()
}

func u8List(vs ...byte) []byte { return append([]byte{byte(len(vs))}, vs...) }

func sniBody(name string) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	})
	return b.BytesOrPanic()
}

func alpnBody(protos ...string) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, p := range protos {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	})
	return b.BytesOrPanic()
}

func keyShareBody(groups ...uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, g := range groups {
			b.AddUint16(g)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		}
	})
	return b.BytesOrPanic()
}

func mustParse(t interface {
	Helper()
	Fatalf(string, ...any)
}, b []byte) *ClientHello {
	t.Helper()
	ch, err := ParseClientHello(b)
	if err != nil {
		t.Fatalf("ParseClientHello: %v", err)
	}
	return ch
}
