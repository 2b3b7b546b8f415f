package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeClock is the writer's clock in tests: time moves only by Advance,
// and waitTimer blocks until the writer asks for a timer.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	asked   []time.Duration // durations asked for, not yet waited for
	changed chan struct{}   // closed and replaced when asked grows
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: base(), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.asked = append(c.asked, d)
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the time and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// waitTimer waits until the writer has asked for a timer of d (since the
// last waitTimer of d), which it does just before it blocks on it.
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	deadlock := time.After(time.Minute) // a guard against a hung test, not a timing assertion
	for {
		c.mu.Lock()
		for i, x := range c.asked {
			if x == d {
				c.asked = append(c.asked[:i], c.asked[i+1:]...)
				c.mu.Unlock()
				return
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadlock:
			t.Fatalf("the writer never asked for a %v timer", d)
		}
	}
}

// failingStore is a Memory whose Write and Ping fail while it is down:
// the database stopped.
type failingStore struct {
	*Memory
	down   atomic.Bool
	writes chan *Batch // every batch stored
}

func newFailingStore() *failingStore {
	return &failingStore{Memory: NewMemory(), writes: make(chan *Batch, 1000)}
}

var errDown = errors.New("storage: test: database down")

func (s *failingStore) Write(ctx context.Context, b *Batch) error {
	if s.down.Load() {
		return errDown
	}
	if err := s.Memory.Write(ctx, b); err != nil {
		return err
	}
	s.writes <- b
	return nil
}

func (s *failingStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errDown
	}
	return s.Memory.Ping(ctx)
}

// logBuffer is a slog destination written by the writer's goroutine and
// read by the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), `"msg":"`+msg+`"`)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// writerTest holds a writer under test and what it was given.
type writerTest struct {
	w     *Writer
	clock *fakeClock
	log   *logBuffer
	reg   *prometheus.Registry
	f     *fixtures
}

// Timer durations the tests tell apart.
const (
	testMaxDelay  = 100 * time.Millisecond
	testRetryMin  = 250 * time.Millisecond
	testPingEvery = time.Minute
)

func newWriterTest(t *testing.T, store Store, opts WriterOptions) *writerTest {
	wt := &writerTest{clock: newFakeClock(), log: &logBuffer{}, reg: prometheus.NewRegistry(), f: newMemoryFixtures(t)}
	opts.MaxDelay, opts.RetryMin, opts.RetryMax = testMaxDelay, testRetryMin, 4*testRetryMin
	if opts.PingEvery == 0 {
		opts.PingEvery = -1
	}
	opts.Registerer, opts.Now, opts.After = wt.reg, wt.clock.Now, wt.clock.After
	wt.w = NewWriter(store, opts, slog.New(slog.NewJSONHandler(wt.log, nil)))
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		wt.w.Close(ctx)
	})
	return wt
}

func (wt *writerTest) batches(n int) []*Batch {
	var out []*Batch
	for i := 0; i < n; i++ {
		out = append(out, wt.f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux,
			start: base().Add(time.Duration(i) * time.Minute), kinds: []RequestKind{KindNavigate}}))
	}
	return out
}

func (wt *writerTest) enqueue(t *testing.T, bs []*Batch, want bool) {
	t.Helper()
	for i, b := range bs {
		if got := wt.w.Enqueue(b); got != want {
			t.Fatalf("Enqueue of batch %d: %v, want %v", i, got, want)
		}
	}
}

