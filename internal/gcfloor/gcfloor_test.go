package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const MiB = 1 << 20
	for _, tc := range []struct {
		live, roots, minHeap uint64
		base, want           int
	}{
		{0, 0, 32 * MiB, 100, 800},                 // the runtime's 4 MiB minimum, times 8
		{400 << 10, 700 << 10, 32 * MiB, 100, 800}, // a small service: the minimum decides
		{8 * MiB, 1 * MiB, 32 * MiB, 100, 266},     // 8 + 9*2.66 = 32 MiB
		{20 * MiB, 1 * MiB, 32 * MiB, 100, 100},    // 57 would do: never below GOGC
		{2 * MiB, 1 * MiB, 32 * MiB, 1000, 1000},   // above a higher GOGC
		{32 * MiB, 0, 32 * MiB, 100, 100},          // at the floor: GOGC
		{300 * MiB, 1 * MiB, 32 * MiB, 100, 100},   // a large heap: GOGC
		{300 * MiB, 1 * MiB, 32 * MiB, 50, 50},     // whatever GOGC is
		{0, 0, 1 << 40, 100, maxPercent},           // capped
	} {
		if got := PercentFor(tc.live, tc.roots, tc.minHeap, tc.base); got != tc.want {
			t.Errorf("PercentFor(%d, %d, %d, %d) = %d, want %d", tc.live, tc.roots, tc.minHeap, tc.base, got, tc.want)
		}
	}
}

// waitPercent collects until the floor's GOGC satisfies ok (a cleanup
// runs after the collection that freed its object, on another goroutine).
func waitPercent(t *testing.T, f *Floor, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(f.Percent()) {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed %d", f.Percent())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	return f.Percent()
}

// currentPercent reads GOGC as the runtime has it.
func currentPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestFloorFollowsTheLiveHeap runs a floor in this process: with a small
// live heap it raises GOGC far above 100; with more live than its minimum
// it puts GOGC back; Stop restores GOGC.
func TestFloorFollowsTheLiveHeap(t *testing.T) {
	base := currentPercent()
	if base < 0 {
		t.Skip("GOGC=off in the test's environment")
	}
	f := Start(64 << 20)
	defer f.Stop()
	raised := waitPercent(t, f, func(p int) bool { return p > 2*base })
	if got := currentPercent(); got != raised {
		t.Fatalf("runtime GOGC %d, floor says %d", got, raised)
	}

	live := make([]*[1 << 20]byte, 80) // 80 MiB live, above the floor
	for i := range live {
		live[i] = new([1 << 20]byte)
	}
	waitPercent(t, f, func(p int) bool { return p == base })
	runtime.KeepAlive(live)

	f.Stop()
	if got := currentPercent(); got != base {
		t.Fatalf("GOGC %d after Stop, want %d", got, base)
	}
}

// TestFloorOff: a zero minimum changes nothing.
func TestFloorOff(t *testing.T) {
	base := currentPercent()
	f := Start(0)
	runtime.GC()
	runtime.GC()
	if got := currentPercent(); got != base || f.Percent() != base {
		t.Fatalf("GOGC %d (floor %d), want %d", got, f.Percent(), base)
	}
	f.Stop()
}
