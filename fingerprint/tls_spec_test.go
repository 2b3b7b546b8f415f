package fingerprint

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// The cases below are the corner cases of docs/fingerprints.md. Expected
// values are the spec's published examples or are derived in the case's
// comment from the rule, never from running this code.

func TestIsGREASE(t *testing.T) {
	for _, tc := range []struct {
		v    uint16
		want bool
	}{
		{0x0a0a, true}, {0x1a1a, true}, {0xfafa, true}, {0x7a7a, true},
		{0x0a1a, false}, // spec: "A value like 0x0a1a is NOT GREASE"
		{0x0b0b, false}, {0x0000, false}, {0xaaaa, true}, {0x1a0a, false},
	} {
		if got := IsGREASE(tc.v); got != tc.want {
			t.Errorf("IsGREASE(%#04x) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestJA3PublicExample(t *testing.T) {
	// spec: JA3 public example.
	h := testHello{
		version: 769,
		ciphers: []uint16{47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
		exts: []testExt{
			{0, sniBody("example.com")},
			{10, u16List(23, 24, 25)},
			{11, u8List(0)},
		},
	}
	ch := mustParse(t, records(h.bare(), 1<<14))
	const want = "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
	if got := JA3(ch); got != want {
		t.Fatalf("JA3 = %q, want %q", got, want)
	}
	if got := MD5Hex(JA3(ch)); got != "ada70206e40642a3e4461f35503241d5" {
		t.Fatalf("JA3 hash = %s", got)
	}
}

// chromeLike is the hello behind the spec's JA4 examples: the cipher list
// hashes to 8daaf6152771 and the extension + signature list to
// e5627efa2ab1. GREASE values are interleaved as Chrome does.
func chromeLike() testHello {
	return testHello{
		version: 0x0303,
		ciphers: []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		exts: []testExt{
			{0x3a3a, nil},
			{0x001b, u8ListOf16(2)[:1:1]}, // replaced below
			{0x0000, sniBody("example.com")},
			{0x0033, keyShareBody(0x4a4a, 29)},
			{0x4469, alpnBody("h2")},
			{0x0017, nil},
			{0x000d, u16List(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)},
			{0x0012, nil},
			{0x002b, u8ListOf16(0x5a5a, 0x0304, 0x0303)},
			{0x000a, u16List(0x6a6a, 29, 23, 24)},
			{0x0005, []byte{1, 0, 0, 0, 0}},
			{0x0010, alpnBody("h2", "http/1.1")},
			{0xff01, []byte{0}},
			{0x0023, nil},
			{0x002d, u8List(1)},
			{0x000b, u8List(0)},
			{0x0015, make([]byte, 10)},
			{0x7a7a, []byte{0}},
		},
	}
}

func chromeLikeWithCompression() testHello {
	h := chromeLike()
	h.exts[1].body = []byte{2, 0, 2} // compress_certificate: brotli
	return h
}

func TestJA4PublicExamples(t *testing.T) {
	ch := mustParse(t, chromeLikeWithCompression().bare())
	got := JA4All(ch, TransportTCP)
	// spec: JA4 public examples: the cipher and extension hashes.
	if want := "t13d1516h2_8daaf6152771_e5627efa2ab1"; got[JA4Hashed] != want {
		t.Errorf("JA4 = %s, want %s", got[JA4Hashed], want)
	}
	wantR := "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_" +
		"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
	if got[JA4Raw] != wantR {
		t.Errorf("JA4_r = %s\nwant    %s", got[JA4Raw], wantR)
	}
	// JA4_ro: wire order, SNI (0000) and ALPN (0010) kept, GREASE dropped.
	wantRO := "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_" +
		"001b,0000,0033,4469,0017,000d,0012,002b,000a,0005,0010,ff01,0023,002d,000b,0015_0403,0804,0401,0503,0805,0501,0806,0601"
	if got[JA4RawOriginal] != wantRO {
		t.Errorf("JA4_ro = %s\nwant     %s", got[JA4RawOriginal], wantRO)
	}
	// JA4_o hashes exactly the _ro lists.
	parts := strings.SplitN(wantRO, "_", 3)
	wantO := parts[0] + "_" + sha12([]byte(parts[1])) + "_" + sha12([]byte(parts[2]))
	if got[JA4Original] != wantO {
		t.Errorf("JA4_o = %s, want %s", got[JA4Original], wantO)
	}
}

func TestPeetPrintPublicExample(t *testing.T) {
	// spec: PeetPrint example (Chrome with GREASE).
	h := testHello{
		version: 0x0303,
		ciphers: []uint16{0x0a0a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53, 10},
		exts: []testExt{
			{0x1a1a, nil},
			{0, sniBody("example.com")}, {23, nil}, {65281, []byte{0}},
			{10, u16List(0x2a2a, 29, 23, 24)}, {11, u8List(0)}, {35, nil},
			{16, alpnBody("h2", "http/1.1")}, {5, []byte{1, 0, 0, 0, 0}},
			{13, u16List(1027, 2052, 1025, 1283, 2053, 1281, 2054, 1537, 513)},
			{18, nil}, {51, keyShareBody(0x2a2a, 29)}, {45, u8List(1)},
			{43, u8ListOf16(0x3a3a, 772, 771, 770, 769)}, {27, []byte{2, 0, 2}},
			{0x4a4a, []byte{0}}, {21, make([]byte, 7)},
		},
	}
	ch := mustParse(t, h.bare())
	const want = "GREASE-772-771-770-769|2-1.1|GREASE-29-23-24|1027-2052-1025-1283-2053-1281-2054-1537-513|1|2|" +
		"GREASE-4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53-10|" +
		"0-10-11-13-16-18-21-23-27-35-43-45-5-51-65281-GREASE-GREASE"
	got := PeetPrint(ch)
	if got != want {
		t.Fatalf("PeetPrint =\n%s\nwant\n%s", got, want)
	}
	if h := MD5Hex(got); h != "83a4e25726a3ba837aa2a9f1162b7063" {
		t.Fatalf("PeetPrint hash = %s", h)
	}
}

func TestPeetPrintCorners(t *testing.T) {
	h := testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{
		{10, u16List(6969, 29)},              // spec: 6969 prints as GREASE
		{16, alpnBody("spdy/3", "http/1.0")}, // others dropped, http/1.0 → 1.0
		{17613, alpnBody("h2")},              // sorted as strings: 17613 < 5
		{5, []byte{1, 0, 0, 0, 0}},
	}}
	got := PeetPrint(mustParse(t, h.bare()))
	// psk_key_exchange_modes absent → 0; no compress_certificate → empty.
	const want = "|1.0|GREASE-29||0||4865|10-16-17613-5"
	if got != want {
		t.Fatalf("PeetPrint = %q, want %q", got, want)
	}
}

func TestJA4Corners(t *testing.T) {
	base := func() testHello {
		return testHello{version: 0x0303, ciphers: []uint16{0x1301, 0xc02f}, exts: []testExt{
			{0, sniBody("a.example")},
			{10, u16List(29)},
			{13, u16List(0x0403)},
		}}
	}
	withExt := func(h testHello, e testExt) testHello { h.exts = append(h.exts, e); return h }
	cases := []struct {
		name    string
		hello   testHello
		variant JA4Variant
		// check receives the fingerprint and reports a problem.
		want string // full expected string, or a prefix when prefix is set
		part int    // 0 = whole string, 1 = part a, 2 = part b, 3 = part c
	}{
		{"alpn absent", base(), JA4Hashed, "t12d020300", 1},
		{"alpn empty list", withExt(base(), testExt{16, alpnBody()}), JA4Hashed, "t12d020400", 1},
		{"alpn empty first protocol", withExt(base(), testExt{16, alpnBody("", "h2")}), JA4Hashed, "t12d020400", 1},
		{"alpn one character gives it twice", withExt(base(), testExt{16, alpnBody("a")}), JA4Hashed, "t12d0204aa", 1},
		{"alpn non-ascii gives 99", withExt(base(), testExt{16, alpnBody("\xc3\xa9t\xc3\xa9")}), JA4Hashed, "t12d020499", 1},
		{"alpn non-printable last only", withExt(base(), testExt{16, alpnBody("h\x01")}), JA4Hashed, "t12d0204h9", 1},
		{"alpn http/1.1", withExt(base(), testExt{16, alpnBody("http/1.1", "h2")}), JA4Hashed, "t12d0204h1", 1},
		{"version from supported_versions, GREASE skipped", withExt(base(), testExt{43, u8ListOf16(0x0a0a, 0x0303, 0x0304)}), JA4Hashed, "t13d020400", 1},
		{"supported_versions TLS 1.1 only", withExt(base(), testExt{43, u8ListOf16(0x0302)}), JA4Hashed, "t11d020400", 1},
		{"no sni", testHello{version: 0x0301, ciphers: []uint16{0x002f}, exts: []testExt{{10, u16List(23)}}}, JA4Hashed, "t10i010100", 1},
		{"ssl 3.0", testHello{version: 0x0300, ciphers: []uint16{0x002f}, noExts: true}, JA4Hashed, "ts3i010000", 1},
		{"unknown version", testHello{version: 0x0305, ciphers: []uint16{0x002f}, noExts: true}, JA4Hashed, "t00i010000", 1},
		{"all ciphers GREASE", testHello{version: 0x0303, ciphers: []uint16{0x0a0a, 0x1a1a}, exts: []testExt{{10, u16List(29)}}}, JA4Hashed, "000000000000", 2},
		{"no ciphers raw", testHello{version: 0x0303, ciphers: nil, exts: []testExt{{10, u16List(29)}}}, JA4Raw, "t12i000100__000a", 0},
		// Only SNI and ALPN: the sorted list is empty → c is zeros for JA4
		// and JA4_o alike; JA4_r keeps the trailing '_'; JA4_ro lists them.
		{"only sni and alpn: JA4 c", testHello{version: 0x0301, ciphers: []uint16{0x002f, 0x00ff}, exts: []testExt{{0, sniBody("x")}, {16, alpnBody("h2")}}}, JA4Hashed, "000000000000", 3},
		{"only sni and alpn: JA4_o c", testHello{version: 0x0301, ciphers: []uint16{0x002f, 0x00ff}, exts: []testExt{{0, sniBody("x")}, {16, alpnBody("h2")}}}, JA4Original, "000000000000", 3},
		{"only sni and alpn: JA4_r", testHello{version: 0x0301, ciphers: []uint16{0x002f, 0x00ff}, exts: []testExt{{0, sniBody("x")}, {16, alpnBody("h2")}}}, JA4Raw, "t10d0202h2_002f,00ff_", 0},
		{"only sni and alpn: JA4_ro", testHello{version: 0x0301, ciphers: []uint16{0x002f, 0x00ff}, exts: []testExt{{0, sniBody("x")}, {16, alpnBody("h2")}}}, JA4RawOriginal, "t10d0202h2_002f,00ff_0000,0010", 0},
		// Signature algorithms come from extension 13 only, even when 50
		// (signature_algorithms_cert) and 34 come first.
		{"sigalgs from 13 only", testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{
			{50, u16List(0x0601)}, {34, u16List(0x0501)}, {13, u16List(0x0a0a, 0x0403, 0x0804)}, {10, u16List(29)}}},
			JA4Raw, "t12i010400_1301_000a,000d,0022,0032_0403,0804", 0},
		{"no sigalgs: no second underscore", testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{{10, u16List(29)}}}, JA4Raw, "t12i010100_1301_000a", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JA4Of(mustParse(t, tc.hello.bare()), TransportTCP, tc.variant)
			if tc.part > 0 {
				parts := strings.SplitN(got, "_", 3)
				if len(parts) < tc.part {
					t.Fatalf("JA4 %q has no part %d", got, tc.part)
				}
				got = parts[tc.part-1]
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestJA4Caps(t *testing.T) {
	h := testHello{version: 0x0303}
	for i := 0; i < 120; i++ {
		h.ciphers = append(h.ciphers, uint16(0x1000+i))
		h.exts = append(h.exts, testExt{uint16(0x2000 + i), nil})
	}
	got := JA4(mustParse(t, h.bare()), TransportQUIC)
	// spec: NN and MM capped at 99; proto q.
	if !strings.HasPrefix(got, "q12i999900_") {
		t.Fatalf("JA4 = %s", got)
	}
}

func TestJA3Corners(t *testing.T) {
	// A hello without extensions: three empty fields, so the string ends ",,".
	h := testHello{version: 0x0300, ciphers: []uint16{0x0a0a, 4, 5}, noExts: true}
	if got, want := JA3(mustParse(t, h.bare())), "768,4-5,,,"; got != want {
		t.Fatalf("JA3 = %q, want %q", got, want)
	}
	// Padding (21) stays; GREASE goes; JA3 version is legacy_version even
	// when supported_versions says 1.3; JA3N sorts.
	h = testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{
		{0xfafa, nil}, {43, u8ListOf16(0x0304)}, {21, make([]byte, 3)}, {10, u16List(0xaaaa, 29)}, {11, u8List(0, 1, 2)}}}
	ch := mustParse(t, h.bare())
	if got, want := JA3(ch), "771,4865,43-21-10-11,29,0-1-2"; got != want {
		t.Fatalf("JA3 = %q, want %q", got, want)
	}
	if got, want := JA3N(ch), "771,4865,10-11-21-43,29,0-1-2"; got != want {
		t.Fatalf("JA3N = %q, want %q", got, want)
	}
}

func TestParseClientHelloRecordsAndBare(t *testing.T) {
	msg := chromeLikeWithCompression().bare()
	want := JA3(mustParse(t, msg))
	for _, size := range []int{1, 7, 100, 512, 1 << 14} {
		in := append(records(msg, size), 0x14, 3, 3, 0, 1, 1) // a CCS record after it
		ch := mustParse(t, in)
		if got := JA3(ch); got != want {
			t.Errorf("records of %d: JA3 %s, want %s", size, got, want)
		}
		if ch.Consumed != len(in)-6 {
			t.Errorf("records of %d: Consumed %d, want %d", size, ch.Consumed, len(in)-6)
		}
		if wantRecs := (len(msg) + size - 1) / size; ch.Records != wantRecs {
			t.Errorf("records of %d: Records %d, want %d", size, ch.Records, wantRecs)
		}
	}
}

func TestParseClientHelloPrefixesAreTruncated(t *testing.T) {
	msg := chromeLikeWithCompression().bare()
	for _, in := range [][]byte{msg, records(msg, 100)} {
		for n := 0; n < len(in); n++ {
			_, err := ParseClientHello(in[:n])
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrTruncated", n, len(in), err)
			}
		}
	}
}

func TestParseClientHelloAnomaliesAndErrors(t *testing.T) {
	dup := testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{
		{10, u16List(29)}, {10, u16List(23)}, {16, []byte{0, 9, 2}}}}
	ch := mustParse(t, dup.bare())
	codes := map[string]bool{}
	for _, a := range ch.Anomalies {
		codes[a.Code] = true
	}
	if !codes[AnomalyDuplicateExtension] || !codes[AnomalyMalformedExtension] {
		t.Fatalf("anomalies %+v: want duplicate and malformed", ch.Anomalies)
	}
	// The first of duplicates is decoded; JA3 lists both, as tshark does.
	if len(ch.SupportedGroups) != 1 || ch.SupportedGroups[0] != 29 || JA3(ch) != "771,4865,10-10-16,29," {
		t.Fatalf("groups %v JA3 %s", ch.SupportedGroups, JA3(ch))
	}

	// Trailing bytes after the extensions block: an anomaly, not a failure.
	msg := testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{{10, u16List(29)}}}.bare()
	msg = append(msg, 0xde, 0xad)
	msg[3] += 2
	ch = mustParse(t, msg)
	if len(ch.Anomalies) != 1 || ch.Anomalies[0].Code != AnomalyTrailingBytes {
		t.Fatalf("anomalies %+v, want trailing_bytes", ch.Anomalies)
	}

	for _, tc := range []struct {
		name   string
		in     []byte
		want   error
		offset int
	}{
		{"empty", nil, ErrTruncated, 0},
		{"alert record", []byte{21, 3, 1, 0, 2, 2, 40}, ErrNotClientHello, 0},
		{"application data before hello complete", append(records([]byte{1, 0, 0, 50, 3, 3}, 100), 23, 3, 3, 0, 1, 0), ErrMalformed, 11},
		{"server hello", []byte{2, 0, 0, 0}, ErrNotClientHello, 0},
		{"oversized length", []byte{1, 0xff, 0xff, 0xff}, ErrTooLarge, 1},
		{"sslv2 hello", []byte{0x80, 0x2e, 0x01, 0x00, 0x02}, ErrNotClientHello, 0},
		// A 3-byte cipher list: version, random, empty session id, then
		// length 3 at message offset 39 (input offset 39 for a bare message).
		{"cipher list odd", append([]byte{1, 0, 0, 41, 3, 3}, append(make([]byte, 33), 0, 3, 0, 0x2f, 0, 1, 0)...), ErrMalformed, 39},
		{"extension block longer than message", func() []byte {
			m := testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{{10, u16List(29)}}}.bare()
			m[len(m)-9]++ // the extensions block length, 9 bytes before the end
			return records(m, 1<<14)
		}(), ErrMalformed, 5 + 4 + 2 + 32 + 1 + 4 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClientHello(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset != tc.offset {
				t.Fatalf("err = %v, want offset %d", err, tc.offset)
			}
		})
	}
}

