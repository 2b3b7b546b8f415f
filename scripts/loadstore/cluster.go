package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// debianServerGlob is where Debian's postgresql-NN packages put initdb and
// pg_ctl, one directory per major version.
const debianServerGlob = "/usr/lib/postgresql/*/bin"

// serverUser runs the server when this program runs as root (PostgreSQL
// refuses to run as root).
const serverUser = "postgres"

// cluster is a PostgreSQL cluster of this program's own: initdb on a
// temporary directory, served by pg_ctl on a free loopback port, with
// PostgreSQL's defaults (fsync on) unless settings say otherwise.
type cluster struct {
	bin      string   // directory of initdb and pg_ctl
	dir      string   // data/, sock/, server.log
	port     int      // on 127.0.0.1
	asUser   string   // runuser -u asUser, "" to run as the current user
	settings []string // name=value, passed with -c
}

// newCluster creates a cluster in a new directory under parent and starts
// it. bin "" finds the server: pg_ctl on PATH, else the newest Debian
// package.
func newCluster(parent, bin string, settings []string) (*cluster, error) {
	if bin == "" {
		var err error
		if bin, err = findServer(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp(parent, "loadstore-pg-")
	if err != nil {
		return nil, fmt.Errorf("loadstore: cluster: %w", err)
	}
	c := &cluster{bin: bin, dir: dir, settings: settings}
	if err := c.create(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *cluster) create() error {
	if err := os.Mkdir(c.sockDir(), 0o700); err != nil {
		return fmt.Errorf("loadstore: cluster: %w", err)
	}
	if os.Geteuid() == 0 {
		c.asUser = serverUser
		for _, path := range []string{c.dir, c.sockDir()} {
			if err := chownTo(path, serverUser); err != nil {
				return err
			}
		}
	}
	if out, err := c.command("initdb", "-D", c.dataDir(), "-U", serverUser, "-A", "trust", "-E", "UTF8",
		"--locale=C").CombinedOutput(); err != nil {
		return fmt.Errorf("loadstore: initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.port = port
		if err = c.start(); err == nil || attempt == 2 {
			return err
		}
	}
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) sockDir() string { return filepath.Join(c.dir, "sock") }
func (c *cluster) logFile() string { return filepath.Join(c.dir, "server.log") }

// dsn is the URL of the postgres database as the superuser.
func (c *cluster) dsn() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", serverUser, c.port)
}

// withSearchPath is the URL dsn with schema as the search_path of its
// sessions.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("loadstore: want a postgres:// URL, got %q", dsn)
	}
	q := u.Query()
	q.Set("options", strings.TrimSpace(q.Get("options")+" -csearch_path="+schema))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start() error {
	opts := []string{"-p", strconv.Itoa(c.port), "-k", shellQuote(c.sockDir()), "-c", "listen_addresses=127.0.0.1"}
	for _, s := range c.settings {
		opts = append(opts, "-c", shellQuote(s))
	}
	if out, err := c.command("pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-w", "-t", "120",
		"-o", strings.Join(opts, " "), "start").CombinedOutput(); err != nil {
		return fmt.Errorf("loadstore: pg_ctl start: %w\n%s\nserver log:\n%s", err, out, c.logTail())
	}
	return nil
}

// stop stops the server, fast shutdown (sessions are ended), if it runs.
func (c *cluster) stop() error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := c.command("pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "120", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("loadstore: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// remove stops the server and removes its directory.
func (c *cluster) remove() error {
	return errors.Join(c.stop(), os.RemoveAll(c.dir))
}

func (c *cluster) logTail() string {
	b, _ := os.ReadFile(c.logFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// command runs one of the server programs, as c.asUser when set.
func (c *cluster) command(program string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, program)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir // the caller's directory may be closed to the server's user
	return cmd
}

// cpu is the CPU time the server has used: the postmaster and its live
// children (backends, WAL writer, checkpointer, ...) plus the children it
// has reaped.
func (c *cluster) cpu() (time.Duration, error) {
	pidFile, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
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

// findServer returns the directory of initdb and pg_ctl.
func findServer() (string, error) {
	if pgctl, err := exec.LookPath("pg_ctl"); err == nil {
		dir := filepath.Dir(pgctl)
		if isFile(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(debianServerGlob)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		return !isFile(filepath.Join(d, "initdb")) || !isFile(filepath.Join(d, "pg_ctl"))
	})
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(a) - majorVersion(b) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("loadstore: no PostgreSQL server: no pg_ctl on PATH nor in %s (install the postgresql package)", debianServerGlob)
	}
	return dirs[len(dirs)-1], nil
}

func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func chownTo(path, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("loadstore: running as root, and no %s user to run the server as: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("loadstore: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loadstore: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shellQuote quotes s for sh, which pg_ctl runs the server through.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
	schemaDSN, err := withSearchPath(dsn, schema)
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
