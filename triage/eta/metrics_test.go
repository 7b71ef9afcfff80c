package eta

import (
	"math"
	"testing"
)

func TestEvaluateKnownValues(t *testing.T) {
	tests := []struct {
		name       string
		p          []float64
		y          []bool
		auc, ap    float64
		brier, ece float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.2, 0.1}, []bool{true, true, false, false}, 1, 1, (0.01 + 0.04 + 0.04 + 0.01) / 4, (2*0.15 + 2*0.15) / 4},
		{"inverted", []float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}, 0, 0.5 * (1.0/3 + 2.0/4), (0.81 + 0.64 + 0.64 + 0.81) / 4, (0.9 + 0.8 + 0.8 + 0.9) / 4},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{true, false, false, true}, 0.5, 0.5, 0.25, 0},
		// one tie between a positive and a negative at 0.6: half credit.
		{"tie", []float64{0.9, 0.6, 0.6, 0.1}, []bool{true, true, false, false}, (2 + 1.5) / 4, 0.5*1 + 0.5*(2.0/3), (0.01 + 0.16 + 0.36 + 0.01) / 4, (0.1 + 0.2 + 0.1) / 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Evaluate(tc.p, tc.y)
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"AUC", s.AUC, tc.auc}, {"PR-AUC", s.PRAUC, tc.ap}, {"Brier", s.Brier, tc.brier}, {"ECE", s.ECE, tc.ece}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
	if s := Evaluate([]float64{0.3, 0.4}, []bool{false, false}); !s.Degenerate || !math.IsNaN(s.AUC) {
		t.Fatalf("one class: %+v", s)
	}
	if s := Evaluate([]float64{1, 0}, []bool{true, false}); s.Bins[9].N != 1 || s.Bins[0].N != 1 {
		t.Fatalf("p=1 must fall in the last bin: %+v", s.Bins)
	}
}
