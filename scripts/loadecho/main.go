// Command loadecho is the load run of the echo service (cmd/echo): server
// CPU per operation against a plain crypto/tls or net/http baseline, and
// memory per idle connection. scripts/bench-echo.sh builds everything and
// runs "loadecho bench"; docs/echo-load.md has the method and figures.
//
//	loadecho bench -echo BIN -echo-test BIN [-runs 5] [-only handshake,request,keepalive,memory]
//	loadecho profile -echo-test BIN -scenario handshake|request|keepalive -out PREFIX
//	loadecho serve-json -addr 127.0.0.1:0 -cert F -key F -size 1536   # baseline: fixed JSON
//	loadecho serve-tls -addr 127.0.0.1:0 -cert F -key F               # baseline: handshakes only
//	loadecho load -addr HOST:PORT -op handshake|request [-n 2000] [-c 8]
//
// Every server is a separate process, so the CPU the load's client uses
// is not counted. Servers print "listening ADDR" once they listen; the
// baselines answer "gc" on stdin with their heap and stacks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadecho:", err)
		os.Exit(1)
	}
}

const usage = "usage: loadecho bench|profile|serve-json|serve-tls|load [flags] (-h for each)"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("loadecho "+args[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[1] {
	case "bench":
		return runBench(ctx, fs, args[2:], stdout, stderr)
	case "profile":
		return runProfile(ctx, fs, args[2:], stdout, stderr)
	case "serve-json", "serve-tls":
		return runServe(ctx, fs, args[1], args[2:], stdin, stdout)
	case "load":
		return runLoadCommand(ctx, fs, args[2:], stdout)
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[1])
	}
}

// harnessFlags are the flags bench and profile share.
func harnessFlags(fs *flag.FlagSet, h *harness) *string {
	fs.StringVar(&h.echoTest, "echo-test", "", "cmd/echo's test binary (go test -c -o BIN ./cmd/echo)")
	fs.IntVar(&h.concurrency, "concurrency", 8, "connections at a time of the new-connection loads")
	fs.IntVar(&h.handshakes, "handshakes", 2000, "handshakes a run")
	fs.IntVar(&h.requests, "requests", 2000, "requests (each on a new connection) a run")
	fs.StringVar(&h.wrk, "wrk", "wrk", "wrk binary")
	wrkArgs := fs.String("wrk-args", "-t1 -c16 -d5s", "wrk's flags for the keep-alive runs")
	return wrkArgs
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	h := &harness{log: stderr}
	wrkArgs := harnessFlags(fs, h)
	fs.StringVar(&h.echoBin, "echo", "", "cmd/echo binary (go build -o BIN ./cmd/echo)")
	fs.IntVar(&h.runs, "runs", 5, "runs of each side, interleaved")
	fs.IntVar(&h.idle, "idle", 5000, "idle connections of the memory measurement")
	only := fs.String("only", "handshake,request,keepalive,memory", "measurements to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if h.echoBin == "" || h.echoTest == "" {
		return errors.New("bench: -echo and -echo-test are required")
	}
	h.wrkArgs = strings.Fields(*wrkArgs)
	if err := h.prepare(); err != nil {
		return err
	}
	defer os.RemoveAll(h.tempDir)
	measurements := map[string]func(context.Context) (row, error){
		"handshake": h.handshakeRow, "request": h.requestRow, "keepalive": h.keepAliveRow, "memory": h.memoryRow,
	}
	var rows []row
	for _, name := range strings.Split(*only, ",") {
		m, ok := measurements[name]
		if !ok {
			return fmt.Errorf("bench: unknown measurement %q", name)
		}
		r, err := m(ctx)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", name, err)
		}
		rows = append(rows, r)
	}
	fmt.Fprintln(stdout)
	printTable(stdout, rows, h.runs)
	return nil
}

// prepare makes the temp dir and certificate, finds this program and
// raises the open files limit.
func (h *harness) prepare() error {
	var err error
	if h.self, err = selfPath(); err != nil {
		return err
	}
	if h.tempDir, err = os.MkdirTemp("", "loadecho-"); err != nil {
		return err
	}
	if h.certFile, h.keyFile, err = writeCertificate(h.tempDir); err != nil {
		return err
	}
	limit, err := raiseOpenFiles()
	if err != nil {
		return err
	}
	if h.idle > 0 && limit < uint64(h.idle)+1000 {
		return fmt.Errorf("open files limit %d is too low for %d connections", limit, h.idle)
	}
	return nil
}

