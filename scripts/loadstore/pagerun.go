package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pageServer is the page server child process (loadstore serve-page).
type pageServer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	start time.Time // when it said it listened

	mu       sync.Mutex
	timeline []timedStats
	final    *pageStats
	done     chan struct{} // stdout ended
}

// timedStats is a stats line and when it arrived.
type timedStats struct {
	at    time.Time
	stats pageStats
}

func startPageServer(ctx context.Context, self string, args []string, log io.Writer) (*pageServer, error) {
	cmd := exec.CommandContext(ctx, self, append([]string{"serve-page"}, args...)...)
	cmd.Stderr = prefixWriter(log, "page server: ")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadstore: page server: %w", err)
	}
	s := &pageServer{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan string, 1)
	go s.read(stdout, ready, log)
	select {
	case addr, ok := <-ready:
		if ok {
			s.addr, s.start = addr, time.Now()
			return s, nil
		}
	case <-time.After(60 * time.Second):
	}
	stdin.Close()
	cmd.Process.Kill()
	cmd.Wait()
	return nil, errors.New("loadstore: the page server did not say it listens")
}

func (s *pageServer) read(stdout io.Reader, ready chan<- string, log io.Writer) {
	defer close(s.done)
	sc := bufio.NewScanner(stdout)
	said := false
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "listening":
			if !said {
				ready <- rest
				said = true
			}
		case "stats", "final":
			var st pageStats
			if err := json.Unmarshal([]byte(rest), &st); err != nil {
				fmt.Fprintf(log, "page server: bad line %q: %v\n", line, err)
				continue
			}
			s.mu.Lock()
			if kind == "final" {
				s.final = &st
			} else {
				s.timeline = append(s.timeline, timedStats{at: time.Now(), stats: st})
			}
			s.mu.Unlock()
		default:
			fmt.Fprintf(log, "page server: %s\n", line)
		}
	}
	if !said {
		close(ready)
	}
}

// latest is the last stats line.
func (s *pageServer) latest() (timedStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.timeline) == 0 {
		return timedStats{}, false
	}
	return s.timeline[len(s.timeline)-1], true
}

