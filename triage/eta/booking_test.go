package eta

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const synthMapping = `
name: synth
promised: promised
actual: delivered
date_formats: ["2006-01-02"]
categorical: [route, region, noise, flip]
stratify: route
baseline: [route, region]
`

// synthHistory draws shipments whose late probability is known: on route A
// it depends on region (strongly) and nothing else; on route B it is flat;
// "flip" raises the risk of level x in odd half-years and of level y in even
// ones (an effect that inverts between regimes); "noise" does nothing.
func synthHistory(t testing.TB, n int, seed uint64) *History {
	t.Helper()
	m, err := ParseMapping([]byte(synthMapping))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	h := &History{Mapping: m}
	start := time.Date(2008, 1, 1, 0, 0, 0, 0, time.UTC)
	regionEffect := []float64{-1.5, -0.5, 0, 0.8, 1.6}
	for i := range n {
		promised := start.AddDate(0, 0, r.IntN(6*365))
		route := "A"
		if r.Float64() < 0.45 {
			route = "B"
		}
		region := r.IntN(5)
		flip := []string{"x", "y"}[r.IntN(2)]
		z := -1.8
		if route == "A" {
			z = -2.2 + regionEffect[region]
		}
		half := promised.Year()*2 + int(promised.Month()-1)/6
		if (half%2 == 1) == (flip == "x") {
			z += 1.2
		}
		late := r.Float64() < sigmoid(z)
		actual := promised
		if late {
			actual = promised.AddDate(0, 0, 1+r.IntN(20))
		}
		h.Records = append(h.Records, Record{
			ID: strconv.Itoa(i + 1), Line: i + 1,
			Promised: promised, Actual: actual,
			Cat: []string{route, []string{"r0", "r1", "r2", "r3", "r4"}[region], []string{"n0", "n1", "n2"}[r.IntN(3)], flip},
		})
	}
	return h
}

// TestFitRidgeLogisticOptimal checks the fit against its optimality
// conditions: the gradient of the penalised log likelihood vanishes.
func TestFitRidgeLogisticOptimal(t *testing.T) {
	h := synthHistory(t, 3000, 1)
	specs := CandidateFeatures(h, h.Records)[:3]
	d := newDesign(h.Records, specs)
	w, y := weights(h.Records, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC), 365)
	for _, l2 := range []float64{0.1, 3, 100} {
		b0, beta, z, err := fitRidgeLogistic(context.Background(), d, y, w, l2, nil)
		if err != nil {
			t.Fatal(err)
		}
		g0 := 0.0
		g := make([]float64, d.ncol)
		for i := range y {
			want := b0
			for _, c := range d.cols {
				want += beta[c[i]]
			}
			if math.Abs(want-z[i]) > 1e-9 {
				t.Fatalf("l2 %g: fitted log-odds of row %d = %v, want %v", l2, i, z[i], want)
			}
			r := sigmoid(z[i])
			if y[i] {
				r--
			}
			g0 += w[i] * r
			for _, c := range d.cols {
				g[c[i]] += w[i] * r
			}
		}
		worst := math.Abs(g0)
		for c := range g {
			worst = math.Max(worst, math.Abs(g[c]+l2*beta[c]))
		}
		if worst > 1e-6 {
			t.Fatalf("l2 %g: gradient %g at the returned solution", l2, worst)
		}
	}
}

// TestFitRidgeLogisticRecovers: with a light penalty and many rows the
// coefficients recover the true log-odds differences between regions.
func TestFitRidgeLogisticRecovers(t *testing.T) {
	h := synthHistory(t, 40000, 2)
	var rows []Record
	for _, r := range h.Records {
		if r.Cat[0] == "A" {
			rows = append(rows, r)
		}
	}
	specs := []FeatureSpec{{Name: "region", Kind: KindCat, Cols: []int{1}}, {Name: "flip", Kind: KindCat, Cols: []int{3}}}
	d := newDesign(rows, specs)
	w, y := weights(rows, time.Time{}, 0)
	_, beta, _, err := fitRidgeLogistic(context.Background(), d, y, w, 0.01, nil)
	if err != nil {
		t.Fatal(err)
	}
	coef := func(lv string) float64 { return beta[d.vocab[0][lv]] }
	// True effects −1.5 and +1.6; the flip effect averages out over time,
	// so the fitted differences match the region effects closely.
	if diff := coef("r4") - coef("r0"); math.Abs(diff-3.1) > 0.25 {
		t.Fatalf("r4 − r0 = %.3f, want ≈ 3.1", diff)
	}
	if diff := coef("r3") - coef("r2"); math.Abs(diff-0.8) > 0.2 {
		t.Fatalf("r3 − r2 = %.3f, want ≈ 0.8", diff)
	}
}

