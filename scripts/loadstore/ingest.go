package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/storage"
)

// ingestConfig is one sustained-ingest run: visits built and enqueued at
// rate observations a second for duration, written by a storage.Writer
// into PostgreSQL.
type ingestConfig struct {
	dsn       string // of the schema to write in; NewPostgres migrates it
	rate      float64
	duration  time.Duration
	writer    storage.WriterOptions
	visit     *chromium
	random    io.Reader
	log       io.Writer                     // progress, and the writer's log
	serverCPU func() (time.Duration, error) // the database's CPU time so far; nil when unknown
}

// ingestResult holds a run's figures. Counts are observations (a visit,
// the unit the Writer counts, holds len(storage.Kinds()) of them).
type ingestResult struct {
	window time.Duration // of the load

	offeredRate  float64 // target, observations/s
	enqueuedRate float64 // built and offered to Enqueue during the window
	writtenRate  float64 // committed during the window
	// minWrittenRate is the slowest 10 s of the window.
	minWrittenRate float64
	maxQueued      int // batches (visits) waiting or being written, highest sample

	enqueued, written, dropped int // observations, once the writer has closed
	failedWrites               int
	drain                      time.Duration // Close, writing what was queued at the end
	stored                     int           // observations counted in the database

	writes writeSummary

	serverCPU, selfCPU, machineBusy time.Duration // during the window
	serverCPUKnown                  bool          // the server is ours, its processes readable
	cpus                            int
	walBytes                        int64
	tableBytes                      int64 // the schema's tables, indexes and TOAST
	checkpoints                     int
	visitPayload                    int // storedSize of one visit
}

// progressSample is the writer's counters at a moment of the window.
type progressSample struct {
	at    time.Duration
	stats storage.WriterStats
}

func runIngest(ctx context.Context, cfg ingestConfig) (*ingestResult, error) {
	perVisit := len(storage.Kinds())
	res := &ingestResult{offeredRate: cfg.rate}
	log := slog.New(slog.NewTextHandler(cfg.log, nil))
	pg, err := storage.NewPostgres(ctx, cfg.dsn, log)
	if err != nil {
		return nil, err
	}
	defer pg.Close()
	db, err := pgx.Connect(ctx, cfg.dsn)
	if err != nil {
		return nil, fmt.Errorf("loadstore: %w", err)
	}
	defer db.Close(context.Background())
	before, err := readDBFigures(ctx, db)
	if err != nil {
		return nil, err
	}

	sample, err := cfg.visit.visitBatch(cfg.random, time.Now())
	if err != nil {
		return nil, err
	}
	res.visitPayload = storedSize(sample)

	timed := newTimedStore(pg, time.Now)
	w := storage.NewWriter(timed, cfg.writer, log)
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w.Close(cctx)
		}
	}()

	cpu := startCPUMeter(cfg.serverCPU)
	visitsPerSecond := cfg.rate / float64(perVisit)
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var samples []progressSample
	made := 0
	nextSample := time.Second
	fmt.Fprintf(cfg.log, "ingest: %.0f observations/s (%.0f visits/s) for %v\n", cfg.rate, visitsPerSecond, cfg.duration)
	for {
		elapsed := time.Since(start)
		if elapsed >= cfg.duration {
			break
		}
		// Open loop: what is due by now, whatever the writer does.
		for due := int(elapsed.Seconds() * visitsPerSecond); made < due; made++ {
			b, err := cfg.visit.visitBatch(cfg.random, time.Now())
			if err != nil {
				return nil, err
			}
			w.Enqueue(b)
		}
		if elapsed >= nextSample {
			s := w.Stats()
			samples = append(samples, progressSample{at: elapsed, stats: s})
			if nextSample%(10*time.Second) == 0 {
				fmt.Fprintf(cfg.log, "ingest: %3.0fs enqueued %d written %d dropped %d queued %d (observations)\n",
					elapsed.Seconds(), int(s.Enqueued)*perVisit, int(s.Written)*perVisit, int(s.Dropped)*perVisit, s.Queued*perVisit)
			}
			nextSample += time.Second
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	end := w.Stats()
	res.window = time.Since(start)
	res.serverCPU, res.selfCPU, res.machineBusy, res.cpus = cpu.stop()
	res.serverCPUKnown = cfg.serverCPU != nil
	samples = append(samples, progressSample{at: res.window, stats: end})

	res.enqueuedRate = float64(int(end.Enqueued)*perVisit) / res.window.Seconds()
	res.writtenRate = float64(int(end.Written)*perVisit) / res.window.Seconds()
	res.minWrittenRate = slowestWindow(samples, 10*time.Second) * float64(perVisit)
	for _, s := range samples {
		res.maxQueued = max(res.maxQueued, s.stats.Queued)
	}

	drainStart := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = w.Close(cctx)
	cancel()
	closed = true
	res.drain = time.Since(drainStart)
	if err != nil {
		return nil, err
	}
	final := w.Stats()
	res.enqueued, res.written = int(final.Enqueued)*perVisit, int(final.Written)*perVisit
	res.dropped, res.failedWrites = int(final.Dropped)*perVisit, int(final.FailedWrites)
	res.writes = timed.summary()

	after, err := readDBFigures(ctx, db)
	if err != nil {
		return nil, err
	}
	res.stored = after.observations
	res.walBytes = after.walBytes - before.walBytes
	res.tableBytes = after.tableBytes
	res.checkpoints = after.checkpoints - before.checkpoints
	return res, nil
}

// slowestWindow is the lowest rate of written batches over any span of
// samples at least width long; the whole run's when it is shorter.
func slowestWindow(samples []progressSample, width time.Duration) float64 {
	lowest := -1.0
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			span := samples[j].at - samples[i].at
			if span < width {
				continue
			}
			rate := float64(samples[j].stats.Written-samples[i].stats.Written) / span.Seconds()
			if lowest < 0 || rate < lowest {
				lowest = rate
			}
			break
		}
	}
	if lowest < 0 && len(samples) > 0 {
		last := samples[len(samples)-1]
		return float64(last.stats.Written) / last.at.Seconds()
	}
	return max(lowest, 0)
}

