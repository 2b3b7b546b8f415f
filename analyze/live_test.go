package analyze

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fpwork/fp/fingerprint"
)

// TestLiveCaptureAgainstTshark reads a real loopback capture of the golden
// clients (scripts/test.sh makes one with scripts/capture-goldens.sh
// --pcap, which also writes the server port to FILE.port, and sets
// FP_LIVE_PCAP) and checks that every ClientHello tshark
// finds is reported on the same tcp.stream with tshark's JA3, and nothing
// more.
func TestLiveCaptureAgainstTshark(t *testing.T) {
	path := os.Getenv("FP_LIVE_PCAP")
	if path == "" {
		t.Skip("FP_LIVE_PCAP is not set; scripts/test.sh sets it to a new capture")
	}
	// The server's port, decoded as TLS whatever dissector owns it.
	port, err := os.ReadFile(path + ".port")
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimSpace(string(port))
	compareHellosWithTshark(t, path, 60, "-d", "tcp.port=="+p+",tls")
	liveDecryption(t, path, p)
}

// TestGeneratedCaptureAgainstTshark does the same on a capture from
// scripts/gencapture (FP_GENERATED_PCAP, set by scripts/test.sh): TCP
// hellos over retransmitted and reordered segments, QUIC hellos in
// coalesced, reordered CRYPTO frames, among HTTP, h2c and bulk flows.
func TestGeneratedCaptureAgainstTshark(t *testing.T) {
	path := os.Getenv("FP_GENERATED_PCAP")
	if path == "" {
		t.Skip("FP_GENERATED_PCAP is not set; scripts/test.sh sets it to a generated capture")
	}
	compareHellosWithTshark(t, path, 200)
}

// compareHellosWithTshark checks that every ClientHello tshark finds (TCP
// and QUIC) is reported with tshark's JA3 on the same tcp.stream or
// udp.stream, and nothing more.
func compareHellosWithTshark(t *testing.T, path string, atLeast int, tsharkArgs ...string) {
	args := append([]string{"-r", path}, tsharkArgs...)
	args = append(args, "-Y", "tls.handshake.type == 1", "-T", "fields", "-E", "occurrence=a",
		"-e", "tcp.stream", "-e", "udp.stream", "-e", "tls.handshake.ja3")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("tshark line %q", line)
		}
		transport, stream := "tcp", f[0]
		if stream == "" {
			transport, stream = "udp", f[1]
		}
		// A frame can carry two hellos (after a HelloRetryRequest).
		for _, ja3 := range strings.Split(f[2], ",") {
			want = append(want, transport+" "+stream+" "+ja3)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	st, err := NewCapture().Analyse(context.Background(), path, f, func(r Record) error {
		if r.Kind == KindTLS {
			got = append(got, r.Transport+" "+strconv.Itoa(*r.Stream)+" "+r.JA3Hash)
		}
		return nil
	})
	if err != nil || st.Skipped != 0 {
		t.Fatalf("err %v, stats %+v", err, st)
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) < atLeast {
		t.Fatalf("tshark found only %d hellos in %s", len(want), path)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hellos differ from tshark's:\n got  %d: %v\n want %d: %v", len(got), got, len(want), want)
	}
	t.Logf("%d hellos on %d TCP and %d UDP streams match tshark", len(got), st.TCPFlows, st.UDPFlows)
}

// liveDecryption decrypts the capture with its key log and checks every
// request against those tshark decrypts, on the streams whose cipher
// suite is an AEAD (the ones fp analyze decrypts; tshark also does CBC).
func liveDecryption(t *testing.T, path, port string) {
	keyFile, err := os.Open(path + ".keylog")
	if err != nil {
		t.Fatal(err)
	}
	kl, err := ParseKeyLog(keyFile)
	keyFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	tshark := func(filter string, fields ...string) [][]string {
		args := []string{"-r", path, "-d", "tcp.port==" + port + ",tls", "-o", "tls.keylog_file:" + path + ".keylog",
			"-Y", filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x01"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		out, err := exec.Command("tshark", args...).Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		var rows [][]string
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			rows = append(rows, strings.Split(line, "\t"))
		}
		return rows
	}
	aead := map[string]bool{}
	for _, row := range tshark("tls.handshake.type == 2", "tcp.stream", "tls.handshake.ciphersuite") {
		if cs, err := strconv.ParseUint(strings.TrimPrefix(row[1], "0x"), 16, 16); err == nil {
			_, ok := suiteOf(fingerprint.CipherSuite(cs))
			aead[row[0]] = ok
		}
	}
	var want []string
	for _, row := range tshark("http.request or http2.headers.method", "tcp.stream",
		"http.request.method", "http.request.uri", "http2.headers.method", "http2.headers.path") {
		if !aead[row[0]] {
			continue
		}
		for _, pair := range [][2]string{{row[1], row[2]}, {row[3], row[4]}} {
			if pair[0] == "" {
				continue
			}
			methods, paths := strings.Split(pair[0], "\x01"), strings.Split(pair[1], "\x01")
			for i := range methods {
				want = append(want, row[0]+" "+methods[i]+" "+paths[i])
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewCapture()
	c.KeyLog = kl
	var got []string
	if _, err := c.Analyse(context.Background(), path, f, func(r Record) error {
		if r.Kind == KindHTTP {
			got = append(got, strconv.Itoa(*r.Stream)+" "+r.Method+" "+r.Path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) < 40 {
		t.Fatalf("tshark decrypted only %d requests", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("decrypted requests differ from tshark's:\n got  %d: %v\n want %d: %v", len(got), got, len(want), want)
	}
	t.Logf("%d decrypted requests match tshark", len(got))

	// The same secrets inside the pcapng (editcap --inject-secrets), no
	// key log given: the same requests.
	withDSB := filepath.Join(t.TempDir(), "dsb.pcapng")
	if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+path+".keylog", path, withDSB).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v: %s", err, out)
	}
	g, err := os.Open(withDSB)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var fromDSB []string
	if _, err := NewCapture().Analyse(context.Background(), withDSB, g, func(r Record) error {
		if r.Kind == KindHTTP {
			fromDSB = append(fromDSB, strconv.Itoa(*r.Stream)+" "+r.Method+" "+r.Path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(fromDSB)
	if strings.Join(fromDSB, "\n") != strings.Join(want, "\n") {
		t.Fatalf("with the secrets block: %d requests, want %d", len(fromDSB), len(want))
	}
}
