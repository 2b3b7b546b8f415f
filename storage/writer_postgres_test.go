package storage

import (
	"runtime"
	"testing"
	"time"

	"github.com/fpwork/fp/internal/pgtest"
)

// TestWriterPostgresStopsAndComesBack: the writer over a real PostgreSQL
// whose server is stopped while batches are queued: writes fail and are
// retried, the queue drops what does not fit, the state says the store
// is down; once the server is back the queued batches are written, and
// written + dropped = enqueued = the visits in the database + the
// dropped ones.
func TestWriterPostgresStopsAndComesBack(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	p := openPostgresDSN(t, pgtest.Schema(t, cluster.DSN()))
	wt := newWriterTest(t, p, WriterOptions{QueueSize: 6, BatchSize: 2})
	bs := wt.batches(10)

	wt.enqueue(t, bs[:2], true)
	wt.clock.Advance(testMaxDelay) // the first two are written
	waitWritten(t, wt, 2)

	cluster.Stop(t)
	wt.enqueue(t, bs[2:6], true)
	wt.clock.Advance(testMaxDelay) // a write fails: retried after RetryMin
	wt.clock.waitTimer(t, testRetryMin)
	if st := wt.w.State(); st.Reachable || st.Err == "" {
		t.Errorf("state %+v with the server stopped", st)
	}
	wt.enqueue(t, bs[6:8], true)
	wt.enqueue(t, bs[8:], false) // the queue (6) is full: dropped and counted

	cluster.Start(t)
	wt.clock.Advance(testRetryMin)
	wt.close(t)
	st := wt.w.Stats()
	if st.Enqueued != 10 || st.Written != 8 || st.Dropped != 2 || st.Written+st.Dropped != st.Enqueued || st.FailedWrites == 0 {
		t.Errorf("stats %+v", st)
	}
	if got := pgQueryInt(t, p, "SELECT count(*) FROM visit"); uint64(got) != st.Written {
		t.Errorf("%d visits in the database, %d batches written", got, st.Written)
	}
	checkStored(t, p, bs[:8])
	if s := wt.w.State(); !s.Reachable {
		t.Errorf("state %+v after the server came back", s)
	}
}

// waitWritten waits until the writer has written n batches (the real
// database answers in its own time; the writer's clock is fake).
func waitWritten(t *testing.T, wt *writerTest, n uint64) {
	t.Helper()
	guard := time.After(time.Minute) // against a writer that never writes, not a timing assertion
	for wt.w.Stats().Written < n {
		select {
		case <-guard:
			t.Fatalf("written %+v, want %d", wt.w.Stats(), n)
		default:
			runtime.Gosched()
		}
	}
}
