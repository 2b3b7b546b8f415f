package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/crypto/cryptobyte"
)

const goldenDir = "../../fingerprint/testdata/golden"

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 9001 appendix A.1: keys for the client DCID 0x8394c8f03e515708.
func TestInitialKeysRFC9001(t *testing.T) {
	dcid := unhex(t, "8394c8f03e515708")
	tests := []struct {
		label, iv, sample, mask string
	}{
		// A.2: the client Initial's header protection sample and mask.
		{"client in", "fa044b2f42a3fd3b46fb255c", "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"},
		// A.3: the server Initial's.
		{"server in", "0ac1493ca1905853b0bba03e", "2cd0991cd25b0aac406a5816b6394100", "2ec0d8356a"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			k, err := newInitialKeys(dcid, tt.label)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.iv); got != tt.iv {
				t.Errorf("iv = %s, want %s", got, tt.iv)
			}
			var mask [16]byte
			k.hp.Encrypt(mask[:], unhex(t, tt.sample))
			if got := hex.EncodeToString(mask[:5]); got != tt.mask {
				t.Errorf("mask = %s, want %s", got, tt.mask)
			}
		})
	}
}

// unprotect reverses initialKeys.protect for a long-header packet with an
// empty token and a 2-byte Length, returning the frames.
func unprotect(t *testing.T, k *initialKeys, pkt []byte) (pn uint32, frames []byte) {
	t.Helper()
	dcidLen := int(pkt[5])
	scidLen := int(pkt[6+dcidLen])
	pnOff := 6 + dcidLen + 1 + scidLen + 1 + 2
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	hdr := append([]byte(nil), pkt[:pnOff+2]...)
	hdr[0] ^= mask[0] & 0x0f
	if hdr[0]&0x03 != 1 {
		t.Fatalf("packet number length bits %d, want 1 (2 bytes)", hdr[0]&0x03)
	}
	hdr[pnOff] ^= mask[1]
	hdr[pnOff+1] ^= mask[2]
	pn = uint32(hdr[pnOff])<<8 | uint32(hdr[pnOff+1])
	nonce := append([]byte(nil), k.iv...)
	nonce[len(nonce)-1] ^= byte(pn)
	nonce[len(nonce)-2] ^= byte(pn >> 8)
	frames, err := k.aead.Open(nil, nonce, pkt[pnOff+2:], hdr)
	if err != nil {
		t.Fatalf("open packet %d: %v", pn, err)
	}
	return pn, frames
}

// The client Initials carry the whole hello in CRYPTO frames, in 1200-byte
// datagrams, in plain and in chaos mode; the hello is rewritten for QUIC.
func TestClientInitials(t *testing.T) {
	corp, err := loadCorpus(os.DirFS(goldenDir))
	if err != nil {
		t.Fatal(err)
	}
	g := newGenerator(config{size: 1, seed: 7, active: 1}, corp, nil)
	dcid := unhex(t, "0011223344556677")
	k, err := newInitialKeys(dcid, "client in")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range corp.quicHellos {
		for _, chaos := range []bool{false, true} {
			datagrams, err := g.clientInitials(k, dcid, q.msg, chaos)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			got := make([]byte, len(q.msg))
			seen := 0
			for i, d := range datagrams {
				if len(d) != quicMinInitial {
					t.Errorf("%s: datagram %d is %d bytes, want %d", q.name, i, len(d), quicMinInitial)
				}
				pn, frames := unprotect(t, k, d)
				if pn != uint32(i) {
					t.Errorf("%s: packet number %d, want %d", q.name, pn, i)
				}
				s := cryptobyte.String(frames)
				for !s.Empty() {
					var typ uint8
					s.ReadUint8(&typ)
					switch typ {
					case 0x00, 0x01: // PADDING, PING
					case 0x06:
						off, n := readVarint(t, &s), readVarint(t, &s)
						var data []byte
						if !s.ReadBytes(&data, int(n)) {
							t.Fatalf("%s: truncated CRYPTO frame", q.name)
						}
						copy(got[off:], data)
						seen += len(data)
					default:
						t.Fatalf("%s: unexpected frame type %#x", q.name, typ)
					}
				}
			}
			if seen != len(q.msg) || !bytes.Equal(got, q.msg) {
				t.Errorf("%s (chaos %v): CRYPTO frames carry %d bytes that do not rebuild the hello (%d bytes)", q.name, chaos, seen, len(q.msg))
			}
		}
		checkQUICHello(t, q)
	}
}

