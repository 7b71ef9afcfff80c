package rules

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tsp(s string) *time.Time { t := ts(s); return &t }

func boolp(b bool) *bool { return &b }

// mustCompile compiles rs or fails the test with the diagnostics.
func mustCompile(t testing.TB, rs *Ruleset) *Compiled {
	t.Helper()
	c, rep := Compile(rs, CompileOptions{})
	if c == nil {
		t.Fatalf("compile: %v", rep.Err())
	}
	return c
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run with -update to create it): %v", path, err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// baseInput is an in-transit event on a shipment scanned an hour ago.
func baseInput() *Input {
	return &Input{
		Event: &intake.Event{
			ID: "ev1", ShipmentID: "sh1", Source: "aftership", Carrier: "ups", TrackingNumber: "1Z1",
			Status: intake.StatusInTransit, OccurredAt: ts("2026-03-04T10:00:00Z"), ReceivedAt: ts("2026-03-04T11:00:00Z"),
			TZKnown: true, Physical: true,
		},
		Shipment: &intake.Shipment{
			ID: "sh1", Carrier: "ups", TrackingNumber: "1Z1", Status: intake.StatusInTransit,
			StatusAt: ts("2026-03-02T08:00:00Z"), FirstSeenAt: ts("2026-03-01T08:00:00Z"),
			LastEventAt: ts("2026-03-04T10:00:00Z"), LastPhysicalScanAt: tsp("2026-03-04T10:00:00Z"), EventCount: 3,
		},
	}
}
