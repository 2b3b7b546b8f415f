package analyze

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/fpwork/fp/internal/pcapsynth"
)

// FuzzCaptureFile feeds whole capture files: no panic, and the counts stay
// consistent, whatever the damage.
func FuzzCaptureFile(f *testing.F) {
	s := pcapsynth.New(layers.LinkTypeEthernet, "vlan")
	c := s.Conn("10.1.1.1:50000", "10.2.2.2:443")
	s.Handshake(c)
	s.TCP(c, true, "A", c.CliSeq, []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"))
	seed, err := s.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	// A pcapng with a Decryption Secrets Block before its packet.
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		f.Fatal(err)
	}
	w.WriteDecryptionSecretsBlock(secretsTLSKeyLog, []byte("CLIENT_RANDOM "+strings.Repeat("ab", 32)+" "+strings.Repeat("cd", 48)+"\n"))
	if r, err := pcapgo.NewReader(bytes.NewReader(seed)); err == nil {
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				break
			}
			w.WritePacket(ci, data)
		}
	}
	w.Flush()
	f.Add(ng.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		st, _ := NewCapture().Analyse(context.Background(), "fuzz", bytes.NewReader(b), func(Record) error { return nil })
		if st.Skipped > st.Packets {
			t.Fatalf("%+v", st)
		}
	})
}

// FuzzCapturePayload runs the core parsers through the capture front end:
// the fuzz bytes are a client's TCP payload, cut into segments sent out of
// order, as TLS, HTTP/1 or HTTP/2 depending on how they start.
func FuzzCapturePayload(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"), uint8(3))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabGET /b HTTP/1.1\r\n\r\n"), uint8(7))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), uint8(5))
	f.Fuzz(func(t *testing.T, payload []byte, cut uint8) {
		s := pcapsynth.New(layers.LinkTypeEthernet, "")
		c := s.Conn("10.1.1.1:50000", "10.2.2.2:443")
		s.Handshake(c)
		n := int(cut%8) + 1
		parts := split(payload, n)
		off := make([]uint32, n)
		for i := 1; i < n; i++ {
			off[i] = off[i-1] + uint32(len(parts[i-1]))
		}
		for i := n - 1; i >= 0; i-- { // last part first
			if len(parts[i]) > 0 {
				s.TCP(c, true, "A", c.CliSeq+off[i], parts[i])
			}
		}
		recs, st, err := analyseSynth(t, s)
		if err != nil || st.Skipped != 0 {
			t.Fatalf("err %v, %+v", err, st)
		}
		for _, r := range recs {
			if r.Stream == nil || *r.Stream != 0 || r.Index < 1 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}