// close closes the writer, which must write everything it holds.
func (wt *writerTest) close(t *testing.T) {
	t.Helper()
	// A guard against a writer that never finishes, not a timing assertion.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := wt.w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// metric reads one of the writer's metrics.
func (wt *writerTest) metric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := wt.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func checkStats(t *testing.T, wt *writerTest, want WriterStats) {
	t.Helper()
	got := wt.w.Stats()
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if got.Enqueued != got.Written+got.Dropped+uint64(got.Queued) {
		t.Errorf("stats do not add up: %+v", got)
	}
	for name, v := range map[string]float64{
		"fp_storage_batches_enqueued_total": float64(want.Enqueued),
		"fp_storage_batches_written_total":  float64(want.Written),
		"fp_storage_batches_dropped_total":  float64(want.Dropped),
		"fp_storage_failed_writes_total":    float64(want.FailedWrites),
		"fp_storage_batches_queued":         float64(want.Queued),
	} {
		if got := wt.metric(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

func checkStored(t *testing.T, s Store, bs []*Batch) {
	t.Helper()
	for i, b := range bs {
		if _, err := s.Visit(t.Context(), b.Visits[0].ID); err != nil {
			t.Errorf("batch %d not stored: %v", i, err)
		}
	}
}

func TestWriterHappyPathIntoMemory(t *testing.T) {
	m := NewMemory()
	wt := newWriterTest(t, m, WriterOptions{QueueSize: 100, BatchSize: 3})
	bs := wt.batches(7)
	wt.enqueue(t, bs, true)
	wt.close(t)
	checkStored(t, m, bs)
	checkStats(t, wt, WriterStats{Enqueued: 7, Written: 7})
	if wt.metric(t, "fp_storage_up") != 1 || !wt.w.State().Reachable {
		t.Errorf("store state %+v after writes", wt.w.State())
	}
	if wt.w.Enqueue(bs[0]) {
		t.Error("Enqueue after Close accepted a batch")
	}
	checkStats(t, wt, WriterStats{Enqueued: 8, Written: 7, Dropped: 1})
}

func TestWriterFlushesAfterMaxDelay(t *testing.T) {
	s := newFailingStore()
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 100, BatchSize: 50})
	bs := wt.batches(2)
	wt.enqueue(t, bs[:1], true)
	wt.clock.waitTimer(t, testMaxDelay)
	if _, err := s.Visit(t.Context(), bs[0].Visits[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("written before its delay: %v", err)
	}
	wt.clock.Advance(testMaxDelay)
	if got := <-s.writes; got != bs[0] {
		t.Fatalf("wrote %+v", got)
	}
	checkStored(t, s, bs[:1])
	wt.enqueue(t, bs[1:], true)
	wt.close(t) // does not wait for the delay
	checkStored(t, s, bs)
	checkStats(t, wt, WriterStats{Enqueued: 2, Written: 2})
}

func TestWriterFullQueueDrops(t *testing.T) {
	s := newFailingStore()
	s.down.Store(true)
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 3, BatchSize: 3})
	bs := wt.batches(5)
	wt.enqueue(t, bs[:3], true)
	wt.enqueue(t, bs[3:], false)
	// The three were taken for a write that failed; they wait for a retry,
	// still within the bound.
	wt.clock.waitTimer(t, testRetryMin)
	wt.enqueue(t, wt.batches(1), false)
	checkStats(t, wt, WriterStats{Enqueued: 6, Queued: 3, Dropped: 3, FailedWrites: 1})
	if n := wt.log.count("storage: writer: dropped batches"); n != 1 {
		t.Errorf("%d log lines for 3 drops at one time, want 1:\n%s", n, wt.log)
	}
	s.down.Store(false)
	wt.clock.Advance(testRetryMin)
	wt.close(t)
	checkStored(t, s, bs[:3])
	checkStats(t, wt, WriterStats{Enqueued: 6, Written: 3, Dropped: 3, FailedWrites: 1})
}

func TestWriterDropLogIsRateLimited(t *testing.T) {
	s := newFailingStore()
	s.down.Store(true)
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 1, BatchSize: 1, DropLogEvery: time.Hour})
	bs := wt.batches(1)
	wt.enqueue(t, bs, true)
	for i := 0; i < 1000; i++ {
		if wt.w.Enqueue(bs[0]) {
			t.Fatal("a full queue accepted a batch")
		}
	}
	const msg = "storage: writer: dropped batches"
	if n := wt.log.count(msg); n != 1 {
		t.Fatalf("%d log lines for 1000 drops within an hour, want 1", n)
	}
	wt.clock.Advance(time.Hour)
	wt.w.Enqueue(bs[0])
	if n := wt.log.count(msg); n != 2 || !strings.Contains(wt.log.String(), `"dropped":1000,`) {
		t.Errorf("after an hour: %d lines, want 2, the second counting 1000 drops:\n%s", n, wt.log)
	}
}

func TestWriterDownThenUp(t *testing.T) {
	s := newFailingStore()
	s.down.Store(true)
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 6, BatchSize: 2})
	bs := wt.batches(8)
	wt.enqueue(t, bs[:4], true)
	// Two taken for a write that failed, two waiting: four of six.
	wt.clock.waitTimer(t, testRetryMin)
	if st := wt.w.State(); st.Reachable || st.Err == "" || wt.metric(t, "fp_storage_up") != 0 {
		t.Errorf("state %+v while the store is down", st)
	}
	wt.enqueue(t, bs[4:6], true)
	wt.enqueue(t, bs[6:], false)
	// Still down at the next attempt: the wait doubles.
	wt.clock.Advance(testRetryMin)
	wt.clock.waitTimer(t, 2*testRetryMin)
	checkStats(t, wt, WriterStats{Enqueued: 8, Queued: 6, Dropped: 2, FailedWrites: 2})

	s.down.Store(false)
	wt.clock.Advance(2 * testRetryMin)
	wt.close(t)
	checkStored(t, s, bs[:6])
	checkStats(t, wt, WriterStats{Enqueued: 8, Written: 6, Dropped: 2, FailedWrites: 2})
	if st := wt.w.State(); !st.Reachable || st.Err != "" {
		t.Errorf("state %+v after the store came back", st)
	}
	if wt.log.count("storage: store unreachable; writes are retried") != 1 || wt.log.count("storage: store reachable again") != 1 {
		t.Errorf("want one line when the store went and one when it came back:\n%s", wt.log)
	}
}

