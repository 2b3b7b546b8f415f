package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestFixedJSONHasTheSize(t *testing.T) {
	for _, size := range []int{14, 200, 1536} {
		b, err := fixedJSON(size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != size || !strings.HasPrefix(string(b), `{"padding":"`) || !strings.HasSuffix(string(b), `"}`) {
			t.Errorf("size %d: got %d bytes %.20q", size, len(b), b)
		}
	}
	if _, err := fixedJSON(13); err == nil {
		t.Error("13 bytes: no error")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"one", []float64{7}, 7},
		{"none", nil, 0},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestParseWrk(t *testing.T) {
	ok := `Running 5s test @ https://127.0.0.1:40000/load
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   5.00ms   80.00%
    Req/Sec    14.50k     1.00k   16.00k    70.00%
  72345 requests in 5.00s, 23.53MB read
Requests/sec:  14469.00
Transfer/sec:      4.71MB
`
	r, err := parseWrk(ok)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 72345 || r.bytesRead != 23.53*(1<<20) {
		t.Errorf("got %+v", r)
	}
	for name, out := range map[string]string{
		"non-2xx":       ok + "  Non-2xx or 3xx responses: 12\n",
		"socket errors": ok + "  Socket errors: connect 0, read 3, write 0, timeout 0\n",
		"no count":      "unable to connect to 127.0.0.1:1 Connection refused\n",
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestEchoReadyLine(t *testing.T) {
	addr, ok := echoReady(`time=2026-01-01T00:00:00.000Z level=INFO msg="echo: serving HTTPS" addr=127.0.0.1:46149`)
	if !ok || addr != "127.0.0.1:46149" {
		t.Errorf("got %q %v", addr, ok)
	}
	if _, ok := echoReady(`time=x level=INFO msg="echo: serving plain HTTP" addr=127.0.0.1:1`); ok {
		t.Error("plain HTTP line taken for HTTPS")
	}
}

func TestProcessCPUAgreesWithProcStat(t *testing.T) {
	pid := os.Getpid()
	var clock time.Duration
	for clock < 150*time.Millisecond { // some CPU to count
		var err error
		if clock, err = processCPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	stat, err := procStatCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// /proc/PID/stat counts 10 ms ticks.
	if diff := clock - stat; diff < -30*time.Millisecond || diff > 30*time.Millisecond {
		t.Errorf("CPU clock %v, /proc stat %v", clock, stat)
	}
}

// TestBaselinesUnderLoad runs each baseline server in-process and a few
// operations of each load against it.
func TestBaselinesUnderLoad(t *testing.T) {
	certFile, keyFile, err := writeCertificate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := baselineTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	body, err := fixedJSON(1536)
	if err != nil {
		t.Fatal(err)
	}
	start := func(serve func(context.Context, net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		return ln.Addr().String()
	}
	ctx := context.Background()
	jsonAddr := start(func(ctx context.Context, ln net.Listener) error { return serveFixedJSON(ctx, ln, cfg, body) })
	size, err := runLoad(ctx, jsonAddr, requestOp, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if size < len(body) {
		t.Errorf("response of %d bytes, body alone is %d", size, len(body))
	}
	conns, err := openIdle(ctx, jsonAddr, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	conns.Close()
	tlsAddr := start(func(ctx context.Context, ln net.Listener) error { return serveHandshakes(ctx, ln, cfg) })
	if _, err := runLoad(ctx, tlsAddr, handshakeOp, 10, 3); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryLineRoundTrip(t *testing.T) {
	m := readMemory()
	got, err := parseMem(formatMem(m))
	if err != nil {
		t.Fatal(err)
	}
	if got != m || m.objects == 0 || m.stacks == 0 || m.goroutines == 0 {
		t.Errorf("got %+v from %+v", got, m)
	}
}
