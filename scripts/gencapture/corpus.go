package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/tools/txtar"
)

// corpus holds the real client bytes taken from the golden files.
type corpus struct {
	hellos     []tlsHello  // TLS records carrying a ClientHello, as captured
	quicHellos []quicHello // Chrome-like ClientHello handshake messages rewritten for QUIC
	http2      []h2Stream  // HTTP/2 client streams from the preface on
	http1      [][]byte    // single HTTP/1 requests (head and body)
}

type tlsHello struct {
	name    string
	records []byte
}

// quicHello is a ClientHello handshake message (no record header).
type quicHello struct {
	name string
	msg  []byte
}

// h2Stream is a client HTTP/2 stream cut in two at a frame boundary: first is
// the preface and the frames up to the first request's header block, rest
// what the client sent after that.
type h2Stream struct {
	name        string
	first, rest []byte
}

// Offsets in a TLS record stream that starts with a ClientHello record:
// 5-byte record header, 4-byte handshake header, 2-byte legacy_version.
const (
	recordRandomOffset = 5 + 4 + 2
	handshakeRandomOff = 4 + 2
	randomLen          = 32
	h2Preface          = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// TLS extension types the QUIC rewrite touches.
const (
	extALPN              = 16
	extPadding           = 21
	extPreSharedKey      = 41
	extSupportedVersions = 43
	extQUICTransport     = 57
)

// loadCorpus reads every *.txtar in fsys (sorted by name, so the corpus and
// thus the output are deterministic).
func loadCorpus(fsys fs.FS) (*corpus, error) {
	names, err := fs.Glob(fsys, "*.txtar")
	if err != nil {
		return nil, err
	}
	c := &corpus{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		if err := c.add(strings.TrimSuffix(path.Base(name), ".txtar"), txtar.Parse(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(c.hellos) == 0 {
		return nil, errors.New("no hello.hex section found")
	}
	if len(c.quicHellos) == 0 {
		return nil, errors.New("no Chrome-like TLS 1.3 hello found for QUIC")
	}
	if len(c.http2) == 0 {
		return nil, errors.New("no http2.hex section found")
	}
	return c, nil
}

func (c *corpus) add(name string, ar *txtar.Archive) error {
	for _, f := range ar.Files {
		var err error
		switch f.Name {
		case "hello.hex":
			err = c.addHello(name, f.Data)
		case "http2.hex":
			err = c.addHTTP2(name, f.Data)
		case "http1.hex":
			err = c.addHTTP1(f.Data)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

func decodeHex(data []byte) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(string(data)), ""))
}

func (c *corpus) addHello(name string, data []byte) error {
	rec, err := decodeHex(data)
	if err != nil {
		return err
	}
	// A handshake record whose first message is a ClientHello, long enough to
	// hold the client random in its first record.
	if len(rec) < recordRandomOffset+randomLen || rec[0] != 0x16 || rec[5] != 1 ||
		int(rec[3])<<8|int(rec[4]) < 4+2+randomLen {
		return errors.New("not a ClientHello record")
	}
	c.hellos = append(c.hellos, tlsHello{name: name, records: rec})
	if chromeLike(name) {
		msg, err := handshakeMessage(rec)
		if err != nil {
			return err
		}
		q, ok, err := quicClientHello(msg)
		if err != nil {
			return err
		}
		if ok {
			c.quicHellos = append(c.quicHellos, quicHello{name: name, msg: q})
		}
	}
	return nil
}

// chromeLike reports whether a golden comes from Chromium or a uTLS Chrome or
// Edge parrot: the clients whose hellos we send over QUIC.
func chromeLike(name string) bool {
	for _, p := range []string{"chromium-", "utls-chrome-", "utls-edge-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// handshakeMessage joins the fragments of the handshake records and returns
// the first handshake message.
func handshakeMessage(records []byte) ([]byte, error) {
	var hs []byte
	s := cryptobyte.String(records)
	for !s.Empty() {
		var typ uint8
		var vers uint16
		var frag cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint16(&vers) || !s.ReadUint16LengthPrefixed(&frag) {
			return nil, errors.New("truncated TLS record")
		}
		if typ != 0x16 {
			break
		}
		hs = append(hs, frag...)
	}
	m := cryptobyte.String(hs)
	var typ uint8
	var body cryptobyte.String
	if !m.ReadUint8(&typ) || !m.ReadUint24LengthPrefixed(&body) {
		return nil, errors.New("truncated handshake message")
	}
	return hs[:4+len(body)], nil
}

// quicClientHello rewrites a ClientHello for QUIC (RFC 9001 section 8): an
// empty legacy_session_id, ALPN "h3", no padding extension, and a
// quic_transport_parameters extension (inserted before pre_shared_key, which
// must stay last). ok is false for a hello that does not offer TLS 1.3.
func quicClientHello(msg []byte) (out []byte, ok bool, err error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	var vers uint16
	var random []byte
	var sid, suites, comp, exts cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&body) ||
		!body.ReadUint16(&vers) || !body.ReadBytes(&random, randomLen) ||
		!body.ReadUint8LengthPrefixed(&sid) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&comp) || !body.ReadUint16LengthPrefixed(&exts) {
		return nil, false, errors.New("malformed ClientHello")
	}
	type ext struct {
		typ  uint16
		data []byte
	}
	var list []ext
	tls13 := false
	for !exts.Empty() {
		var e ext
		var data cryptobyte.String
		if !exts.ReadUint16(&e.typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, false, errors.New("malformed extensions")
		}
		e.data = data
		if e.typ == extSupportedVersions {
			var vs cryptobyte.String
			if data.ReadUint8LengthPrefixed(&vs) {
				for !vs.Empty() {
					var v uint16
					vs.ReadUint16(&v)
					tls13 = tls13 || v == 0x0304
				}
			}
		}
		list = append(list, e)
	}
	if !tls13 {
		return nil, false, nil
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(1)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(vers)
		b.AddBytes(random)
		b.AddUint8(0) // empty legacy_session_id
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(suites) })
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(comp) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			added := false
			addTP := func() {
				b.AddUint16(extQUICTransport)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(transportParameters()) })
				added = true
			}
			for _, e := range list {
				switch e.typ {
				case extPadding:
					continue
				case extPreSharedKey:
					addTP()
				case extALPN:
					b.AddUint16(extALPN)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
							b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("h3")) })
						})
					})
					continue
				}
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
			}
			if !added {
				addTP()
			}
		})
	})
	out, err = b.Bytes()
	return out, err == nil, err
}

