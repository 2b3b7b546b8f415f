package analyze

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/http2"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/pcapsynth"
	"github.com/fpwork/fp/internal/selfsigned"
	"github.com/fpwork/fp/internal/tlsrecords"
)

// wireEvent is one read or write on the server's socket, in order.
type wireEvent struct {
	fromClient bool
	data       []byte
}

// wireRecorder keeps, in order, the bytes the client sent (server reads)
// and the server sent (server writes).
type wireRecorder struct {
	net.Conn
	mu     *sync.Mutex
	events *[]wireEvent
	client bool // what a Read carries
}

func (c wireRecorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		*c.events = append(*c.events, wireEvent{fromClient: c.client, data: append([]byte(nil), p[:n]...)})
		c.mu.Unlock()
	}
	return n, err
}

func (c wireRecorder) Write(p []byte) (int, error) {
	c.mu.Lock()
	*c.events = append(*c.events, wireEvent{fromClient: !c.client, data: append([]byte(nil), p...)})
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// tlsSession runs a real crypto/tls server and Go HTTP client on
// loopback for two requests and returns the ciphertext on the wire (as a
// pcap), the key log, and the plaintext the client sent.
func tlsSession(t *testing.T, serverCfg *tls.Config, h2 bool) (capture, keylog, plain []byte) {
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	var keys bytes.Buffer
	serverCfg.Certificates = []tls.Certificate{cert}
	serverCfg.KeyLogWriter = &keys
	serverCfg.NextProtos = []string{"http/1.1"}
	if h2 {
		serverCfg.NextProtos = []string{"h2"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu     sync.Mutex
		events []wireEvent
		rec    = &tlsrecords.ReadLog{}
		served = make(chan struct{})
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	go func() {
		defer close(served)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(wireRecorder{Conn: raw, mu: &mu, events: &events, client: true}, serverCfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		rec.Conn = tc
		if h2 {
			(&http2.Server{}).ServeConn(rec, &http2.ServeConnOpts{Handler: handler})
			return
		}
		srv := &http.Server{Handler: handler}
		srv.Serve(&oneConnListener{conn: rec, addr: ln.Addr()})
	}()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: serverCfg.MaxVersion},
		ForceAttemptHTTP2: h2, MaxConnsPerHost: 1}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{"/first", "/second?q=1"} {
		req, _ := http.NewRequest("GET", "https://localhost:"+strings.Split(ln.Addr().String(), ":")[1]+path, nil)
		req.Header.Set("Accept-Language", "de-CH,de;q=0.9")
		req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
		req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	<-served

	w := pcapsynth.New(layers.LinkTypeEthernet, "")
	c := w.Conn("127.0.0.1:50000", ln.Addr().String())
	w.Handshake(c)
	mu.Lock()
	defer mu.Unlock()
	for _, e := range events {
		// MSS-sized segments, as on a wire.
		for d := e.data; len(d) > 0; {
			n := min(len(d), 1448)
			if e.fromClient {
				w.TCP(c, true, "A", c.CliSeq, d[:n])
				c.CliSeq += uint32(n)
			} else {
				w.TCP(c, false, "A", c.SrvSeq, d[:n])
				c.SrvSeq += uint32(n)
			}
			d = d[n:]
		}
	}
	capture, err = w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return capture, keys.Bytes(), rec.Bytes()
}

// oneConnListener serves one connection to net/http.
type oneConnListener struct {
	conn net.Conn
	addr net.Addr
	done bool
	mu   sync.Mutex
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, io.EOF
	}
	l.done = true
	return l.conn, nil
}
func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }

// TestCaptureDecryptsWithKeyLog: with the server's key log, the requests
// inside TLS 1.3 and TLS 1.2 (AES-GCM, ChaCha20-Poly1305) connections are
// reported with the JA4H (and Akamai) that the fingerprint core computes
// on the plaintext the server read.
func TestCaptureDecryptsWithKeyLog(t *testing.T) {
	cases := []struct {
		name string
		cfg  *tls.Config
		h2   bool
	}{
		{"tls1.3 h2", &tls.Config{}, true},
		{"tls1.3 http/1.1", &tls.Config{}, false},
		{"tls1.2 aes-gcm h2", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"tls1.2 aes-256-gcm http/1.1", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, false},
		{"tls1.2 chacha20 h2", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			capture, keylog, plain := tlsSession(t, tc.cfg, tc.h2)
			kl, err := ParseKeyLog(bytes.NewReader(keylog))
			if err != nil {
				t.Fatal(err)
			}
			// Expected: the core's fingerprints of the plaintext stream.
			var want []*fingerprint.HTTPRequest
			var conn *fingerprint.HTTP2Conn
			if tc.h2 {
				conn, err = fingerprint.ParseHTTP2Client(plain, fingerprint.DefaultHTTP2Limits())
				want = conn.Requests
			} else {
				var st *fingerprint.HTTP1Stream
				st, err = fingerprint.ParseHTTP1Stream(plain, fingerprint.DefaultHTTP1Limits())
				want = st.Requests
			}
			if err != nil || len(want) != 2 {
				t.Fatalf("plaintext: %d requests, err %v", len(want), err)
			}
			c := NewCapture()
			c.KeyLog = kl
			var recs []Record
			if _, err := c.Analyse(context.Background(), "tls.pcap", bytes.NewReader(capture), func(r Record) error {
				recs = append(recs, r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var http []Record
			for _, r := range recs {
				if r.Kind == KindHTTP {
					http = append(http, r)
				}
			}
			if len(http) != 2 {
				t.Fatalf("%d http records of %d: %+v", len(http), len(recs), recs)
			}
			for i, r := range http {
				f := fingerprint.ComputeHTTP(want[i], conn)
				if r.JA4H != f.JA4H || r.JA4HRO != f.JA4HRO || r.Akamai != f.Akamai || r.Path != want[i].Target || r.Index != i+1 {
					t.Errorf("request %d: %+v, want %+v", i+1, r.HTTPRecord, f)
				}
			}
			// Without the key log only the hello is reported.
			recs = recs[:0]
			NewCapture().Analyse(context.Background(), "tls.pcap", bytes.NewReader(capture), func(r Record) error {
				recs = append(recs, r)
				return nil
			})
			if len(recs) != 1 || recs[0].Kind != KindTLS {
				t.Fatalf("without keys: %+v", recs)
			}
		})
	}
	if _, err := ParseKeyLog(strings.NewReader("CLIENT_RANDOM zz 00\n")); err == nil {
		t.Fatal("bad key log line accepted")
	}
}

// TestCaptureDecryptsWithSecretsBlock: a pcapng that carries its key log
// in a Decryption Secrets Block decrypts without --keylog, in either byte
// order of the writer (gopacket writes the host's).
func TestCaptureDecryptsWithSecretsBlock(t *testing.T) {
	capture, keylog, _ := tlsSession(t, &tls.Config{}, true)
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDecryptionSecretsBlock(secretsTLSKeyLog, keylog); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var http int
	// Read through a reader that returns a few bytes at a time, so the
	// block watcher sees blocks cut at every place.
	if _, err := NewCapture().Analyse(context.Background(), "dsb.pcapng", iotestHalf{bytes.NewReader(ng.Bytes())}, func(r Record) error {
		if r.Kind == KindHTTP {
			http++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if http != 2 {
		t.Fatalf("%d requests decrypted with the secrets block, want 2", http)
	}
}

// iotestHalf returns at most 7 bytes per Read.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 7)]) }
