package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// harness runs the measurements: each server is a child process, the
// load runs here.
type harness struct {
	echoBin     string // cmd/echo, built
	echoTest    string // cmd/echo's test binary, built (go test -c): TestLoadChild
	self        string // this program, for the baseline servers
	tempDir     string // the certificate; removed at the end
	certFile    string
	keyFile     string
	runs        int
	handshakes  int
	requests    int
	concurrency int
	wrk         string
	wrkArgs     []string
	idle        int
	log         io.Writer // progress and per-run figures
}

// echoFlags are the flags of every echo the harness runs: HTTPS only on a
// port the kernel picks, limits out of the way, the harness's certificate.
func (h *harness) echoFlags() []string {
	return []string{"--https-addr", "127.0.0.1:0", "--http-addr", "", "--rate", "1e9", "--rate-burst", "1000000000",
		"--max-conns", "100000", "--cert", h.certFile, "--key", h.keyFile}
}

// echoReady finds echo's log line "echo: serving HTTPS" addr=....
func echoReady(line string) (string, bool) {
	if !strings.Contains(line, `msg="echo: serving HTTPS"`) {
		return "", false
	}
	_, addr, ok := strings.Cut(line, " addr=")
	return strings.Fields(addr + " ")[0], ok
}

// prefixReady finds a line "PREFIX ADDR".
func prefixReady(prefix string) readyLine {
	return func(line string) (string, bool) {
		addr, ok := strings.CutPrefix(line, prefix+" ")
		return addr, ok
	}
}

// startEcho runs the real cmd/echo binary.
func (h *harness) startEcho(ctx context.Context) (*child, error) {
	return startChild(ctx, childSpec{name: "echo", path: h.echoBin, args: h.echoFlags(), ready: echoReady})
}

// startEchoChild runs echo's serve() in cmd/echo's test binary
// (TestLoadChild), which answers "gc" on its stdin with its heap and
// stacks after a GC, and writes a CPU profile and an allocation profile
// when their files are set.
func (h *harness) startEchoChild(ctx context.Context, cpuProfile, allocProfile string, extraFlags ...string) (*child, error) {
	args := []string{"-test.run=^TestLoadChild$"}
	if cpuProfile != "" {
		args = append(args, "-test.cpuprofile="+cpuProfile)
	}
	if allocProfile != "" {
		args = append(args, "-test.memprofile="+allocProfile)
	}
	args = append(append(append(args, "--"), h.echoFlags()...), extraFlags...)
	return startChild(ctx, childSpec{name: "echo (test child)", path: h.echoTest, args: args,
		env: []string{"FP_LOAD_CHILD=1"}, ready: prefixReady("ready"), stdinStops: true})
}

// startBaseline runs one of this program's baseline servers.
func (h *harness) startBaseline(ctx context.Context, name string, args ...string) (*child, error) {
	args = append([]string{args[0], "-addr", "127.0.0.1:0", "-cert", h.certFile, "-key", h.keyFile}, args[1:]...)
	return startChild(ctx, childSpec{name: name, path: h.self, args: args, ready: prefixReady("listening")})
}

// measured is one run's figure: CPU per operation, or bytes.
type measured func(ctx context.Context) (float64, error)

// cpuPerOp runs load against c and returns c's CPU time per operation, in
// microseconds; load returns the operations it completed.
func cpuPerOp(ctx context.Context, c *child, load func(ctx context.Context) (int, error)) (float64, error) {
	before, err := c.cpu()
	if err != nil {
		return 0, err
	}
	ops, err := load(ctx)
	if err != nil {
		return 0, err
	}
	after, err := c.cpu()
	if err != nil {
		return 0, err
	}
	if ops == 0 {
		return 0, fmt.Errorf("loadecho: no operations completed on %s", c.name)
	}
	return float64(after-before) / float64(time.Microsecond) / float64(ops), nil
}

// side is one server of a comparison and its measurement.
type side struct {
	name string
	run  measured
}

// interleave runs the sides in turn (A B A B ..., or A B C A B C ...)
// after one untimed warm-up run of each, h.runs times each, and returns
// each side's figures. The first side is echo, the second its baseline.
func (h *harness) interleave(ctx context.Context, what, unit string, sides ...side) ([][]float64, error) {
	fmt.Fprintf(h.log, "== %s: warm-up\n", what)
	for _, s := range sides {
		if _, err := s.run(ctx); err != nil {
			return nil, err
		}
	}
	figures := make([][]float64, len(sides))
	for i := range h.runs {
		line := fmt.Sprintf("== %s run %d/%d:", what, i+1, h.runs)
		for j, s := range sides {
			v, err := s.run(ctx)
			if err != nil {
				return nil, err
			}
			figures[j] = append(figures[j], v)
			line += fmt.Sprintf(" %s %.1f %s,", s.name, v, unit)
		}
		fmt.Fprintf(h.log, "%s ratio %.3f\n", line, figures[0][i]/figures[1][i])
	}
	return figures, nil
}

