package analyze

import (
	"context"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
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
	out, err := exec.Command("tshark", "-r", path, "-d", "tcp.port=="+strings.TrimSpace(string(port))+",tls",
		"-Y", "tls.handshake.type == 1",
		"-T", "fields", "-E", "occurrence=a", "-e", "tcp.stream", "-e", "tls.handshake.ja3").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		stream, ja3s, _ := strings.Cut(line, "\t")
		// A frame can carry two hellos (after a HelloRetryRequest).
		for _, ja3 := range strings.Split(ja3s, ",") {
			want = append(want, stream+" "+ja3)
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
			got = append(got, strconv.Itoa(*r.Stream)+" "+r.JA3Hash)
		}
		return nil
	})
	if err != nil || st.Skipped != 0 {
		t.Fatalf("err %v, stats %+v", err, st)
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) < 60 {
		t.Fatalf("tshark found only %d hellos in %s", len(want), path)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hellos differ from tshark's:\n got  %d: %v\n want %d: %v", len(got), got, len(want), want)
	}
	t.Logf("%d hellos on %d TCP streams match tshark", len(got), st.TCPFlows)
}
