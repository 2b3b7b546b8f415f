package analyze

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/pcapsynth"
)

// goldenDir is where the golden captures are, from this package.
const goldenDir = "../fingerprint/testdata/golden"

// goldenSection reads a hex section of a golden capture.
func goldenSection(t *testing.T, name, section string) []byte {
	t.Helper()
	return golden.Load(t, goldenDir, name).MustHex(t, section)
}

// goldenExpect returns a golden's expected values (tshark, npm oracle).
func goldenExpect(t *testing.T, name, section string) map[string]string {
	t.Helper()
	return golden.Load(t, goldenDir, name).Values(section)
}

func analyseSynth(t testing.TB, s *pcapsynth.Writer) ([]Record, CaptureStats, error) {
	t.Helper()
	b, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return analyseCapture(t, b)
}

func analyseCapture(t testing.TB, b []byte) ([]Record, CaptureStats, error) {
	t.Helper()
	var recs []Record
	st, err := NewCapture().Analyse(context.Background(), "synth.pcap", bytes.NewReader(b), func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, st, err
}

// split cuts b into n nearly equal parts.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		out = append(out, b[len(b)*i/n:len(b)*(i+1)/n])
	}
	return out
}

func TestCaptureHardCases(t *testing.T) {
	const golden = "chromium-156-linux" // a 2 KB hello with GREASE and a PQ key share
	hello := goldenSection(t, golden, "hello.hex")
	want := goldenExpect(t, golden, "expect-tls.txt")
	type step struct {
		part    int // index into the 3 parts of the hello
		trimEnd int // bytes cut from the end of that part (an overlap test)
	}
	cases := []struct {
		name  string
		link  layers.LinkType
		encap string
		cli   string
		noSYN bool
		order []int // the order the 3 parts are sent in; a repeat is a retransmission
	}{
		{"ipv4 ethernet, hello over 3 segments", layers.LinkTypeEthernet, "", "10.1.1.1:50000", false, []int{0, 1, 2}},
		{"reordered segments", layers.LinkTypeEthernet, "", "10.1.1.1:50001", false, []int{1, 2, 0}},
		{"retransmissions", layers.LinkTypeEthernet, "", "10.1.1.1:50002", false, []int{0, 0, 1, 0, 2, 1}},
		{"ipv6 in a vlan", layers.LinkTypeEthernet, "vlan", "[2001:db8::1]:50003", false, []int{0, 1, 2}},
		{"gre tunnel", layers.LinkTypeEthernet, "gre", "10.1.1.1:50004", false, []int{0, 1, 2}},
		{"vxlan tunnel", layers.LinkTypeEthernet, "vxlan", "10.1.1.1:50005", false, []int{0, 2, 1}},
		{"raw ip link type", layers.LinkTypeRaw, "", "10.1.1.1:50006", false, []int{0, 1, 2}},
		{"erspan tunnel", layers.LinkTypeEthernet, "erspan", "10.1.1.1:50008", false, []int{0, 1, 2}},
		{"geneve tunnel, ipv6 inside", layers.LinkTypeEthernet, "geneve", "[2001:db8::1]:50009", false, []int{2, 0, 1}},
		{"loopback link type", layers.LinkTypeNull, "", "10.1.1.1:50010", false, []int{0, 1, 2}},
		{"linux cooked v1", layers.LinkTypeLinuxSLL, "", "[2001:db8::1]:50011", false, []int{0, 1, 2}},
		{"linux cooked v2", layers.LinkTypeLinuxSLL2, "", "10.1.1.1:50012", false, []int{1, 0, 2}},
		{"picked up mid-stream, no SYN", layers.LinkTypeEthernet, "", "10.1.1.1:50007", true, []int{0, 1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pcapsynth.New(tc.link, tc.encap)
			srv := "10.2.2.2:443"
			if strings.HasPrefix(tc.cli, "[") {
				srv = "[2001:db8::2]:443"
			}
			// A first, unrelated connection so the stream number is 1.
			other := s.Conn("10.9.9.9:40000", "10.2.2.2:80")
			s.Handshake(other)
			c := s.Conn(tc.cli, srv)
			if !tc.noSYN {
				s.Handshake(c)
			}
			parts := split(hello, 3)
			offsets := []uint32{0, uint32(len(parts[0])), uint32(len(parts[0]) + len(parts[1]))}
			var firstTime time.Time
			for i, p := range tc.order {
				at := s.TCP(c, true, "A", c.CliSeq+offsets[p], parts[p])
				if i == 0 || (p == 0 && firstTime.IsZero()) {
					firstTime = at
				}
			}
			// The server answers; its bytes must not disturb the client's.
			s.TCP(c, false, "A", c.SrvSeq, []byte("\x16\x03\x03\x00\x04\x02\x00\x00\x00"))
			recs, st, err := analyseSynth(t, s)
			if err != nil || st.Skipped != 0 {
				t.Fatalf("err %v, %d skipped", err, st.Skipped)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.JA3 != want["ja3"] || r.JA3Hash != want["ja3_hash"] || r.JA4 != want["ja4"] {
				t.Errorf("ja3 %s ja4 %s, want tshark %s and npm %s", r.JA3Hash, r.JA4, want["ja3_hash"], want["ja4"])
			}
			if r.Src != tc.cli || r.Dst != srv || r.Transport != "tcp" || r.Stream == nil || *r.Stream != 1 || r.Index != 1 {
				t.Errorf("record %s→%s %s stream %v index %d", r.Src, r.Dst, r.Transport, r.Stream, r.Index)
			}
			if tc.order[0] == 0 && r.Time != firstTime.Format(timeLayout) {
				t.Errorf("time %s, want %s", r.Time, firstTime.Format(timeLayout))
			}
		})
	}
}

func TestCapturePlaintextHTTP(t *testing.T) {
	s := pcapsynth.New(layers.LinkTypeEthernet, "")
	// HTTP/1.1 from the curl golden, cut in the middle of its head.
	h1 := goldenSection(t, "curl-7.88-h1", "http1.hex")
	c1 := s.Conn("10.1.1.1:51000", "10.2.2.2:80")
	s.Handshake(c1)
	s.TCP(c1, true, "A", c1.CliSeq, h1[:30])
	s.TCP(c1, true, "A", c1.CliSeq+30, h1[30:])
	// Prior-knowledge h2c: Chromium's HTTP/2 client stream, in 4 segments.
	h2 := goldenSection(t, "chromium-156-linux", "http2.hex")
	c2 := s.Conn("10.1.1.1:51001", "10.2.2.2:8080")
	s.Handshake(c2)
	off := uint32(0)
	for _, p := range split(h2, 4) {
		s.TCP(c2, true, "A", c2.CliSeq+off, p)
		off += uint32(len(p))
	}
	recs, _, err := analyseSynth(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	w1 := goldenExpect(t, "curl-7.88-h1", "expect-http.txt")
	w2 := goldenExpect(t, "chromium-156-linux", "expect-http.txt")
	if r := recs[0]; r.JA4H != w1["req1.ja4h"] || r.Path != w1["req1.path"] || *r.Stream != 0 || r.HTTPVersion != "1.1" {
		t.Errorf("http/1: %+v, want ja4h %s", r.HTTPRecord, w1["req1.ja4h"])
	}
	if r := recs[1]; r.JA4H != w2["req1.ja4h"] || r.Akamai != w2["akamai"] || *r.Stream != 1 || r.HTTPVersion != "2" {
		t.Errorf("h2c: %+v, want ja4h %s akamai %s", r.HTTPRecord, w2["req1.ja4h"], w2["akamai"])
	}
}

func TestCaptureDamagedFile(t *testing.T) {
	s := pcapsynth.New(layers.LinkTypeEthernet, "")
	hello := goldenSection(t, "curl-7.88-h2", "hello.hex")
	for i := 0; i < 3; i++ {
		c := s.Conn("10.1.1.1:"+string(rune('0'+i))+"2000", "10.2.2.2:443")
		c.Cli = netip.AddrPortFrom(c.Cli.Addr(), uint16(52000+i))
		s.Handshake(c)
		s.TCP(c, true, "A", c.CliSeq, hello)
	}
	full, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := analyseCapture(t, full)
	if err != nil || len(recs) != 3 {
		t.Fatalf("whole file: %d records, err %v", len(recs), err)
	}
	// Cut inside the last packet: the first two hellos are still reported.
	recs, st, err := analyseCapture(t, full[:len(full)-40])
	if !errors.Is(err, ErrDamagedCapture) || !st.Truncated || len(recs) != 2 {
		t.Fatalf("cut file: %d records, err %v", len(recs), err)
	}
	if !strings.Contains(err.Error(), "synth.pcap: ") || !strings.Contains(err.Error(), "at offset ") {
		t.Fatalf("error does not name the file and offset: %v", err)
	}
	// A corrupt frame (a bad IP header) is skipped and counted.
	s2 := pcapsynth.New(layers.LinkTypeEthernet, "")
	junk := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}, 0x45, 0, 0, 3)
	s2.Raw(junk)
	// An ARP request is not malformed: counted apart, no exit code 2.
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 1, 1, 1}, make([]byte, 10)...)
	s2.Raw(arp)
	_, st, err = analyseSynth(t, s2)
	if err != nil || st.Skipped != 1 || st.Other != 1 || st.Packets != 2 {
		t.Fatalf("corrupt frame and ARP: %+v, err %v", st, err)
	}
}