// waitIdle waits until the writer has nothing queued (a stats line
// arrived after since says so), up to timeout.
func (s *pageServer) waitIdle(since time.Time, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ts, ok := s.latest(); ok && ts.at.After(since) && ts.stats.Queued == 0 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// resumedAfter is how long after at the writer's Written count first grew
// (at most one stats interval late); false if it never did.
func (s *pageServer) resumedAfter(at time.Time) (time.Duration, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base uint64
	for _, ts := range s.timeline {
		if !ts.at.After(at) {
			base = ts.stats.Written
			continue
		}
		if ts.stats.Written > base {
			return ts.at.Sub(at), base, true
		}
	}
	return 0, base, false
}

// queueSeries is the writer's queue length at each second from start,
// for the span of the load.
func (s *pageServer) queueSeries(start time.Time, span time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	next := start
	for _, ts := range s.timeline {
		if ts.at.Before(next) {
			continue
		}
		if ts.at.Sub(start) > span {
			break
		}
		out = append(out, fmt.Sprint(ts.stats.Queued))
		next = next.Add(time.Second)
	}
	return out
}

// stop ends the server (its stdin), waits for its final counters and its
// exit.
func (s *pageServer) stop() (pageStats, error) {
	s.stdin.Close()
	<-s.done
	err := s.cmd.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final == nil {
		return pageStats{}, fmt.Errorf("loadstore: the page server ended without its final counters (%v)", err)
	}
	return *s.final, err
}

// pageRunConfig is the page measurement's.
type pageRunConfig struct {
	cluster    *cluster
	self       string   // this program, for the page server
	serverArgs []string // more flags of serve-page (writer options)
	rate       float64
	duration   time.Duration
	warmup     time.Duration
	conns      int
	stopAfter  time.Duration // run B: the database is stopped this long into the load
	downFor    time.Duration // and started again this much later
	visit      *chromium
	log        io.Writer
	newLoad    func(addr string, rate float64, d time.Duration) *pageLoad
}

// pageRunResult is one run of the page: A with the database up, B with
// it stopped during the load.
type pageRunResult struct {
	side  string // "A" or "B"
	round int
	load  *loadResult
	final pageStats
	// stored is the observations counted in the database at the end.
	stored int
	// B: when the database was stopped and started (since the load began),
	// and how long after the start writing resumed.
	stoppedAt, startedAt time.Duration
	resumed              bool
	resumedAfter         time.Duration
	serverCPU, dbCPU     time.Duration // during the measured load
	loadCPU              time.Duration // this process's: the load generator
	machineBusy          time.Duration // all CPUs' busy time during the load
	idle                 bool          // the writer's queue emptied after the load
}

// othersCPU is the CPU other programs used during the load, in cores:
// the machine's busy time less the page server's, the database's and the
// load generator's.
func (r *pageRunResult) othersCPU() float64 {
	other := r.machineBusy - r.serverCPU - r.dbCPU - r.loadCPU
	return max(0, other.Seconds()/r.load.elapsed.Seconds())
}

// quietBelow is the other programs' CPU, in cores, under which a run
// counts as made on an otherwise idle machine.
const quietBelow = 0.25

// countsAddUp: every batch offered was written or dropped, every written
// one is in the database, nothing is left, and (B) writing resumed.
func (r *pageRunResult) countsAddUp() bool {
	f := r.final
	ok := f.Enqueued == f.Written+f.Dropped && uint64(r.stored) == f.Written && f.Queued == 0 && f.CloseErr == ""
	if r.side == "B" {
		ok = ok && r.resumed
	}
	return ok
}

// runPage runs one page measurement, A or B, in a schema of its own.
func runPage(ctx context.Context, cfg pageRunConfig, side string, round int) (*pageRunResult, error) {
	res := &pageRunResult{side: side, round: round}
	schema := fmt.Sprintf("page_%s_%d", strings.ToLower(side), round)
	dsn, err := createSchema(ctx, cfg.cluster.dsn(), schema)
	if err != nil {
		return nil, err
	}
	srv, err := startPageServer(ctx, cfg.self, append([]string{"-dsn", dsn, "-addr", "127.0.0.1:0"}, cfg.serverArgs...), cfg.log)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()
	if cfg.warmup > 0 {
		warm := cfg.newLoad(srv.addr, cfg.rate, cfg.warmup).run(ctx, time.Now())
		if warm.failed > 0 {
			fmt.Fprintf(cfg.log, "page %s%d: warm-up: %d failed (%s)\n", side, round, warm.failed, warm.failureList())
		}
	}
	load := cfg.newLoad(srv.addr, cfg.rate, cfg.duration)
	start := time.Now().Add(50 * time.Millisecond)
	serverCPU0, _ := processCPU(srv.cmd.Process.Pid)
	loadCPU0 := selfCPU()
	busy0, _, _ := machineCPU()
	dbCPU0, _ := cfg.cluster.cpu()
	results := make(chan *loadResult, 1)
	go func() { results <- load.run(ctx, start) }()
	fmt.Fprintf(cfg.log, "page %s%d: %.0f requests/s for %v on %d connections\n", side, round, cfg.rate, cfg.duration, cfg.conns)

	var restartedAt time.Time
	if side == "B" {
		if err := sleepUntil(ctx, start.Add(cfg.stopAfter)); err != nil {
			return nil, err
		}
		dbCPU1, _ := cfg.cluster.cpu() // the server's CPU ends with it
		res.dbCPU = dbCPU1 - dbCPU0
		res.stoppedAt = time.Since(start)
		if err := cfg.cluster.stop(); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.log, "page %s%d: database stopped at %.1fs (pg_ctl stop -m fast took %s)\n", side, round,
			res.stoppedAt.Seconds(), ms(time.Since(start)-res.stoppedAt))
		if err := sleepUntil(ctx, start.Add(cfg.stopAfter+cfg.downFor)); err != nil {
			return nil, err
		}
		res.startedAt = time.Since(start)
		if err := cfg.cluster.start(); err != nil {
			return nil, err
		}
		restartedAt = time.Now()
		dbCPU0, _ = cfg.cluster.cpu()
		fmt.Fprintf(cfg.log, "page %s%d: database started at %.1fs (ready at %.1fs)\n", side, round,
			res.startedAt.Seconds(), time.Since(start).Seconds())
	}
	res.load = <-results
	serverCPU1, _ := processCPU(srv.cmd.Process.Pid)
	res.loadCPU = selfCPU() - loadCPU0
	busy1, _, _ := machineCPU()
	res.machineBusy = busy1 - busy0
	dbCPU1, _ := cfg.cluster.cpu()
	res.serverCPU, res.dbCPU = serverCPU1-serverCPU0, res.dbCPU+dbCPU1-dbCPU0
	res.idle = srv.waitIdle(time.Now(), 2*time.Minute)
	if side == "B" {
		res.resumedAfter, _, res.resumed = srv.resumedAfter(restartedAt)
	}
	stopped = true
	if res.final, err = srv.stop(); err != nil {
		return nil, err
	}
	if res.stored, err = countObservations(ctx, dsn); err != nil {
		return nil, err
	}
	lat := res.load.latencies()
	fmt.Fprintf(cfg.log, "page %s%d: %d requests, %d failed, answers of %d bytes, latency %s; writer enqueued %d written %d dropped %d, %d stored\n",
		side, round, res.load.due, res.load.failed, res.load.bodyBytes, lat, res.final.Enqueued, res.final.Written, res.final.Dropped, res.stored)
	if res.load.failed > 0 {
		fmt.Fprintf(cfg.log, "page %s%d: failures: %s\n", side, round, res.load.failureList())
	}
	var series []string
	for _, p := range res.load.p99Series(time.Second) {
		series = append(series, fmt.Sprintf("%.1f", float64(p)/float64(time.Millisecond)))
	}
	fmt.Fprintf(cfg.log, "page %s%d: p99 ms by second of the load: %s\n", side, round, strings.Join(series, " "))
	fmt.Fprintf(cfg.log, "page %s%d: writer's queue by second of the load: %s\n", side, round, strings.Join(srv.queueSeries(start, cfg.duration), " "))
	return res, dropSchema(ctx, cfg.cluster.dsn(), schema)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-time.After(time.Until(t)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func countObservations(ctx context.Context, dsn string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM observation").Scan(&n); err != nil {
		return 0, fmt.Errorf("loadstore: count observations: %w", err)
	}
	return n, nil
}

// prefixWriter writes each line of its input to w after prefix.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		}
		pr.CloseWithError(sc.Err())
	}()
	return pw
}

