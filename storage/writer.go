package storage

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WriterOptions configure a Writer; a zero field takes its default.
type WriterOptions struct {
	// QueueSize bounds the batches held in memory, waiting or being
	// written (retried included); Enqueue drops what does not fit.
	// Default 10000.
	QueueSize int
	// BatchSize is how many enqueued batches one Write stores at most
	// (at most QueueSize). Default 500.
	BatchSize int
	// MaxDelay is how long a batch waits for others before it is written.
	// Default 200ms.
	MaxDelay time.Duration
	// RetryMin and RetryMax bound the wait between attempts while the
	// store fails; it doubles from one to the other. Defaults 200ms, 10s.
	RetryMin, RetryMax time.Duration
	// CallTimeout bounds each Write and Ping. Default 30s.
	CallTimeout time.Duration
	// PingEvery is how often an idle writer pings the store, so that
	// State stays current; negative: never. Default 15s.
	PingEvery time.Duration
	// DropLogEvery is the least time between two log lines about drops
	// (each says how many since the last). Default 10s.
	DropLogEvery time.Duration
	// Registerer receives the writer's metrics (fp_storage_*); nil: none.
	Registerer prometheus.Registerer
	// Now and After are the clock (time.Now, time.After by default).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

func (o *WriterOptions) setDefaults() {
	defaults := []struct {
		field *time.Duration
		value time.Duration
	}{
		{&o.MaxDelay, 200 * time.Millisecond}, {&o.RetryMin, 200 * time.Millisecond}, {&o.RetryMax, 10 * time.Second},
		{&o.CallTimeout, 30 * time.Second}, {&o.PingEvery, 15 * time.Second}, {&o.DropLogEvery, 10 * time.Second},
	}
	for _, d := range defaults {
		if *d.field == 0 {
			*d.field = d.value
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	o.BatchSize = min(o.BatchSize, o.QueueSize)
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
}

// WriterStats counts a Writer's batches (as given to Enqueue). Once the
// writer is closed, Enqueued = Written + Dropped; before, Queued holds the
// rest.
type WriterStats struct {
	Enqueued uint64 // offered to Enqueue
	Queued   int    // waiting or being written
	Written  uint64 // stored
	// Dropped: the queue was full or the writer closed, the store refused
	// the batch while it answered pings (a batch no retry can store), or
	// Close's context ended before it was written.
	Dropped uint64
	// FailedWrites counts the Write calls that failed (a batch may be
	// tried several times).
	FailedWrites uint64
}

// StoreState is what a Writer last learnt of its store, for /readyz.
type StoreState struct {
	Reachable bool      // the last write or ping succeeded
	Checked   time.Time // when; zero before the first
	Err       string    // the last error, when not reachable
}

// Writer stores batches asynchronously: Enqueue puts a batch on a bounded
// queue and never blocks; a goroutine writes the queue in batches (when
// BatchSize are waiting, or MaxDelay after the first), retries with
// backoff while the store is down, and resumes when it is back. A slow or
// stopped store never slows the caller: what does not fit in the queue is
// dropped, counted and logged.
type Writer struct {
	store Store
	opts  WriterOptions
	log   *slog.Logger

	ctx    context.Context // the loop's; cancelled when Close gives up
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: the queue changed or Close began
	done   chan struct{} // closed when the loop has ended

	mu            sync.Mutex
	queue         []*Batch
	inflight      int // batches taken from the queue, not yet written or dropped
	closing       bool
	stats         WriterStats
	shutdownDrops uint64 // dropped because Close's context ended
	state         StoreState
	lastDropLog   time.Time
	unloggedDrops uint64
	// withdrawn are visits whose rows must not be written any more
	// (deleted by their visitor), oldest first, at most maxWithdrawn.
	withdrawn     map[VisitID]bool
	withdrawOrder []VisitID
	// writing is held (read) by each Write call; Withdraw takes it to wait
	// for the calls under way.
	writing sync.RWMutex
}

// maxWithdrawn bounds the withdrawn visits a Writer remembers.
const maxWithdrawn = 10000

// NewWriter starts a writer to store. It does not close store.
func NewWriter(store Store, opts WriterOptions, log *slog.Logger) *Writer {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{store: store, opts: opts, log: log, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	if opts.Registerer != nil {
		w.register(opts.Registerer)
	}
	go w.run()
	return w
}

// Enqueue queues b to be written and reports whether it was; false means
// it was dropped (the queue is full, or the writer closed). It never
// blocks. The caller must not change b afterwards.
func (w *Writer) Enqueue(b *Batch) bool {
	if b == nil || b.Len() == 0 {
		return true
	}
	w.mu.Lock()
	w.stats.Enqueued++
	if w.closing || len(w.queue)+w.inflight >= w.opts.QueueSize {
		reason := "queue full"
		if w.closing {
			reason = "writer closed"
		}
		logIt, n := w.droppedLocked(1)
		w.mu.Unlock()
		if logIt {
			w.logDrops(n, reason)
		}
		return false
	}
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	w.poke()
	return true
}

func (w *Writer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Queued = len(w.queue) + w.inflight
	return s
}

// State returns what the last write or ping said of the store.
func (w *Writer) State() StoreState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// Close writes what is queued, retrying while the store is down, until
// ctx ends; what is left then is dropped (counted) and the error says
// how many. Enqueue drops everything after Close began.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.poke()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
	}
	w.cancel()
	w.mu.Lock()
	s, lost, unlogged := w.stats, w.shutdownDrops, w.unloggedDrops
	w.unloggedDrops = 0
	w.mu.Unlock()
	if s.Dropped > 0 {
		w.log.Warn("storage: writer: closed with drops", "written", s.Written, "dropped", s.Dropped,
			"not_logged_before", unlogged, "failed_writes", s.FailedWrites)
	}
	if lost > 0 {
		return fmt.Errorf("storage: writer: close: %d batches not written: %w", lost, ctx.Err())
	}
	return nil
}

// run is the writing loop.
func (w *Writer) run() {
	defer close(w.done)
	w.ping()
	var timer <-chan time.Time
	var timerFlushes bool // else it pings
	for {
		w.mu.Lock()
		n, closing := len(w.queue), w.closing
		w.mu.Unlock()
		if w.ctx.Err() != nil {
			w.dropQueued()
			return
		}
		switch {
		case n == 0 && closing:
			return
		case n >= w.opts.BatchSize || (n > 0 && closing):
			w.flush()
			timer = nil
			continue
		case n > 0 && (timer == nil || !timerFlushes):
			timer, timerFlushes = w.opts.After(w.opts.MaxDelay), true
		case n == 0 && timer == nil && w.opts.PingEvery > 0:
			timer, timerFlushes = w.opts.After(w.opts.PingEvery), false
		}
		select {
		case <-w.wake:
		case <-timer:
			timer = nil
			if timerFlushes {
				w.flush()
			} else {
				w.ping()
			}
		case <-w.ctx.Done():
		}
	}
}

// flush writes up to BatchSize queued batches, retrying while the store
// is down.
func (w *Writer) flush() {
	w.mu.Lock()
	k := min(len(w.queue), w.opts.BatchSize)
	pending := make([]*Batch, k)
	copy(pending, w.queue)
	rest := copy(w.queue, w.queue[k:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	w.inflight += k
	w.mu.Unlock()
	if k > 0 {
		w.writeRetrying(pending)
	}
}

func (w *Writer) writeRetrying(pending []*Batch) {
	backoff := w.opts.RetryMin
	for {
		err := w.write(mergeBatches(pending))
		if err == nil {
			w.settle(len(pending), true)
			return
		}
		if w.ctx.Err() != nil {
			w.giveUp(len(pending))
			return
		}
		if w.ping() == nil {
			// The store is up and refused the batch: write them one by one
			// and drop those it refuses alone.
			if pending = w.writeEach(pending); len(pending) == 0 {
				return
			}
			if w.ctx.Err() != nil {
				w.giveUp(len(pending))
				return
			}
		}
		select {
		case <-w.opts.After(backoff):
		case <-w.ctx.Done():
			w.giveUp(len(pending))
			return
		}
		backoff = min(2*backoff, w.opts.RetryMax)
	}
}

// writeEach writes the batches one at a time while the store is up,
// dropping those it refuses; it returns those left when the store went
// down.
func (w *Writer) writeEach(pending []*Batch) []*Batch {
	for i, b := range pending {
		err := w.write(b)
		switch {
		case err == nil:
			w.settle(1, true)
		case w.ctx.Err() != nil:
			return pending[i:]
		case w.ping() == nil:
			w.log.Error("storage: writer: the store refused a batch; dropped", "rows", b.Len(), "err", err)
			w.settle(1, false)
		default:
			return pending[i:]
		}
	}
	return nil
}

// write makes one Write call and counts a failure.
func (w *Writer) write(b *Batch) error {
	w.writing.RLock()
	defer w.writing.RUnlock()
	b = w.withoutWithdrawn(b)
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.CallTimeout)
	defer cancel()
	err := w.store.Write(ctx, b)
	if err != nil {
		// A failed write says nothing of the store yet: the ping that
		// follows does.
		w.mu.Lock()
		w.stats.FailedWrites++
		w.mu.Unlock()
		return err
	}
	w.setState(nil)
	return nil
}

// Withdraw makes sure no row of visit id is written from now on: queued
// batches lose its visit and observations (and the connections only they
// used), later batches too, and Withdraw returns once the Write calls
// under way have ended. A visitor deleting their visit calls it before
// the store's DeleteVisit, so that nothing of it is written after. The
// writer remembers the last 10,000 withdrawn visits. A batch left empty
// counts as written in Stats (it was handled, and nothing was dropped).
func (w *Writer) Withdraw(id VisitID) {
	w.mu.Lock()
	if w.withdrawn == nil {
		w.withdrawn = map[VisitID]bool{}
	}
	if !w.withdrawn[id] {
		w.withdrawn[id] = true
		w.withdrawOrder = append(w.withdrawOrder, id)
		if len(w.withdrawOrder) > maxWithdrawn {
			delete(w.withdrawn, w.withdrawOrder[0])
			w.withdrawOrder = w.withdrawOrder[1:]
		}
	}
	w.mu.Unlock()
	w.writing.Lock() // waits for the writes under way, which did not see id
	w.writing.Unlock()
}

// withoutWithdrawn returns b without the rows of withdrawn visits (b
// itself when it has none).
func (w *Writer) withoutWithdrawn(b *Batch) *Batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.withdrawn) == 0 {
		return b
	}
	out := &Batch{}
	used, dropped := map[ConnectionID]bool{}, map[ConnectionID]bool{}
	for _, o := range b.Observations {
		if w.withdrawn[o.VisitID] {
			dropped[o.ConnectionID] = true
			continue
		}
		used[o.ConnectionID] = true
		out.Observations = append(out.Observations, o)
	}
	if len(out.Observations) == len(b.Observations) && !slices.ContainsFunc(b.Visits, func(v Visit) bool { return w.withdrawn[v.ID] }) {
		return b
	}
	for _, v := range b.Visits {
		if !w.withdrawn[v.ID] {
			out.Visits = append(out.Visits, v)
		}
	}
	for _, c := range b.Connections {
		if used[c.ID] || !dropped[c.ID] {
			out.Connections = append(out.Connections, c)
		}
	}
	return out
}

func (w *Writer) ping() error {
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.CallTimeout)
	defer cancel()
	err := w.store.Ping(ctx)
	w.setState(err)
	return err
}

