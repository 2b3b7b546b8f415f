package serving

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/fpwork/fp/capture"
	"github.com/fpwork/fp/internal/tlsrecords"
)

// fpDefaults are the fp site's.
func fpDefaults() Defaults {
	return Defaults{Name: "fp", HTTPSAddr: "127.0.0.1:9443", HTTPAddr: "127.0.0.1:9080", H1: true, H1Addr: "127.0.0.1:9444"}
}

// parse registers the common flags with d and prefix, parses args and
// returns the Config.
func parse(t *testing.T, prefix string, env map[string]string, d Defaults, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs, prefix, func(k string) string { return env[k] }, d)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return f.Config()
}

// TestFlags: defaults, the env prefix (FP_ reads FP_*, not ECHO_*), a flag
// over its variable, --h1-addr only where Defaults ask for it, and bad
// values.
func TestFlags(t *testing.T) {
	c, err := parse(t, "FP_", nil, fpDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "fp" || c.HTTPSAddr != "127.0.0.1:9443" || c.H1Addr != "127.0.0.1:9444" || c.HTTPAddr != "127.0.0.1:9080" ||
		c.MetricsAddr != "" || c.MaxBody != 1<<20 || c.RatePerSecond != 50 || c.RateBurst != 100 || c.MaxConns != 10000 ||
		c.HandshakeTimeout != 10*time.Second || c.ReadHeaderTimeout != 10*time.Second || c.IdleTimeout != time.Minute ||
		c.MaxHeaderBytes != 65536 || c.ProxyProtocol != "off" || c.LogLevel != slog.LevelInfo || c.ACME.DefaultCache != "fp/acme" ||
		c.GCMinHeap != 32<<20 {
		t.Fatalf("defaults: %+v", c)
	}

	env := map[string]string{"FP_H1_ADDR": "127.0.0.1:1", "FP_RATE": "2.5", "FP_MAX_BODY": "7", "FP_PROXY_PROTOCOL": "required",
		"FP_HTTPS_ADDR": "127.0.0.1:2", "ECHO_HTTP_ADDR": "127.0.0.1:3", "FP_LOG_LEVEL": "debug", "FP_GC_MIN_HEAP": "0"}
	c, err = parse(t, "FP_", env, fpDefaults(), "--https-addr", "127.0.0.1:4")
	if err != nil {
		t.Fatal(err)
	}
	if c.H1Addr != "127.0.0.1:1" || c.RatePerSecond != 2.5 || c.MaxBody != 7 || c.ProxyProtocol != "required" ||
		c.HTTPSAddr != "127.0.0.1:4" || c.HTTPAddr != "127.0.0.1:9080" || c.LogLevel != slog.LevelDebug || c.GCMinHeap != 0 {
		t.Fatalf("from env: %+v", c)
	}

	echo := Defaults{Name: "echo", HTTPSAddr: "127.0.0.1:8443", HTTPAddr: "127.0.0.1:8080"}
	c, err = parse(t, "ECHO_", map[string]string{"ECHO_H1_ADDR": "127.0.0.1:1"}, echo)
	if err != nil || c.H1Addr != "" {
		t.Fatalf("echo: %+v, %v", c, err)
	}
	if _, err := parse(t, "ECHO_", nil, echo, "--h1-addr", "127.0.0.1:1"); err == nil {
		t.Fatal("echo took --h1-addr")
	}

	for _, tc := range []struct{ args, want string }{
		{"--proxy-protocol=maybe", "proxy-protocol"},
		{"--rate=fast", "--rate"},
		{"--idle-timeout=5", "duration"},
		{"--log-level=loud", "log-level"},
		{"--gc-min-heap=-1", "gc-min-heap"},
		{"--gc-min-heap=1GiB", "gc-min-heap"},
		{"--acme-domain=localhost", "fp: --acme-domain"},
	} {
		if _, err := parse(t, "FP_", nil, fpDefaults(), tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one about %q", tc.args, err, tc.want)
		}
	}
}

// TestFlagsUsage: a service's own flag registered through Flags.String
// reads its variable and names it in the usage.
func TestFlagsUsage(t *testing.T) {
	fs := flag.NewFlagSet("fp", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	f := RegisterFlags(fs, "FP_", func(k string) string { return map[string]string{"FP_STORAGE_DSN": "postgres://x"}[k] }, fpDefaults())
	var dsn string
	f.String(&dsn, "storage-dsn", "", "database")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	if dsn != "postgres://x" || !strings.Contains(out.String(), "(env FP_STORAGE_DSN)") || !strings.Contains(out.String(), "(env FP_H1_ADDR)") {
		t.Fatalf("dsn %q, usage:\n%s", dsn, out.String())
	}
}

// connKey is the test ConnContext's key.
type connKey struct{}

// gauge counts like a prometheus.Gauge, and tells dec of each Dec.
type gauge struct {
	n   atomic.Int64
	dec chan struct{}
}

func newGauge() *gauge { return &gauge{dec: make(chan struct{}, 100)} }

func (g *gauge) Inc() { g.n.Add(1) }

func (g *gauge) Dec() {
	g.n.Add(-1)
	select {
	case g.dec <- struct{}{}:
	default:
	}
}

// start runs Run with cfg until the test ends. Its handlers answer with
// the listener's name, the request's protocol and whether the service's
// ConnContext saw the capture record.
func start(t *testing.T, cfg Config, open *gauge) Addrs {
	t.Helper()
	answer := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				w.Header().Set("Content-Length", strconv.Itoa(bigAnswer))
				w.Write(bytes.Repeat([]byte("x"), bigAnswer))
				return
			}
			fmt.Fprintf(w, "%s %s %v", name, r.Proto, r.Context().Value(connKey{}))
		})
	}
	h := Handlers{TLS: answer("tls"), Plain: answer("plain"),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			_, ok := capture.PlainFromContext(ctx)
			return context.WithValue(ctx, connKey{}, ok)
		},
		Metrics:         http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") }),
		OpenConnections: open,
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs, done := make(chan Addrs, 1), make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a Addrs) { addrs <- a })
	}()
	var a Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}

