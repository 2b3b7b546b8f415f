package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/fpwork/fp/storage"
)

// timedStore is a Store whose Write calls are timed: how long each took
// and how many observations it stored, and for every visit written, how
// long after its Start (when it was built and enqueued) its transaction
// committed.
type timedStore struct {
	storage.Store
	now func() time.Time

	mu     sync.Mutex
	writes []writeTiming
	delays []time.Duration // visit Start to commit
	failed int
}

type writeTiming struct {
	took         time.Duration
	observations int
}

func newTimedStore(s storage.Store, now func() time.Time) *timedStore {
	return &timedStore{Store: s, now: now}
}

// Write times the store's Write.
func (s *timedStore) Write(ctx context.Context, b *storage.Batch) error {
	start := s.now()
	err := s.Store.Write(ctx, b)
	end := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		return err
	}
	s.writes = append(s.writes, writeTiming{took: end.Sub(start), observations: len(b.Observations)})
	for _, v := range b.Visits {
		s.delays = append(s.delays, end.Sub(v.Start))
	}
	return nil
}

// writeSummary describes the timed writes.
type writeSummary struct {
	writes          int
	failed          int
	observationsP50 float64 // observations per write
	took            percentiles
	delay           percentiles
}

func (s *timedStore) summary() writeSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	took := make([]time.Duration, len(s.writes))
	sizes := make([]float64, len(s.writes))
	for i, w := range s.writes {
		took[i], sizes[i] = w.took, float64(w.observations)
	}
	slices.Sort(sizes)
	return writeSummary{writes: len(s.writes), failed: s.failed, observationsP50: quantile(sizes, 0.5),
		took: percentilesOf(took), delay: percentilesOf(s.delays)}
}

// percentiles of a set of durations.
type percentiles struct {
	n                        int
	p50, p90, p99, p999, max time.Duration
}

func percentilesOf(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(q float64) time.Duration {
		// The nearest-rank quantile: the smallest value with at least q
		// of the values at or below it.
		i := int(math.Ceil(q*float64(len(sorted)))) - 1
		return sorted[max(0, min(i, len(sorted)-1))]
	}
	return percentiles{n: len(sorted), p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[len(sorted)-1]}
}

// quantile of sorted values, nearest rank; 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
