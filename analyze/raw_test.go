package analyze

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/pcapsynth"
	"github.com/fpwork/fp/internal/selfsigned"
)

// recordingConn keeps every byte its peer (the client) wrote to it.
type recordingConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Write(p[:n])
	return n, err
}

// TestHelloRetryRequestGivesTwoHellos records what a real crypto/tls
// client sends when the server asks for another key share: hello,
// ChangeCipherSpec, second hello. Both hellos are reported.
func TestHelloRetryRequestGivesTwoHellos(t *testing.T) {
	// A loopback socket, not net.Pipe: both ends write at once during the
	// retry (the server's CCS, the client's CCS), which needs a buffer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: s}
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	srv := tls.Server(rec, &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.CurveP256}, // the client's first share is X25519
		NextProtos:       []string{"h2"},
	})
	done := make(chan error, 1)
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true,
			CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}, NextProtos: []string{"h2"}})
		err := cl.Handshake()
		c.Close()
		done <- err
	}()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, srv) // until the client's close
	srv.Close()
	recs, err := NewRaw().Analyse("hrr.bin", InputTLS, rec.got.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, r := range recs {
		if r.Kind != KindTLS || r.Index != i+1 || r.SNI != "localhost" || !strings.HasPrefix(r.JA4, "t13d") {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// The retry carries the key share the server asked for, so only the
	// raw hellos differ, not the cipher and extension lists.
	if recs[0].JA4 != recs[1].JA4 {
		t.Errorf("JA4 %s then %s", recs[0].JA4, recs[1].JA4)
	}

	// The same bytes in a capture, in 100-byte segments: index 1 and 2 on
	// one stream.
	w := pcapsynth.New(layers.LinkTypeEthernet, "")
	conn := w.Conn("10.1.1.1:50000", "10.2.2.2:443")
	w.Handshake(conn)
	client := rec.got.Bytes()
	for off := 0; off < len(client); off += 100 {
		w.TCP(conn, true, "A", conn.CliSeq+uint32(off), client[off:min(off+100, len(client))])
	}
	capRecs, _, err := analyseSynth(t, w)
	if err != nil || len(capRecs) != 2 || capRecs[0].Index != 1 || capRecs[1].Index != 2 ||
		capRecs[1].JA3Hash != recs[1].JA3Hash || *capRecs[1].Stream != 0 {
		t.Fatalf("capture: err %v, records %+v", err, capRecs)
	}
}

func TestAnalyseErrorsNameTheOffset(t *testing.T) {
	_, err := NewRaw().Analyse("cut.bin", InputTLS, []byte{0x16, 3, 1, 0, 10, 1, 0, 0})
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, fingerprint.ErrTruncated) {
		t.Fatalf("err = %v", err)
	}
	if got := err.Error(); got != "cut.bin: offset 8: tls record cut short" {
		t.Fatalf("message %q", got)
	}
	recs, err := NewRaw().Analyse("h1", InputHTTP1, []byte("GET / HTTP/1.1\r\n\r\nGET /x HTTP/9\r\n\r\n"))
	if len(recs) != 1 || !errors.Is(err, fingerprint.ErrMalformed) || !strings.HasPrefix(err.Error(), "h1: offset 25: http1") {
		t.Fatalf("recs %d err %v", len(recs), err)
	}
	for _, tc := range []struct {
		in   string
		want string
	}{{"\x16\x03\x01", InputTLS}, {"\x01\x00", InputTLS}, {"PRI * HTTP/2.0\r\n", InputHTTP2}, {"GET /", InputHTTP1}} {
		if got := Sniff([]byte(tc.in)); got != tc.want {
			t.Errorf("Sniff(%q) = %s", tc.in, got)
		}
	}
}
