package capture

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/selfsigned"
)

// fingerprintServer serves through a TLSListener with net/http (HTTP/1
// and, on ALPN h2, unencrypted HTTP/2 over the decrypted stream) and
// answers with the recorded fingerprints.
func fingerprintServer(t *testing.T) string {
	t.Helper()
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := NewTLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		DefaultLimits(), 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	srv := &http.Server{ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pc, ok := PlainFromContext(r.Context())
			if !ok || pc.TLS() == nil {
				http.Error(w, "no records", 500)
				return
			}
			ch, _, err := pc.Hello().ClientHello()
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			var rec *fingerprint.HTTPRequest
			match := "exact"
			if r.ProtoMajor == 2 {
				var m StreamMatch
				rec, m = pc.ClaimHTTP2(r)
				match = string(m)
			} else if head, ok := pc.ClaimHTTP1(r); ok {
				rec = head
			}
			out := map[string]string{"proto": r.Proto, "ja4": fingerprint.JA4(ch, fingerprint.TransportTCP),
				"tls_version": tls.VersionName(pc.TLS().Version), "match": match}
			if rec != nil {
				f := pc.Fingerprints(rec)
				out["ja4h"], out["akamai"] = f.JA4H, f.Akamai
			}
			json.NewEncoder(w).Encode(out)
		})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(tl)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestTLSListenerWithGoClients: Go's HTTP client over h2 and HTTP/1.1
// through the TLS listener; the fingerprints recorded equal the golden
// captures' values for the same client (tshark, read-tls-client-hello).
func TestTLSListenerWithGoClients(t *testing.T) {
	addr := fingerprintServer(t)
	for _, tc := range []struct {
		golden string
		h2     bool
		proto  string
	}{{"go-1.26-h2", true, "HTTP/2.0"}, {"go-1.26-h1", false, "HTTP/1.1"}} {
		t.Run(tc.golden, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			// By name, as the golden client did: the hello carries SNI.
			_, port, _ := net.SplitHostPort(addr)
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://localhost:" + port + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			tlsWant := goldenExpect(t, tc.golden)
			httpWant := goldenHTTPExpect(t, tc.golden)
			if got["proto"] != tc.proto || got["ja4"] != tlsWant["ja4"] || got["ja4h"] != httpWant["req1.ja4h"] ||
				got["akamai"] != httpWant["akamai"] || got["match"] != "exact" || got["tls_version"] != "TLS 1.3" {
				t.Fatalf("got %v\nwant ja4 %s ja4h %s akamai %q", got, tlsWant["ja4"], httpWant["req1.ja4h"], httpWant["akamai"])
			}
		})
	}
}

// TestTLSListenerSurvivesBadClients: a client that sends garbage, or
// stops mid-hello, costs its own connection only.
func TestTLSListenerSurvivesBadClients(t *testing.T) {
	addr := fingerprintServer(t)
	for _, junk := range []string{"GET / HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, junk)
		if junk[0] == 'G' {
			io.ReadAll(c) // the server answers with an alert and closes
		}
		c.Close()
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d after bad clients", resp.StatusCode)
	}
}

