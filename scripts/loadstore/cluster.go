package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/internal/pgcluster"
)

// cluster is a PostgreSQL cluster of this program's own (pgcluster:
// initdb on a temporary directory, served by pg_ctl on a free loopback
// port), with PostgreSQL's defaults (fsync on) unless settings say
// otherwise.
type cluster struct {
	*pgcluster.Cluster
}

// newCluster creates a cluster in a new directory under parent and starts
// it. bin "" finds the server.
func newCluster(parent, bin string, settings []string) (*cluster, error) {
	dir, err := os.MkdirTemp(parent, "loadstore-pg-")
	if err != nil {
		return nil, fmt.Errorf("loadstore: cluster: %w", err)
	}
	c, err := pgcluster.Create(dir, pgcluster.Options{Bin: bin, Settings: settings})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &cluster{c}, nil
}

// dsn is the URL of the postgres database as the superuser.
func (c *cluster) dsn() string { return c.DSN() }

// start starts the server again and waits until it accepts connections.
func (c *cluster) start() error { return c.Start() }

// stop stops the server, fast shutdown (sessions are ended), if it runs.
func (c *cluster) stop() error { return c.Stop() }

// remove stops the server and removes its directory.
func (c *cluster) remove() error {
	return errors.Join(c.Stop(), os.RemoveAll(c.Dir))
}

// cpu is the CPU time the server has used: the postmaster and its live
// children (backends, WAL writer, checkpointer, ...) plus the children it
// has reaped.
func (c *cluster) cpu() (time.Duration, error) {
	pidFile, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("loadstore: server CPU: %w", err)
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("loadstore: server CPU: postmaster.pid: %w", err)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("loadstore: server CPU: %w", err)
	}
	var total time.Duration
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		switch {
		case pid == postmaster:
			total += st.self + st.children
		case st.ppid == postmaster:
			total += st.self
		}
	}
	return total, nil
}

// procStat is what this program reads of /proc/PID/stat.
type procStat struct {
	ppid     int
	self     time.Duration // utime + stime
	children time.Duration // cutime + cstime: reaped children
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux whatever
// the kernel's HZ).
const userHZ = 100

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields restart
	// after the last ')'. proc(5): ppid is field 4, utime..cstime 14-17.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var n [5]int64
	for i, field := range []string{f[1], f[11], f[12], f[13], f[14]} {
		if n[i], err = strconv.ParseInt(field, 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	tick := time.Second / userHZ
	return procStat{ppid: int(n[0]), self: time.Duration(n[1]+n[2]) * tick, children: time.Duration(n[3]+n[4]) * tick}, nil
}

// processCPU is the CPU time of one process (utime + stime).
func processCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.self, err
}

// machineCPU returns the CPU time all CPUs have been busy (not idle, not
// waiting for I/O) and how many there are, from /proc/stat.
func machineCPU() (time.Duration, int, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("loadstore: %w", err)
	}
	var busy time.Duration
	cpus := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		// user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("loadstore: /proc/stat: %w", err)
			}
			busy += time.Duration(n) * time.Second / userHZ
		}
	}
	return busy, cpus, nil
}

// serverSettings are the settings that decide durability and write speed,
// as the server reports them (SHOW).
func serverSettings() []string {
	return []string{"server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes",
		"wal_level", "wal_compression", "wal_buffers", "max_wal_size", "checkpoint_timeout", "shared_buffers",
		"commit_delay"}
}

// showSettings writes "name = value" for each of serverSettings.
func showSettings(ctx context.Context, dsn string, w io.Writer) ([][2]string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	var out [][2]string
	for _, name := range serverSettings() {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return nil, fmt.Errorf("loadstore: SHOW %s: %w", name, err)
		}
		out = append(out, [2]string{name, v})
		fmt.Fprintf(w, "  %s = %s\n", name, v)
	}
	return out, nil
}

// createSchema makes a new schema in the database of dsn (a URL) and
// returns the URL whose sessions use it.
func createSchema(ctx context.Context, dsn, schema string) (string, error) {
	schemaDSN, err := pgcluster.WithSearchPath(dsn, schema)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", fmt.Errorf("loadstore: create schema %s: %w", schema, err)
	}
	return schemaDSN, nil
}

// dropSchema removes a schema and its tables.
func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("loadstore: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("loadstore: drop schema %s: %w", schema, err)
	}
	return nil
}
