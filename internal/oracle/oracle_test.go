package oracle

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fpwork/fp/fingerprint"
)

// requireOracles skips t when an oracle or the right to capture is missing,
// or fails it when CI is set.
func requireOracles(t *testing.T) {
	t.Helper()
	for _, err := range []error{CanCapture(), Missing()} {
		if err == nil {
			continue
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set)", err)
		}
		t.Skip(err)
	}
}

// TestCaptureDecodeJA4 runs the whole chain on a Go server and client: a
// capture of one HTTP/2 and one HTTP/1.1 connection, decrypted with the
// server's key log, decoded by tshark; the ClientHello bytes followed on
// the wire give read-tls-client-hello the same JA4 as our fingerprint
// package, and tshark the same JA3.
func TestCaptureDecodeJA4(t *testing.T) {
	requireOracles(t)
	dir := t.TempDir()
	keyLog, err := os.Create(filepath.Join(dir, "keylog.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer keyLog.Close()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the capture's probe connections send no hello
	srv.TLS = &tls.Config{KeyLogWriter: keyLog}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	snif, err := StartCapture(dir, srv.Listener.Addr().String(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer snif.Stop()

	for _, h2 := range []bool{true, false} {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if !h2 {
			tr.ForceAttemptHTTP2 = false
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		req, _ := http.NewRequest("GET", srv.URL+"/oracle?q=1", nil)
		req.Header.Set("X-Oracle", "1")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Fatalf("h2 %v: the server answered over %s", h2, resp.Proto)
		}
	}
	if err := snif.Stop(); err != nil {
		t.Fatal(err)
	}

	capture, err := Decode(snif.File, DecodeOptions{TLSPorts: []string{port}, KeyLog: keyLog.Name()})
	if err != nil {
		t.Fatal(err)
	}
	var h2, h1 *Conn
	for _, c := range capture.Conns {
		switch {
		case len(c.HTTP2) > 0:
			h2 = c
		case len(c.HTTP1) > 0:
			h1 = c
		}
	}
	if h2 == nil || h1 == nil {
		t.Fatalf("tshark decoded no HTTP/2 (%v) or no HTTP/1 (%v) connection of %d", h2 != nil, h1 != nil, len(capture.Conns))
	}
	if rs := h2.Requests("GET", "/oracle?q=1"); len(rs) != 1 || !slices.Contains(rs[0].HeaderNames(), "x-oracle") || rs[0].HeaderNames()[0] != ":authority" {
		t.Errorf("HTTP/2 requests %+v", rs)
	}
	if _, ok := h2.FirstSettings(); !ok {
		t.Error("no SETTINGS from the HTTP/2 client")
	}
	if rs := h1.HTTP1Requests("GET", "/oracle?q=1"); len(rs) != 1 || !slices.Contains(rs[0].Headers, [2]string{"X-Oracle", "1"}) {
		t.Errorf("HTTP/1 requests %+v", rs)
	}

	sent, err := ClientBytes(snif.File, capture.Conns)
	if err != nil {
		t.Fatal(err)
	}
	ja4, err := JA4(snif.File, capture.Conns)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Conn{h2, h1} {
		ch, err := fingerprint.ParseClientHello(sent[c.Stream])
		if err != nil {
			t.Fatalf("stream %s: %v", c.Stream, err)
		}
		if got, want := fingerprint.JA4(ch, fingerprint.TransportTCP), ja4[c.Stream]; got != want {
			t.Errorf("stream %s: JA4 ours %s, read-tls-client-hello %s", c.Stream, got, want)
		}
		if len(c.JA3) != 1 || fingerprint.JA3Hash(ch) != c.JA3[0] || fingerprint.JA3(ch) != c.JA3Full[0] {
			t.Errorf("stream %s: JA3 ours %s, tshark %v", c.Stream, fingerprint.JA3Hash(ch), c.JA3)
		}
	}
}

func TestDiffNames(t *testing.T) {
	if err := DiffNames([]string{"a", "b"}, []string{"a", "b"}); err != nil {
		t.Error(err)
	}
	err := DiffNames([]string{"a", "b"}, []string{"a", "c"})
	if err == nil || !strings.Contains(err.Error(), `#1: tshark "b", ours "c"`) {
		t.Errorf("DiffNames: %v", err)
	}
	if err := DiffNames([]string{"a"}, nil); err == nil || !strings.Contains(err.Error(), `#0: tshark "a", ours (end)`) {
		t.Errorf("DiffNames: %v", err)
	}
}

func TestParseFollow(t *testing.T) {
	out := "\n===================================================================\n" +
		"Follow: tcp,raw\nFilter: tcp.stream eq 3\nNode 0: 127.0.0.1:5000\nNode 1: 127.0.0.1:443\n" +
		"1603\n\t1603aa\n0100\n" +
		"===================================================================\n" +
		"Follow: tcp,raw\nFilter: tcp.stream eq 4\nNode 0: 127.0.0.1:443\nNode 1: 127.0.0.1:5001\n" +
		"ffff\n\t16\n\t03\n"
	got, err := parseFollow([]byte(out), map[string]string{"3": "5000", "4": "5001"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["3"]) != "\x16\x03\x01\x00" || string(got["4"]) != "\x16\x03" {
		t.Errorf("parseFollow: %q", got)
	}
}