// runProfile runs one load against echo's serve() in cmd/echo's test
// binary with -test.cpuprofile and -test.memprofile, then the same load
// against the matching baseline with -cpuprofile and -memprofile, for go
// tool pprof (-diff_base; -sample_index=alloc_space for the allocations).
func runProfile(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	h := &harness{log: stderr}
	wrkArgs := harnessFlags(fs, h)
	scenario := fs.String("scenario", "keepalive", "handshake, request or keepalive")
	out := fs.String("out", "", "profiles to write: OUT-echo.pprof, OUT-baseline.pprof (CPU), OUT-echo.allocs.pprof, OUT-baseline.allocs.pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if h.echoTest == "" || *out == "" {
		return errors.New("profile: -echo-test and -out are required")
	}
	h.wrkArgs = strings.Fields(*wrkArgs)
	baselines := map[string][]string{"handshake": {"serve-tls"}, "request": {"serve-json", "-size", "1536"},
		"keepalive": {"serve-json", "-size", "200"}}
	baseline, ok := baselines[*scenario]
	if !ok {
		return fmt.Errorf("profile: unknown scenario %q", *scenario)
	}
	if err := h.prepare(); err != nil {
		return err
	}
	defer os.RemoveAll(h.tempDir)
	load := func(c *child) error {
		var err error
		switch *scenario {
		case "handshake":
			_, err = runLoad(ctx, c.addr, handshakeOp, h.handshakes, h.concurrency)
		case "request":
			_, err = runLoad(ctx, c.addr, requestOp, h.requests, h.concurrency)
		default:
			_, err = runWrk(ctx, h.wrk, h.wrkArgs, "https://"+c.addr+"/load")
		}
		if stopErr := c.stop(); err == nil {
			err = stopErr
		}
		return err
	}
	echoProfile, baseProfile := *out+"-echo.pprof", *out+"-baseline.pprof"
	echo, err := h.startEchoChild(ctx, echoProfile, *out+"-echo.allocs.pprof")
	if err != nil {
		return err
	}
	if err := load(echo); err != nil {
		return err
	}
	base, err := h.startBaseline(ctx, "baseline", append(baseline, "-cpuprofile", baseProfile, "-memprofile", *out+"-baseline.allocs.pprof")...)
	if err != nil {
		return err
	}
	if err := load(base); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s:\n  go tool pprof -top -cum %s %s\n  go tool pprof -top -diff_base %s %s %s\n",
		echoProfile, baseProfile, h.echoTest, echoProfile, baseProfile, h.echoTest, echoProfile)
	return nil
}

// runServe is a baseline server: serve-json or serve-tls.
func runServe(ctx context.Context, fs *flag.FlagSet, cmd string, args []string, stdin io.Reader, stdout io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	certFile := fs.String("cert", "", "certificate (PEM)")
	keyFile := fs.String("key", "", "its key (PEM)")
	size := fs.Int("size", 1536, "serve-json: bytes of the JSON body")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	memProfile := fs.String("memprofile", "", "write an allocation profile to this file when the server stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *memProfile != "" {
		defer writeAllocProfile(*memProfile)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := baselineTLSConfig(*certFile, *keyFile)
	if err != nil {
		return err
	}
	body, err := fixedJSON(*size)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if _, err := raiseOpenFiles(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "listening", ln.Addr())
	go answerMemory(stdin, stdout)
	if cmd == "serve-tls" {
		return serveHandshakes(ctx, ln, cfg)
	}
	return serveFixedJSON(ctx, ln, cfg, body)
}

// writeAllocProfile writes the allocations since the start to file.
func writeAllocProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// runLoadCommand runs a new-connection load by hand against any server.
func runLoadCommand(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	addr := fs.String("addr", "", "server address, HOST:PORT")
	opName := fs.String("op", "request", "handshake or request")
	n := fs.Int("n", 2000, "operations")
	c := fs.Int("c", 8, "connections at a time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ops := map[string]loadOp{"handshake": handshakeOp, "request": requestOp}
	op, ok := ops[*opName]
	if !ok || *addr == "" {
		return fmt.Errorf("load: want -addr and -op handshake or request")
	}
	start := time.Now()
	size, err := runLoad(ctx, *addr, op, *n, *c)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "%d %ss in %v (%.0f/s), last response %d bytes\n", *n, *opName, took.Round(time.Millisecond),
		float64(*n)/took.Seconds(), size)
	return nil
}