// setState records the outcome of a call, and logs when the store goes
// down or comes back.
func (w *Writer) setState(err error) {
	w.mu.Lock()
	was := w.state
	w.state = StoreState{Reachable: err == nil, Checked: w.opts.Now()}
	if err != nil {
		w.state.Err = err.Error()
	}
	queued := len(w.queue) + w.inflight
	w.mu.Unlock()
	switch {
	case err != nil && (was.Reachable || was.Checked.IsZero()):
		w.log.Warn("storage: store unreachable; writes are retried", "err", err, "queued", queued)
	case err == nil && !was.Reachable && !was.Checked.IsZero():
		w.log.Info("storage: store reachable again", "queued", queued)
	}
}

// settle ends n in-flight batches: written, or dropped as refused.
func (w *Writer) settle(n int, written bool) {
	w.mu.Lock()
	w.inflight -= n
	var logIt bool
	var count uint64
	if written {
		w.stats.Written += uint64(n)
	} else {
		logIt, count = w.droppedLocked(n)
	}
	w.mu.Unlock()
	if logIt {
		w.logDrops(count, "refused by the store")
	}
}

// giveUp drops n in-flight batches when Close's context has ended.
func (w *Writer) giveUp(n int) {
	w.mu.Lock()
	w.inflight -= n
	w.shutdownDrops += uint64(n)
	w.stats.Dropped += uint64(n)
	w.mu.Unlock()
}

