package fingerprint

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func h1(t *testing.T, head string) *HTTPRequest {
	t.Helper()
	r, n, err := ParseHTTP1Head([]byte(head), DefaultHTTP1Limits())
	if err != nil {
		t.Fatalf("ParseHTTP1Head: %v", err)
	}
	if n != len(head) {
		t.Fatalf("consumed %d of %d", n, len(head))
	}
	return r
}

func TestJA4HCorners(t *testing.T) {
	// Expected strings are built from the rule in each case's comment.
	names := func(ns ...string) string { return sha12([]byte(strings.Join(ns, ","))) }
	cases := []struct {
		name        string
		head        string
		ja4h, r, ro string
	}{
		{
			// Cookie and Referer excluded from the count and the list; lang
			// en-US,en;q=0.9 → enus; cookies sorted by name, stable.
			name: "firefox-like",
			head: "GET /p HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\nAccept-Language: en-US,en;q=0.9\r\nReferer: http://r/\r\nCookie: b=2; a=1\r\nCookie: a=0\r\n\r\n",
			ja4h: "ge11cr03enus_" + names("Host", "User-Agent", "Accept-Language") + "_" + sha12([]byte("a,a,b")) + "_" + sha12([]byte("a=1,a=0,b=2")),
			r:    "ge11cr03enus_Host,User-Agent,Accept-Language_a,a,b_a=1,a=0,b=2",
			ro:   "ge11cr03enus_Host,User-Agent,Accept-Language_b,a,a_b=2,a=1,a=0",
		},
		{
			// No header at all hashes the empty string; no cookie: zeros, and
			// the raw form ends "a_b_".
			name: "no headers",
			head: "POST / HTTP/1.0\r\n\r\n",
			ja4h: "po10nn000000_e3b0c44298fc_000000000000_000000000000",
			r:    "po10nn000000__",
			ro:   "po10nn000000__",
		},
		{
			// lang "da" pads to da00; a Cookie2 header is excluded by its
			// "cookie" prefix but sets no cookie flag; X-Referer-Policy
			// sets 'r' (name contains "referer") and is counted.
			name: "prefix and contains rules",
			head: "DELETE /x HTTP/1.1\r\naccept-language: da\r\nCookie2: $Version=1\r\nX-Referer-Policy: none\r\n\r\n",
			ja4h: "de11nr02da00_" + names("accept-language", "X-Referer-Policy") + "_000000000000_000000000000",
			r:    "de11nr02da00_accept-language,X-Referer-Policy_",
			ro:   "de11nr02da00_accept-language,X-Referer-Policy_",
		},
		{
			// ';' treated as ',' and '-' removed: "zh-Hant-TW;q=1" → zhha.
			name: "lang semicolon",
			head: "GET / HTTP/1.1\r\nAccept-Language: zh-Hant-TW;q=1\r\n\r\n",
			ja4h: "ge11nn01zhha_" + names("Accept-Language") + "_000000000000_000000000000",
			r:    "ge11nn01zhha_Accept-Language_",
			ro:   "ge11nn01zhha_Accept-Language_",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JA4HAll(h1(t, tc.head))
			for i, want := range []string{tc.ja4h, tc.r, tc.ro} {
				if got[i] != want {
					t.Errorf("variant %d = %q\nwant        %q", i, got[i], want)
				}
			}
		})
	}
}

func TestJA4HHeaderCountCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\n")
	for i := 0; i < 120; i++ {
		b.WriteString("X-H: 1\r\n")
	}
	b.WriteString("\r\n")
	if got := JA4H(h1(t, b.String())); !strings.HasPrefix(got, "ge11nn990000_") {
		t.Fatalf("JA4H = %s", got)
	}
}

