package main

import (
	"runtime/debug"
	"testing"
)

// The service raises the collector's target unless GOGC says otherwise.
func TestTuneGCRespectsGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if got := tuneGC(env(nil)); got != serviceGCPercent || debug.SetGCPercent(100) != serviceGCPercent {
		t.Fatalf("without GOGC: %d, want %d", got, serviceGCPercent)
	}
	debug.SetGCPercent(150) // as the runtime would have read GOGC=150
	if got := tuneGC(env(map[string]string{"GOGC": "150"})); got != 150 || debug.SetGCPercent(100) != 150 {
		t.Fatalf("with GOGC=150: %d", got)
	}
}
