package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ErrNoServer: the PostgreSQL server packages (initdb, pg_ctl) are not
// installed, or, as root, there is no postgres user to run them as.
var ErrNoServer = errors.New("pgtest: no PostgreSQL server installed")

// debianBinGlob is where Debian's postgresql-NN packages put the server
// programs, one directory per major version.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// serverUser is the account the server runs as when the tests run as root
// (PostgreSQL refuses to run as root).
const serverUser = "postgres"

// Cluster is a throwaway PostgreSQL cluster: a data directory in a
// temporary directory, served on a free loopback port.
type Cluster struct {
	state clusterState
}

// clusterState is what it takes to reach and stop a cluster; it is also
// what Main's shared cluster keeps on disk for the tests of the binary.
type clusterState struct {
	Bin  string `json:"bin"`  // the directory holding initdb and pg_ctl
	Dir  string `json:"dir"`  // data/, sock/ and server.log
	Port int    `json:"port"` // on 127.0.0.1
	// AsUser is the user the programs run as (through runuser), "" for
	// the current one.
	AsUser string `json:"as_user"`
}

// NewCluster starts a cluster for tb alone, stopped and removed when tb
// ends. It is for tests that stop and start their server; others share one
// through Start. When the server is not installed it skips tb (fails it
// when CI is set or FP_REQUIRE_POSTGRES=1).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	dir, err := os.MkdirTemp("", "fp-pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	st, err := createCluster(dir)
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(func() {
		if err := st.stop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return &Cluster{state: st}
}

// DSN is the URL of the cluster's postgres database as the superuser.
func (c *Cluster) DSN() string { return c.state.dsn() }

// Stop stops the server (fast shutdown: sessions are ended); the data
// stays.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if err := c.state.stop(); err != nil {
		tb.Fatal(err)
	}
}

// Start starts the stopped server again on the same port.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	if err := c.state.start(); err != nil {
		tb.Fatal(err)
	}
}

func (s clusterState) dsn() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", serverUser, s.Port)
}

func (s clusterState) dataDir() string { return filepath.Join(s.Dir, "data") }

// createCluster runs initdb in dir/data and starts the server; dir must
// exist.
func createCluster(dir string) (clusterState, error) {
	bin, err := findServer()
	if err != nil {
		return clusterState{}, err
	}
	st := clusterState{Bin: bin, Dir: dir}
	if os.Geteuid() == 0 {
		if err := chownTo(dir, serverUser); err != nil {
			return clusterState{}, err
		}
		st.AsUser = serverUser
	}
	if err := os.Mkdir(filepath.Join(dir, "sock"), 0o700); err != nil {
		return clusterState{}, fmt.Errorf("pgtest: %w", err)
	}
	if st.AsUser != "" {
		if err := chownTo(filepath.Join(dir, "sock"), serverUser); err != nil {
			return clusterState{}, err
		}
	}
	if out, err := st.command("initdb", "-D", st.dataDir(), "-U", serverUser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return clusterState{}, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it: try a
	// few.
	for attempt := 0; ; attempt++ {
		if st.Port, err = freePort(); err != nil {
			return clusterState{}, err
		}
		if err = st.start(); err == nil || attempt == 2 {
			return st, err
		}
	}
}

// start starts the server and waits until it accepts connections.
func (s clusterState) start() error {
	// The settings make a disposable server fast: nothing is flushed to
	// disk.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
		s.Port, shellQuote(filepath.Join(s.Dir, "sock")))
	if out, err := s.command("pg_ctl", "-D", s.dataDir(), "-l", filepath.Join(s.Dir, "server.log"),
		"-w", "-t", "60", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\nserver log:\n%s", err, out, log)
	}
	return nil
}

// stop stops the server if it runs (fast shutdown).
func (s clusterState) stop() error {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := s.command("pg_ctl", "-D", s.dataDir(), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// command runs one of the server programs, as s.AsUser when set.
func (s clusterState) command(program string, args ...string) *exec.Cmd {
	path := filepath.Join(s.Bin, program)
	var cmd *exec.Cmd
	if s.AsUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.AsUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	// The test's working directory may be closed to the server's user.
	cmd.Dir = s.Dir
	return cmd
}

// findServer returns the directory of initdb and pg_ctl: the highest
// version of Debian's packages, else the one on PATH.
func findServer() (string, error) {
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
		return fmt.Errorf("%w (running as root and %v)", ErrNoServer, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shellQuote quotes s for sh, which pg_ctl runs the server through.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
