package eta

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// Completed is one delivered shipment, the unit the live model learns from.
// Triage fills it from the intake shipment tables (or an imported history).
type Completed struct {
	Carrier     string
	Origin      string // ISO country
	Destination string // ISO country
	Service     string // carrier service level; "" when unknown
	PickedUpAt  time.Time
	DeliveredAt time.Time
	// LastMileAt is when the shipment reached a last-mile milestone
	// (out for delivery, available for pickup); zero when never seen.
	LastMileAt time.Time
	// Exceptions are the exception categories the shipment went through.
	Exceptions []string
}

// Features is the state of a shipment in flight at time Now.
type Features struct {
	Carrier     string
	Origin      string
	Destination string
	Service     string
	Now         time.Time
	// PickedUpAt is zero when the carrier has not picked the parcel up yet;
	// transit is then assumed to start at Now.
	PickedUpAt time.Time
	// Promised is the promised delivery time; zero when there is none.
	Promised  time.Time
	Milestone intake.Status
	// MilestoneAt is when the current milestone was reached.
	MilestoneAt time.Time
	// LastScanAt is the last physical scan; zero when none.
	LastScanAt time.Time
	// OpenExceptions are the categories of the exceptions open now.
	OpenExceptions []string
}

// Factor is one reason the estimate is what it is. Effect is the change in
// P(miss) it caused (positive = riskier); Detail is a sentence for people.
type Factor struct {
	Name   string  `json:"name"`
	Effect float64 `json:"effect"`
	Detail string  `json:"detail"`
}

// Prediction is the live model's answer for one shipment.
type Prediction struct {
	// PMiss is P(delivered after Promised); NaN when there is no promise or
	// the shipment is already delivered.
	PMiss float64   `json:"p_miss"`
	P50   time.Time `json:"p50"`
	P90   time.Time `json:"p90"`
	// Group is the lane group whose distribution was used, e.g.
	// "carrier×origin×destination×service" or a broader backoff.
	Group   string   `json:"group"`
	Support float64  `json:"support"` // (decayed) shipments behind that group
	Factors []Factor `json:"factors"`
}

// Transit-time histogram: log-spaced bins from 1 hour to 180 days, plus an
// underflow bin [0, 1h). Log spacing keeps relative resolution constant from
// same-day courier to ocean freight.
const (
	nBins      = 64
	minHours   = 1.0
	maxHours   = 180 * 24.0
	nLevels    = 4
	maxGroups0 = 200_000 // cap on the most specific level; bounds memory
)

var (
	logMin = math.Log(minHours)
	logMax = math.Log(maxHours)
	// binStep is the log-width of one bin (bins 1..nBins-1 are log-spaced).
	binStep = (logMax - logMin) / float64(nBins-1)
)

func binOf(hours float64) int {
	if hours < minHours {
		return 0
	}
	b := 1 + int((math.Log(hours)-logMin)/binStep)
	if b >= nBins {
		b = nBins - 1
	}
	return b
}

// binUpper is the upper edge in hours of bin b.
func binUpper(b int) float64 {
	if b == 0 {
		return minHours
	}
	return math.Exp(logMin + float64(b)*binStep)
}

func binLower(b int) float64 {
	if b == 0 {
		return 0
	}
	return binUpper(b - 1)
}

// levelNames describe the groups, most specific first. A prediction's
// location (typical transit) is built all → origin×destination → plus the
// carrier×service speed effect → the full lane, each step shrunk by its
// support; its shape (spread around that location) comes from the full
// lane when rich, else from the carrier×service residuals, else from all.
var levelNames = [nLevels]string{
	"carrier×origin×destination×service",
	"origin×destination",
	"carrier×service",
	"all shipments",
}

type hist struct {
	N    float64
	Bins [nBins]float32
}

// LiveOptions tune training.
type LiveOptions struct {
	// Now is the training time (decay origin). Required.
	Now time.Time
	// HalfLife is the age at which a delivery counts half (default 90 days;
	// negative disables decay).
	HalfLife time.Duration
	// MinSupport is the decayed shipment count at which a group is trusted
	// on its own; thinner groups are shrunk towards their parent (default 30).
	MinSupport float64
}