func TestCaptureTunnelsAndPreambles(t *testing.T) {
	const golden = "curl-7.88-h2"
	hello := goldenSection(t, golden, "hello.hex")
	want := goldenExpect(t, golden, "expect-tls.txt")
	h2 := goldenSection(t, "chromium-156-linux", "http2.hex")
	wantH2 := goldenExpect(t, "chromium-156-linux", "expect-http.txt")
	socks5 := []byte{5, 2, 0, 2, 1, 4, 'u', 's', 'e', 'r', 4, 'p', 'a', 's', 's', 5, 1, 0, 3, 11}
	socks5 = append(append(socks5, "example.com"...), 1, 187)
	cases := []struct {
		name     string
		preamble []byte
		body     []byte
		wantHTTP int // http records before the hello (the CONNECT)
	}{
		{"http connect", []byte("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), hello, 1},
		{"socks5 with username and password", socks5, hello, 0},
		{"socks4a", append([]byte{4, 1, 1, 187, 0, 0, 0, 1, 'u', 0}, "example.com\x00"...), hello, 0},
		{"plaintext before the hello", []byte("STARTTLS\r\n"), hello, 0},
		{"proxy protocol v1 before the hello", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n"), hello, 0},
		{"proxy protocol v2 before the hello", append([]byte(proxyV2Signature+"\x21\x11\x00\x0c"), 192, 0, 2, 1, 192, 0, 2, 2, 0x13, 0x88, 1, 187), hello, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := pcapsynth.New(layers.LinkTypeEthernet, "")
			c := s.Conn("10.1.1.1:50000", "10.2.2.2:1080")
			s.Handshake(c)
			s.TCP(c, true, "A", c.CliSeq, tc.preamble)
			s.TCP(c, false, "A", c.SrvSeq, []byte("HTTP/1.1 200 Connection established\r\n\r\n"))
			s.TCP(c, true, "A", c.CliSeq+uint32(len(tc.preamble)), tc.body[:50])
			s.TCP(c, true, "A", c.CliSeq+uint32(len(tc.preamble))+50, tc.body[50:])
			recs, _, err := analyseSynth(t, s)
			if err != nil {
				t.Fatal(err)
			}
			var tls []Record
			for _, r := range recs {
				if r.Kind == KindTLS {
					tls = append(tls, r)
				}
			}
			if len(tls) != 1 || len(recs) != 1+tc.wantHTTP {
				t.Fatalf("%d records (%d tls): %+v", len(recs), len(tls), recs)
			}
			if tls[0].JA3Hash != want["ja3_hash"] || tls[0].JA4 != want["ja4"] {
				t.Fatalf("ja3 %s ja4 %s, want %s %s", tls[0].JA3Hash, tls[0].JA4, want["ja3_hash"], want["ja4"])
			}
		})
	}
	// An h2c upgrade: an HTTP/1.1 request, then the HTTP/2 preface.
	s := pcapsynth.New(layers.LinkTypeEthernet, "")
	c := s.Conn("10.1.1.1:50001", "10.2.2.2:80")
	s.Handshake(c)
	up := []byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
	stream := append(up, h2...)
	s.TCP(c, true, "A", c.CliSeq, stream[:len(up)+10])
	s.TCP(c, true, "A", c.CliSeq+uint32(len(up)+10), stream[len(up)+10:])
	recs, _, err := analyseSynth(t, s)
	if err != nil || len(recs) != 2 {
		t.Fatalf("h2c upgrade: %d records, err %v", len(recs), err)
	}
	if recs[0].HTTPVersion != "1.1" || recs[1].HTTPVersion != "2" || recs[1].Akamai != wantH2["akamai"] || recs[1].Index != 2 {
		t.Fatalf("h2c upgrade: %+v / %+v", recs[0].HTTPRecord, recs[1].HTTPRecord)
	}
}

func TestCaptureProgress(t *testing.T) {
	s := pcapsynth.New(layers.LinkTypeEthernet, "")
	for i := 0; i < 5; i++ {
		s.Handshake(s.Conn("10.1.1.1:5000"+strconv.Itoa(i), "10.2.2.2:443"))
	}
	b, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	c := NewCapture()
	c.ProgressEvery = 4
	var calls []int64
	if _, err := c.Analyse(context.Background(), "p.pcap", bytes.NewReader(b), func(Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Progress = func(n int64, st CaptureStats) { calls = append(calls, st.Packets) }
	if _, err := c.Analyse(context.Background(), "p.pcap", bytes.NewReader(b), func(Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 || calls[0] != 4 || calls[2] != 12 {
		t.Fatalf("progress calls at packets %v, want 4, 8, 12 of 15", calls)
	}
}