// h2Stream encodes a client stream with the real x/net/http2 Framer and
// one HPACK encoder, as a client does.
type h2Stream struct {
	buf bytes.Buffer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func newH2Stream() *h2Stream {
	s := &h2Stream{}
	s.buf.WriteString(http2.ClientPreface)
	s.fr = http2.NewFramer(&s.buf, nil)
	s.enc = hpack.NewEncoder(&s.hb)
	return s
}

func (s *h2Stream) block(fields ...string) []byte {
	s.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		s.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(s.hb.Bytes())
}

func TestAkamaiPublicExamples(t *testing.T) {
	// spec: Akamai examples, Chrome 117+.
	s := newH2Stream()
	s.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 2, Val: 0},
		http2.Setting{ID: 4, Val: 6291456}, http2.Setting{ID: 6, Val: 262144})
	s.fr.WriteWindowUpdate(0, 15663105)
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true,
		BlockFragment: s.block(":method", "GET", ":authority", "a", ":scheme", "https", ":path", "/"),
		Priority:      http2.PriorityParam{StreamDep: 0, Exclusive: true, Weight: 255}})
	conn, err := ParseHTTP2Client(s.buf.Bytes(), DefaultHTTP2Limits())
	if err != nil {
		t.Fatal(err)
	}
	const chrome = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
	if got := Akamai(conn); got != chrome || MD5Hex(got) != "52d84b11737d980aef856699f885ca86" {
		t.Fatalf("Akamai = %q (%s)", got, MD5Hex(got))
	}
	if p := conn.Requests[0].Priority; p == nil || !p.Exclusive || p.Weight != 256 || p.DependsOn != 0 {
		t.Fatalf("HEADERS priority = %+v", p)
	}

	// spec: Akamai examples, Firefox 53 with PRIORITY frames.
	s = newH2Stream()
	s.fr.WriteSettings(http2.Setting{ID: 1, Val: 65536}, http2.Setting{ID: 4, Val: 131072}, http2.Setting{ID: 5, Val: 16384})
	s.fr.WriteWindowUpdate(0, 12517377)
	for _, p := range []struct {
		stream, dep uint32
		weight      uint8
	}{{3, 0, 200}, {5, 0, 100}, {7, 0, 0}, {9, 7, 0}, {11, 3, 0}} {
		s.fr.WritePriority(p.stream, http2.PriorityParam{StreamDep: p.dep, Weight: p.weight})
	}
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 13, EndHeaders: true,
		BlockFragment: s.block(":method", "GET", ":path", "/", ":authority", "a", ":scheme", "https")})
	// A WINDOW_UPDATE and a PRIORITY after the first HEADERS do not count.
	s.fr.WriteWindowUpdate(0, 1)
	s.fr.WritePriority(15, http2.PriorityParam{Weight: 1})
	conn, err = ParseHTTP2Client(s.buf.Bytes(), DefaultHTTP2Limits())
	if err != nil {
		t.Fatal(err)
	}
	const firefox = "1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1|m,p,a,s"
	if got := Akamai(conn); got != firefox {
		t.Fatalf("Akamai = %q, want %q", got, firefox)
	}
}

func TestAkamaiCorners(t *testing.T) {
	s := newH2Stream()
	// GREASE-like and unknown ids print by number; a WINDOW_UPDATE on a
	// stream other than 0 does not count; :protocol is left out.
	s.fr.WriteSettings(http2.Setting{ID: 8, Val: 1}, http2.Setting{ID: 9, Val: 1}, http2.Setting{ID: 0x0a0a, Val: 7})
	s.fr.WriteWindowUpdate(1, 99)
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: s.block(":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/ws", ":authority", "a")})
	conn, err := ParseHTTP2Client(s.buf.Bytes(), DefaultHTTP2Limits())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Akamai(conn), "8:1;9:1;2570:7|00|0|m,s,p,a"; got != want {
		t.Fatalf("Akamai = %q, want %q", got, want)
	}
}

