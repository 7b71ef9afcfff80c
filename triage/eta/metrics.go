package eta

import (
	"math"
	"sort"
)

// Scores are the evaluation figures of a probabilistic classifier.
type Scores struct {
	N          int     `json:"n"`
	Positive   int     `json:"positive"`
	Rate       float64 `json:"rate"`       // observed positive rate
	MeanP      float64 `json:"mean_p"`     // mean predicted probability
	AUC        float64 `json:"auc"`        // ROC AUC, ties counted half
	PRAUC      float64 `json:"pr_auc"`     // average precision, tied scores grouped
	Brier      float64 `json:"brier"`      // mean squared error of the probability
	ECE        float64 `json:"ece"`        // expected calibration error, 10 equal-width bins
	LogLoss    float64 `json:"log_loss"`   // mean negative log likelihood (p clipped to [1e-6, 1-1e-6])
	Bins       [10]Bin `json:"bins"`       // the ECE bins
	Degenerate bool    `json:"degenerate"` // only one class present: AUC and PR-AUC are undefined (NaN)
}

// Bin is one equal-width calibration bin.
type Bin struct {
	N     int     `json:"n"`
	MeanP float64 `json:"mean_p"`
	Rate  float64 `json:"rate"`
}

// Evaluate scores predictions p against labels y (same length).
func Evaluate(p []float64, y []bool) Scores {
	var s Scores
	s.N = len(p)
	if s.N == 0 || len(y) != len(p) {
		s.AUC, s.PRAUC = math.NaN(), math.NaN()
		s.Degenerate = true
		return s
	}
	var sumP, sumB, sumL float64
	var binP, binY [10]float64
	for i, pi := range p {
		yi := 0.0
		if y[i] {
			yi = 1
			s.Positive++
		}
		sumP += pi
		sumB += (pi - yi) * (pi - yi)
		c := math.Min(math.Max(pi, 1e-6), 1-1e-6)
		sumL -= yi*math.Log(c) + (1-yi)*math.Log(1-c)
		b := int(pi * 10)
		if b > 9 {
			b = 9
		}
		if b < 0 {
			b = 0
		}
		s.Bins[b].N++
		binP[b] += pi
		binY[b] += yi
	}
	n := float64(s.N)
	s.Rate = float64(s.Positive) / n
	s.MeanP = sumP / n
	s.Brier = sumB / n
	s.LogLoss = sumL / n
	for b := range s.Bins {
		if s.Bins[b].N == 0 {
			continue
		}
		bn := float64(s.Bins[b].N)
		s.Bins[b].MeanP = binP[b] / bn
		s.Bins[b].Rate = binY[b] / bn
		s.ECE += bn / n * math.Abs(s.Bins[b].MeanP-s.Bins[b].Rate)
	}
	if s.Positive == 0 || s.Positive == s.N {
		s.AUC, s.PRAUC = math.NaN(), math.NaN()
		s.Degenerate = true
		return s
	}
	s.AUC, s.PRAUC = rankMetrics(p, y, s.Positive)
	return s
}

// rankMetrics computes ROC AUC (Mann–Whitney with half credit for ties) and
// average precision, treating equal scores as one threshold.
func rankMetrics(p []float64, y []bool, pos int) (auc, ap float64) {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	neg := len(p) - pos
	var tp, fp float64
	var aucSum float64
	for i := 0; i < len(idx); {
		j := i
		var gtp, gfp float64
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			if y[idx[j]] {
				gtp++
			} else {
				gfp++
			}
			j++
		}
		// negatives in this group are outranked by all earlier positives and
		// tie with this group's positives.
		aucSum += gfp * (tp + gtp/2)
		tp += gtp
		fp += gfp
		if gtp > 0 {
			ap += gtp / float64(pos) * tp / (tp + fp)
		}
		i = j
	}
	return aucSum / (float64(pos) * float64(neg)), ap
}
