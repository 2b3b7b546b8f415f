package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// row is a line of the table: a figure, its target ("" for a figure given
// for information) and whether it met it.
type row struct {
	name, target, result string
	verdict              verdict
}

type verdict uint8

const (
	info verdict = iota
	pass
	fail
)

func judged(ok bool) verdict {
	if ok {
		return pass
	}
	return fail
}

func (v verdict) String() string {
	switch v {
	case pass:
		return "PASS"
	case fail:
		return "FAIL"
	}
	return ""
}

func printTable(w io.Writer, title string, rows []row) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\ttarget\tresult\t")
	fmt.Fprintln(tw, "-----------\t------\t------\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.target, r.result, r.verdict)
	}
	tw.Flush()
}

// failed reports whether a row missed its target.
func failed(rows []row) bool {
	for _, r := range rows {
		if r.verdict == fail {
			return true
		}
	}
	return false
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func (p percentiles) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s", ms(p.p50), ms(p.p99), ms(p.max))
}

// count formats an integer with thousands separators.
func count[T int | int64 | uint64](n T) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func cores(cpu, wall time.Duration) string {
	if wall <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds())
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// ingestRows are the table's lines of an ingest run.
func ingestRows(r *ingestResult, target float64, duration time.Duration) []row {
	perObs := func(n int64) string {
		if r.stored == 0 {
			return "?"
		}
		return fmt.Sprintf("%s B", count(n/int64(r.stored)))
	}
	w := r.window
	return []row{
		{name: "ingest: observations written/s", target: fmt.Sprintf(">= %s for %v", count(int(target)), duration),
			result:  fmt.Sprintf("%s over %.1f s (offered %s/s)", count(int(r.writtenRate)), w.Seconds(), count(int(r.enqueuedRate))),
			verdict: judged(r.writtenRate >= target && w >= duration)},
		{name: "ingest: slowest 10 s, written/s", result: count(int(r.minWrittenRate))},
		{name: "ingest: dropped", target: "0", result: count(r.dropped), verdict: judged(r.dropped == 0)},
		{name: "ingest: counts (enqueued = written + dropped = stored)", target: "equal",
			result:  fmt.Sprintf("%s = %s + %s, %s stored", count(r.enqueued), count(r.written), count(r.dropped), count(r.stored)),
			verdict: judged(r.enqueued == r.written+r.dropped && r.stored == r.written)},
		{name: "ingest: queue at its highest (visits)", result: fmt.Sprintf("%s of the writer's queue; drained in %s at the end", count(r.maxQueued), ms(r.drain))},
		{name: "ingest: Write (batch) latency", result: fmt.Sprintf("%s; %s writes of ~%.0f observations, %d failed", r.writes.took,
			count(r.writes.writes), r.writes.observationsP50, r.writes.failed)},
		{name: "ingest: enqueue to commit", result: r.writes.delay.String()},
		{name: "ingest: CPU, cores (of " + fmt.Sprint(r.cpus) + ")", result: cpuLine(r)},
		{name: "ingest: WAL, tables", result: fmt.Sprintf("%s WAL (%s/observation), %s tables+indexes+TOAST (%s/observation), %d checkpoints",
			mib(r.walBytes), perObs(r.walBytes), mib(r.tableBytes), perObs(r.tableBytes), r.checkpoints)},
		{name: "ingest: one visit's payload", result: fmt.Sprintf("%s B (raw bytes, headers, JS values, fingerprints; 5 observations, 2 connections)", count(r.visitPayload))},
	}
}

func cpuLine(r *ingestResult) string {
	w := r.window
	if !r.serverCPUKnown {
		return fmt.Sprintf("PostgreSQL ? (not our server), loadstore %s, machine %s", cores(r.selfCPU, w), cores(r.machineBusy, w))
	}
	return fmt.Sprintf("PostgreSQL %s, loadstore %s, machine %s (others %s)", cores(r.serverCPU, w), cores(r.selfCPU, w),
		cores(r.machineBusy, w), cores(max(0, r.machineBusy-r.serverCPU-r.selfCPU), w))
}