// median of an odd or even number of figures (the mean of the middle two).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// row is one line of the results table.
type row struct {
	name       string
	echo, base float64 // medians
	unit       string
	ratio      float64 // echo/base; 0 when there is no baseline target
	target     float64 // the ratio's bound, or for memory the bound on echo
	note       string
}

func (r row) pass() bool {
	if r.ratio > 0 {
		return r.ratio <= r.target
	}
	return r.echo < r.target
}

// handshakeRow: server CPU per new-connection TLS handshake, echo against
// a plain crypto/tls listener. A third side, plain crypto/tls under
// net/http (the connection closes without a request), shows how much of
// the difference is net/http's per-connection work rather than capture's.
func (h *harness) handshakeRow(ctx context.Context) (row, error) {
	echo, err := h.startEcho(ctx)
	if err != nil {
		return row{}, err
	}
	defer echo.stop()
	plain, err := h.startBaseline(ctx, "plain TLS listener", "serve-tls")
	if err != nil {
		return row{}, err
	}
	defer plain.stop()
	withHTTP, err := h.startBaseline(ctx, "plain TLS + net/http", "serve-json", "-size", "1536")
	if err != nil {
		return row{}, err
	}
	defer withHTTP.stop()
	run := func(c *child) measured {
		return func(ctx context.Context) (float64, error) {
			return cpuPerOp(ctx, c, func(ctx context.Context) (int, error) {
				_, err := runLoad(ctx, c.addr, handshakeOp, h.handshakes, h.concurrency)
				return h.handshakes, err
			})
		}
	}
	figures, err := h.interleave(ctx, "TLS handshakes", "µs/handshake",
		side{"echo", run(echo)}, side{"plain-tls", run(plain)}, side{"plain-tls+net/http", run(withHTTP)})
	if err != nil {
		return row{}, err
	}
	e, b, n := median(figures[0]), median(figures[1]), median(figures[2])
	return row{name: "TLS handshake, new connection", echo: e, base: b, unit: "µs CPU", ratio: e / b, target: 1.1,
		note: fmt.Sprintf("%d handshakes a run, %d at a time; baseline: crypto/tls listener, no HTTP. "+
			"For scale, plain crypto/tls under net/http (no request): %.1f µs, echo/that %.2fx",
			h.handshakes, h.concurrency, n, e/n)}, nil
}

// requestRow: server CPU per request on a new connection, echo against
// plain crypto/tls + net/http answering a fixed 1.5 KB JSON. A third
// side, the same plain server answering a fixed JSON as large as echo's
// answer, shows how much of the difference the answer's size explains.
func (h *harness) requestRow(ctx context.Context) (row, error) {
	echo, err := h.startEcho(ctx)
	if err != nil {
		return row{}, err
	}
	defer echo.stop()
	const baseBody = 1536
	plain, err := h.startBaseline(ctx, "plain net/http, 1.5 KB JSON", "serve-json", "-size", strconv.Itoa(baseBody))
	if err != nil {
		return row{}, err
	}
	defer plain.stop()
	echoBytes, err := runLoad(ctx, echo.addr, requestOp, 1, 1)
	if err != nil {
		return row{}, err
	}
	plainBytes, err := runLoad(ctx, plain.addr, requestOp, 1, 1)
	if err != nil {
		return row{}, err
	}
	matchedBody := max(echoBytes-(plainBytes-baseBody), baseBody)
	matched, err := h.startBaseline(ctx, "plain net/http, echo-sized JSON", "serve-json", "-size", strconv.Itoa(matchedBody))
	if err != nil {
		return row{}, err
	}
	defer matched.stop()
	run := func(c *child) measured {
		return func(ctx context.Context) (float64, error) {
			return cpuPerOp(ctx, c, func(ctx context.Context) (int, error) {
				_, err := runLoad(ctx, c.addr, requestOp, h.requests, h.concurrency)
				return h.requests, err
			})
		}
	}
	figures, err := h.interleave(ctx, "one request per new connection", "µs/request",
		side{"echo", run(echo)}, side{"plain-1.5KB", run(plain)}, side{"plain-echo-sized", run(matched)})
	if err != nil {
		return row{}, err
	}
	e, b, m := median(figures[0]), median(figures[1]), median(figures[2])
	return row{name: "one request per new connection", echo: e, base: b, unit: "µs CPU", ratio: e / b, target: 1.15,
		note: fmt.Sprintf("%d requests a run, %d at a time; response bytes (head+body): echo %d, baseline %d. "+
			"For scale, the plain server answering a %d-byte JSON (echo's size): %.1f µs, echo/that %.2fx",
			h.requests, h.concurrency, echoBytes, plainBytes, matchedBody, m, e/m)}, nil
}