// TestPlainPortH2C: on a plain port, a prior-knowledge h2c client and an
// HTTP/1.1 client share one net/http server; the recorder switches to
// HTTP/2 at the preface and the h2c request gets the golden Akamai of
// Go's HTTP/2 client.
func TestPlainPortH2C(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pc, _ := PlainFromContext(r.Context())
			var rec *fingerprint.HTTPRequest
			if r.ProtoMajor == 2 {
				rec, _ = pc.ClaimHTTP2(r)
			} else {
				rec, _ = pc.ClaimHTTP1(r)
			}
			if rec == nil {
				http.Error(w, "no record", 500)
				return
			}
			f := pc.Fingerprints(rec)
			json.NewEncoder(w).Encode(map[string]string{"proto": r.Proto, "ja4h": f.JA4H, "akamai": f.Akamai})
		})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(&wrapListener{Listener: ln, wrap: func(c net.Conn) net.Conn { return NewPlainConn(c, ProtocolHTTP1) }})
	defer srv.Close()

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	for _, tc := range []struct {
		tr    *http.Transport
		proto string
	}{{h2c, "HTTP/2.0"}, {&http.Transport{}, "HTTP/1.1"}} {
		resp, err := (&http.Client{Transport: tc.tr, Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != 200 || got["proto"] != tc.proto {
			t.Fatalf("%s: status %d, %v", tc.proto, resp.StatusCode, got)
		}
		if tc.proto == "HTTP/2.0" && got["akamai"] != goldenHTTPExpect(t, "go-1.26-h2")["akamai"] {
			t.Fatalf("h2c akamai %q", got["akamai"])
		}
	}
}

// TestTLSListenerClosesACMETLSConnections: a connection whose handshake
// chose acme-tls/1 (an ACME TLS-ALPN-01 validator's) ends right after the
// handshake, without reaching a handler; other clients are served.
func TestTLSListenerClosesACMETLSConnections(t *testing.T) {
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := NewTLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1", alpnACMETLS}},
		DefaultLimits(), 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	handled := make(chan string, 4)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled <- r.RemoteAddr
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(tl)
	defer srv.Close()

	validator, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpnACMETLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer validator.Close()
	if p := validator.ConnectionState().NegotiatedProtocol; p != alpnACMETLS {
		t.Fatalf("negotiated %q", p)
	}
	validator.SetReadDeadline(time.Now().Add(5 * time.Second)) // fail, not hang, if the server keeps it
	if n, err := validator.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("validator read %d, %v; want the server's close (EOF)", n, err)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-handled; got == validator.LocalAddr().String() || resp.ProtoMajor != 2 {
		t.Fatalf("handled %s over %s; the validator was %s", got, resp.Proto, validator.LocalAddr())
	}
	if len(handled) != 0 {
		t.Fatalf("%d more requests handled", len(handled))
	}
}

// TestTLSListenerDeadlines checks the handshake's bound and that the
// deadlines net/http sets before its first read still hold after the
// handshake: a slow hello is cut by the handshake timeout although
// net/http's header deadline is far later, and a slow request head after
// a quick handshake is cut by net/http's header deadline although the
// handshake timeout is far later.
func TestTLSListenerDeadlines(t *testing.T) {
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(t *testing.T, handshakeTimeout, readHeaderTimeout time.Duration) (string, chan error, chan struct{}) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		shakes, handled := make(chan error, 4), make(chan struct{}, 4)
		tl := NewTLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
			DefaultLimits(), handshakeTimeout, slog.New(slog.NewTextHandler(io.Discard, nil)), func(err error) { shakes <- err })
		srv := &http.Server{ReadHeaderTimeout: readHeaderTimeout, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			handled <- struct{}{}
		})}
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		go srv.Serve(tl)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String(), shakes, handled
	}
	// waitClosed reads until the server closes the connection; the test's
	// own deadline only keeps a broken server from hanging it.
	waitClosed := func(t *testing.T, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept the connection open")
		}
	}

	t.Run("slow hello", func(t *testing.T) {
		addr, shakes, _ := serve(t, 200*time.Millisecond, time.Minute)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{22, 3, 1}); err != nil { // a record header's first bytes, then nothing
			t.Fatal(err)
		}
		waitClosed(t, c)
		var ne net.Error
		if err := <-shakes; !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("handshake ended with %v, want a timeout", err)
		}
	})

	t.Run("slow head after the handshake", func(t *testing.T) {
		addr, shakes, handled := serve(t, time.Minute, 300*time.Millisecond)
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil { // no end of head
			t.Fatal(err)
		}
		waitClosed(t, c)
		if err := <-shakes; err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if len(handled) != 0 {
			t.Fatal("a request was handled")
		}
	})

	t.Run("request after the handshake deadline", func(t *testing.T) {
		// A client that sends its request after the handshake's deadline
		// has passed, but well within net/http's header deadline, is
		// answered: the handshake's deadline does not outlive it.
		addr, shakes, handled := serve(t, 300*time.Millisecond, 10*time.Second)
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(600 * time.Millisecond) // past the handshake's deadline
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if err := <-shakes; err != nil || resp.StatusCode != http.StatusOK || len(handled) != 1 {
			t.Fatalf("handshake %v, status %d, %d handled", err, resp.StatusCode, len(handled))
		}
	})
}
