package main

import (
	"runtime/debug"
)

// serviceGCPercent is the garbage collector's target for a process that
// runs the service (serve, loadtest --self) when GOGC is not set. The live
// heap is small (about 8 MB idle) while intake allocates tens of kilobytes
// per event (the database driver builds each batch's statements in buffers
// it regrows every time), so at Go's default of 100 the collector takes
// about a seventh of the CPU under load. At 300 the flat-out intake on two
// cores carried 12 to 35 % more events (alternating runs, and the benchmark
// suite before and after) for 150 to 200 MB more peak memory, while the
// idle process stays small (docs/BENCHMARKS.md, Intake). GOGC, when set,
// wins.
const serviceGCPercent = 300

// tuneGC applies serviceGCPercent unless GOGC is set; it returns the
// percentage now in force.
func tuneGC(lookup func(string) (string, bool)) int {
	if v, ok := lookup("GOGC"); ok && v != "" {
		cur := debug.SetGCPercent(100)
		debug.SetGCPercent(cur)
		return cur
	}
	debug.SetGCPercent(serviceGCPercent)
	return serviceGCPercent
}