// keepAliveRow: server CPU per HTTP/1.1 keep-alive request under wrk,
// echo against plain net/http answering a fixed 200-byte JSON, and for
// scale the same plain server answering a JSON as large as echo's.
func (h *harness) keepAliveRow(ctx context.Context) (row, error) {
	echo, err := h.startEcho(ctx)
	if err != nil {
		return row{}, err
	}
	defer echo.stop()
	const baseBody = 200
	plain, err := h.startBaseline(ctx, "plain net/http, 200 B JSON", "serve-json", "-size", strconv.Itoa(baseBody))
	if err != nil {
		return row{}, err
	}
	defer plain.stop()
	// One short wrk run each tells the bytes of an answer to wrk's request
	// (echo's depends on wrk's ClientHello and headers).
	probe := append(slices.Clone(h.wrkArgs), "-d1s")
	perReq := map[*child]float64{}
	for _, c := range []*child{echo, plain} {
		res, err := runWrk(ctx, h.wrk, probe, "https://"+c.addr+"/load")
		if err != nil {
			return row{}, err
		}
		perReq[c] = res.bytesRead / float64(res.requests)
	}
	matchedBody := max(int(perReq[echo]-(perReq[plain]-baseBody)), baseBody)
	matched, err := h.startBaseline(ctx, "plain net/http, echo-sized JSON", "serve-json", "-size", strconv.Itoa(matchedBody))
	if err != nil {
		return row{}, err
	}
	defer matched.stop()
	run := func(c *child) measured {
		return func(ctx context.Context) (float64, error) {
			return cpuPerOp(ctx, c, func(ctx context.Context) (int, error) {
				res, err := runWrk(ctx, h.wrk, h.wrkArgs, "https://"+c.addr+"/load")
				return res.requests, err
			})
		}
	}
	figures, err := h.interleave(ctx, "HTTP/1.1 keep-alive (wrk)", "µs/request",
		side{"echo", run(echo)}, side{"plain-200B", run(plain)}, side{"plain-echo-sized", run(matched)})
	if err != nil {
		return row{}, err
	}
	e, b, m := median(figures[0]), median(figures[1]), median(figures[2])
	return row{name: "HTTP/1.1 keep-alive request (wrk)", echo: e, base: b, unit: "µs CPU", ratio: e / b, target: 2,
		note: fmt.Sprintf("wrk %s; bytes read a request (head+body): echo %.0f, baseline %.0f. "+
			"For scale, the plain server answering a %d-byte JSON (echo's size): %.1f µs, echo/that %.2fx",
			strings.Join(h.wrkArgs, " "), perReq[echo], perReq[plain], matchedBody, m, e/m)}, nil
}

// wrkResult is what the harness reads from wrk's report.
type wrkResult struct {
	requests  int
	bytesRead float64
}