func TestWriterDropsWhatTheStoreRefuses(t *testing.T) {
	m := NewMemory()
	wt := newWriterTest(t, m, WriterOptions{QueueSize: 10, BatchSize: 3})
	bs := wt.batches(3)
	bs[1].Observations[0].VisitID = VisitID(wt.f.id()) // no such visit: no retry can store it
	bs[1].Visits = nil
	wt.enqueue(t, bs, true)
	wt.close(t)
	checkStored(t, m, []*Batch{bs[0], bs[2]})
	checkStats(t, wt, WriterStats{Enqueued: 3, Written: 2, Dropped: 1, FailedWrites: 2})
	if wt.log.count("storage: writer: the store refused a batch; dropped") != 1 {
		t.Errorf("the refused batch is not logged:\n%s", wt.log)
	}
	if wt.log.count("storage: store unreachable; writes are retried") != 0 {
		t.Errorf("a refused batch is not the store being down:\n%s", wt.log)
	}
}

func TestWriterCloseFlushes(t *testing.T) {
	s := newFailingStore()
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 100, BatchSize: 100})
	bs := wt.batches(5)
	wt.enqueue(t, bs, true)
	wt.close(t)
	checkStored(t, s, bs)
	checkStats(t, wt, WriterStats{Enqueued: 5, Written: 5})
	wt.close(t) // again
}

func TestWriterCloseGivesUpWhenItsContextEnds(t *testing.T) {
	s := newFailingStore()
	s.down.Store(true)
	wt := newWriterTest(t, s, WriterOptions{QueueSize: 100, BatchSize: 2})
	wt.enqueue(t, wt.batches(3), true)
	wt.clock.waitTimer(t, testRetryMin)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := wt.w.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with the store down and its context ended: %v", err)
	}
	checkStats(t, wt, WriterStats{Enqueued: 3, Dropped: 3, FailedWrites: 1})
}

func TestWriterIdlePingsKeepStateCurrent(t *testing.T) {
	s := newFailingStore()
	wt := newWriterTest(t, s, WriterOptions{PingEvery: testPingEvery})
	wt.clock.waitTimer(t, testPingEvery)
	if st := wt.w.State(); !st.Reachable || !st.Checked.Equal(base()) {
		t.Errorf("state %+v after the first ping", st)
	}
	cases := []struct {
		name string
		down bool
	}{
		{"StoreStops", true},
		{"StoreStaysDown", true},
		{"StoreReturns", false},
	}
	for _, tc := range cases {
		s.down.Store(tc.down)
		wt.clock.Advance(testPingEvery)
		wt.clock.waitTimer(t, testPingEvery)
		st := wt.w.State()
		if st.Reachable == tc.down || (st.Err != "") != tc.down || !st.Checked.Equal(wt.clock.Now()) {
			t.Errorf("%s: state %+v", tc.name, st)
		}
	}
	checkStats(t, wt, WriterStats{})
}

func TestWriterMetricsOnOneRegistryTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	var log logBuffer
	opts := WriterOptions{Registerer: reg, PingEvery: -1}
	w1 := NewWriter(NewMemory(), opts, slog.New(slog.NewJSONHandler(&log, nil)))
	w2 := NewWriter(NewMemory(), opts, slog.New(slog.NewJSONHandler(&log, nil)))
	for _, w := range []*Writer{w1, w2} {
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if log.count("storage: writer: metrics not registered") == 0 {
		t.Error("a second registration on one registry is not reported")
	}
}

// TestWriterWithdraw: a withdrawn visit's queued rows are not written
// (nor its connection, used by it alone); the other visits' are, and a
// batch enqueued after the withdrawal loses them too.
func TestWriterWithdraw(t *testing.T) {
	m := NewMemory()
	wt := newWriterTest(t, m, WriterOptions{QueueSize: 100, BatchSize: 50})
	bs := wt.batches(3)
	wt.enqueue(t, bs, true)
	gone := bs[1].Visits[0].ID
	wt.w.Withdraw(gone)
	late := *bs[1]
	late.Observations = append([]Observation(nil), bs[1].Observations...)
	late.Observations[0].ID = bs[0].Observations[0].ID + "0" // another row of the same visit
	wt.enqueue(t, []*Batch{&late}, true)
	wt.close(t)
	checkStored(t, m, []*Batch{bs[0], bs[2]})
	if _, err := m.Visit(t.Context(), gone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("withdrawn visit written: %v", err)
	}
	conns, visits, obs := m.Len()
	if conns != 2 || visits != 2 || obs != 2 {
		t.Fatalf("stored %d connections, %d visits, %d observations; want 2 of each", conns, visits, obs)
	}
}