// TestSelectBookingFindsTheRealEffect: the procedure keeps region for
// route A, nothing that inverts between regimes, and nothing for route B.
func TestSelectBookingFindsTheRealEffect(t *testing.T) {
	if testing.Short() {
		t.Skip("selection grid")
	}
	h := synthHistory(t, 6000, 3)
	split := time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC)
	bm, rep, err := SelectBooking(context.Background(), h, h.Records, DefaultValFrom(split), split, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	fa := rep.Settings.Features["A"]
	if len(fa) == 0 || fa[0] != "region" {
		t.Fatalf("route A features %q, want region first", fa)
	}
	for st, fs := range rep.Settings.Features {
		if slices.Contains(fs, "flip") || slices.Contains(fs, "noise") {
			t.Fatalf("stratum %s kept a drifting or useless feature: %q", st, fs)
		}
	}
	if slices.Contains(rep.Settings.Features["B"], "region") {
		t.Fatalf("route B kept region: %q", rep.Settings.Features["B"])
	}
	if len(rep.Windows) != 4 || rep.Validation.AUC <= rep.ValBase.AUC-0.02 {
		t.Fatalf("windows %d, validation AUC %.3f vs baseline %.3f", len(rep.Windows), rep.Validation.AUC, rep.ValBase.AUC)
	}
	if bm.Cutoff != split || bm.Trained == 0 {
		t.Fatalf("cutoff %v trained %d", bm.Cutoff, bm.Trained)
	}
}