// transportParameters returns Chrome-like QUIC transport parameters (RFC 9000
// section 18.2): id and length as variable-length integers, then the value.
func transportParameters() []byte {
	var p []byte
	num := func(id, v uint64) {
		val := appendVarint(nil, v)
		p = appendVarint(p, id)
		p = appendVarint(p, uint64(len(val)))
		p = append(p, val...)
	}
	raw := func(id uint64, v []byte) {
		p = appendVarint(p, id)
		p = appendVarint(p, uint64(len(v)))
		p = append(p, v...)
	}
	num(0x01, 30000)    // max_idle_timeout (ms)
	num(0x03, 1472)     // max_udp_payload_size
	num(0x04, 15728640) // initial_max_data
	num(0x05, 6291456)  // initial_max_stream_data_bidi_local
	num(0x06, 6291456)  // initial_max_stream_data_bidi_remote
	num(0x07, 6291456)  // initial_max_stream_data_uni
	num(0x08, 100)      // initial_max_streams_bidi
	num(0x09, 103)      // initial_max_streams_uni
	raw(0x0f, nil)      // initial_source_connection_id: our client uses an empty one
	num(0x20, 65536)    // max_datagram_frame_size (RFC 9221)
	raw(0x11, []byte{0, 0, 0, 1, 0, 0, 0, 1})
	raw(0x2ab2, nil)                 // grease_quic_bit (RFC 9287)
	raw(27+31*5, []byte{0x6c, 0x3a}) // a reserved (GREASE) parameter, 31*N+27
	return p
}

// appendVarint appends v as a QUIC variable-length integer (RFC 9000 16).
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return append(b, 0xc0|byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

// varintLen is the encoded length of v.
func varintLen(v uint64) int { return len(appendVarint(nil, v)) }

func (c *corpus) addHTTP2(name string, data []byte) error {
	st, err := decodeHex(data)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(st, []byte(h2Preface)) {
		return errors.New("no HTTP/2 connection preface")
	}
	// Cut after the first HEADERS frame and its CONTINUATIONs (END_HEADERS).
	cut := len(st)
	s := cryptobyte.String(st[len(h2Preface):])
	off := len(h2Preface)
	for !s.Empty() {
		var length uint32
		var typ, flags uint8
		var rest []byte
		if !s.ReadUint24(&length) || !s.ReadUint8(&typ) || !s.ReadUint8(&flags) || !s.Skip(4) || !s.ReadBytes(&rest, int(length)) {
			break
		}
		off += 9 + int(length)
		if (typ == 0x1 || typ == 0x9) && flags&0x4 != 0 {
			cut = off
			break
		}
	}
	c.http2 = append(c.http2, h2Stream{name: name, first: st[:cut], rest: st[cut:]})
	return nil
}

// addHTTP1 splits a client stream into requests: heads ending in an empty
// line, followed by Content-Length bytes of body.
func (c *corpus) addHTTP1(data []byte) error {
	st, err := decodeHex(data)
	if err != nil {
		return err
	}
	for len(st) > 0 {
		end := bytes.Index(st, []byte("\r\n\r\n"))
		if end < 0 {
			break
		}
		n := end + 4
		for _, line := range strings.Split(string(st[:end]), "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(strings.TrimSpace(k), "content-length") {
				if cl, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && cl >= 0 {
					n = min(n+cl, len(st))
				}
			}
		}
		c.http1 = append(c.http1, st[:n:n])
		st = st[n:]
	}
	return nil
}