// LiveModel holds transit-time distributions per lane with backoff, last-mile
// residual distributions per carrier, and learned exception delays.
type LiveModel struct {
	Opts    LiveOptions
	Trained int
	Skipped int
	// Levels[l] maps a group key hash to an index into Hists[l].
	Keys  [nLevels][]uint64
	Hists [nLevels][]hist
	// Parent[i] holds the origin×destination and carrier×service keys of
	// full lane i, so its residuals can teach those groups.
	Parent [][2]uint64
	index  [nLevels]map[uint64]int32
	// Derived by finalize from the histograms (never persisted):
	loc     [nLevels][]float64 // log-median hours per group
	csShape [][nRes]float64    // per carrier×service: residual mass (normalised)
	csEff   []float64          // per carrier×service: speed effect vs lane, log
	csW     []float64          // per carrier×service: support of shape and effect
	gShape  [nRes]float64      // all lanes' residual mass
	// LastMile maps carrier key → residual (delivered − last-mile) hist;
	// the entry with key 0 is all carriers.
	LMKeys  []uint64
	LMHists []hist
	lmIndex map[uint64]int32
	// ExcDelay is the median extra transit (hours) for shipments that went
	// through each exception category, relative to their lane median.
	ExcDelay map[string]float64
	// ScanGapHours is the dwell without a physical scan beyond which the
	// time is counted as lost progress (default 24 h). Completed shipments
	// carry no scan series, so it is a setting, not learned.
	ScanGapHours float64
}

// fnvKey hashes a level's group fields (FNV-1a, ASCII case folded) without
// allocating; the hash is stable across processes, so persisted models keep
// only the hashes.
func fnvKey(level int, f *[4]string) uint64 {
	const off, prime = 14695981039346656037, 1099511628211
	h := uint64(off)
	h ^= uint64(level + 1)
	h *= prime
	parts := levelParts(level)
	for _, p := range parts {
		s := f[p]
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			h ^= uint64(c)
			h *= prime
		}
		h ^= 0x1f
		h *= prime
	}
	return h
}

// levelParts says which of (carrier, origin, destination, service) each
// backoff level keys on.
func levelParts(level int) []int {
	switch level {
	case 0:
		return []int{0, 1, 2, 3}
	case 1:
		return []int{1, 2}
	case 2:
		return []int{0, 3}
	}
	return nil
}

// ErrInvalidShipment marks a completed shipment that cannot be learned from.
var ErrInvalidShipment = errors.New("invalid completed shipment")

func (c *Completed) check() error {
	switch {
	case c.PickedUpAt.IsZero() || c.DeliveredAt.IsZero():
		return fmt.Errorf("%w: pickup and delivery times are required", ErrInvalidShipment)
	case c.DeliveredAt.Before(c.PickedUpAt):
		return fmt.Errorf("%w: delivered before pickup", ErrInvalidShipment)
	case c.DeliveredAt.Sub(c.PickedUpAt).Hours() > maxHours:
		return fmt.Errorf("%w: transit longer than %g days", ErrInvalidShipment, maxHours/24)
	}
	return nil
}

