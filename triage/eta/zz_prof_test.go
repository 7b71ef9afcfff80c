package eta

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	f, _ := os.Open("../../../shared/data/SCMS_Delivery_History_Dataset.csv")
	m, _ := LoadMapping("scms")
	h, _ := LoadHistory(f, m)
	split := time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC)
	selHalfLives = []float64{730}
	selL2 = []float64{3}
	_, _, err := SelectBooking(context.Background(), h, h.Records, DefaultValFrom(split), split, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fits %d sweeps %d", FitCount.Load(), SweepCount.Load())
}