// loopbackConfig is the fp defaults on ports the kernel picks.
func loopbackConfig(t *testing.T, args ...string) Config {
	t.Helper()
	cfg, err := parse(t, "FP_", nil, fpDefaults(), append([]string{"--https-addr", "127.0.0.1:0", "--h1-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// get fetches path from addr with a Go client that tries h2 first.
func get(t *testing.T, scheme, addr string) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.Protocols.SetHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(scheme + "://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestRunListeners: the HTTPS listener negotiates h2, the h1 listener
// (same certificate) only http/1.1 even when the client offers h2 first,
// the plain listener speaks HTTP/1.1, the service's ConnContext runs
// after capture's, and the metrics listener answers.
func TestRunListeners(t *testing.T) {
	open := newGauge()
	a := start(t, loopbackConfig(t), open)
	if a.HTTPS == "" || a.H1 == "" || a.HTTP == "" || a.Metrics == "" {
		t.Fatalf("addrs %+v", a)
	}
	for _, tc := range []struct{ addr, alpn string }{{a.HTTPS, "h2"}, {a.H1, "http/1.1"}} {
		c, err := tls.Dial("tcp", tc.addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != tc.alpn {
			t.Errorf("%s: ALPN %q, want %q", tc.addr, got, tc.alpn)
		}
		c.Close()
	}
	// Only h2 offered: the h1 listener agrees on no protocol, and the
	// client gives up (RFC 7301 lets a server do either).
	if c, err := tls.Dial("tcp", a.H1, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}); err == nil {
		if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("h1 listener negotiated h2")
		}
		c.Close()
	}
	for _, tc := range []struct{ scheme, addr, want string }{
		{"https", a.HTTPS, "tls HTTP/2.0 true"},
		{"https", a.H1, "tls HTTP/1.1 true"},
		{"http", a.HTTP, "plain HTTP/1.1 true"},
		{"http", a.Metrics, "metrics"},
	} {
		if got := get(t, tc.scheme, tc.addr); got != tc.want {
			t.Errorf("%s://%s: %q, want %q", tc.scheme, tc.addr, got, tc.want)
		}
	}
}

// TestRunOpenConnections: the gauge goes up while a connection is open
// and down when it ends.
func TestRunOpenConnections(t *testing.T) {
	open := newGauge()
	a := start(t, loopbackConfig(t), open)
	c, err := net.Dial("tcp", a.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n := open.n.Load(); n != 1 {
		t.Errorf("open %d with one connection", n)
	}
	c.Close()
	select {
	case <-open.dec:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection's end was not counted")
	}
	if n := open.n.Load(); n != 0 {
		t.Errorf("open %d after the connection ended", n)
	}
}

// TestRunProxyProtocolRequired: with --proxy-protocol required a bare TLS
// client fails, one that sends a PROXY header first is served.
func TestRunProxyProtocolRequired(t *testing.T) {
	a := start(t, loopbackConfig(t, "--proxy-protocol", "required", "--handshake-timeout", "2s"), newGauge())
	bare, err := net.Dial("tcp", a.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	bare.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tls.Client(bare, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}).Handshake(); err == nil {
		t.Fatal("a connection without a PROXY header was served")
	}

	raw, err := net.Dial("tcp", a.H1)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	header := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234}, raw.RemoteAddr())
	if _, err := header.WriteTo(raw); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(resp), "tls HTTP/1.1 true") {
		t.Fatalf("answer %q", resp)
	}
}

// TestRunListenFails: an address in use ends Run with its error, before
// ready.
func TestRunListenFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := loopbackConfig(t, "--http-addr", busy.Addr().String())
	h := Handlers{TLS: http.NotFoundHandler(), Metrics: http.NotFoundHandler()}
	err = Run(context.Background(), cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)), func(Addrs) { t.Error("ready") })
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("err %v", err)
	}
}

// bigAnswer is the size of the test handlers' answer to /big: an echo's
// answer is about as large.
const bigAnswer = 12000

// TestRunSendsFullSizeRecords: an answer of 12,000 bytes leaves the HTTPS
// listener in two TLS records (net/http writes its first 4 KB, then the
// rest), not in the five growing ones crypto/tls's dynamic record sizing
// starts a connection with (the largest of those holds 4,744 bytes).
func TestRunSendsFullSizeRecords(t *testing.T) {
	a := start(t, loopbackConfig(t), newGauge())
	raw, err := net.Dial("tcp", a.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rec := &tlsrecords.ReadLog{Conn: raw}
	c := tls.Client(rec, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(c)
	if err != nil || !bytes.HasSuffix(body, bytes.Repeat([]byte("x"), bigAnswer)) {
		t.Fatalf("read %d bytes, %v", len(body), err)
	}
	records, err := rec.Lengths()
	if err != nil {
		t.Fatal(err)
	}
	largest := slices.Max(records)
	if largest < bigAnswer/2 {
		t.Fatalf("the largest record from the server holds %d bytes; the %d-byte answer was cut small", largest, bigAnswer)
	}
}