// TrainLive builds a live model from completed shipments streamed by seq.
// Memory is bounded by the number of distinct groups (the most specific
// level is capped at maxGroups0; overflow still feeds the broader levels),
// not by the number of shipments. Invalid shipments are skipped and counted.
// Exception delays need the lane medians, so they are estimated in a second,
// bounded pass over a reservoir sample of shipments with exceptions.
func TrainLive(ctx context.Context, seq iter.Seq2[Completed, error], opts LiveOptions) (*LiveModel, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("train live model: options.Now is required")
	}
	if opts.HalfLife == 0 {
		opts.HalfLife = 90 * 24 * time.Hour
	}
	if opts.MinSupport <= 0 {
		opts.MinSupport = 30
	}
	m := &LiveModel{Opts: opts, ExcDelay: map[string]float64{}, ScanGapHours: 24}
	for l := range m.index {
		m.index[l] = map[uint64]int32{}
	}
	m.lmIndex = map[uint64]int32{}
	type excSample struct {
		keys  [nLevels]uint64
		hours float64
		cats  []string
	}
	const reservoir = 200_000
	var samples []excSample
	var excSeen int
	rng := uint64(0x9e3779b97f4a7c15)
	n := 0
	for c, err := range seq {
		if err != nil {
			return nil, fmt.Errorf("train live model: read: %w", err)
		}
		n++
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("train live model: %w", err)
			}
		}
		if c.check() != nil {
			m.Skipped++
			continue
		}
		w := 1.0
		if opts.HalfLife > 0 {
			age := opts.Now.Sub(c.DeliveredAt)
			if age > 0 {
				w = math.Exp2(-float64(age) / float64(opts.HalfLife))
			}
		}
		hours := c.DeliveredAt.Sub(c.PickedUpAt).Hours()
		b := binOf(hours)
		f := [4]string{c.Carrier, c.Origin, c.Destination, c.Service}
		var keys [nLevels]uint64
		for l := 0; l < nLevels; l++ {
			keys[l] = fnvKey(l, &f)
		}
		for l := 0; l < nLevels; l++ {
			k := keys[l]
			i, ok := m.index[l][k]
			if !ok {
				if l == 0 && len(m.Keys[0]) >= maxGroups0 {
					continue
				}
				i = int32(len(m.Keys[l]))
				m.index[l][k] = i
				m.Keys[l] = append(m.Keys[l], k)
				m.Hists[l] = append(m.Hists[l], hist{})
				if l == 0 {
					m.Parent = append(m.Parent, [2]uint64{keys[1], keys[2]})
				}
			}
			h := &m.Hists[l][i]
			h.N += w
			h.Bins[b] += float32(w)
		}
		if !c.LastMileAt.IsZero() && !c.LastMileAt.Before(c.PickedUpAt) && !c.DeliveredAt.Before(c.LastMileAt) {
			rb := binOf(c.DeliveredAt.Sub(c.LastMileAt).Hours())
			for _, k := range []uint64{lmKey(c.Carrier), 0} {
				i, ok := m.lmIndex[k]
				if !ok {
					i = int32(len(m.LMKeys))
					m.lmIndex[k] = i
					m.LMKeys = append(m.LMKeys, k)
					m.LMHists = append(m.LMHists, hist{})
				}
				m.LMHists[i].N += w
				m.LMHists[i].Bins[rb] += float32(w)
			}
		}
		if len(c.Exceptions) > 0 {
			excSeen++
			s := excSample{keys: keys, hours: hours, cats: slices.Clone(c.Exceptions)}
			if len(samples) < reservoir {
				samples = append(samples, s)
			} else {
				rng ^= rng << 13
				rng ^= rng >> 7
				rng ^= rng << 17
				if j := int(rng % uint64(excSeen)); j < reservoir {
					samples[j] = s
				}
			}
		}
		m.Trained++
	}
	if m.Trained == 0 {
		return nil, fmt.Errorf("train live model: %w (%d skipped as invalid)", ErrNoTrainingData, m.Skipped)
	}
	m.finalize()
	// Exception delay: median of (transit − lane median) per category.
	deltas := map[string][]float64{}
	for _, s := range samples {
		med := m.quantileAt(m.blend(s.keys), 0, 0.5)
		for _, cat := range s.cats {
			deltas[cat] = append(deltas[cat], s.hours-med)
		}
	}
	for cat, d := range deltas {
		if len(d) < 20 {
			continue
		}
		slices.Sort(d)
		if med := d[len(d)/2]; med > 0 {
			m.ExcDelay[cat] = med
		}
	}
	return m, nil
}

func lmKey(carrier string) uint64 {
	f := [4]string{carrier}
	return fnvKey(3, &f) ^ 0x5bd1e995
}

// Residual grid: log(transit / location) from −4 to +4 (1/55× to 55×).
const (
	nRes    = 64
	resMin  = -4.0
	resStep = 8.0 / nRes
	// minShapeSupport is the shipments a full lane needs before its own
	// median-centred histogram may teach the carrier×service shape.
	minShapeSupport = 10
)

// dist is a predicted transit distribution: log-hours location mu plus a
// residual distribution (cumulative mass at each residual bin's upper edge).
type dist struct {
	mu      float64
	cdf     [nRes]float64
	level   int
	support float64
}

// binCenterLog is the log-hours centre of histogram bin b.
func binCenterLog(b int) float64 {
	if b == 0 {
		return math.Log(minHours / 2)
	}
	return logMin + (float64(b)-0.5)*binStep
}

// histLogMedian is a histogram's median in log-hours, interpolated in bin.
func histLogMedian(h *hist) float64 {
	total := 0.0
	for _, v := range h.Bins {
		total += float64(v)
	}
	if total <= 0 {
		return math.Log(24)
	}
	acc := 0.0
	for b, v := range h.Bins {
		fv := float64(v)
		if acc+fv >= total/2 && fv > 0 {
			frac := (total/2 - acc) / fv
			if b == 0 {
				return math.Log(math.Max(frac*minHours, 0.05))
			}
			return logMin + (float64(b-1)+frac)*binStep
		}
		acc += fv
	}
	return logMax
}

