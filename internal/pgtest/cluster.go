package pgtest

import (
	"os"
	"testing"

	"github.com/fpwork/fp/internal/pgcluster"
)

// ErrNoServer: the PostgreSQL server packages (initdb, pg_ctl) are not
// installed, or, as root, there is no postgres user to run them as.
var ErrNoServer = pgcluster.ErrNoServer

// fastSettings make a disposable server fast: nothing is flushed to disk.
func fastSettings() []string {
	return []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}
}

// Cluster is a throwaway PostgreSQL cluster: a data directory in a
// temporary directory, served on a free loopback port.
type Cluster struct {
	state *pgcluster.Cluster
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
		if err := st.Stop(); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return &Cluster{state: st}
}

// DSN is the URL of the cluster's postgres database as the superuser.
func (c *Cluster) DSN() string { return c.state.DSN() }

// Stop stops the server (fast shutdown: sessions are ended); the data
// stays.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if err := c.state.Stop(); err != nil {
		tb.Fatal(err)
	}
}

// Start starts the stopped server again on the same port.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	if err := c.state.Start(); err != nil {
		tb.Fatal(err)
	}
}

// createCluster makes and starts a disposable cluster in dir, which must
// exist.
func createCluster(dir string) (*pgcluster.Cluster, error) {
	return pgcluster.Create(dir, pgcluster.Options{Settings: fastSettings(), NoSyncInit: true})
}