// TestSelectBookingIgnoresTestRows: labels at or after the split cannot
// change what is selected or fitted.
func TestSelectBookingIgnoresTestRows(t *testing.T) {
	if testing.Short() {
		t.Skip("selection grid")
	}
	h := synthHistory(t, 3000, 4)
	split := time.Date(2012, 7, 1, 0, 0, 0, 0, time.UTC)
	valFrom := split.AddDate(-2, 0, 0)
	run := func() []byte {
		bm, _, err := SelectBooking(context.Background(), h, h.Records, valFrom, split, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bm.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := run()
	for i := range h.Records {
		if r := &h.Records[i]; !r.Promised.Before(split) {
			if r.Late() {
				r.Actual = r.Promised
			} else {
				r.Actual = r.Promised.AddDate(0, 0, 3)
			}
		}
	}
	if second := run(); !bytes.Equal(first, second) {
		t.Fatal("flipping test labels changed the model")
	}
}

func trainedSynth(t *testing.T) (*History, *BookingModel) {
	t.Helper()
	h := synthHistory(t, 4000, 5)
	cut := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	set := BookingSettings{HalfLifeDays: 730, L2: 3, LevelHalfLifeDays: 180, Features: map[string][]string{"A": {"region", "noise"}}}
	bm, err := TrainBooking(context.Background(), h.Records, 0, "route", CandidateFeatures(h, h.Records), set, cut)
	if err != nil {
		t.Fatal(err)
	}
	return h, bm
}

// TestBookingExplainAddsUp: the explanation is exact — the stratum's base
// log-odds plus every factor's log-odds is the prediction's log-odds.
func TestBookingExplainAddsUp(t *testing.T) {
	h, bm := trainedSynth(t)
	for _, r := range h.Records[:50] {
		ex := bm.Explain(&r)
		if math.Abs(ex.P-bm.Score(&r)) > 1e-12 {
			t.Fatalf("explain p %v, score %v", ex.P, bm.Score(&r))
		}
		sum := logit(ex.Base)
		for _, f := range ex.Factors {
			sum += f.LogOdds
		}
		if math.Abs(sum-logit(ex.P)) > 1e-6 {
			t.Fatalf("base + factors = %v, prediction %v", sum, logit(ex.P))
		}
		if r.Cat[0] == "A" && (len(ex.Factors) != 2 || ex.Stratum != "route = A") {
			t.Fatalf("route A explanation %+v", ex)
		}
		if r.Cat[0] == "B" && len(ex.Factors) != 0 {
			t.Fatalf("route B has factors %+v", ex.Factors)
		}
	}
	// Unseen stratum value and unseen level: the rest stratum, no panic.
	r := Record{Cat: []string{"Z", "r9", "", ""}}
	if p := bm.Score(&r); !(p > 0 && p < 1) {
		t.Fatalf("unseen stratum p = %v", p)
	}
}

// TestBookingLevelShift: the level re-centring makes the recency-weighted
// mean prediction equal the recency-weighted late rate.
func TestBookingLevelShift(t *testing.T) {
	h, bm := trainedSynth(t)
	w, y := weights(h.Records, bm.Cutoff, bm.Settings.LevelHalfLifeDays)
	var W, K, P float64
	for i := range h.Records {
		W += w[i]
		P += w[i] * bm.Score(&h.Records[i])
		if y[i] {
			K += w[i]
		}
	}
	if math.Abs(P/W-(K+0.5)/(W+1)) > 1e-6 {
		t.Fatalf("weighted mean p %.6f, weighted rate %.6f", P/W, (K+0.5)/(W+1))
	}
}

func TestBookingMarshalRoundTrip(t *testing.T) {
	h, bm := trainedSynth(t)
	bm.PlattA, bm.PlattB = 1.3, -0.2
	b1, err := bm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back BookingModel
	if err := back.UnmarshalBinary(b1); err != nil {
		t.Fatal(err)
	}
	b2, _ := back.MarshalBinary()
	if !bytes.Equal(b1, b2) {
		t.Fatal("marshal → unmarshal → marshal changed the bytes")
	}
	for i := range h.Records[:200] {
		if a, b := bm.Score(&h.Records[i]), back.Score(&h.Records[i]); a != b {
			t.Fatalf("row %d: %v before, %v after the round trip", i, a, b)
		}
	}
	for name, bad := range map[string]string{
		"wrong version": strings.Replace(string(b1), `"version":2`, `"version":1`, 1),
		"no rest":       strings.Replace(string(b1), `"name":"*"`, `"name":"C"`, 1),
		"bad Platt":     strings.Replace(string(b1), `"platt_a":1.3`, `"platt_a":-1`, 1),
		"unknown field": strings.Replace(string(b1), `"shift"`, `"shift2"`, 1),
		"truncated":     string(b1[:len(b1)/2]),
	} {
		if err := back.UnmarshalBinary([]byte(bad)); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
}

// TestOrderFeatures: distinct products per order and the ordered amount per
// order and product, however many rows (partial shipments) it took.
func TestOrderFeatures(t *testing.T) {
	m, err := ParseMapping([]byte(`
promised: promised
actual: delivered
date_formats: ["2006-01-02"]
categorical: [item]
group: po
group_item: item
group_sum: [qty]
baseline: [item]
`))
	if err != nil {
		t.Fatal(err)
	}
	csv := "po,item,qty,promised,delivered\n" +
		"P1,pills,100,2012-01-01,2012-01-01\n" +
		"P1,pills,50,2012-01-01,2012-02-01\n" + // the rest of the same line, shipped late
		"P1,tests,7,2012-01-01,2012-01-01\n" +
		"P2,pills,n/a,2012-01-01,2012-01-01\n" +
		",pills,9,2012-01-01,2012-01-01\n"
	h, err := LoadHistory(strings.NewReader(csv), m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.NumNames, []string{"order items", "order total:qty"}) {
		t.Fatalf("slots %q", h.NumNames)
	}
	want := [][2]float64{{2, 150}, {2, 150}, {2, 7}, {1, math.NaN()}, {math.NaN(), 9}}
	for i, w := range want {
		got := h.Records[i].Num
		for j := range w {
			if !(got[j] == w[j] || math.IsNaN(got[j]) && math.IsNaN(w[j])) {
				t.Fatalf("row %d: %v, want %v", i+1, got, w)
			}
		}
	}
}