// addResiduals adds a histogram's mass, centred on mu, to a residual vector
// (weight w per unit of normalised mass), splitting each bin linearly.
func addResiduals(out *[nRes]float64, h *hist, mu, w float64) {
	total := 0.0
	for _, v := range h.Bins {
		total += float64(v)
	}
	if total <= 0 {
		return
	}
	for b, v := range h.Bins {
		if v == 0 {
			continue
		}
		x := (binCenterLog(b)-mu-resMin)/resStep - 0.5
		i := math.Floor(x)
		frac := x - i
		lo, hi := clampRes(int(i)), clampRes(int(i)+1)
		m := w * float64(v) / total
		out[lo] += (1 - frac) * m
		out[hi] += frac * m
	}
}

func clampRes(i int) int { return min(max(i, 0), nRes-1) }

func shrink(n, k float64) float64 { return n / (n + k) }

// finalize derives locations, carrier×service shapes and speed effects from
// the histograms. It runs after training and after unmarshalling, so only
// the histograms are persisted.
func (m *LiveModel) finalize() {
	for l := range m.Hists {
		m.loc[l] = make([]float64, len(m.Hists[l]))
		for i := range m.Hists[l] {
			m.loc[l][i] = histLogMedian(&m.Hists[l][i])
		}
	}
	m.gShape = [nRes]float64{}
	m.csShape = make([][nRes]float64, len(m.Hists[2]))
	m.csEff = make([]float64, len(m.Hists[2]))
	m.csW = make([]float64, len(m.Hists[2]))
	allMu := m.allLoc()
	// Full lanes are re-keyed to their parents through the parents' keys,
	// which were stored alongside at training time.
	for i := range m.Hists[0] {
		h := &m.Hists[0][i]
		if h.N < minShapeSupport || i >= len(m.Parent) {
			continue
		}
		own := m.loc[0][i]
		addResiduals(&m.gShape, h, own, h.N)
		par := m.Parent[i]
		odMu := allMu
		if j, ok := m.index[1][par[0]]; ok {
			odMu = allMu + shrink(m.Hists[1][j].N, kLocation)*(m.loc[1][j]-allMu)
		}
		if j, ok := m.index[2][par[1]]; ok {
			addResiduals(&m.csShape[j], h, own, h.N)
			m.csEff[j] += h.N * (own - odMu)
			m.csW[j] += h.N
		}
	}
	normalise(&m.gShape)
	for j := range m.csShape {
		normalise(&m.csShape[j])
		if m.csW[j] > 0 {
			m.csEff[j] /= m.csW[j]
		}
	}
}

func normalise(p *[nRes]float64) {
	s := 0.0
	for _, v := range p {
		s += v
	}
	if s > 0 {
		for i := range p {
			p[i] /= s
		}
	}
}

func (m *LiveModel) allLoc() float64 {
	if len(m.loc[3]) == 1 {
		return m.loc[3][0]
	}
	return math.Log(24)
}

// kLocation is the pseudo-count that shrinks a group's median towards its
// parent's: a location is estimable from a handful of shipments, a shape is
// not, so it is much smaller than MinSupport.
const kLocation = 3.0

// blend builds the distribution for a shipment's group keys.
func (m *LiveModel) blend(keys [nLevels]uint64) *dist {
	var d dist
	d.level = nLevels - 1
	if len(m.Hists[3]) == 1 {
		d.support = m.Hists[3][0].N
	}
	mu := m.allLoc()
	shape := m.gShape
	if j, ok := m.index[1][keys[1]]; ok {
		n := m.Hists[1][j].N
		mu += shrink(n, kLocation) * (m.loc[1][j] - mu)
		if n >= m.Opts.MinSupport {
			d.level, d.support = 1, n
		}
	}
	if j, ok := m.index[2][keys[2]]; ok && m.csW[j] > 0 {
		w := m.csW[j]
		mu += shrink(w, kLocation) * m.csEff[j]
		a := shrink(w, m.Opts.MinSupport)
		for r := range shape {
			shape[r] = a*m.csShape[j][r] + (1-a)*shape[r]
		}
		if w >= m.Opts.MinSupport && d.level > 2 {
			d.level, d.support = 2, w
		}
	}
	if i, ok := m.index[0][keys[0]]; ok {
		h := &m.Hists[0][i]
		own := m.loc[0][i]
		mu += shrink(h.N, kLocation) * (own - mu)
		var r [nRes]float64
		addResiduals(&r, h, own, 1)
		a := shrink(h.N, m.Opts.MinSupport)
		for k := range shape {
			shape[k] = a*r[k] + (1-a)*shape[k]
		}
		if h.N >= m.Opts.MinSupport {
			d.level, d.support = 0, h.N
		}
	}
	d.mu = mu
	cdfOf(&d, &shape)
	return &d
}

