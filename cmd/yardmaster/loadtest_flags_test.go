package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadtestFlagsAreChecked(t *testing.T) {
	ok := func() (int, int, int, float64, float64, time.Duration, time.Duration) {
		return 64, 1, 0, 0, 0.05, 30 * time.Second, 2 * time.Second
	}
	if err := checkLoadtestFlags(ok()); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	cases := []struct {
		name string
		edit func(conc, cp, sh *int, rate, exc *float64, dur, warm *time.Duration)
		want string
	}{
		{"no senders", func(c, _, _ *int, _, _ *float64, _, _ *time.Duration) { *c = 0 }, "--concurrency"},
		{"no checkpoints", func(_, cp, _ *int, _, _ *float64, _, _ *time.Duration) { *cp = 0 }, "--checkpoints"},
		{"negative shipment pool", func(_, _, sh *int, _, _ *float64, _, _ *time.Duration) { *sh = -1 }, "--shipments"},
		{"negative rate", func(_, _, _ *int, r, _ *float64, _, _ *time.Duration) { *r = -1 }, "--rate"},
		{"share above one", func(_, _, _ *int, _, e *float64, _, _ *time.Duration) { *e = 2 }, "--exceptions"},
		{"zero duration", func(_, _, _ *int, _, _ *float64, d, _ *time.Duration) { *d = 0 }, "--duration"},
		{"negative warmup", func(_, _, _ *int, _, _ *float64, _, w *time.Duration) { *w = -time.Second }, "--warmup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conc, cp, sh, rate, exc, dur, warm := ok()
			tc.edit(&conc, &cp, &sh, &rate, &exc, &dur, &warm)
			err := checkLoadtestFlags(conc, cp, sh, rate, exc, dur, warm)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("error %v, want one line naming %s", err, tc.want)
			}
		})
	}
}
