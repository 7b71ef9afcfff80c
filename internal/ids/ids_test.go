package ids

import (
	"testing"
	"time"
)

func TestFloorBoundsTheIdsOfItsTime(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123e6, time.UTC)
	floor := Floor(at)
	for i := 0; i < 100; i++ {
		if id := At(at); id < floor {
			t.Fatalf("id %s made at the floor's time sorts below %s", id, floor)
		}
		if id := At(at.Add(-time.Millisecond)); id >= floor {
			t.Fatalf("id %s made a millisecond earlier sorts at or above %s", id, floor)
		}
	}
	if Floor(time.Time{}) != "00000000000000000000000000" {
		t.Errorf("before the epoch: %s, want the all-zero ULID", Floor(time.Time{}))
	}
	if !Valid(Floor(time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))) {
		t.Error("a time after ULID's range must clamp to a valid ULID")
	}
}