func TestParseClientHelloDecodesExtensions(t *testing.T) {
	h := testHello{version: 0x0303, ciphers: []uint16{0x1301}, exts: []testExt{
		{0, sniBody("host.example")},
		{45, u8List(1)},
		{27, []byte{4, 0, 2, 0, 1}},
		{28, []byte{0x40, 0x01}},
		{34, u16List(0x0403)},
		{17513, alpnBody("h2")},
		{65037, append([]byte{0, 0, 1, 0, 1, 7, 0, 2, 0xaa, 0xbb, 0, 3}, 1, 2, 3)},
		{57, []byte{0x01, 0x01, 0x05, 0x67, 0x10, 0x00}},
		{35, []byte{9, 9, 9}},
		{41, []byte{0, 18, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0, 2, 5, 6, 0, 0, 0, 0, 0, 0}},
		{42, nil},
		{44, []byte{0, 2, 0xc0, 0x01}},
		{5, []byte{1, 0, 0, 0, 0}},
		{21, make([]byte, 5)},
		{50, u16List(0x0804)},
		{51, keyShareBody(0x2a2a, 29)},
		{0x1234, []byte{1, 2, 3}},
	}}
	ch := mustParse(t, h.bare())
	if len(ch.Anomalies) != 0 {
		t.Fatalf("anomalies: %+v", ch.Anomalies)
	}
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s not decoded as expected: %+v", name, ch)
		}
	}
	check("sni", ch.ServerName == "host.example")
	check("psk modes", string(ch.PSKKeyExchangeModes) == "\x01")
	check("compress_certificate", len(ch.CertCompressionAlgs) == 2 && ch.CertCompressionAlgs[0] == 2 && ch.CertCompressionAlgs[1] == 1)
	check("record_size_limit", ch.RecordSizeLimit == 0x4001)
	check("delegated_credentials", len(ch.DelegatedCredentials) == 1 && ch.DelegatedCredentials[0] == 0x0403)
	check("alps old", ch.ApplicationSettingsType == ExtApplicationSettingsOld && len(ch.ApplicationSettings) == 1)
	check("ech", ch.ECH != nil && ch.ECH.KDF == 1 && ch.ECH.AEAD == 1 && ch.ECH.ConfigID == 7 && ch.ECH.EncLen == 2 && ch.ECH.PayloadLen == 3)
	check("quic params", len(ch.QUICTransportParameters) == 2 && ch.QUICTransportParameters[1].ID == 0x2710)
	check("session ticket", len(ch.SessionTicket) == 3)
	check("psk identities", ch.PSKIdentities == 2)
	check("early data", ch.EarlyData)
	check("cookie", len(ch.Cookie) == 2)
	check("status_request", ch.StatusRequestType == 1)
	check("padding", ch.PaddingLen == 5)
	check("sig algs cert", len(ch.SignatureAlgorithmsCert) == 1)
	check("key shares", len(ch.KeyShares) == 2 && ch.KeyShares[0].Group == 0x2a2a && ch.KeyShares[1].Group == 29 &&
		ch.KeyShares[1].KeyLen == 32 && len(ch.KeyShares[1].Key) == 32)
	check("unknown kept", ch.Extensions[len(ch.Extensions)-1].Type == 0x1234 && len(ch.Extensions[len(ch.Extensions)-1].Data) == 3)
	if got := ExtensionType(0x1234).String(); got != "UNKNOWN_4660" {
		t.Errorf("unknown extension name %q", got)
	}
}

