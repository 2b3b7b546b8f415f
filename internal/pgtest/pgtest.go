// Package pgtest gives tests a real PostgreSQL server: the one named by
// FP_TEST_DATABASE_URL, or a throwaway cluster started from the installed
// server packages (initdb and pg_ctl on a temporary directory and a free
// loopback port; as root, through runuser -u postgres). Each test works in
// a schema of its own (Schema).
//
// One cluster serves a whole test binary when the package's TestMain runs
// through Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Schema(t, pgtest.Start(t))
//		...
//	}
//
// Main keeps the cluster's state in a directory it names in the process
// environment, so there is no package state: the first Start starts the
// cluster, the others find it there, and Main stops and removes it after
// the tests. Without Main, every Start starts a cluster of its own.
//
// When the server packages are missing, tests are skipped, or failed when
// CI is set or FP_REQUIRE_POSTGRES=1.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fpwork/fp/internal/pgcluster"
)

// Environment variables read (and, for sharedEnv, set by Main).
const (
	// DatabaseURLEnv names an existing server to use instead of a
	// throwaway cluster.
	DatabaseURLEnv = "FP_TEST_DATABASE_URL"
	// RequireEnv set to 1 (or CI set to anything) turns a missing server
	// into a failure.
	RequireEnv = "FP_REQUIRE_POSTGRES"
	// sharedEnv names Main's directory: the lock, the shared cluster's
	// state, and the cluster itself.
	sharedEnv = "FP_PGTEST_SHARED_DIR"
)

// Files in Main's directory.
const (
	lockFile   = "lock"
	stateFile  = "cluster.json" // a pgcluster.Cluster, once started
	failedFile = "failed"       // why starting failed
	clusterDir = "cluster"
)

// Main runs m with one cluster shared by the whole binary, started by the
// first Start and removed when the tests end; it returns the exit code.
func Main(m *testing.M) int {
	if os.Getenv(DatabaseURLEnv) != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "fp-pgtest-shared-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	// The server's user must reach its cluster directory inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	os.Setenv(sharedEnv, dir)
	code := m.Run()
	os.Unsetenv(sharedEnv)
	if err := stopShared(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// Start returns the URL of a server for tb: FP_TEST_DATABASE_URL, else
// the binary's shared cluster (see Main), else a cluster for tb alone.
// Use Schema to work apart from other tests.
func Start(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(DatabaseURLEnv); dsn != "" {
		return dsn
	}
	dir := os.Getenv(sharedEnv)
	if dir == "" {
		return NewCluster(tb).DSN()
	}
	st, err := startShared(dir)
	if err != nil {
		skipOrFail(tb, err)
	}
	return st.DSN()
}

// startShared returns the cluster in Main's directory, starting it when
// no test has yet. A file lock orders the tests of the binary.
func startShared(dir string) (*pgcluster.Cluster, error) {
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("pgtest: lock: %w", err)
	}
	st := new(pgcluster.Cluster)
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("pgtest: %s: %w", stateFile, err)
		}
		return st, nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, failedFile)); err == nil {
		return nil, failure(b)
	}
	cdir := filepath.Join(dir, clusterDir)
	if err := os.Mkdir(cdir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	st, err = createCluster(cdir)
	if err != nil {
		// Later tests fail (or skip) at once, for the same reason.
		_ = os.WriteFile(filepath.Join(dir, failedFile), encodeFailure(err), 0o600)
		return nil, err
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return st, nil
}

// encodeFailure and failure keep an error in a file, and whether it was
// ErrNoServer.
func encodeFailure(err error) []byte {
	mark := "other"
	if errors.Is(err, ErrNoServer) {
		mark = "noserver"
	}
	return []byte(mark + "\n" + err.Error())
}

func failure(b []byte) error {
	mark, msg, _ := strings.Cut(string(b), "\n")
	if mark == "noserver" {
		return fmt.Errorf("%w: %s", ErrNoServer, msg)
	}
	return errors.New(msg)
}

// stopShared stops Main's cluster if a test started it.
func stopShared(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	var st pgcluster.Cluster
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("pgtest: %s: %w", stateFile, err)
	}
	return st.Stop()
}

// skipOrFail ends tb for a server that could not be started: a skip when
// none is installed, unless a server is required.
func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoServer) && !required() {
		tb.Skipf("%v (set %s, or install the postgresql package; CI or %s=1 make this a failure)", err, DatabaseURLEnv, RequireEnv)
	}
	tb.Fatal(err)
}

func required() bool { return os.Getenv("CI") != "" || os.Getenv(RequireEnv) == "1" }

// Schema creates a schema of a random name t_<hex> on the server of dsn,
// dropped (with everything in it) when tb ends, and returns dsn with that
// schema as the search_path of its connections.
func Schema(tb testing.TB, dsn string) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	scoped, err := pgcluster.WithSearchPath(dsn, name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := execSQL(dsn, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := execSQL(dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return scoped
}

// execSQL runs one statement on a connection of its own.
func execSQL(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}