// dbFigures are counters of the database.
type dbFigures struct {
	observations int
	walBytes     int64 // WAL position
	tableBytes   int64
	checkpoints  int
}

func readDBFigures(ctx context.Context, db *pgx.Conn) (dbFigures, error) {
	var f dbFigures
	err := db.QueryRow(ctx, `
SELECT (SELECT count(*) FROM observation),
	pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
	(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r')`).
		Scan(&f.observations, &f.walBytes, &f.tableBytes)
	if err != nil {
		return f, fmt.Errorf("loadstore: database figures: %w", err)
	}
	// PostgreSQL 17 moved the checkpoint counters to pg_stat_checkpointer.
	for _, q := range []string{"SELECT (checkpoints_timed + checkpoints_req)::int FROM pg_stat_bgwriter",
		"SELECT (num_timed + num_requested)::int FROM pg_stat_checkpointer"} {
		if db.QueryRow(ctx, q).Scan(&f.checkpoints) == nil {
			break
		}
	}
	return f, nil
}

// cpuMeter measures CPU time over a window: the database's, this
// process's and the whole machine's.
type cpuMeter struct {
	server                func() (time.Duration, error)
	server0, self0, busy0 time.Duration
}

func startCPUMeter(server func() (time.Duration, error)) *cpuMeter {
	m := &cpuMeter{server: server}
	if server != nil {
		m.server0, _ = server()
	}
	m.self0 = selfCPU()
	m.busy0, _, _ = machineCPU()
	return m
}

// stop returns the CPU time used since the start: the server's (0 when
// unknown), this process's, the machine's busy time, and the CPU count.
func (m *cpuMeter) stop() (server, self, busy time.Duration, cpus int) {
	if m.server != nil {
		if s, err := m.server(); err == nil {
			server = s - m.server0
		}
	}
	self = selfCPU() - m.self0
	b, n, err := machineCPU()
	if err == nil {
		busy = b - m.busy0
	}
	return server, self, busy, n
}

// selfCPU is this process's CPU time, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
