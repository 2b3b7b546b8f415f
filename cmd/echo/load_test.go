package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fpwork/fp/internal/gcfloor"
	"github.com/fpwork/fp/internal/selfsigned"
)

// TestLoadChild is not a test of its own: it is the child process of the
// load harness (scripts/loadecho), which runs this package's compiled
// test binary as
//
//	FP_LOAD_CHILD=1 echo.test -test.run='^TestLoadChild$' [-test.cpuprofile=F] -- ECHO FLAGS
//
// so that it can read the server's own runtime/metrics after a GC and
// take a CPU profile, with nothing added to the echo binary. It runs
// serve() with the flags after "--", prints "ready ADDR" once HTTPS
// listens, answers each "gc" line on stdin with a line
// "mem objects=N stacks=N unused=N goroutines=N" (bytes of live heap
// objects and of goroutine stacks, after two collections so that
// sync.Pool contents are freed), and shuts down when stdin ends.
func TestLoadChild(t *testing.T) {
	if os.Getenv("FP_LOAD_CHILD") == "" {
		t.Skip("the child process of scripts/loadecho: runs only with FP_LOAD_CHILD=1")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(append([]string{"echo"}, flag.Args()...), func(string) string { return "" }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer gcfloor.Start(cfg.serving.GCMinHeap).Stop() // as run does
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ready := make(chan boundAddrs, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, func(b boundAddrs) { ready <- b }) }()
	select {
	case b := <-ready:
		fmt.Fprintln(os.Stdout, "ready", b.https)
	case err := <-done:
		t.Fatal(err)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "gc" {
			fmt.Fprintln(os.Stdout, memoryLine())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// memoryLine collects garbage twice (the first moves sync.Pool contents
// to their victim cache, the second frees them) and reports the heap and
// stacks from runtime/metrics.
func memoryLine() string {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	return fmt.Sprintf("mem objects=%d stacks=%d unused=%d goroutines=%d",
		s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64())
}

// startEchoForBench runs the service in-process on a loopback port with
// the rate limit out of the way, until the benchmark ends.
func startEchoForBench(tb testing.TB) string {
	tb.Helper()
	return startEchoWith(tb, "--https-addr", "127.0.0.1:0", "--http-addr", "", "--rate", "1e9",
		"--rate-burst", "1000000000", "--max-conns", "100000").https
}

// startPlainJSON is the baseline: crypto/tls and net/http with echo's TLS
// settings (a self-signed ECDSA P-256 certificate, ALPN h2 and
// http/1.1, crypto/tls defaults otherwise), answering every request with
// a fixed JSON body of size bytes.
func startPlainJSON(tb testing.TB, size int) string {
	tb.Helper()
	cert, err := selfsigned.Localhost()
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := append(append([]byte(`{"padding":"`), bytes.Repeat([]byte("x"), size-14)...), `"}`...)
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 65536}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	go s.Serve(tls.NewListener(ln, cfg))
	tb.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// processCPU is the CPU time this whole process has used.
func processCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// loadClientConfig offers only http/1.1, so both servers speak HTTP/1.1.
func loadClientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
}

const loadRequestHead = "GET /load HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadecho\r\nAccept: */*\r\n"

// requestOnNewConn makes one TLS connection, sends one request that asks
// the server to close, and reads the response to the server's close.
func requestOnNewConn(tb testing.TB, addr string) {
	c, err := tls.Dial("tcp", addr, loadClientConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, loadRequestHead+"Connection: close\r\n\r\n"); err != nil {
		tb.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) {
		tb.Fatalf("response %.40q", resp)
	}
}

// keepAliveClient sends requests one after another on one connection.
type keepAliveClient struct {
	conn *tls.Conn
	r    *bufio.Reader
}

func newKeepAliveClient(tb testing.TB, addr string) *keepAliveClient {
	c, err := tls.Dial("tcp", addr, loadClientConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &keepAliveClient{conn: c, r: bufio.NewReader(c)}
}

func (k *keepAliveClient) request(tb testing.TB) {
	if _, err := io.WriteString(k.conn, loadRequestHead+"\r\n"); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("status %s, %v", resp.Status, err)
	}
}

// BenchmarkEchoRequestNewConn compares one echo request on a new TLS
// connection (full handshake) against plain crypto/tls + net/http
// answering a fixed 1.5 KB JSON, A/B interleaved in batches in the same
// run. Both servers and the client are in this process, so the CPU
// figures include the client's handshake and the ratio understates
// echo's share (target of the server-only run: at most 1.15x;
// scripts/loadecho measures the server alone, in its own process).
func BenchmarkEchoRequestNewConn(b *testing.B) {
	echo, plain := startEchoForBench(b), startPlainJSON(b, 1536)
	const batch = 20
	var echoCPU, plainCPU time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := processCPU(b)
		for range batch {
			requestOnNewConn(b, plain)
		}
		mid := processCPU(b)
		for range batch {
			requestOnNewConn(b, echo)
		}
		plainCPU += mid - start
		echoCPU += processCPU(b) - mid
	}
	b.ReportMetric(float64(echoCPU)/float64(plainCPU), "echo-vs-plain")
	b.ReportMetric(float64(plainCPU.Nanoseconds())/float64(b.N*batch), "plain-cpu-ns/req")
	b.ReportMetric(float64(echoCPU.Nanoseconds())/float64(b.N*batch), "echo-cpu-ns/req")
}

// BenchmarkEchoRequestKeepAlive compares echo requests on one HTTP/1.1
// keep-alive TLS connection against plain net/http answering a fixed
// 200-byte JSON, A/B interleaved in batches. The CPU figures include the
// client's (same process); the server-only run is scripts/loadecho's
// (target: at most 2x).
func BenchmarkEchoRequestKeepAlive(b *testing.B) {
	echo, plain := newKeepAliveClient(b, startEchoForBench(b)), newKeepAliveClient(b, startPlainJSON(b, 200))
	const batch = 100
	var echoCPU, plainCPU time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := processCPU(b)
		for range batch {
			plain.request(b)
		}
		mid := processCPU(b)
		for range batch {
			echo.request(b)
		}
		plainCPU += mid - start
		echoCPU += processCPU(b) - mid
	}
	b.ReportMetric(float64(echoCPU)/float64(plainCPU), "echo-vs-plain")
	b.ReportMetric(float64(plainCPU.Nanoseconds())/float64(b.N*batch), "plain-cpu-ns/req")
	b.ReportMetric(float64(echoCPU.Nanoseconds())/float64(b.N*batch), "echo-cpu-ns/req")
}