// runWrk runs wrk on url and reads the requests it completed; non-2xx
// answers and socket errors fail the run.
func runWrk(ctx context.Context, wrk string, args []string, url string) (wrkResult, error) {
	out, err := exec.CommandContext(ctx, wrk, append(slices.Clone(args), url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("loadecho: wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads wrk's "N requests in 5.00s, 1.23MB read" line, and its
// non-2xx and socket error lines, which fail the run.
func parseWrk(out string) (wrkResult, error) {
	wrkRequests := regexp.MustCompile(`(\d+) requests in [^,]+, ([0-9.]+)([KMGT]?B) read`)
	wrkNon2xx := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErrors := regexp.MustCompile(`Socket errors: [^\n]*`)
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return wrkResult{}, fmt.Errorf("loadecho: wrk printed no request count: %s", out)
	}
	var r wrkResult
	r.requests, _ = strconv.Atoi(m[1])
	r.bytesRead, _ = strconv.ParseFloat(m[2], 64)
	r.bytesRead *= map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[3]]
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		return r, fmt.Errorf("loadecho: wrk: %s non-2xx answers: %s", m[1], out)
	}
	if wrkErrors.MatchString(out) {
		return r, fmt.Errorf("loadecho: wrk: socket errors: %s", out)
	}
	return r, nil
}

// memSample is a server's heap and stacks after a GC, from its
// runtime/metrics (see readMemory).
type memSample struct {
	objects, stacks, unused, goroutines uint64
}

func parseMem(line string) (memSample, error) {
	var m memSample
	_, err := fmt.Sscanf(line, "mem objects=%d stacks=%d unused=%d goroutines=%d", &m.objects, &m.stacks, &m.unused, &m.goroutines)
	if err != nil {
		return m, fmt.Errorf("loadecho: memory line %q: %w", line, err)
	}
	return m, nil
}

// idleMemory opens h.idle connections to c, each after one HTTP/1.1
// request, and returns c's heap objects + stacks per connection (bytes),
// from its runtime/metrics after GC, before and after.
func (h *harness) idleMemory(ctx context.Context, c *child) (float64, memSample, memSample, error) {
	// Warm-up: lazily made state (pools, caches, templates) is not a
	// connection's. The connections close, the server closing first.
	if _, err := runLoad(ctx, c.addr, requestOp, 200, h.concurrency); err != nil {
		return 0, memSample{}, memSample{}, err
	}
	line, err := c.request(ctx, "gc", "mem ")
	if err != nil {
		return 0, memSample{}, memSample{}, err
	}
	before, err := parseMem(line)
	if err != nil {
		return 0, memSample{}, memSample{}, err
	}
	conns, err := openIdle(ctx, c.addr, h.idle, h.concurrency)
	if err != nil {
		return 0, memSample{}, memSample{}, err
	}
	defer conns.Close()
	line, err = c.request(ctx, "gc", "mem ")
	if err != nil {
		return 0, memSample{}, memSample{}, err
	}
	after, err := parseMem(line)
	if err != nil {
		return 0, memSample{}, memSample{}, err
	}
	grew := float64(after.objects+after.stacks) - float64(before.objects+before.stacks)
	return grew / float64(h.idle), before, after, nil
}

// memoryRow: echo's heap + stacks per idle TLS connection after one
// HTTP/1.1 request, in a fresh server each run; the plain net/http
// server of the keep-alive baseline is measured alongside, for scale.
func (h *harness) memoryRow(ctx context.Context) (row, error) {
	var echoRuns, plainRuns []float64
	var goroutines uint64
	for i := range h.runs {
		echo, err := h.startEchoChild(ctx, "", "", "--idle-timeout", "10m")
		if err != nil {
			return row{}, err
		}
		e, before, after, err := h.idleMemory(ctx, echo)
		if stopErr := echo.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return row{}, err
		}
		goroutines = after.goroutines - before.goroutines
		plain, err := h.startBaseline(ctx, "plain net/http, 200 B JSON", "serve-json", "-size", "200")
		if err != nil {
			return row{}, err
		}
		p, _, _, err := h.idleMemory(ctx, plain)
		if stopErr := plain.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return row{}, err
		}
		echoRuns, plainRuns = append(echoRuns, e/1024), append(plainRuns, p/1024)
		fmt.Fprintf(h.log, "== idle connections run %d/%d: echo %.1f KiB/conn (heap objects %d -> %d, stacks %d -> %d, goroutines %d -> %d), plain net/http %.1f KiB/conn\n",
			i+1, h.runs, e/1024, before.objects, after.objects, before.stacks, after.stacks, before.goroutines, after.goroutines, p/1024)
	}
	return row{name: fmt.Sprintf("%d idle TLS connections, heap+stacks", h.idle), echo: median(echoRuns), base: median(plainRuns),
		unit: "KiB/conn", target: 50,
		note: fmt.Sprintf("after GC, before and after; %d more goroutines in echo with them open; baseline for scale only", goroutines)}, nil
}

// printTable writes the results.
func printTable(w io.Writer, rows []row, runs int) {
	fmt.Fprintf(w, "%-40s %14s %14s %8s %10s %s\n", "measurement", "echo", "baseline", "ratio", "target", "result")
	for _, r := range rows {
		ratio, target := "-", fmt.Sprintf("< %.0f %s", r.target, r.unit)
		if r.ratio > 0 {
			ratio, target = fmt.Sprintf("%.2fx", r.ratio), fmt.Sprintf("<= %.2fx", r.target)
		}
		result := "FAIL"
		if r.pass() {
			result = "pass"
		}
		fmt.Fprintf(w, "%-40s %14s %14s %8s %10s %s\n", r.name, fmt.Sprintf("%.1f %s", r.echo, r.unit),
			fmt.Sprintf("%.1f %s", r.base, r.unit), ratio, target, result)
	}
	fmt.Fprintf(w, "(server process CPU, user+system, per operation; medians of %d runs, A/B interleaved)\n", runs)
	for _, r := range rows {
		fmt.Fprintf(w, "  %s: %s\n", r.name, r.note)
	}
}

// raiseOpenFiles lifts the soft limit on open files to the hard one:
// the idle-connection run holds thousands of sockets. Children inherit it.
func raiseOpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("loadecho: RLIMIT_NOFILE: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("loadecho: RLIMIT_NOFILE: %w", err)
	}
	return lim.Cur, nil
}

// selfPath is this program's executable, for the baseline children.
func selfPath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("loadecho: %w", err)
	}
	return p, nil
}
