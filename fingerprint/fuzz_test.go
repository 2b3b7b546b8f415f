package fingerprint

import (
	"errors"
	"testing"

	"golang.org/x/net/http2"
)

// Seeds come from the table tests' builders and from every golden file.

func FuzzParseClientHello(f *testing.F) {
	f.Add(chromeLikeWithCompression().bare())
	f.Add(records(chromeLikeWithCompression().bare(), 300))
	f.Add(testHello{version: 0x0300, ciphers: []uint16{4, 5}, noExts: true}.bare())
	for _, g := range loadGoldens(f) {
		f.Add(g.hello)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseClientHello(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(b) {
				t.Fatalf("error without a valid offset: %v", err)
			}
			return
		}
		if ch.Consumed <= 0 || ch.Consumed > len(b) || len(ch.Raw) < handshakeHeaderLen {
			t.Fatalf("Consumed %d of %d, Raw %d", ch.Consumed, len(b), len(ch.Raw))
		}
		_ = ComputeTLS(ch, TransportTCP)
		// No proper prefix of a complete hello parses as complete.
		for _, n := range []int{ch.Consumed - 1, ch.Consumed / 2, 1} {
			if n < 0 || n >= ch.Consumed {
				continue
			}
			if _, err := ParseClientHello(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("prefix %d of %d: err %v, want ErrTruncated", n, ch.Consumed, err)
			}
		}
	})
}

func FuzzParseHTTP1Stream(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b\r\nAccept-Language: en-US\r\n\r\n"))
	f.Add([]byte("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\n\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	for _, g := range loadGoldens(f) {
		if g.http1 != nil {
			f.Add(g.http1)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := DefaultHTTP1Limits()
		lim.MaxHeadBytes = 4096
		st, err := ParseHTTP1Stream(b, lim)
		if st == nil || st.Consumed < 0 || st.Consumed > len(b) {
			t.Fatalf("stream %+v", st)
		}
		last := -1
		for _, r := range st.Requests {
			if r.Offset <= last || len(r.Raw) > lim.MaxHeadBytes || len(r.Headers) > lim.MaxHeaders {
				t.Fatalf("request at %d after %d, head %d bytes", r.Offset, last, len(r.Raw))
			}
			last = r.Offset
			_ = JA4HAll(r)
		}
		var pe *ParseError
		if err != nil && (!errors.As(err, &pe) || pe.Offset > len(b)) {
			t.Fatalf("error without a valid offset: %v", err)
		}
	})
}

func FuzzParseHTTP2Client(f *testing.F) {
	s := newH2Stream()
	s.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 0x0a0a, Val: 1})
	s.fr.WriteWindowUpdate(0, 15663105)
	s.fr.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 7})
	blk := s.block(":method", "GET", ":path", "/", "cookie", "a=b", "accept-language", "en")
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:2], PadLength: 3,
		Priority: http2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255}})
	s.fr.WriteContinuation(1, true, blk[2:])
	f.Add(s.buf.Bytes(), 30)
	for _, g := range loadGoldens(f) {
		if g.http2 != nil {
			f.Add(g.http2, len(g.http2)/2)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		lim := DefaultHTTP2Limits()
		lim.MaxFrames = 200
		conn, err := ParseHTTP2Client(b, lim)
		if conn == nil || conn.Consumed > len(b) || len(conn.Frames) > lim.MaxFrames {
			t.Fatalf("conn %+v", conn)
		}
		akamai := Akamai(conn)
		for _, r := range conn.Requests {
			_ = JA4HAll(r)
		}
		// Fed in two writes, the parser reaches the same state.
		if split < 0 || split > len(b) {
			return
		}
		p := NewHTTP2Parser(lim)
		err2 := p.Write(b[:split])
		if err2 == nil {
			err2 = p.Write(b[split:])
		}
		if err2 == nil {
			err2 = p.Close()
		}
		if (err == nil) != (err2 == nil) || len(p.Conn().Requests) != len(conn.Requests) || Akamai(p.Conn()) != akamai {
			t.Fatalf("split at %d: err %v vs %v, requests %d vs %d", split, err, err2, len(p.Conn().Requests), len(conn.Requests))
		}
	})
}

func FuzzParseHTTP2SettingsHeader(f *testing.F) {
	f.Add("AAMAAABkAARAAAAAAAIAAAAA")
	f.Add("AAIAAAAAAAQAQAAAAAYAoAAA==")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseHTTP2SettingsHeader(v)
		if err == nil && len(s) > DefaultHTTP2Limits().MaxSettings {
			t.Fatalf("%d settings", len(s))
		}
	})
}
