package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	goldenfile "github.com/fpwork/fp/internal/golden"

	utls "github.com/refraction-networking/utls"

	"golang.org/x/net/http2"

	"github.com/fpwork/fp/internal/parrots"
)

// TestEchoEveryUTLSParrot: each uTLS v1.8.2 parrot connects to the echo as
// scripts/goldencap did for the golden captures; the echo's JA4 equals the
// npm oracle's for that parrot, and where the parrot's extension order is
// fixed its JA3 equals tshark's.
func TestEchoEveryUTLSParrot(t *testing.T) {
	port, _ := startEcho(t)
	for _, p := range parrots.All() {
		t.Run(p.Stem(), func(t *testing.T) {
			want, unstable := parrotGolden(t, p.Stem())
			cfg := &utls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
			psk := strings.Contains(p.Stem(), "-psk")
			if psk {
				// As for the golden: the second connection resumes the first
				// and carries a pre_shared_key.
				cfg.ClientSessionCache = utls.NewLRUClientSessionCache(4)
				cfg.OmitEmptyPsk = true
				parrotClean(t, port, cfg, p.ID)
			}
			got := parrotClean(t, port, cfg, p.ID)
			if !unstable["ja4"] && got["ja4"] != want["ja4"] {
				t.Errorf("ja4 %s, npm oracle %s", got["ja4"], want["ja4"])
			}
			if !unstable["ja3_hash"] && got["ja3_hash"] != want["ja3_hash"] {
				t.Errorf("ja3 %s, tshark %s", got["ja3_hash"], want["ja3_hash"])
			}
			if !unstable["peetprint_hash"] && got["peetprint_hash"] != want["peetprint_hash"] {
				t.Errorf("peetprint %s, want %s", got["peetprint_hash"], want["peetprint_hash"])
			}
		})
	}
}

// parrotGolden returns a parrot golden's expected TLS values and the keys
// its comment lists as varying between connections.
func parrotGolden(t *testing.T, stem string) (map[string]string, map[string]bool) {
	t.Helper()
	f := goldenfile.Load(t, goldenDir, stem)
	return f.Values("expect-tls.txt"), f.UnstableKeys()
}

// parrotClean connects with the parrot and returns the echo's /api/clean.
func parrotClean(t *testing.T, port string, cfg *utls.Config, id utls.ClientHelloID) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	uc := utls.UClient(raw, cfg, id)
	if err := uc.HandshakeContext(ctx); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://localhost:"+port+"/api/clean", nil)
	var resp *http.Response
	if uc.ConnectionState().NegotiatedProtocol == "h2" {
		cc, err := (&http2.Transport{}).NewClientConn(uc)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		resp, err = cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		req.Header.Set("Connection", "close")
		if err := req.Write(uc); err != nil {
			t.Fatal(err)
		}
		resp, err = http.ReadResponse(bufio.NewReader(uc), req)
		if err != nil {
			t.Fatal(err)
		}
	}
	defer resp.Body.Close()
	var clean map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&clean); err != nil {
		t.Fatal(err)
	}
	return clean
}
