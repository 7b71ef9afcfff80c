package rules

import (
	"runtime"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// benchEngine evaluates the synthetic corpus against n indexed rules and
// reports events/s and the p50/p99 per-event engine time. Run with -cpu 1
// (one core); see docs/BENCHMARKS.md.
func benchEngine(b *testing.B, n int) {
	c, rep := Compile(syntheticRuleset(n, 42), CompileOptions{})
	if c == nil {
		b.Fatal(rep.Err())
	}
	inputs := syntheticInputs(1024, 7)
	e := NewEvaluator(EvalOptions{})
	// Wall time includes time this thread spent descheduled (the machine is
	// shared); the thread's CPU time is the engine's own cost on one core.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	cands, matches := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	start, cpuStart := time.Now(), threadCPU()
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), threadCPU()
		rec, err := e.Evaluate(c, inputs[i%len(inputs)])
		cpu = append(cpu, threadCPU()-c0)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		cands += rec.Candidates
		matches += len(rec.Matches) + len(rec.Shadow)
	}
	elapsed, cpuTotal := time.Since(start), threadCPU()-cpuStart
	b.StopTimer()
	pct := func(xs []time.Duration, p int) float64 {
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		return float64(xs[len(xs)*p/100].Nanoseconds()) / 1e3
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/cpuTotal.Seconds(), "events/cpu-s")
	b.ReportMetric(pct(lat, 50), "p50-µs")
	b.ReportMetric(pct(lat, 99), "p99-µs")
	b.ReportMetric(pct(cpu, 99), "p99-cpu-µs")
	b.ReportMetric(float64(cands)/float64(b.N), "candidates/event")
	b.ReportMetric(float64(matches)/float64(b.N), "matches/event")
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func BenchmarkEngine1000Rules(b *testing.B) { benchEngine(b, 1000) }
func BenchmarkEngine5000Rules(b *testing.B) { benchEngine(b, 5000) }
func BenchmarkEngine100Rules(b *testing.B)  { benchEngine(b, 100) }

// BenchmarkEngineStarter evaluates the starter ruleset's fixtures.
func BenchmarkEngineStarter(b *testing.B) {
	rs, _ := Starter()
	c, rep := Compile(rs, CompileOptions{})
	if c == nil {
		b.Fatal(rep.Err())
	}
	var ins []*Input
	for _, r := range c.Ruleset.Rules {
		for i := range r.Tests {
			ins = append(ins, &r.Tests[i].Input)
		}
	}
	e := NewEvaluator(EvalOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Evaluate(c, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompilePublish1000 is the in-memory part of publishing 1,000
// rules: normalize, validate and lint every expression, index, hash and
// run every rule's test cases (two per rule).
func BenchmarkCompilePublish1000(b *testing.B) {
	rs := withTests(syntheticRuleset(1000, 42), syntheticInputs(2000, 9))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, rep := Compile(rs, CompileOptions{Lint: true, RequireTests: true})
		if c == nil {
			b.Fatal(rep.Err())
		}
		for _, r := range c.RunTests(NewEvaluator(EvalOptions{})) {
			if !r.Passed {
				b.Fatalf("%s/%s: %v", r.Rule, r.Test, r.Failures)
			}
		}
	}
}

// BenchmarkBacktestPair is the in-memory cost of one backtest step: the
// baseline and a candidate with every tenth of its 1,000 rules changed
// (the candidate reuses the baseline's results for the other rules).
func BenchmarkBacktestPair(b *testing.B) {
	base, rep := Compile(syntheticRuleset(1000, 42), CompileOptions{})
	if base == nil {
		b.Fatal(rep.Err())
	}
	cand, rep := Compile(benchCandidate(base.Ruleset), CompileOptions{})
	if cand == nil {
		b.Fatal(rep.Err())
	}
	inputs := syntheticInputs(1024, 7)
	bt := NewBacktester(base, cand, 20, nil)
	reused := 0
	for _, m := range bt.mapping {
		if m >= 0 {
			reused++
		}
	}
	b.ReportMetric(float64(reused), "identical-rules")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := bt.Add(inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
	}
}