func cdfOf(d *dist, shape *[nRes]float64) {
	acc := 0.0
	for r := range shape {
		acc += shape[r]
		d.cdf[r] = acc
	}
	if acc > 0 {
		for r := range d.cdf {
			d.cdf[r] /= acc
		}
	}
}

// cdfAt is F(hours), interpolated linearly within a residual bin.
func (d *dist) cdfAt(hours float64) float64 {
	if hours <= 0 {
		return 0
	}
	x := (math.Log(hours) - d.mu - resMin) / resStep
	if x <= 0 {
		return 0
	}
	if x >= nRes {
		return 1
	}
	b := int(x)
	lo := 0.0
	if b > 0 {
		lo = d.cdf[b-1]
	}
	return lo + (x-float64(b))*(d.cdf[b]-lo)
}

// quantile is the time t with F(t) = q, inverting cdfAt.
func (d *dist) quantile(q float64) float64 {
	for b := 0; b < nRes; b++ {
		if d.cdf[b] >= q {
			lo := 0.0
			if b > 0 {
				lo = d.cdf[b-1]
			}
			frac := 0.0
			if d.cdf[b] > lo {
				frac = (q - lo) / (d.cdf[b] - lo)
			}
			return math.Exp(d.mu + resMin + (float64(b)+frac)*resStep)
		}
	}
	return math.Exp(d.mu + resMin + nRes*resStep)
}

// quantileAt is the q-quantile of transit given it exceeds elapsed hours.
func (m *LiveModel) quantileAt(d *dist, elapsed, q float64) float64 {
	fe := d.cdfAt(elapsed)
	if fe >= 1-1e-9 {
		// Beyond everything seen: the shipment is an outlier; assume the
		// remaining time is the lane's median again.
		return elapsed + d.quantile(0.5)
	}
	return d.quantile(fe + q*(1-fe))
}

// survival is P(T > t | T > e).
func survival(d *dist, t, e float64) float64 {
	fe := d.cdfAt(e)
	if fe >= 1-1e-9 {
		return 1
	}
	return math.Min(math.Max((1-d.cdfAt(t))/(1-fe), 0), 1)
}

// lastMile reports whether a milestone means the parcel is at its last leg.
func lastMile(s intake.Status) bool {
	return s == intake.StatusOutForDelivery || s == intake.StatusAvailableForPickup || s == intake.StatusDeliveryAttempted
}

