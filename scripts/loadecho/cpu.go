package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time, user plus system, that process pid has
// used on all its threads, exited ones included. It reads the process's
// kernel CPU clock (clock_gettime on the clock id of clock_getcpuclockid):
// the same total as utime+stime in /proc/PID/stat, at nanosecond
// resolution instead of 10 ms clock ticks.
func processCPU(pid int) (time.Duration, error) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
	// include/linux/posix-timers.h: the process-wide clock of pid.
	const cpuClockSched = 2
	clock := int32(^pid)<<3 | cpuClockSched
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("loadecho: CPU clock of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// procStatCPU returns utime+stime of process pid from /proc/PID/stat, in
// clock ticks of 10 ms (USER_HZ is 100 on Linux whatever the kernel's HZ).
// It is the cross-check of processCPU.
func procStatCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("loadecho: %w", err)
	}
	// The second field, the command name in parentheses, may hold spaces:
	// the fields after it start at the last ')'. utime and stime are
	// fields 14 and 15 (proc(5)), so the 12th and 13th after it.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("loadecho: /proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(b[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("loadecho: /proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("loadecho: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	const userHZ = 100
	return time.Duration(ticks) * time.Second / userHZ, nil
}