// TestThirdPartyPublishedChrome143 rebuilds the hello behind a Chrome 143
// report published by an independent fingerprinting service (browserleaks):
// its JA3 text, JA3/JA3N hashes, JA4 and JA4_o are that service's output.
func TestThirdPartyPublishedChrome143(t *testing.T) {
	h := testHello{
		version: 0x0303,
		ciphers: []uint16{0xfafa, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53},
		exts: []testExt{
			{0x8a8a, nil},
			{45, u8List(1)}, {51, keyShareBody(0xaaaa, 4588, 29)}, {16, alpnBody("h2", "http/1.1")},
			{65037, []byte{0, 0, 1, 0, 1, 0x9c, 0, 0, 0, 0}}, {23, nil}, {17613, alpnBody("h2")},
			{0, sniBody("tls.browserleaks.com")}, {11, u8List(0)}, {10, u16List(0xaaaa, 4588, 29, 23, 24)},
			{43, u8ListOf16(0x5a5a, 0x0304, 0x0303)}, {65281, []byte{0}}, {35, nil}, {18, nil},
			{5, []byte{1, 0, 0, 0, 0}}, {13, u16List(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)},
			{27, []byte{2, 0, 2}},
			{0x3a3a, []byte{0}},
		},
	}
	ch := mustParse(t, h.bare())
	fp := ComputeTLS(ch, TransportTCP)
	for _, c := range []struct{ name, got, want string }{
		{"ja3", fp.JA3, "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"},
		{"ja3_hash", fp.JA3Hash, "98487aa16281980e7d1120d399efb6a4"},
		{"ja3n_hash", fp.JA3NHash, "8e19337e7524d2573be54efb2b0784c9"},
		{"ja4", fp.JA4, "t13d1516h2_8daaf6152771_d8a2da3f94cd"},
		{"ja4_o", fp.JA4O, "t13d1516h2_acb858a92679_f96a17c57971"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestJA4VersionTable(t *testing.T) {
	// spec: JA4 version mapping.
	for v, want := range map[uint16]string{0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
		0x0002: "s2", 0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3", 0x0305: "00", 0x7f1c: "00"} {
		if got := ja4Version(v); got != want {
			t.Errorf("ja4Version(%#04x) = %s, want %s", v, got, want)
		}
	}
}

// TestCipherSuiteNamesMatchCryptoTLS: every suite crypto/tls knows has
// the same (IANA) name here, so a negotiated suite is named the same way
// as in the hello's list.
func TestCipherSuiteNamesMatchCryptoTLS(t *testing.T) {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if got := CipherSuite(s.ID).String(); got != s.Name {
			t.Errorf("%#04x: %q, crypto/tls says %q", s.ID, got, s.Name)
		}
	}
}
