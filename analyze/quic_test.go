package analyze

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/quic-go/quic-go"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/pcapsynth"
	"github.com/fpwork/fp/internal/selfsigned"
)

// recordingPacketConn keeps the datagrams a QUIC client writes. It shows
// quic-go only the net.PacketConn methods, so every write goes through
// WriteTo.
type recordingPacketConn struct {
	net.PacketConn
	mu   sync.Mutex
	sent [][]byte
}

func (c *recordingPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.sent = append(c.sent, append([]byte(nil), p...))
	c.mu.Unlock()
	return c.PacketConn.WriteTo(p, addr)
}

// quicGoClientDatagrams connects a real quic-go client to a quic-go server
// on loopback and returns the client's datagrams and both addresses.
// With retry set, the server answers the first Initial with a Retry.
// versions, when given, are the QUIC versions both ends speak.
func quicGoClientDatagrams(t *testing.T, retry bool, versions ...quic.Version) ([][]byte, netip.AddrPort, netip.AddrPort) {
	qc := &quic.Config{Versions: versions}
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	srvUDP, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srvTr := &quic.Transport{Conn: srvUDP, VerifySourceAddress: func(net.Addr) bool { return retry }}
	defer srvTr.Close()
	ln, err := srvTr.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"fp-test"}}, qc)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		if conn, err := ln.Accept(ctx); err == nil {
			<-conn.Context().Done()
		}
	}()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingPacketConn{PacketConn: udp}
	tr := &quic.Transport{Conn: rec}
	defer tr.Close()
	conn, err := tr.Dial(ctx, ln.Addr(), &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"fp-test"}}, qc)
	if err != nil {
		t.Fatal(err)
	}
	conn.CloseWithError(0, "")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.sent, udp.LocalAddr().(*net.UDPAddr).AddrPort(), ln.Addr().(*net.UDPAddr).AddrPort()
}

// TestCaptureQUICFromQuicGo fingerprints the Initials of a real quic-go
// client: the hello spans CRYPTO frames of more than one packet when its
// post-quantum key share is large. tshark, which decrypts Initials by
// itself, gives the expected JA3.
func TestCaptureQUICFromQuicGo(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil && os.Getenv("CI") != "" {
		t.Fatal("tshark is missing; scripts/install-deps.sh installs it")
	}
	// tshark 4.0 does not always reassemble a hello whose CRYPTO frames
	// quic-go sent out of order across packets; a new connection then.
	for attempt := 1; attempt <= 5; attempt++ {
		datagrams, cli, srv := quicGoClientDatagrams(t, false)
		capture, recs, st, err := analyseDatagrams(t, datagrams, cli, srv, func(w *pcapsynth.Writer) {
			w.Handshake(w.Conn("10.9.9.9:40000", "10.2.2.2:80")) // stream numbers are per transport
		})
		if err != nil || st.Skipped != 0 {
			t.Fatalf("err %v %+v", err, st)
		}
		if len(recs) != 1 {
			t.Fatalf("%d records: %+v", len(recs), recs)
		}
		r := recs[0]
		if r.Transport != "udp" || *r.Stream != 0 || r.Src != cli.String() || r.Dst != srv.String() ||
			!strings.HasPrefix(r.JA4, "q13") || r.SNI != "localhost" || len(r.ALPN) != 1 || r.ALPN[0] != "fp-test" {
			t.Fatalf("record %+v", r)
		}
		if tshark == "" {
			t.Skip("tshark not installed: the JA3 oracle is not available")
		}
		path := filepath.Join(t.TempDir(), "quic.pcap")
		if err := os.WriteFile(path, capture, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tshark, "-r", path, "-d", "udp.port=="+strconv.Itoa(int(srv.Port()))+",quic",
			"-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "tls.handshake.ja3").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		got := strings.TrimSpace(string(out))
		if got == "" {
			t.Logf("attempt %d: tshark did not reassemble the hello", attempt)
			continue
		}
		if got != r.JA3Hash {
			t.Fatalf("JA3 %s, tshark %q", r.JA3Hash, got)
		}
		return
	}
	t.Fatal("tshark reassembled no hello in 5 connections")
}

// TestQUICAfterRetry: after a Retry the client keys its Initials from the
// new Destination Connection ID; they decrypt and repeat the hello.
func TestQUICAfterRetry(t *testing.T) {
	datagrams, cli, srv := quicGoClientDatagrams(t, true)
	var withToken, dcids int
	seen := map[string]bool{}
	for _, d := range datagrams {
		inis, err := fingerprint.ParseQUICInitials(d)
		if err != nil {
			continue
		}
		for _, ini := range inis {
			if !seen[string(ini.DCID)] {
				seen[string(ini.DCID)] = true
				dcids++
			}
			if len(ini.Token) > 0 && len(ini.Crypto) > 0 {
				withToken++
			}
		}
	}
	if dcids < 2 || withToken == 0 {
		t.Fatalf("%d connection IDs keyed Initials, %d Initials with a token carried CRYPTO data", dcids, withToken)
	}
	_, recs, _, err := analyseDatagrams(t, datagrams, cli, srv, nil)
	if err != nil || len(recs) != 1 || !strings.HasPrefix(recs[0].JA4, "q13d") {
		t.Fatalf("err %v, records %+v", err, recs)
	}
}

// TestQUICVersion2: a quic-go client speaking only QUIC v2 (RFC 9369, other
// salt and labels, other Initial type bits) gives the same JA4 as over v1.
func TestQUICVersion2(t *testing.T) {
	var ja4 [2]string
	for i, v := range []quic.Version{quic.Version1, quic.Version2} {
		datagrams, cli, srv := quicGoClientDatagrams(t, false, v)
		first, err := fingerprint.ParseQUICInitials(datagrams[0])
		if err != nil || first[0].Version != uint32(v) {
			t.Fatalf("version %v: %v %+v", v, err, first)
		}
		_, recs, _, err := analyseDatagrams(t, datagrams, cli, srv, nil)
		if err != nil || len(recs) != 1 {
			t.Fatalf("version %v: %d records, err %v", v, len(recs), err)
		}
		ja4[i] = recs[0].JA4
	}
	if ja4[0] != ja4[1] || !strings.HasPrefix(ja4[1], "q13d") {
		t.Fatalf("JA4 over v1 %s, over v2 %s", ja4[0], ja4[1])
	}
}

// analyseDatagrams writes a client's datagrams into a capture (after what
// before writes, if set) and analyses it.
func analyseDatagrams(t *testing.T, datagrams [][]byte, cli, srv netip.AddrPort, before func(*pcapsynth.Writer)) ([]byte, []Record, CaptureStats, error) {
	t.Helper()
	w := pcapsynth.New(layers.LinkTypeEthernet, "")
	if before != nil {
		before(w)
	}
	for _, d := range datagrams {
		w.UDP(cli, srv, d)
	}
	capture, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	recs, st, err := analyseCapture(t, capture)
	return capture, recs, st, err
}
