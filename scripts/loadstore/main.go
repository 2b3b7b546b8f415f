// Command loadstore runs the storage issue's documented load runs against
// a real PostgreSQL, with fsync on: sustained ingest of Chromium-sized
// visits through storage.Writer, and the fp page under load while the
// database is stopped and started again. scripts/bench-storage.sh runs
// "loadstore bench"; docs/storage-load.md has the method and figures.
//
//	loadstore bench [-target 5000 -rate 5500 -duration 60s] [-page-rate 5000 -page-duration 30s -rounds 3] [-c name=value ...]
//	loadstore ingest [-dsn URL | own cluster] [-target 5000 -rate 5500 -duration 60s] [-statements] [-cpuprofile F]
//	loadstore page [-page-rate 5000 -page-duration 30s -rounds 3 -stop-after 5s -down-for 10s]
//	loadstore serve-page -dsn URL [-addr 127.0.0.1:0]   # the page server (a child of page and bench)
//
// bench, ingest and page start a PostgreSQL cluster of their own (initdb
// and pg_ctl on a temporary directory, a free loopback port; as root,
// through runuser -u postgres) with PostgreSQL's default settings unless
// -c says otherwise, and remove it at the end. The table goes to stdout,
// progress to stderr; a missed target is printed as FAIL and makes the
// exit status 2.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/fpwork/fp/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errTargetMissed):
		os.Exit(2)
	case err != nil && !errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(os.Stderr, "loadstore:", err)
		os.Exit(1)
	}
}

// errTargetMissed: the runs completed and a figure missed its target.
var errTargetMissed = errors.New("loadstore: a target was missed")

const usage = "usage: loadstore bench|ingest|page|serve-page [flags] (-h for each)"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("loadstore "+args[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[1] {
	case "bench", "ingest", "page":
		return runMeasurements(ctx, fs, args[1], args[2:], stdout, stderr)
	case "serve-page":
		return runServePage(ctx, fs, args[2:], stdin, stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[1])
	}
}

// settingsFlag collects -c name=value.
type settingsFlag []string

func (s *settingsFlag) String() string { return strings.Join(*s, " ") }

func (s *settingsFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want name=value, got %q", v)
	}
	*s = append(*s, v)
	return nil
}

// inputFlags are the flags naming what a visit is built from.
type inputFlags struct {
	golden, profiles, agent string
}

func (in *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&in.golden, "golden", defaultGolden, "golden capture of the Chromium connection (hello, HTTP/2 preface)")
	fs.StringVar(&in.profiles, "profiles", defaultProfiles, "rama's profiles: Chrome's header lists per context")
	fs.StringVar(&in.agent, "agent", defaultAgent, "the User-Agent of the rama profile to use")
}

func (in *inputFlags) load() (*chromium, error) {
	return loadChromium(in.golden, in.profiles, in.agent)
}

// writerFlags are storage.WriterOptions; zero keeps the Writer's default.
func writerFlags(fs *flag.FlagSet, o *storage.WriterOptions) {
	fs.IntVar(&o.QueueSize, "queue", 0, "Writer QueueSize, batches (0: the Writer's default)")
	fs.IntVar(&o.BatchSize, "batch", 0, "Writer BatchSize, batches a Write (0: the Writer's default)")
	fs.DurationVar(&o.MaxDelay, "max-delay", 0, "Writer MaxDelay (0: the Writer's default)")
}

// describeWriter names the writer options given, or says they are the
// Writer's defaults.
func describeWriter(o storage.WriterOptions) string {
	var parts []string
	if o.QueueSize > 0 {
		parts = append(parts, fmt.Sprintf("QueueSize %d", o.QueueSize))
	}
	if o.BatchSize > 0 {
		parts = append(parts, fmt.Sprintf("BatchSize %d", o.BatchSize))
	}
	if o.MaxDelay > 0 {
		parts = append(parts, fmt.Sprintf("MaxDelay %v", o.MaxDelay))
	}
	if len(parts) == 0 {
		return "storage.WriterOptions defaults"
	}
	return strings.Join(parts, ", ") + ", the rest defaults"
}

