package capture

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/fpwork/fp/fingerprint"
	"github.com/fpwork/fp/internal/golden"
	"github.com/fpwork/fp/internal/selfsigned"
)

// echoServer serves, through the capture listener, the fingerprints of
// each connection's recorded hello as JSON.
func echoServer(t *testing.T, lim Limits) string {
	t.Helper()
	cert, err := selfsigned.Localhost()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := FromContext(r.Context())
			if !ok {
				http.Error(w, "no capture record", 500)
				return
			}
			ch, raw, err := c.ClientHello()
			if err != nil {
				json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"ja3_hash": fingerprint.JA3Hash(ch),
				"ja4": fingerprint.JA4(ch, fingerprint.TransportTCP), "raw_len": len(raw)})
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	tl := tls.NewListener(NewListener(ln, lim), &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	go srv.Serve(tl)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// writeRecorder keeps what the client wrote, splitting each write into
// chunks of at most chunk bytes (0: as given).
type writeRecorder struct {
	net.Conn
	mu    sync.Mutex
	wrote bytes.Buffer
	chunk int
}

func (c *writeRecorder) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.wrote.Write(p)
	c.mu.Unlock()
	if c.chunk == 0 {
		return c.Conn.Write(p)
	}
	for off := 0; off < len(p); off += c.chunk {
		if _, err := c.Conn.Write(p[off:min(off+c.chunk, len(p))]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// get sends GET / over an established TLS connection and decodes the JSON.
func get(t *testing.T, conn net.Conn) map[string]any {
	t.Helper()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenDir is where the golden captures are, from this package.
const goldenDir = "../fingerprint/testdata/golden"

func goldenExpect(t *testing.T, name string) map[string]string {
	t.Helper()
	return golden.Load(t, goldenDir, name).Values("expect-tls.txt")
}

func goldenHTTPExpect(t *testing.T, name string) map[string]string {
	t.Helper()
	return golden.Load(t, goldenDir, name).Values("expect-http.txt")
}

// TestRecordsHellosOfUTLSParrots: what the server records of a uTLS
// parrot's hello has the JA3 tshark printed and the JA4 the npm oracle
// printed for the same parrot (the golden captures); the hello is also
// sent in 7-byte writes.
func TestRecordsHellosOfUTLSParrots(t *testing.T) {
	addr := echoServer(t, DefaultLimits())
	for _, tc := range []struct {
		id     utls.ClientHelloID
		golden string
		chunk  int
	}{
		{utls.HelloFirefox_120, "utls-firefox-120", 0},
		{utls.HelloIOS_14, "utls-ios-14", 0},
		{utls.HelloChrome_102, "utls-chrome-102", 7},
		{utls.HelloSafari_16_0, "utls-safari-16-0", 0},
		{utls.HelloChrome_70, "utls-chrome-70", 1},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.(*net.TCPConn).SetNoDelay(true)
			rec := &writeRecorder{Conn: raw, chunk: tc.chunk}
			uc := utls.UClient(rec, &utls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}, tc.id)
			if err := uc.Handshake(); err != nil {
				t.Fatal(err)
			}
			got := get(t, uc)
			want := goldenExpect(t, tc.golden)
			if got["ja3_hash"] != want["ja3_hash"] || got["ja4"] != want["ja4"] {
				t.Fatalf("recorded ja3 %v ja4 %v, want tshark %s npm %s", got["ja3_hash"], got["ja4"], want["ja3_hash"], want["ja4"])
			}
		})
	}
}

// TestRecordsGoClientHello: Go's own client; the expectation is the core's
// fingerprints of the bytes the client wrote, recorded on the client side.
func TestRecordsGoClientHello(t *testing.T) {
	addr := echoServer(t, DefaultLimits())
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rec := &writeRecorder{Conn: raw}
	tc := tls.Client(rec, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	ch, err := fingerprint.ParseClientHello(rec.wrote.Bytes())
	rec.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	got := get(t, tc)
	if got["ja3_hash"] != fingerprint.JA3Hash(ch) || got["ja4"] != fingerprint.JA4(ch, fingerprint.TransportTCP) || got["raw_len"] != float64(ch.Consumed) {
		t.Fatalf("recorded %v, client wrote ja3 %s", got, fingerprint.JA3Hash(ch))
	}
}

// TestCaptureNeverBreaksTheConnection: over the cap, recording stops but
// the handshake and request go on; plaintext and garbage are not hellos.
func TestCaptureNeverBreaksTheConnection(t *testing.T) {
	addr := echoServer(t, Limits{MaxHelloBytes: 100})
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got := get(t, tc); got["error"] != ErrNoHello.Error() {
		t.Fatalf("over the cap: %v", got)
	}

	for _, in := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), {0x16, 0x03, 0x01, 0x00, 0x02, 0x02, 0x00}} {
		c := NewConn(&fakeConn{r: bytes.NewReader(in)}, DefaultLimits())
		io.ReadAll(c)
		if _, _, err := c.ClientHello(); !errors.Is(err, ErrNoHello) && !errors.Is(err, fingerprint.ErrNotClientHello) {
			t.Fatalf("%q: %v", in, err)
		}
	}
	// A hello cut short is not reported.
	hello, _ := os.ReadFile("../cmd/fp/sample/chromium-156-linux.bin")
	c := NewConn(&fakeConn{r: bytes.NewReader(hello[:len(hello)-1])}, DefaultLimits())
	io.ReadAll(c)
	if _, _, err := c.ClientHello(); !errors.Is(err, ErrNoHello) {
		t.Fatalf("cut hello: %v", err)
	}
	// Whole, read one byte at a time: reported once complete.
	c = NewConn(&fakeConn{r: bytes.NewReader(hello)}, DefaultLimits())
	one := make([]byte, 1)
	for {
		if _, err := c.Read(one); err != nil {
			break
		}
	}
	if ch, raw, err := c.ClientHello(); err != nil || len(raw) != len(hello) || ch.ServerName != "localhost" {
		t.Fatalf("byte by byte: %v", err)
	}
}

// fakeConn is a net.Conn reading from r; for unit tests of Conn alone.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (f *fakeConn) Read(p []byte) (int, error) { return f.r.Read(p) }

// TestFingerprintsOncePerConnection: the TLS fingerprints are computed on
// the first call; later requests on the connection reuse them.
func TestFingerprintsOncePerConnection(t *testing.T) {
	hello, err := os.ReadFile("../cmd/fp/sample/chromium-156-linux.bin")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(&fakeConn{r: bytes.NewReader(hello)}, DefaultLimits())
	io.ReadAll(c)
	first, err := c.Fingerprints()
	if err != nil || first.JA4 == "" {
		t.Fatalf("%+v %v", first, err)
	}
	if allocs := testing.AllocsPerRun(10, func() { c.Fingerprints() }); allocs != 0 {
		t.Fatalf("%v allocations per later call: recomputed", allocs)
	}
}