// dropQueued drops what is queued when Close's context has ended.
func (w *Writer) dropQueued() {
	w.mu.Lock()
	n := len(w.queue)
	clear(w.queue)
	w.queue = w.queue[:0]
	w.shutdownDrops += uint64(n)
	w.stats.Dropped += uint64(n)
	w.mu.Unlock()
}

// droppedLocked counts n drops and says whether to log now, with the
// drops not logged yet (at most one line per DropLogEvery).
func (w *Writer) droppedLocked(n int) (bool, uint64) {
	w.stats.Dropped += uint64(n)
	w.unloggedDrops += uint64(n)
	now := w.opts.Now()
	if !w.lastDropLog.IsZero() && now.Sub(w.lastDropLog) < w.opts.DropLogEvery {
		return false, 0
	}
	w.lastDropLog = now
	count := w.unloggedDrops
	w.unloggedDrops = 0
	return true, count
}

func (w *Writer) logDrops(n uint64, reason string) {
	w.log.Warn("storage: writer: dropped batches", "dropped", n, "reason", reason,
		"since", w.opts.DropLogEvery.String())
}

// mergeBatches joins batches into one Write.
func mergeBatches(bs []*Batch) *Batch {
	if len(bs) == 1 {
		return bs[0]
	}
	var c, v, o int
	for _, b := range bs {
		c, v, o = c+len(b.Connections), v+len(b.Visits), o+len(b.Observations)
	}
	out := &Batch{Connections: make([]Connection, 0, c), Visits: make([]Visit, 0, v), Observations: make([]Observation, 0, o)}
	for _, b := range bs {
		out.Connections = append(out.Connections, b.Connections...)
		out.Visits = append(out.Visits, b.Visits...)
		out.Observations = append(out.Observations, b.Observations...)
	}
	return out
}