// writerArgs turns writer options back into serve-page flags.
func writerArgs(o storage.WriterOptions) []string {
	var out []string
	if o.QueueSize > 0 {
		out = append(out, "-queue", fmt.Sprint(o.QueueSize))
	}
	if o.BatchSize > 0 {
		out = append(out, "-batch", fmt.Sprint(o.BatchSize))
	}
	if o.MaxDelay > 0 {
		out = append(out, "-max-delay", o.MaxDelay.String())
	}
	return out
}

func runMeasurements(ctx context.Context, fs *flag.FlagSet, cmd string, args []string, stdout, stderr io.Writer) error {
	var (
		in       inputFlags
		settings settingsFlag
		writer   storage.WriterOptions
	)
	in.register(fs)
	writerFlags(fs, &writer)
	fs.Var(&settings, "c", "a PostgreSQL setting name=value for the cluster (repeatable); none: PostgreSQL's defaults")
	pgBin := fs.String("pg-bin", "", "directory of initdb and pg_ctl (default: pg_ctl on PATH, else the newest Debian package)")
	dsn := fs.String("dsn", "", "ingest: an existing server's URL instead of a cluster of its own (a schema is created in it)")
	target := fs.Float64("target", 5000, "ingest: observations written a second to pass")
	rate := fs.Float64("rate", 5500, "ingest: observations offered a second (5 a visit); above -target, as a rate at the target would be written just below it (the last batch is in flight at the end)")
	duration := fs.Duration("duration", 60*time.Second, "ingest: how long")
	pageRate := fs.Float64("page-rate", 5000, "page: requests a second (each one observation)")
	pageDuration := fs.Duration("page-duration", 30*time.Second, "page: how long each run")
	warmup := fs.Duration("warmup", 2*time.Second, "page: unmeasured load before each run")
	conns := fs.Int("page-conns", 16, "page: keep-alive connections")
	rounds := fs.Int("rounds", 3, "page: rounds of A (database up) then B (database stopped)")
	stopAfter := fs.Duration("stop-after", 5*time.Second, "page B: stop the database this long into the load")
	downFor := fs.Duration("down-for", 10*time.Second, "page B: and start it again this much later")
	statements := fs.Bool("statements", false, "load pg_stat_statements in the cluster and print where the server's time went")
	cpuProfile := fs.String("cpuprofile", "", "write this program's CPU profile (load generator and, for ingest, the Writer) to this file")
	if err := fs.Parse(args); err != nil {
		return err
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
	if cmd != "ingest" && *dsn != "" {
		return fmt.Errorf("%s: the page runs stop the server, so they need a cluster of their own (-dsn is for ingest)", cmd)
	}
	if *stopAfter+*downFor >= *pageDuration {
		return errors.New("page: -stop-after + -down-for must end before -page-duration")
	}
	visit, err := in.load()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	started := time.Now()
	var c *cluster
	if *dsn == "" {
		fmt.Fprintln(stderr, "== PostgreSQL cluster of our own (initdb, pg_ctl) on a free loopback port")
		if *statements {
			settings = append(settings, statementSettings()...)
		}
		if c, err = newCluster("", *pgBin, settings); err != nil {
			return err
		}
		defer func() {
			if err := c.remove(); err != nil {
				fmt.Fprintln(stderr, err)
			}
		}()
		*dsn = c.dsn()
	}
	fmt.Fprintln(stderr, "== server settings")
	shown, err := showSettings(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	load1, _, _ := loadAverage()

	var rows []row
	if cmd != "page" {
		if *statements {
			if err := resetStatements(ctx, *dsn); err != nil {
				return err
			}
		}
		schema := fmt.Sprintf("ingest_%d", time.Now().Unix())
		schemaDSN, err := createSchema(ctx, *dsn, schema)
		if err != nil {
			return err
		}
		res, err := runIngest(ctx, ingestConfig{dsn: schemaDSN, rate: *rate, duration: *duration, writer: writer,
			visit: visit, random: rand.Reader, log: stderr, serverCPU: serverCPUOf(c)})
		if dropErr := dropSchema(context.Background(), *dsn, schema); err == nil {
			err = dropErr
		}
		if err != nil {
			return err
		}
		if *statements {
			if err := printStatements(ctx, *dsn, stderr); err != nil {
				return err
			}
		}
		rows = append(rows, ingestRows(res, *target, *duration)...)
	}
	if cmd != "ingest" {
		cfg := pageRunConfig{cluster: c, self: self, serverArgs: writerArgs(writer), rate: *pageRate, duration: *pageDuration,
			warmup: *warmup, conns: *conns, stopAfter: *stopAfter, downFor: *downFor, visit: visit, log: stderr,
			newLoad: func(addr string, rate float64, d time.Duration) *pageLoad {
				return &pageLoad{addr: addr, rate: rate, duration: d, conns: *conns, timeout: 10 * time.Second,
					visit: visit, random: rand.Reader}
			}}
		var runs []*pageRunResult
		for round := 1; round <= *rounds; round++ {
			for _, side := range []string{"A", "B"} {
				r, err := runPage(ctx, cfg, side, round)
				if err != nil {
					return err
				}
				runs = append(runs, r)
			}
		}
		rows = append(rows, pageRows(runs)...)
	}
	load2, _, _ := loadAverage()
	fmt.Fprintln(stdout)
	heading := title(shown, load1, load2, time.Since(started))
	heading += "Writer: " + describeWriter(writer)
	if cmd != "page" {
		heading += fmt.Sprintf("; ingest offered %.0f observations/s for %v", *rate, *duration)
	}
	if cmd != "ingest" {
		heading += fmt.Sprintf("; page %.0f requests/s for %v on %d connections, %d rounds of A and B, B's database stopped %v-%v into the load",
			*pageRate, *pageDuration, *conns, *rounds, *stopAfter, *stopAfter+*downFor)
	}
	heading += "\n"
	printTable(stdout, heading, rows)
	if failed(rows) {
		return errTargetMissed
	}
	return nil
}

func serverCPUOf(c *cluster) func() (time.Duration, error) {
	if c == nil {
		return nil
	}
	return c.cpu
}

// title is the table's heading: the server's durability settings and the
// machine's load.
func title(settings [][2]string, load1Before, load1After float64, took time.Duration) string {
	var parts []string
	for _, s := range settings {
		parts = append(parts, s[0]+"="+s[1])
	}
	_, cpus, _ := machineCPU()
	return fmt.Sprintf("storage load runs: %d CPUs, load average %.2f before, %.2f after, %s in all\nPostgreSQL: %s\n",
		cpus, load1Before, load1After, took.Round(time.Second), strings.Join(parts, ", "))
}

// loadAverage reads /proc/loadavg: 1, 5 and 15 minutes.
func loadAverage() (float64, float64, float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, 0, 0
	}
	var a, b5, c float64
	fmt.Sscan(string(b), &a, &b5, &c)
	return a, b5, c
}

// runServePage is the page server (a child of bench and page).
func runServePage(ctx context.Context, fs *flag.FlagSet, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var (
		in     inputFlags
		writer storage.WriterOptions
	)
	in.register(fs)
	writerFlags(fs, &writer)
	dsn := fs.String("dsn", "", "the database URL (required)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	every := fs.Duration("stats-every", 250*time.Millisecond, "between stats lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("serve-page: -dsn is required")
	}
	visit, err := in.load()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	open := func(ctx context.Context) (storage.Store, error) { return storage.NewPostgres(ctx, *dsn, log) }
	return servePage(ctx, servePageConfig{addr: *addr, open: open, every: *every, writer: writer, visit: visit,
		random: rand.Reader, stdin: stdin, stdout: stdout, log: log, closeWithin: 2 * time.Minute,
		fleetSecret: os.Getenv("FP_STORAGE_SECRET")})
}
