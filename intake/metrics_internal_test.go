package intake

import "testing"

func TestRejectionsReadsTheRejectionCounter(t *testing.T) {
	rejected.WithLabelValues("rejections-test", "signature").Add(2)
	rejected.WithLabelValues("rejections-test", "too_large").Inc()
	got := map[string]float64{}
	for _, r := range Rejections() {
		if r.Source == "rejections-test" {
			got[r.Reason] = r.Count
		}
	}
	if got["signature"] != 2 || got["too_large"] != 1 || len(got) != 2 {
		t.Fatalf("rejections of the test source: %v", got)
	}
}
