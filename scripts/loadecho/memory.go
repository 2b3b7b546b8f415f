package main

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
)

// readMemory collects garbage and returns the live heap objects, the
// goroutine stacks, the heap's unused bytes and the goroutines, from
// runtime/metrics. Two collections: the first moves sync.Pool contents
// to their victim cache, the second frees them, so pooled buffers are
// not counted as live. cmd/echo's TestLoadChild does the same.
func readMemory() memSample {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	return memSample{objects: s[0].Value.Uint64(), stacks: s[1].Value.Uint64(), unused: s[2].Value.Uint64(),
		goroutines: s[3].Value.Uint64()}
}

// formatMem is the line a server prints for "gc", read by parseMem.
func formatMem(m memSample) string {
	return fmt.Sprintf("mem objects=%d stacks=%d unused=%d goroutines=%d", m.objects, m.stacks, m.unused, m.goroutines)
}

// answerMemory answers each "gc" line on in with a formatMem line on out,
// until in ends.
func answerMemory(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "gc" {
			fmt.Fprintln(out, formatMem(readMemory()))
		}
	}
}