func readVarint(t *testing.T, s *cryptobyte.String) uint64 {
	t.Helper()
	var first uint8
	if !s.ReadUint8(&first) {
		t.Fatal("truncated varint")
	}
	v := uint64(first & 0x3f)
	for i := 1; i < 1<<(first>>6); i++ {
		var b uint8
		if !s.ReadUint8(&b) {
			t.Fatal("truncated varint")
		}
		v = v<<8 | uint64(b)
	}
	return v
}

func checkQUICHello(t *testing.T, q quicHello) {
	t.Helper()
	s := cryptobyte.String(q.msg)
	var typ uint8
	var body, sid, suites, comp, exts cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() ||
		!body.Skip(2+32) || !body.ReadUint8LengthPrefixed(&sid) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&comp) || !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		t.Fatalf("%s: malformed QUIC hello", q.name)
	}
	if len(sid) != 0 {
		t.Errorf("%s: legacy_session_id is %d bytes, want empty", q.name, len(sid))
	}
	var order []uint16
	var alpn []byte
	for !exts.Empty() {
		var et uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&et) || !exts.ReadUint16LengthPrefixed(&data) {
			t.Fatalf("%s: malformed extensions", q.name)
		}
		order = append(order, et)
		if et == extALPN {
			alpn = data
		}
	}
	if !bytes.Equal(alpn, []byte{0, 3, 2, 'h', '3'}) {
		t.Errorf("%s: ALPN extension %x, want h3 only", q.name, alpn)
	}
	n57 := 0
	for i, et := range order {
		if et == extQUICTransport {
			n57++
		}
		if et == extPreSharedKey && i != len(order)-1 {
			t.Errorf("%s: pre_shared_key is not the last extension", q.name)
		}
		if et == extPadding {
			t.Errorf("%s: padding extension left in", q.name)
		}
	}
	if n57 != 1 {
		t.Errorf("%s: %d quic_transport_parameters extensions, want 1", q.name, n57)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "200MB", want: 200e6},
		{in: "20mb", want: 20e6},
		{in: "1.5GiB", want: 3 << 29},
		{in: "4096", want: 4096},
		{in: "64KiB", want: 64 << 10},
		{in: "2.5M", want: 2.5e6},
		{in: "0MB", err: true},
		{in: "MB", err: true},
		{in: "12XB", err: true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want && !tt.err {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func generate(t *testing.T, args ...string) ([]byte, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.pcap")
	var stderr strings.Builder
	args = append([]string{"-out", out, "-golden", goldenDir}, args...)
	if err := run(context.Background(), args, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b, stderr.String()
}

// The same seed gives the same file; another seed another file; the file
// reaches the size and reads back as Ethernet frames with increasing
// timestamps.
func TestDeterministicAndReadable(t *testing.T) {
	a, summary := generate(t, "-size", "2MB", "-seed", "3")
	b, _ := generate(t, "-size", "2MB", "-seed", "3")
	c, _ := generate(t, "-size", "2MB", "-seed", "4")
	if !bytes.Equal(a, b) {
		t.Error("two runs with the same seed differ")
	}
	if bytes.Equal(a, c) {
		t.Error("runs with different seeds are equal")
	}
	if len(a) < 2e6 {
		t.Errorf("file is %d bytes, want at least 2e6", len(a))
	}
	if !strings.Contains(summary, "client hellos: tcp ") {
		t.Errorf("summary lacks the hello counts:\n%s", summary)
	}
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			data, _ := generate(t, "-size", "1MB", "-format", format)
			var src interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}
			var err error
			if format == "pcap" {
				src, err = pcapgo.NewReader(bytes.NewReader(data))
			} else {
				src, err = pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
			}
			if err != nil {
				t.Fatal(err)
			}
			var last gopacket.CaptureInfo
			n, syns := 0, 0
			for {
				pkt, ci, err := src.ReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n > 0 && !ci.Timestamp.After(last.Timestamp) {
					t.Fatalf("packet %d: timestamp %v not after %v", n, ci.Timestamp, last.Timestamp)
				}
				last = ci
				p := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.Default)
				if p.ErrorLayer() != nil {
					t.Fatalf("packet %d: %v", n, p.ErrorLayer().Error())
				}
				if tcp, ok := p.TransportLayer().(*layers.TCP); ok && tcp.SYN && !tcp.ACK {
					syns++
				}
				n++
			}
			if n < 1000 || syns < 10 {
				t.Errorf("%d packets, %d SYNs: want many", n, syns)
			}
		})
	}
}
