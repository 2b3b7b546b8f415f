package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fpwork/fp/fingerprint"
)

// TestEchoH2CUpgrade: curl --http2 on an http:// URL asks for the
// HTTP/1.1 upgrade to h2c. The upgrading request is echoed as sent (its
// HTTP/1.1 head, Upgrade and HTTP2-Settings included) and marked
// "upgrade"; the next request on the same connection is an HTTP/2 stream
// matched exactly. The settings echoed for both are those the client's
// HTTP2-Settings header carried (curl sends the same in its preface).
func TestEchoH2CUpgrade(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing; scripts/install-deps.sh installs it")
		}
		t.Skip("curl not installed")
	}
	_, plain := startEcho(t)
	out, err := exec.Command(curl, "-q", "-sS", "--http2", "http://"+plain+"/first?x=1", "http://"+plain+"/second").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var first, second report
	if err := dec.Decode(&first); err != nil {
		t.Fatalf("first answer: %v: %s", err, out)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatalf("second answer: %v: %s", err, out)
	}
	if first.HTTP.Version != "HTTP/1.1" || first.Capture.StreamMatch != "upgrade" || first.HTTP.Path != "/first" {
		t.Fatalf("upgrading request: %+v, capture %+v", first.HTTP, first.Capture)
	}
	var settingsHeader string
	names := []string{}
	for _, h := range first.HTTP.Headers {
		names = append(names, h[0])
		if h[0] == "HTTP2-Settings" {
			settingsHeader = h[1]
		}
	}
	if names[0] != "Host" || !strings.Contains(strings.Join(names, ","), "Upgrade") || settingsHeader == "" {
		t.Fatalf("upgrading request headers %v", first.HTTP.Headers)
	}
	sent, err := fingerprint.ParseHTTP2SettingsHeader(settingsHeader)
	if err != nil {
		t.Fatal(err)
	}
	if second.HTTP.Version != "HTTP/2.0" || second.Capture.StreamMatch != "exact" || second.HTTP.Path != "/second" ||
		second.HTTP.Headers[0][0] != ":method" {
		t.Fatalf("second request: %+v, capture %+v", second.HTTP, second.Capture)
	}
	for _, r := range []report{first, second} {
		if r.HTTP2 == nil || len(r.HTTP2.Settings) != len(sent) {
			t.Fatalf("http2 %+v, HTTP2-Settings carried %v", r.HTTP2, sent)
		}
		for i, s := range sent {
			if r.HTTP2.Settings[i].ID != uint16(s.ID) || r.HTTP2.Settings[i].Value != s.Value {
				t.Fatalf("setting %d: %+v, HTTP2-Settings carried %+v", i, r.HTTP2.Settings[i], s)
			}
		}
	}
	// The upgrading request came before the HTTP/2 connection: no Akamai.
	var prefix []string
	for _, s := range sent {
		prefix = append(prefix, fmt.Sprintf("%d:%d", s.ID, s.Value))
	}
	if first.Fingerprints["akamai"] != "" || !strings.HasPrefix(second.Fingerprints["akamai"], strings.Join(prefix, ";")+"|") {
		t.Fatalf("akamai %q then %q", first.Fingerprints["akamai"], second.Fingerprints["akamai"])
	}
}

// TestEchoH2CUpgradeDeclined: an upgrade whose body exceeds --max-body is
// served over HTTP/1.1, not upgraded (a server may decline), and an
// upgrade on the TLS port is never taken (h2c is cleartext only).
func TestEchoH2CUpgradeDeclined(t *testing.T) {
	b := startEchoWith(t, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--max-body", "16")
	const upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
	c, err := net.Dial("tcp", b.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /big HTTP/1.1\r\nHost: x\r\n"+upgrade+"Content-Length: 17\r\n\r\n0123456789abcdefg")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" {
		t.Fatalf("%s %d: %s", resp.Proto, resp.StatusCode, body)
	}
	if r := decode(t, body); r.HTTP.Version != "HTTP/1.1" || r.HTTP.BodyLength != 17 {
		t.Fatalf("%+v", r.HTTP)
	}

	req, _ := http.NewRequest("GET", "https://localhost:"+strings.Split(b.https, ":")[1]+"/tls", nil)
	for _, h := range strings.Split(strings.TrimSpace(upgrade), "\r\n") {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err = goClient(false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" || decode(t, body).HTTP.Version != "HTTP/1.1" {
		t.Fatalf("TLS port: %s %d: %s", resp.Proto, resp.StatusCode, body)
	}
}
