package anomaly

import "math"

// lbeta is log B(a, b).
func lbeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// lchoose is log C(n, x).
func lchoose(n, x int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(x + 1))
	c, _ := math.Lgamma(float64(n - x + 1))
	return a - b - c
}

// upperTail returns P(X >= k) for X ~ BetaBinomial(n, p, rho), where rho is
// the intra-bucket correlation (0: plain binomial). The variance of X is
// n p (1-p) (1 + (n-1) rho). Terms are summed in log space from k upward
// and the sum stops once terms past the mode no longer matter.
func upperTail(k, n int, p, rho float64) float64 {
	if k <= 0 {
		return 1
	}
	if k > n {
		return 0
	}
	p = math.Min(math.Max(p, 1e-9), 1-1e-9)
	var logTerm func(x int) float64
	if rho <= 1e-9 {
		lp, lq := math.Log(p), math.Log1p(-p)
		logTerm = func(x int) float64 { return lchoose(n, x) + float64(x)*lp + float64(n-x)*lq }
	} else {
		rho = math.Min(rho, 0.999)
		s := (1 - rho) / rho
		a, b := p*s, (1-p)*s
		lb := lbeta(a, b)
		logTerm = func(x int) float64 { return lchoose(n, x) + lbeta(float64(x)+a, float64(n-x)+b) - lb }
	}
	maxLog := math.Inf(-1)
	sum := 0.0 // relative to maxLog
	prev := math.Inf(-1)
	for x := k; x <= n; x++ {
		lt := logTerm(x)
		if lt > maxLog {
			sum = sum*math.Exp(maxLog-lt) + 1
			maxLog = lt
		} else {
			sum += math.Exp(lt - maxLog)
		}
		// Past the mode the terms fall; stop when they are negligible.
		if lt < prev && lt-maxLog < -40 {
			break
		}
		prev = lt
	}
	return math.Min(1, math.Exp(maxLog)*sum)
}