// Score predicts one shipment in flight. It allocates only the factor list.
func (m *LiveModel) Score(f Features) Prediction {
	var keys [nLevels]uint64
	fs := [4]string{f.Carrier, f.Origin, f.Destination, f.Service}
	for l := range keys {
		keys[l] = fnvKey(l, &fs)
	}
	d := m.blend(keys)
	pred := Prediction{PMiss: math.NaN(), Group: levelNames[d.level], Support: d.support}
	start := f.PickedUpAt
	if start.IsZero() || start.After(f.Now) {
		start = f.Now
	}
	elapsed := f.Now.Sub(start).Hours()
	// Dwell: time without a physical scan beyond the usual gap is progress
	// lost; the shipment is treated as if it had travelled that much less.
	lost := 0.0
	if !f.LastScanAt.IsZero() && f.Now.After(f.LastScanAt) && !f.PickedUpAt.IsZero() {
		if dwell := f.Now.Sub(f.LastScanAt).Hours(); dwell > m.ScanGapHours {
			lost = math.Min(dwell-m.ScanGapHours, elapsed)
		}
	}
	progress := elapsed - lost
	// Open exceptions add their learned delay (the largest one; concurrent
	// exceptions usually share a cause).
	excDelay, excName := 0.0, ""
	for _, c := range f.OpenExceptions {
		if v := m.ExcDelay[c]; v > excDelay {
			excDelay, excName = v, c
		} else if excName == "" {
			excName = c
		}
	}
	// remaining(q) in hours from now.
	rd := d
	rElapsed := progress
	usedLastMile := false
	if lastMile(f.Milestone) && !f.MilestoneAt.IsZero() && !f.MilestoneAt.After(f.Now) {
		if lm := m.lastMileDist(f.Carrier); lm != nil {
			rd, rElapsed, usedLastMile = lm, f.Now.Sub(f.MilestoneAt).Hours(), true
		}
	}
	rem := func(q float64) float64 { return m.quantileAt(rd, rElapsed, q) - rElapsed + excDelay }
	pred.P50 = f.Now.Add(hoursDur(rem(0.5)))
	pred.P90 = f.Now.Add(hoursDur(rem(0.9)))
	if f.Promised.IsZero() || f.Milestone == intake.StatusDelivered {
		return pred
	}
	// pmiss is P(T > e + left | T > e) with left = hours until the promise
	// less a known extra delay: the chance the remaining transit overruns.
	left := f.Promised.Sub(f.Now).Hours()
	pmiss := func(dd *dist, e, extra float64) float64 {
		if left-extra <= 0 {
			return 1
		}
		return survival(dd, e+left-extra, e)
	}
	pred.PMiss = pmiss(rd, rElapsed, excDelay)
	// Factors: "lane" is P(miss) of this promise for a shipment just picked
	// up on this lane; each other factor is the change in P(miss) it causes
	// on top of the ones before it.
	plan := f.Promised.Sub(start).Hours()
	laneP := 1.0
	if plan > 0 {
		laneP = survival(d, plan, 0)
	}
	pred.Factors = append(pred.Factors, Factor{
		Name: "lane", Effect: laneP,
		Detail: fmt.Sprintf("%s: median transit %s, p90 %s (%.0f shipments); promise allows %s", levelNames[d.level], fmtHours(d.quantile(0.5)), fmtHours(d.quantile(0.9)), d.support, fmtHours(plan)),
	})
	if usedLastMile {
		noLM := pmiss(d, progress, excDelay)
		pred.Factors = append(pred.Factors, Factor{Name: "milestone", Effect: pred.PMiss - noLM,
			Detail: fmt.Sprintf("%s for %s; last-mile timing used", f.Milestone, fmtHours(rElapsed))})
	} else if elapsed > 0 {
		pred.Factors = append(pred.Factors, Factor{Name: "elapsed", Effect: pmiss(d, elapsed, 0) - laneP,
			Detail: fmt.Sprintf("in transit for %s", fmtHours(elapsed))})
	}
	if lost > 0 && !usedLastMile {
		pred.Factors = append(pred.Factors, Factor{Name: "dwell", Effect: pmiss(d, progress, 0) - pmiss(d, elapsed, 0),
			Detail: fmt.Sprintf("no scan for %s (usual gap ≤ %s)", fmtHours(f.Now.Sub(f.LastScanAt).Hours()), fmtHours(m.ScanGapHours))})
	}
	if excName != "" {
		pred.Factors = append(pred.Factors, Factor{Name: "exceptions", Effect: pred.PMiss - pmiss(rd, rElapsed, 0),
			Detail: fmt.Sprintf("open %s adds about %s", strings.Join(f.OpenExceptions, ", "), fmtHours(excDelay))})
	}
	slices.SortStableFunc(pred.Factors, func(a, b Factor) int {
		return -cmpFloat(math.Abs(a.Effect), math.Abs(b.Effect))
	})
	return pred
}

func (m *LiveModel) lastMileDist(carrier string) *dist {
	for _, k := range []uint64{lmKey(carrier), 0} {
		if i, ok := m.lmIndex[k]; ok && m.LMHists[i].N >= m.Opts.MinSupport {
			h := &m.LMHists[i]
			d := dist{mu: histLogMedian(h), support: h.N}
			var r [nRes]float64
			addResiduals(&r, h, d.mu, 1)
			cdfOf(&d, &r)
			return &d
		}
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hoursDur(h float64) time.Duration {
	if h < 0 {
		h = 0
	}
	return time.Duration(h * float64(time.Hour))
}

func fmtHours(h float64) string {
	if h < 48 {
		return fmt.Sprintf("%.0fh", h)
	}
	return fmt.Sprintf("%.1fd", h/24)
}
