package fingerprint

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/fpwork/fp/internal/golden"
)

func TestQUICInitialKeysRFCVectors(t *testing.T) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	for _, tc := range []struct {
		version     uint32
		key, iv, hp string
	}{
		// RFC 9001 Appendix A.1.
		{QUICVersion1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		// RFC 9369 Appendix A.1.
		{QUICVersion2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		p, _ := quicParams(tc.version)
		key, iv, hp := clientInitialKeys(p, dcid)
		if hex.EncodeToString(key) != tc.key || hex.EncodeToString(iv) != tc.iv || hex.EncodeToString(hp) != tc.hp {
			t.Errorf("version %#x: key %x iv %x hp %x", tc.version, key, iv, hp)
		}
	}
}

func TestQUICCryptoStreamReassembly(t *testing.T) {
	msg := chromeLikeWithCompression().bare()
	q := NewQUICCryptoStream(1 << 16)
	// Out of order, overlapping, and a duplicate.
	for _, r := range [][2]int{{300, len(msg)}, {100, 350}, {0, 120}, {100, 350}} {
		if q.ClientHello() != nil && r[0] != 100 {
			t.Fatal("complete too early")
		}
		if err := q.Add(QUICCrypto{Offset: uint64(r[0]), Data: msg[r[0]:r[1]]}); err != nil {
			t.Fatal(err)
		}
	}
	got := q.ClientHello()
	if string(got) != string(msg) {
		t.Fatalf("reassembled %d bytes, want %d", len(got), len(msg))
	}
	if err := NewQUICCryptoStream(100).Add(QUICCrypto{Offset: 90, Data: make([]byte, 20)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the cap: %v", err)
	}
}

func TestQUICNotInitial(t *testing.T) {
	for _, in := range [][]byte{
		{0x40, 1, 2, 3},                // short header
		{0xc0, 0, 0, 0, 1},             // cut long header
		{0xc0, 0xff, 0, 0, 0x1d, 0, 0}, // unknown version
		append([]byte{0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x40, 30}, make([]byte, 30)...), // garbage payload
	} {
		if _, err := ParseQUICInitials(in); err == nil {
			t.Errorf("%x parsed", in)
		}
	}
}

// quicGolden reads testdata/quic/*.txtar: client Initial datagrams of a
// real QUIC client, in order, and tshark's expected values.
func quicGolden(tb testing.TB, name string) ([][]byte, map[string]string) {
	tb.Helper()
	f := goldenfile.Load(tb, filepath.Join("testdata", "quic"), name)
	var datagrams [][]byte
	for i := 1; ; i++ {
		b, err := f.Hex(fmt.Sprintf("datagram%d.hex", i))
		if err != nil {
			tb.Fatal(err)
		}
		if b == nil {
			break
		}
		datagrams = append(datagrams, b)
	}
	return datagrams, f.Values("expect.txt")
}

func TestQUICGoldenQuicGo(t *testing.T) {
	datagrams, want := quicGolden(t, "quic-go-0.65-initials")
	q := NewQUICCryptoStream(1 << 16)
	var keys [][]byte
	for i, d := range datagrams {
		inis, err := ParseQUICInitials(d, keys...)
		if err != nil {
			t.Fatalf("datagram %d: %v", i+1, err)
		}
		for _, ini := range inis {
			if i == 0 {
				keys = append(keys, ini.KeyDCID)
			}
			for _, c := range ini.Crypto {
				if err := q.Add(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i == 2 {
			// The third Initial uses the server's connection ID: without
			// the first Initial's keys it does not decrypt.
			if _, err := ParseQUICInitials(d); !errors.Is(err, ErrQUICDecrypt) {
				t.Errorf("third Initial with its own DCID's keys: %v", err)
			}
		}
	}
	ch, err := ParseClientHello(q.ClientHello())
	if err != nil {
		t.Fatal(err)
	}
	if JA3(ch) != want["ja3"] || JA3Hash(ch) != want["ja3_hash"] || ch.ServerName != want["sni"] || strings.Join(ch.ALPN, ",") != want["alpn"] {
		t.Fatalf("JA3 %s (%s) sni %s alpn %v, want %s", JA3(ch), JA3Hash(ch), ch.ServerName, ch.ALPN, want["ja3_hash"])
	}
	if got := JA4(ch, TransportQUIC); !strings.HasPrefix(got, "q13d") {
		t.Fatalf("JA4 %s", got)
	}
	if len(ch.QUICTransportParameters) == 0 {
		t.Fatal("no QUIC transport parameters decoded")
	}
}

func FuzzParseQUICInitials(f *testing.F) {
	datagrams, _ := quicGolden(f, "quic-go-0.65-initials")
	for _, d := range datagrams {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		inis, err := ParseQUICInitials(b, []byte{1, 2, 3, 4, 5, 6, 7, 8})
		if err == nil && len(inis) == 0 {
			t.Fatal("no error and no packet")
		}
		q := NewQUICCryptoStream(4096)
		for _, ini := range inis {
			if len(ini.Crypto) > maxQUICCryptoFrames {
				t.Fatalf("%d CRYPTO frames", len(ini.Crypto))
			}
			for _, c := range ini.Crypto {
				_ = q.Add(c)
			}
		}
		if h := q.ClientHello(); h != nil {
			_, _ = ParseClientHello(h)
		}
	})
}