// pageRows are the table's lines of the page runs.
func pageRows(runs []*pageRunResult) []row {
	var a, b []*pageRunResult
	for _, r := range runs {
		if r.side == "A" {
			a = append(a, r)
		} else {
			b = append(b, r)
		}
	}
	pooled := func(rs []*pageRunResult) (percentiles, int, int) {
		var all []time.Duration
		n, failed := 0, 0
		for _, r := range rs {
			all = append(all, r.load.latency...)
			n += r.load.due
			failed += r.load.failed
		}
		return percentilesOf(all), n, failed
	}
	la, na, fa := pooled(a)
	lb, nb, fb := pooled(b)
	ratioOf := func(a, b percentiles) float64 {
		if a.p99 <= 0 {
			return 0
		}
		return float64(b.p99) / float64(a.p99)
	}
	ratio := ratioOf(la, lb)
	// The verdict is on the rounds in which nothing else loaded the
	// machine (A and B both); on all of them when there is none.
	var perRound []string
	var quietA, quietB []*pageRunResult
	for i := range min(len(a), len(b)) {
		quiet := a[i].othersCPU() < quietBelow && b[i].othersCPU() < quietBelow
		mark := ""
		if quiet {
			quietA, quietB = append(quietA, a[i]), append(quietB, b[i])
		} else {
			mark = fmt.Sprintf(" (others %.2f/%.2f cores)", a[i].othersCPU(), b[i].othersCPU())
		}
		perRound = append(perRound, fmt.Sprintf("%.2f%s", ratioOf(a[i].load.latencies(), b[i].load.latencies()), mark))
	}
	judgedOn := fmt.Sprintf("%d quiet round(s)", len(quietA))
	verdictRatio := ratio
	if len(quietA) > 0 {
		qa, _, _ := pooled(quietA)
		qb, _, _ := pooled(quietB)
		verdictRatio = ratioOf(qa, qb)
	} else {
		judgedOn = "all rounds: none without other load"
	}
	rows := []row{
		{name: "page A (database up): requests, failed", target: "0 failed",
			result: fmt.Sprintf("%s, %d failed", count(na), fa), verdict: judged(fa == 0)},
		{name: "page B (database stopped): requests, failed", target: "0 failed",
			result: fmt.Sprintf("%s, %d failed", count(nb), fb), verdict: judged(fb == 0)},
		{name: "page A latency", result: fmt.Sprintf("p50 %s, p90 %s, p99 %s, p99.9 %s, max %s", ms(la.p50), ms(la.p90), ms(la.p99), ms(la.p999), ms(la.max))},
		{name: "page B latency", result: fmt.Sprintf("p50 %s, p90 %s, p99 %s, p99.9 %s, max %s", ms(lb.p50), ms(lb.p90), ms(lb.p99), ms(lb.p999), ms(lb.max))},
		{name: "page p99 B / A", target: "<= 1.5", result: fmt.Sprintf("%.2f on %s; all rounds pooled %.2f; by round %s",
			verdictRatio, judgedOn, ratio, strings.Join(perRound, ", ")), verdict: judged(verdictRatio > 0 && verdictRatio <= 1.5)},
	}
	for _, r := range runs {
		f := r.final
		res := fmt.Sprintf("enqueued %s = written %s + dropped %s; stored %s", count(f.Enqueued), count(f.Written), count(f.Dropped), count(r.stored))
		if r.side == "B" {
			res += fmt.Sprintf("; stopped %.1fs-%.1fs, writing resumed %s after the start", r.stoppedAt.Seconds(), r.startedAt.Seconds(),
				map[bool]string{true: ms(r.resumedAfter), false: "never"}[r.resumed])
		}
		rows = append(rows, row{name: fmt.Sprintf("page %s%d: writer counts", r.side, r.round), target: "add up", result: res,
			verdict: judged(r.countsAddUp())})
	}
	for _, r := range runs {
		w := r.load.elapsed
		rows = append(rows, row{name: fmt.Sprintf("page %s%d: CPU, cores", r.side, r.round),
			result: fmt.Sprintf("page server %s, PostgreSQL %s, load generator %s, others %.2f; p99 %s", cores(r.serverCPU, w),
				cores(r.dbCPU, w), cores(r.loadCPU, w), r.othersCPU(), ms(r.load.latencies().p99))})
	}
	return rows
}
