package eta

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkLiveScore measures scoring one in-flight shipment (target ≤ 50 µs).
func BenchmarkLiveScore(b *testing.B) {
	m, s := trainSynth(b, 200_000, 11)
	r := rand.New(rand.NewPCG(3, 4))
	var fs []Features
	for sh := range s.Shipments(5000) {
		if f, ok := inFlight(r, sh); ok {
			f.OpenExceptions = []string{"weather"}
			fs = append(fs, f)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = m.Score(fs[i%len(fs)])
	}
}

// BenchmarkTrainLive1M retrains on 1,000,000 generated completed shipments
// (target ≤ 2 min, bounded memory; see docs/BENCHMARKS.md for peak RSS).
func BenchmarkTrainLive1M(b *testing.B) {
	for b.Loop() {
		s := &Synthetic{Seed: 21}
		if _, err := TrainLive(context.Background(), s.Completed(1_000_000), LiveOptions{Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			b.Fatal(err)
		}
	}
}