func TestHTTP2ParserFeatures(t *testing.T) {
	s := newH2Stream()
	s.fr.WriteSettings(http2.Setting{ID: 3, Val: 100})
	s.fr.WriteSettingsAck()
	// Request 1: padded HEADERS split over two CONTINUATION frames.
	blk := s.block(":method", "GET", ":authority", "example.com", ":scheme", "https", ":path", "/first",
		"user-agent", "test/1", "accept-language", "fr-CH, fr;q=0.9", "cookie", "z=1", "cookie", "y=2")
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:3], PadLength: 7})
	s.fr.WriteContinuation(1, false, blk[3:10])
	s.fr.WriteContinuation(1, true, blk[10:])
	s.fr.WriteData(1, true, []byte("body"))
	// Request 2 reuses the dynamic table entries of request 1: decoding it
	// needs the connection's single HPACK decoder.
	blk2 := s.block(":method", "POST", ":authority", "example.com", ":scheme", "https", ":path", "/second",
		"user-agent", "test/1", "accept-language", "fr-CH, fr;q=0.9")
	if len(blk2) > 12 {
		t.Fatalf("second block %d bytes: the encoder did not index", len(blk2))
	}
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: blk2})
	in := s.buf.Bytes()

	check := func(t *testing.T, conn *HTTP2Conn) {
		if len(conn.Requests) != 2 {
			t.Fatalf("%d requests", len(conn.Requests))
		}
		r1, r2 := conn.Requests[0], conn.Requests[1]
		if r1.Target != "/first" || r2.Method != "POST" || r2.Target != "/second" || !r1.EndStream || !r2.EndStream {
			t.Fatalf("requests: %+v %+v", r1, r2)
		}
		if got := strings.Join(r2.PseudoHeaderOrder(), ","); got != ":method,:authority,:scheme,:path" {
			t.Fatalf("pseudo order %s", got)
		}
		// JA4H of request 1: pseudo-headers out; two cookie headers merged.
		want := "ge20cn02frch_" + sha12([]byte("user-agent,accept-language")) + "_" + sha12([]byte("y,z")) + "_" + sha12([]byte("y=2,z=1"))
		if got := JA4H(r1); got != want {
			t.Fatalf("JA4H = %s, want %s", got, want)
		}
		if len(conn.Settings) != 1 || len(conn.Frames) != 7 {
			t.Fatalf("settings %d frames %d", len(conn.Settings), len(conn.Frames))
		}
	}
	conn, err := ParseHTTP2Client(in, DefaultHTTP2Limits())
	if err != nil {
		t.Fatal(err)
	}
	check(t, conn)

	// Fed in pieces of every size, the incremental parser agrees.
	for _, step := range []int{1, 2, 9, 10, 33} {
		p := NewHTTP2Parser(DefaultHTTP2Limits())
		for i := 0; i < len(in); i += step {
			if err := p.Write(in[i:min(i+step, len(in))]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatalf("step %d: close: %v", step, err)
		}
		check(t, p.Conn())
	}
	// Cut short inside a frame: ErrTruncated, with what came before.
	conn, err = ParseHTTP2Client(in[:len(in)-3], DefaultHTTP2Limits())
	if !errors.Is(err, ErrTruncated) || len(conn.Requests) != 1 {
		t.Fatalf("truncated: err %v, %d requests", err, len(conn.Requests))
	}
}

func TestHTTP2Limits(t *testing.T) {
	s := newH2Stream()
	for i := 0; i < 20; i++ {
		s.fr.WritePing(false, [8]byte{})
	}
	lim := DefaultHTTP2Limits()
	lim.MaxFrames = 10
	conn, err := ParseHTTP2Client(s.buf.Bytes(), lim)
	if err != nil || len(conn.Frames) != 10 || conn.FrameCount != 20 || len(conn.Anomalies) != 1 ||
		conn.Anomalies[0].Code != AnomalyFramesNotListed {
		t.Fatalf("frame cap: err %v, %d frames listed of %d, anomalies %v", err, len(conn.Frames), conn.FrameCount, conn.Anomalies)
	}

	s = newH2Stream()
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: s.block(":method", "GET", ":path", "/", "a", strings.Repeat("x", 200), "b", "y")})
	lim = DefaultHTTP2Limits()
	lim.MaxHeaderListSize = 150
	conn, err = ParseHTTP2Client(s.buf.Bytes(), lim)
	if err != nil {
		t.Fatal(err)
	}
	if r := conn.Requests[0]; len(r.Headers) != 2 || len(r.Anomalies) != 1 {
		t.Fatalf("header list cap: %+v", r)
	}

	// A frame longer than the limit fails at once, without buffering it.
	big := append([]byte(http2.ClientPreface), 0x7f, 0xff, 0xff, 0, 0, 0, 0, 0, 1)
	if _, err := ParseHTTP2Client(big, DefaultHTTP2Limits()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big frame: %v", err)
	}
	p := NewHTTP2Parser(DefaultHTTP2Limits())
	for _, b := range big {
		if err := p.Write([]byte{b}); err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("big frame, byte by byte: %v", err)
			}
			return
		}
	}
	t.Fatal("big frame fed byte by byte was accepted")
}