// register adds the writer's metrics to reg; a registration that fails
// (a second writer on one registry) is logged.
func (w *Writer) register(reg prometheus.Registerer) {
	stat := func(f func(s WriterStats) float64) func() float64 {
		return func() float64 { return f(w.Stats()) }
	}
	collectors := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fp_storage_batches_enqueued_total",
			Help: "Batches of observations offered to the storage writer."},
			stat(func(s WriterStats) float64 { return float64(s.Enqueued) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fp_storage_batches_written_total",
			Help: "Batches of observations stored."},
			stat(func(s WriterStats) float64 { return float64(s.Written) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fp_storage_batches_dropped_total",
			Help: "Batches of observations dropped: queue full, refused by the store, or not written at shutdown."},
			stat(func(s WriterStats) float64 { return float64(s.Dropped) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fp_storage_failed_writes_total",
			Help: "Store writes that failed (and were retried or dropped)."},
			stat(func(s WriterStats) float64 { return float64(s.FailedWrites) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fp_storage_batches_queued",
			Help: "Batches of observations waiting or being written."},
			stat(func(s WriterStats) float64 { return float64(s.Queued) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fp_storage_up",
			Help: "1 when the last write or ping of the store succeeded."},
			func() float64 {
				if w.State().Reachable {
					return 1
				}
				return 0
			}),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			w.log.Error("storage: writer: metrics not registered", "err", err)
		}
	}
}
