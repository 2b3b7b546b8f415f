// Package pgcluster runs PostgreSQL clusters of the project's own, from
// the server packages (Debian's postgresql): initdb on a directory, the
// server started by pg_ctl on a free loopback port, as the postgres user
// when running as root. The test helper (internal/pgtest) and the storage
// load run (scripts/loadstore) use it.
package pgcluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoServer: the PostgreSQL server programs (initdb, pg_ctl) are not
// installed, or, as root, there is no postgres user to run them as.
var ErrNoServer = errors.New("pgcluster: no PostgreSQL server installed")

// debianBinGlob is where Debian's postgresql-NN packages put the server
// programs, one directory per major version.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// serverUser is the superuser, and the account the server runs as when
// the caller is root (PostgreSQL refuses to run as root).
const serverUser = "postgres"

// pgCtlWait bounds pg_ctl's wait for the server to start or stop, seconds.
const pgCtlWait = "120"

// Cluster is a cluster in Dir (data/, sock/, server.log) served on
// 127.0.0.1:Port. Its fields are what it takes to reach and stop it, so a
// Cluster can be kept on disk (as JSON) and used by another process.
type Cluster struct {
	Bin  string `json:"bin"`  // the directory holding initdb and pg_ctl
	Dir  string `json:"dir"`  // data/, sock/ and server.log
	Port int    `json:"port"` // on 127.0.0.1
	// AsUser is the user the programs run as (through runuser), "" for
	// the current one.
	AsUser string `json:"as_user"`
	// Settings are name=value server settings, given with -c at start.
	Settings []string `json:"settings,omitempty"`
}

// Options tell Create how to make a cluster.
type Options struct {
	Bin        string   // initdb and pg_ctl's directory; "" finds it (FindServer)
	Settings   []string // name=value, given to the server with -c
	NoSyncInit bool     // initdb --no-sync (for a disposable cluster)
}

// Create runs initdb in dir/data (dir must exist) and starts the server
// on a free loopback port.
func Create(dir string, opts Options) (*Cluster, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = FindServer(); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Bin: bin, Dir: dir, Settings: opts.Settings}
	if err := os.Mkdir(c.sockDir(), 0o700); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if os.Geteuid() == 0 {
		c.AsUser = serverUser
		for _, path := range []string{dir, c.sockDir()} {
			if err := chownTo(path, serverUser); err != nil {
				return nil, err
			}
		}
	}
	args := []string{"-D", c.DataDir(), "-U", serverUser, "-A", "trust", "-E", "UTF8", "--locale=C"}
	if opts.NoSyncInit {
		args = append(args, "--no-sync")
	}
	if out, err := c.Command("initdb", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it: try a
	// few.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.Port = port
		if err = c.Start(); err == nil {
			return c, nil
		} else if attempt == 2 {
			return nil, err
		}
	}
}

// DSN is the URL of the cluster's postgres database as the superuser.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", serverUser, c.Port)
}

// DataDir is the cluster's data directory.
func (c *Cluster) DataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) sockDir() string { return filepath.Join(c.Dir, "sock") }
func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "server.log") }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := []string{"-p", strconv.Itoa(c.Port), "-k", shellQuote(c.sockDir()), "-c", "listen_addresses=127.0.0.1"}
	for _, s := range c.Settings {
		opts = append(opts, "-c", shellQuote(s))
	}
	if out, err := c.Command("pg_ctl", "-D", c.DataDir(), "-l", c.logFile(), "-w", "-t", pgCtlWait,
		"-o", strings.Join(opts, " "), "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl start: %w\n%s\nserver log:\n%s", err, out, c.LogTail())
	}
	return nil
}

// Stop stops the server, if it runs (fast shutdown: sessions are ended);
// the data stays.
func (c *Cluster) Stop() error {
	if _, err := os.Stat(filepath.Join(c.DataDir(), "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := c.Command("pg_ctl", "-D", c.DataDir(), "-m", "fast", "-w", "-t", pgCtlWait, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// LogTail is the end of the server's log.
func (c *Cluster) LogTail() string {
	b, _ := os.ReadFile(c.logFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Command runs one of the server programs, as c.AsUser when set.
func (c *Cluster) Command(program string, args ...string) *exec.Cmd {
	path := filepath.Join(c.Bin, program)
	var cmd *exec.Cmd
	if c.AsUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.AsUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.Dir // the caller's directory may be closed to the server's user
	return cmd
}

// FindServer returns the directory of initdb and pg_ctl: the highest
// version of Debian's packages, else the one on PATH.
func FindServer() (string, error) {
	dirs, _ := filepath.Glob(debianBinGlob)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		return !isFile(filepath.Join(d, "initdb")) || !isFile(filepath.Join(d, "pg_ctl"))
	})
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(a) - majorVersion(b) })
	if len(dirs) > 0 {
		return dirs[len(dirs)-1], nil
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("%w (no initdb in %s nor on PATH; install the postgresql package)", ErrNoServer, debianBinGlob)
	}
	dir := filepath.Dir(initdb)
	if !isFile(filepath.Join(dir, "pg_ctl")) {
		return "", fmt.Errorf("%w (no pg_ctl next to %s)", ErrNoServer, initdb)
	}
	return dir, nil
}

// WithSearchPath sets the server option search_path=schema in dsn, a URL
// or a key=value connection string.
func WithSearchPath(dsn, schema string) (string, error) {
	option := "-csearch_path=" + schema
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgcluster: database URL: %w", err)
		}
		q := u.Query()
		if o := q.Get("options"); o != "" {
			option = o + " " + option
		}
		q.Set("options", option)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if strings.Contains(dsn, "options=") {
		return "", errors.New("pgcluster: a key=value connection string with options: give a postgres:// URL instead")
	}
	return dsn + " options='" + option + "'", nil
}

// majorVersion reads NN from .../postgresql/NN/bin; 0 when it is not a
// number.
func majorVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// chownTo gives path to the named user (and its group).
func chownTo(path, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("%w (running as root, and %v)", ErrNoServer, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shellQuote quotes s for sh, which pg_ctl runs the server through.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