func TestHTTP2Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"not a preface", "GET / HTTP/1.1\r\n\r\n", ErrMalformed},
		{"preface cut", http2.ClientPreface[:10], ErrTruncated},
		{"data inside header block", http2.ClientPreface +
			"\x00\x00\x01\x01\x00\x00\x00\x00\x01\x82" + // HEADERS without END_HEADERS
			"\x00\x00\x00\x00\x00\x00\x00\x00\x01", ErrMalformed},
		{"padding longer than frame", http2.ClientPreface + "\x00\x00\x02\x01\x0c\x00\x00\x00\x01\x05\x82", ErrMalformed},
		{"hpack integer cut at END_HEADERS", http2.ClientPreface + "\x00\x00\x01\x01\x04\x00\x00\x00\x01\xff", ErrMalformed},
		{"hpack index out of range", http2.ClientPreface + "\x00\x00\x01\x01\x04\x00\x00\x00\x01\xbf", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHTTP2Client([]byte(tc.in), DefaultHTTP2Limits())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHTTP2SettingsHeader(t *testing.T) {
	// Go's h2c client sends this for settings 2:0, 4:4194304, 6:10485760.
	var payload []byte
	for _, s := range []struct {
		id  uint16
		val uint32
	}{{2, 0}, {4, 4194304}, {6, 10485760}} {
		payload = append(payload, byte(s.id>>8), byte(s.id), byte(s.val>>24), byte(s.val>>16), byte(s.val>>8), byte(s.val))
	}
	for _, enc := range []string{
		"AAIAAAAAAAQAQAAAAAYAoAAA",   // base64url, no padding
		"AAIAAAAAAAQAQAAAAAYAoAAA==", // padded
	} {
		got, err := ParseHTTP2SettingsHeader(enc)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ParseHTTP2SettingsPayload(payload)
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := ParseHTTP2SettingsHeader("AAIAAA"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("4-byte payload: %v", err)
	}
	if _, err := ParseHTTP2SettingsHeader("!!"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not base64: %v", err)
	}
}

func TestHTTP1Parser(t *testing.T) {
	r := h1(t, "GET /a?b HTTP/1.1\r\nhost: x\r\nUSER-AGENT:  spaced value \t\r\nX-Folded: a\r\n  b\r\n\r\n")
	if r.Method != "GET" || r.Target != "/a?b" || r.Version != HTTP11 || r.Proto != "HTTP/1.1" {
		t.Fatalf("request line: %+v", r)
	}
	want := []Header{{"host", "x"}, {"USER-AGENT", "spaced value"}, {"X-Folded", "a b"}}
	if len(r.Headers) != len(want) {
		t.Fatalf("headers %+v", r.Headers)
	}
	for i := range want {
		if r.Headers[i] != want[i] {
			t.Errorf("header %d = %+v, want %+v", i, r.Headers[i], want[i])
		}
	}
	if len(r.Anomalies) != 1 || r.Anomalies[0].Code != AnomalyObsFold {
		t.Errorf("anomalies %+v", r.Anomalies)
	}
	r = h1(t, "GET / HTTP/1.0\nA: 1\n\n")
	if len(r.Anomalies) != 2 || r.Anomalies[0].Code != AnomalyBareLF || r.Version != HTTP10 {
		t.Errorf("bare LF: %+v", r)
	}

	// The limit: a head of exactly MaxHeadBytes parses, one byte more does
	// not, and a shorter incomplete head is truncated, not too large.
	lim := DefaultHTTP1Limits()
	lim.MaxHeadBytes = 64
	head := "GET / HTTP/1.1\r\nX: " + strings.Repeat("v", 64-len("GET / HTTP/1.1\r\nX: ")-4) + "\r\n\r\n"
	if _, n, err := ParseHTTP1Head([]byte(head), lim); err != nil || n != 64 {
		t.Fatalf("head at the limit: n=%d err=%v", n, err)
	}
	long := strings.Replace(head, "X: ", "X: v", 1)
	if _, _, err := ParseHTTP1Head([]byte(long), lim); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("head over the limit: %v", err)
	}
	if _, _, err := ParseHTTP1Head([]byte(head[:40]), lim); !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut head: %v", err)
	}
	lim = DefaultHTTP1Limits()
	lim.MaxHeaders = 2
	if _, _, err := ParseHTTP1Head([]byte("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), lim); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("header count: %v", err)
	}
	for _, bad := range []string{"GET /\r\n\r\n", "GET / HTTP/9\r\n\r\n", " / HTTP/1.1\r\n\r\n"} {
		if _, _, err := ParseHTTP1Head([]byte(bad), DefaultHTTP1Limits()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err %v, want ErrMalformed", bad, err)
		}
	}
}

func TestHTTP1Stream(t *testing.T) {
	in := "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n" +
		"\r\nGET /c HTTP/1.1\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n" +
		http2.ClientPreface
	st, err := ParseHTTP1Stream([]byte(in), DefaultHTTP1Limits())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Requests) != 3 || st.Requests[1].Target != "/b" || st.Requests[2].Target != "/c" || !st.Switched {
		t.Fatalf("stream: %+v", st)
	}
	if st.Consumed != len(in)-len(http2.ClientPreface) {
		t.Fatalf("consumed %d, want %d", st.Consumed, len(in)-len(http2.ClientPreface))
	}
	st, err = ParseHTTP1Stream([]byte("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), DefaultHTTP1Limits())
	if err != nil || !st.BodyTruncated || len(st.Requests) != 1 {
		t.Fatalf("short body: %+v %v", st, err)
	}
	_, err = ParseHTTP1Stream([]byte("GET / HTTP/1.1\r\n\r\nBROKEN\r\n\r\n"), DefaultHTTP1Limits())
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Offset != 18 || !errors.Is(err, ErrMalformed) {
		t.Fatalf("second request broken: %v", err)
	}
}

// TestHTTP2ParserLongLived: a live reader forgets the requests it is done
// with; the parser then keeps only what is still needed, the Akamai
// fingerprint still has the first request's pseudo-header order, trailers
// end their stream without opening a request, and anomalies are capped.
func TestHTTP2ParserLongLived(t *testing.T) {
	s := newH2Stream()
	s.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 6291456})
	s.fr.WriteWindowUpdate(0, 15663105)
	lim := DefaultHTTP2Limits()
	lim.MaxStreams, lim.MaxFrames, lim.MaxAnomalies = 4, 8, 3
	p := NewHTTP2Parser(lim)
	write := func() {
		t.Helper()
		if err := p.Write(s.buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		s.buf.Reset()
	}
	write()
	want := Akamai(p.Conn()) // no request yet: "...|"
	for i := uint32(0); i < 50; i++ {
		id := 1 + 2*i
		s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
			BlockFragment: s.block(":method", "POST", ":authority", "a", ":scheme", "https", ":path", "/"+strconv.Itoa(int(i)))})
		s.fr.WriteData(id, false, []byte("body"))
		// Trailers end the stream.
		s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true,
			BlockFragment: s.block("x-trailer", "1")})
		s.fr.WritePing(false, [8]byte{}) // a frame the reader does not keep
		write()
		conn := p.Conn()
		if len(conn.Requests) != 1 || conn.Requests[0].StreamID != id || !conn.Requests[0].EndStream {
			t.Fatalf("stream %d: requests %+v", id, conn.Requests)
		}
		if got := conn.Requests[0].Target; got != "/"+strconv.Itoa(int(i)) {
			t.Fatalf("stream %d: target %q", id, got)
		}
		if n := p.Forget(func(r *HTTPRequest) bool { return r.EndStream }); n != 1 {
			t.Fatalf("stream %d: forgot %d", id, n)
		}
	}
	conn := p.Conn()
	if conn.First == nil || conn.First.StreamID != 1 {
		t.Fatalf("first request %+v", conn.First)
	}
	if got := Akamai(conn); got != want+"m,a,s,p" {
		t.Fatalf("akamai %q, want %q", got, want+"m,a,s,p")
	}
	if len(conn.Frames) != 8 || conn.FrameCount != 2+50*4 {
		t.Fatalf("frames listed %d of %d", len(conn.Frames), conn.FrameCount)
	}
	// Anomalies past the cap (frames_not_listed was the first) are counted,
	// not kept.
	for i := 0; i < 5; i++ {
		s.fr.WriteRawFrame(http2.FrameContinuation, 0, 101, nil)
	}
	write()
	if len(conn.Anomalies) != 3 || conn.AnomaliesDropped != 3 {
		t.Fatalf("anomalies %d kept (%v), %d dropped", len(conn.Anomalies), conn.Anomalies, conn.AnomaliesDropped)
	}
}
