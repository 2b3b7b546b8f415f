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
)

// TestEchoEveryUTLSParrot: each uTLS v1.8.2 parrot connects to the echo as
// scripts/goldencap did for the golden captures; the echo's JA4 equals the
// npm oracle's for that parrot, and where the parrot's extension order is
// fixed its JA3 equals tshark's.
func TestEchoEveryUTLSParrot(t *testing.T) {
	port, _ := startEcho(t)
	for _, p := range []struct {
		stem string
		id   utls.ClientHelloID
	}{
		{"utls-golang", utls.HelloGolang}, {"utls-firefox-55", utls.HelloFirefox_55}, {"utls-firefox-56", utls.HelloFirefox_56},
		{"utls-firefox-63", utls.HelloFirefox_63}, {"utls-firefox-65", utls.HelloFirefox_65}, {"utls-firefox-99", utls.HelloFirefox_99},
		{"utls-firefox-102", utls.HelloFirefox_102}, {"utls-firefox-105", utls.HelloFirefox_105}, {"utls-firefox-120", utls.HelloFirefox_120},
		{"utls-chrome-58", utls.HelloChrome_58}, {"utls-chrome-62", utls.HelloChrome_62}, {"utls-chrome-70", utls.HelloChrome_70},
		{"utls-chrome-72", utls.HelloChrome_72}, {"utls-chrome-83", utls.HelloChrome_83}, {"utls-chrome-87", utls.HelloChrome_87},
		{"utls-chrome-96", utls.HelloChrome_96}, {"utls-chrome-100", utls.HelloChrome_100}, {"utls-chrome-102", utls.HelloChrome_102},
		{"utls-chrome-106-shuffle", utls.HelloChrome_106_Shuffle}, {"utls-chrome-100-psk", utls.HelloChrome_100_PSK},
		{"utls-chrome-112-psk-shuf", utls.HelloChrome_112_PSK_Shuf}, {"utls-chrome-114-padding-psk-shuf", utls.HelloChrome_114_Padding_PSK_Shuf},
		{"utls-chrome-115-pq", utls.HelloChrome_115_PQ}, {"utls-chrome-115-pq-psk", utls.HelloChrome_115_PQ_PSK},
		{"utls-chrome-120", utls.HelloChrome_120}, {"utls-chrome-120-pq", utls.HelloChrome_120_PQ}, {"utls-chrome-131", utls.HelloChrome_131},
		{"utls-chrome-133", utls.HelloChrome_133}, {"utls-ios-11-1", utls.HelloIOS_11_1}, {"utls-ios-12-1", utls.HelloIOS_12_1},
		{"utls-ios-13", utls.HelloIOS_13}, {"utls-ios-14", utls.HelloIOS_14}, {"utls-android-11-okhttp", utls.HelloAndroid_11_OkHttp},
		{"utls-edge-85", utls.HelloEdge_85}, {"utls-edge-106", utls.HelloEdge_106}, {"utls-safari-16-0", utls.HelloSafari_16_0},
		{"utls-360-7-5", utls.Hello360_7_5}, {"utls-360-11-0", utls.Hello360_11_0}, {"utls-qq-11-1", utls.HelloQQ_11_1},
	} {
		t.Run(p.stem, func(t *testing.T) {
			want, unstable := parrotGolden(t, p.stem)
			cfg := &utls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
			psk := strings.Contains(p.stem, "-psk")
			if psk {
				// As for the golden: the second connection resumes the first
				// and carries a pre_shared_key.
				cfg.ClientSessionCache = utls.NewLRUClientSessionCache(4)
				cfg.OmitEmptyPsk = true
				parrotClean(t, port, cfg, p.id)
			}
			got := parrotClean(t, port, cfg, p.id)
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
