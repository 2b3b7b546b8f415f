package storage

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestMemoryContract(t *testing.T) {
	runContract(t, func(t *testing.T) Store {
		m := NewMemory()
		t.Cleanup(func() { m.Close() })
		return m
	})
}

func newMemoryFixtures(t *testing.T) *fixtures {
	return &fixtures{t: t, data: loadContractData(t), random: rand.NewChaCha8(seedOf(t.Name()))}
}

func TestMemoryEviction(t *testing.T) {
	ctx := t.Context()
	f := newMemoryFixtures(t)
	visit := func(i int) *Batch {
		return f.visit(visitSpec{golden: "chromium-156-linux", ua: uaChromeLinux, start: base().Add(time.Duration(i) * time.Minute)})
	}
	cases := []struct {
		name    string
		limit   int
		visits  int
		deleted []int // visits deleted before the last is written
		kept    []int
	}{
		{"WithinTheLimit", 15, 3, nil, []int{0, 1, 2}},
		{"OldestVisitEvictedWhole", 14, 3, nil, []int{1, 2}},
		{"OneVisitOverTheLimitEvictsItself", 4, 1, nil, nil},
		{"DeletedVisitsAreNotCountedTwice", 10, 4, []int{1}, []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemoryLimit(tc.limit)
			var batches []*Batch
			for i := 0; i < tc.visits; i++ {
				batches = append(batches, visit(i))
			}
			for i, b := range batches {
				if i == len(batches)-1 {
					for _, d := range tc.deleted {
						if err := m.DeleteVisit(ctx, batches[d].Visits[0].ID); err != nil {
							t.Fatal(err)
						}
					}
				}
				write(t, ctx, m, b)
			}
			for i, b := range batches {
				_, err := m.Visit(ctx, b.Visits[0].ID)
				if want := slices.Contains(tc.kept, i); want != (err == nil) {
					t.Errorf("visit %d: kept %v, want %v (%v)", i, err == nil, want, err)
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("visit %d: %v", i, err)
				}
			}
			conns, visits, obs := m.Len()
			if visits != len(tc.kept) || obs != 5*len(tc.kept) || conns != 2*len(tc.kept) || obs > tc.limit {
				t.Errorf("holds %d connections, %d visits, %d observations; want %d visits of 5 observations on 2 connections",
					conns, visits, obs, len(tc.kept))
			}
		})
	}
	t.Run("IdleConnectionsOldestFirst", func(t *testing.T) {
		m := NewMemoryLimit(2)
		var ids []ConnectionID
		for i := 0; i < 5; i++ {
			c := f.connection("curl-7.88-h2", base().Add(time.Duration(i)*time.Second), false)
			ids = append(ids, c.ID)
			write(t, ctx, m, &Batch{Connections: []Connection{c}})
		}
		for i, id := range ids {
			_, err := m.connectionHistory(ctx, id)
			if want := i >= 3; want != (err == nil) {
				t.Errorf("idle connection %d: kept %v, want %v", i, err == nil, want)
			}
		}
	})
}

func TestMemoryClosed(t *testing.T) {
	m := NewMemory()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, err := range map[string]error{
		"Write":        m.Write(ctx, &Batch{}),
		"DeleteVisit":  m.DeleteVisit(ctx, VisitID("0123456789abcdef0123456789abcdef")),
		"Ping":         m.Ping(ctx),
		"AddDerived":   m.AddDerived(ctx, &DerivedBatch{}),
		"Export":       m.Export(ctx, nil, false),
		"FamilyTotals": func() error { _, err := m.FamilyTotals(ctx); return err }(),
	} {
		if !errors.Is(err, errClosed) {
			t.Errorf("%s after Close: %v, want errClosed", name, err)
		}
	}
}

var _ Store = (*Memory)(nil)
