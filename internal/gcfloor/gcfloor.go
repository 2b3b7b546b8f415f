// Package gcfloor keeps the garbage collector from running more often
// than a set amount of allocation while the live heap is small.
//
// Go's collector aims for a heap of GOGC percent more than the live heap,
// and at least 4 MiB. A server whose live heap is a few hundred KiB but
// which allocates 60 to 100 KiB per connection (most of it in crypto/tls)
// so collects every few dozen connections, and the collections' fixed
// costs become a large share of its CPU. A Floor raises GOGC after each
// collection so that the next heap goal is its minimum heap; as the live
// heap grows toward the minimum, GOGC returns to its own value, so a large
// heap is collected exactly as without the floor.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC a Floor sets (for a nearly empty heap).
const maxPercent = 100000

// Floor adjusts GOGC after every collection until Stop.
type Floor struct {
	minHeap uint64
	base    int // GOGC as the process had it

	mu      sync.Mutex
	stopped bool
	percent int // the GOGC set last
	sample  []metrics.Sample
}

// Start keeps the heap goal at least minHeap bytes. It does nothing (and
// returns a Floor whose Stop does nothing) when minHeap is 0 or the
// collector is off (GOGC=off).
func Start(minHeap uint64) *Floor {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	f := &Floor{minHeap: minHeap, base: base, percent: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	if minHeap == 0 || base < 0 {
		f.stopped = true
		return f
	}
	f.adjust()
	f.arm()
	return f
}

// arm sets a cleanup on a new object, which runs after the collection
// that finds it unreachable: once per collection. The object holds a
// pointer, so the runtime never batches it with others (as it does small
// objects without pointers, whose cleanups may never run).
func (f *Floor) arm() {
	runtime.AddCleanup(new(struct{ _ *byte }), func(f *Floor) {
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if !stopped {
			f.adjust()
			f.arm()
		}
	}, f)
}

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with GOGC.
const heapMinimum = 4 << 20

// PercentFor is the GOGC that makes the heap goal minHeap bytes, and never
// less than base, for a live heap of live bytes and scan roots (stacks
// and globals) of roots bytes. The runtime's goal is the larger of
// heapMinimum*GOGC/100 and live + (live+roots)*GOGC/100; each grows with
// GOGC, so the GOGC that brings the larger to minHeap is the smaller of
// the two that bring each there.
func PercentFor(live, roots, minHeap uint64, base int) int {
	if live >= minHeap {
		return base
	}
	p := float64(minHeap) * 100 / heapMinimum
	if scan := live + roots; scan > 0 {
		p = min(p, float64(minHeap-live)*100/float64(scan))
	}
	return max(int(min(p, maxPercent)), base)
}

// adjust sets GOGC for the live heap the last collection found.
func (f *Floor) adjust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.sample)
	var v [3]uint64
	for i, s := range f.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		v[i] = s.Value.Uint64()
	}
	if p := PercentFor(v[0], v[1]+v[2], f.minHeap, f.base); p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
}

// Percent is the GOGC the floor set last (GOGC's own value when none).
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.percent
}

// Stop ends the adjustments and puts GOGC back to its own value.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.base)
	f.percent = f.base
}
