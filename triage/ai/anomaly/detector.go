package anomaly

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config tunes the detector. Zero fields take the defaults in parentheses.
type Config struct {
	Bucket             time.Duration // width of a time bucket (1h)
	HalfLife           float64       // baseline half-life in buckets (72)
	MinVolume          int           // events in the bucket for a key to be tested (30)
	MinExceptions      int           // exceptions in the bucket for a spike (5)
	MinBaselineBuckets int           // buckets with traffic before a key's baseline counts (24)
	Alpha              float64       // one-sided tail probability threshold (1e-7)
	ContinueAlpha      float64       // threshold for a spike to continue in the next bucket (0.01)
	MinZ               float64       // z-score threshold (5)
	MinRatio           float64       // observed rate at least this multiple of the expected (1.5)
	MinLift            float64       // observed rate at least this much above the expected (0.05)
	PriorStrength      float64       // pseudo-events shrinking a key toward its parent's rate (50)
	SpikeWeight        float64       // weight of a spike bucket in the baseline update (0.5)
	LaneShare          float64       // share of a carrier's excess on one lane to call it a lane spike (0.8)
	MaxEvidence        int           // exception events attached to a spike (20)
}

func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Bucket <= 0 {
		c.Bucket = time.Hour
	}
	def(&c.HalfLife, 72)
	if c.MinVolume <= 0 {
		c.MinVolume = 30
	}
	if c.MinExceptions <= 0 {
		c.MinExceptions = 5
	}
	if c.MinBaselineBuckets <= 0 {
		c.MinBaselineBuckets = 24
	}
	def(&c.Alpha, 1e-7)
	def(&c.ContinueAlpha, 0.01)
	def(&c.MinZ, 5)
	def(&c.MinRatio, 1.5)
	def(&c.MinLift, 0.05)
	def(&c.PriorStrength, 50)
	def(&c.SpikeWeight, 0.5)
	def(&c.LaneShare, 0.8)
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
	return c
}

// Observation is one canonical event as the detector sees it.
type Observation struct {
	Carrier     string
	Origin      string // origin country (ISO 3166-1 alpha-2) or "" if unknown
	Destination string
	// At places the event in a bucket. Use the time Yardmaster received the
	// event: carriers report late and out of order, and a spike is about
	// what is arriving now.
	At             time.Time
	Exception      bool
	Reason         string // canonical reason of the exception
	EventID        string
	ShipmentID     string
	TrackingNumber string
}

// ErrInvalidObservation is returned for observations that cannot be counted.
var ErrInvalidObservation = errors.New("invalid observation")

// Lane is an origin → destination pair of one carrier.
type Lane struct {
	Origin      string `json:"origin"`
	Destination string `json:"destination"`
}

func (l Lane) String() string { return orUnknown(l.Origin) + "→" + orUnknown(l.Destination) }

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// Window is the time range of the bucket a spike was found in.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Evidence is one exception event behind a spike.
type Evidence struct {
	EventID        string    `json:"event_id"`
	ShipmentID     string    `json:"shipment_id,omitempty"`
	TrackingNumber string    `json:"tracking_number,omitempty"`
	Reason         string    `json:"reason"`
	Lane           Lane      `json:"lane"`
	At             time.Time `json:"at"`
}

// LaneStat is one lane's share of a carrier-wide spike.
type LaneStat struct {
	Lane       Lane    `json:"lane"`
	Volume     int     `json:"volume"`
	Exceptions int     `json:"exceptions"`
	Observed   float64 `json:"observed"`
	Expected   float64 `json:"expected"`
}

// Spike is an exception rate far above its baseline in one bucket. Triage
// opens or updates one disruption case per Key.
type Spike struct {
	Carrier string `json:"carrier"`
	Lane    *Lane  `json:"lane,omitempty"` // nil: carrier-wide
	// Reason is the canonical reason that carries most of the excess, or ""
	// when the excess is spread over several reasons.
	Reason       string         `json:"reason,omitempty"`
	Observed     float64        `json:"observed"` // exception rate in the window
	Expected     float64        `json:"expected"` // baseline rate
	ZScore       float64        `json:"z_score"`
	PValue       float64        `json:"p_value"`
	Volume       int            `json:"volume"`
	Exceptions   int            `json:"exceptions"`
	ReasonCounts map[string]int `json:"reason_counts"`
	Window       Window         `json:"window"`
	// Ongoing is set when the spike continues one found in the previous
	// bucket (same key), under the looser continuation thresholds.
	Ongoing  bool       `json:"ongoing,omitempty"`
	Lanes    []LaneStat `json:"lanes,omitempty"` // carrier-wide spikes: lanes above their baseline, worst first
	Evidence []Evidence `json:"evidence"`
}

// Key identifies the disruption a spike belongs to: carrier, lane (or "*")
// and dominant reason (or "*"). Consecutive spikes of one disruption share
// it, so triage updates one case instead of opening one per bucket.
func (s Spike) Key() string {
	lane, reason := "*", "*"
	if s.Lane != nil {
		lane = s.Lane.Origin + ">" + s.Lane.Destination
	}
	if s.Reason != "" {
		reason = s.Reason
	}
	return s.Carrier + "|" + lane + "|" + reason
}

// Detector counts observations and finds spikes. Observe and Sweep may be
// called from different goroutines.
type Detector struct {
	mu         sync.Mutex
	cfg        Config
	now        func() time.Time
	buckets    map[int64]*bucket
	baselines  map[string]*baseline
	lastClosed int64 // index of the last bucket evaluated; math.MinInt64 before the first sweep
	late       int64
}

// bucket holds the counts of one time bucket.
type bucket struct {
	Keys map[string]*counts `json:"keys"`
}

// counts are one key's counts in one bucket.
type counts struct {
	N        int            `json:"n"`
	K        int            `json:"k"`
	Reasons  map[string]int `json:"reasons,omitempty"`
	Evidence []Evidence     `json:"evidence,omitempty"` // the first MaxEvidence exceptions, in arrival order
}

// baseline is one key's exponentially weighted history.
type baseline struct {
	SN      float64            `json:"sn"`      // decayed event count
	SK      float64            `json:"sk"`      // decayed exception count
	SR      map[string]float64 `json:"sr"`      // decayed exception count per reason
	Rho     float64            `json:"rho"`     // intra-bucket correlation estimate (unclipped; used as max(0, Rho))
	Buckets int                `json:"buckets"` // buckets with traffic seen
	Last    int64              `json:"last"`    // index of the last bucket folded in
	// Active is set while the key is in a spike: the next bucket continues
	// it under looser thresholds (hysteresis), so a lasting disruption is
	// reported bucket after bucket and kept out of the variance estimate.
	Active bool `json:"active,omitempty"`
}

// Key strings: "*" overall, "c|<carrier>", "l|<carrier>|<origin>|<destination>".
const globalKey = "*"

func carrierKey(c string) string { return "c|" + c }
func laneKey(c string, l Lane) string {
	return "l|" + c + "|" + l.Origin + "|" + l.Destination
}

// New returns a detector with cfg (defaults filled in) and clock now.
func New(cfg Config, now func() time.Time) *Detector {
	if now == nil {
		now = time.Now
	}
	return &Detector{
		cfg: cfg.withDefaults(), now: now,
		buckets: map[int64]*bucket{}, baselines: map[string]*baseline{},
		lastClosed: math.MinInt64,
	}
}

// Config returns the effective configuration.
func (d *Detector) Config() Config { return d.cfg }

func (d *Detector) index(t time.Time) int64 {
	return int64(math.Floor(float64(t.UnixNano()) / float64(d.cfg.Bucket)))
}

func (d *Detector) start(i int64) time.Time {
	return time.Unix(0, i*int64(d.cfg.Bucket)).UTC()
}

// Observe counts one event. Events in a bucket that was already swept are
// dropped and counted as late; events stamped in the future are counted in
// the current bucket.
func (d *Detector) Observe(o Observation) error {
	c := Count{Carrier: o.Carrier, Origin: o.Origin, Destination: o.Destination, At: o.At, Events: 1}
	if o.Exception {
		c.Exceptions = map[string]int{o.Reason: 1}
		c.Evidence = []Evidence{{EventID: o.EventID, ShipmentID: o.ShipmentID, TrackingNumber: o.TrackingNumber, Reason: o.Reason, At: o.At.UTC()}}
	}
	return d.ObserveCount(c)
}

// Count is a pre-aggregated tally of one lane in one bucket, for callers
// that count in the database instead of event by event.
type Count struct {
	Carrier     string
	Origin      string
	Destination string
	At          time.Time      // any time inside the bucket
	Events      int            // all events, exceptions included
	Exceptions  map[string]int // exception events by canonical reason
	Evidence    []Evidence     // optional sample of the exception events
}

// ObserveCount adds a tally. The same lateness rules as Observe apply.
func (d *Detector) ObserveCount(c Count) error {
	c.Carrier = strings.TrimSpace(strings.ToLower(c.Carrier))
	if c.Carrier == "" || c.At.IsZero() {
		return fmt.Errorf("%w: carrier and time are required", ErrInvalidObservation)
	}
	k := 0
	for r, v := range c.Exceptions {
		if v < 0 {
			return fmt.Errorf("%w: negative count for reason %q", ErrInvalidObservation, r)
		}
		k += v
	}
	if c.Events < k {
		return fmt.Errorf("%w: %d exceptions among %d events", ErrInvalidObservation, k, c.Events)
	}
	if c.Events == 0 {
		return nil
	}
	lane := Lane{Origin: strings.ToUpper(strings.TrimSpace(c.Origin)), Destination: strings.ToUpper(strings.TrimSpace(c.Destination))}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.index(c.At)
	if cur := d.index(d.now()); i > cur {
		i = cur
	}
	if i <= d.lastClosed {
		d.late += int64(c.Events)
		mLate.Add(float64(c.Events))
		return nil
	}
	b := d.buckets[i]
	if b == nil {
		b = &bucket{Keys: map[string]*counts{}}
		d.buckets[i] = b
	}
	for _, key := range []string{globalKey, carrierKey(c.Carrier), laneKey(c.Carrier, lane)} {
		ct := b.Keys[key]
		if ct == nil {
			ct = &counts{Reasons: map[string]int{}}
			b.Keys[key] = ct
		}
		ct.N += c.Events
		ct.K += k
		for r, v := range c.Exceptions {
			if v > 0 {
				ct.Reasons[r] += v
			}
		}
		for _, e := range c.Evidence {
			if len(ct.Evidence) >= d.cfg.MaxEvidence {
				break
			}
			e.Lane = lane
			ct.Evidence = append(ct.Evidence, e)
		}
	}
	return nil
}

// Late returns the number of observations dropped because their bucket
// had already been swept.
func (d *Detector) Late() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.late
}

// Sweep evaluates every bucket that has ended by now and was not evaluated
// yet, oldest first, folds them into the baselines and returns the spikes
// found. Call it once per bucket width (or more often; it is idempotent
// within a bucket).
func (d *Detector) Sweep() []Spike {
	d.mu.Lock()
	defer d.mu.Unlock()
	closed := d.index(d.now()) - 1 // the current bucket is still filling
	var idx []int64
	for i := range d.buckets {
		if i <= closed {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	var out []Spike
	for _, i := range idx {
		out = append(out, d.evaluate(i, d.buckets[i])...)
		delete(d.buckets, i)
	}
	if closed > d.lastClosed {
		d.lastClosed = closed
	}
	// Forget keys silent for ten half-lives (their weight is below 0.1 %),
	// so lanes that stopped existing do not grow the state forever.
	horizon := int64(10 * d.cfg.HalfLife)
	for k, bl := range d.baselines {
		if k != globalKey && closed-bl.Last > horizon {
			delete(d.baselines, k)
		}
	}
	for _, s := range out {
		mSpikes.WithLabelValues(s.Carrier).Inc()
	}
	return out
}

// test is the outcome of testing one key's bucket against its baseline.
type test struct {
	key      string
	c        *counts
	expected float64
	z, p     float64
	spike    bool
	ongoing  bool // passed only the continuation thresholds of an active key
	excess   float64
}

// evaluate tests one closed bucket and then updates the baselines.
func (d *Detector) evaluate(i int64, b *bucket) []Spike {
	win := Window{Start: d.start(i), End: d.start(i + 1)}
	results := map[string]*test{}
	// Parents first: a lane's expected rate leans on its carrier's.
	keys := make([]string, 0, len(b.Keys))
	for k := range b.Keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		results[k] = d.test(k, b.Keys[k])
	}
	var spikes []Spike
	carriers := map[string][]string{} // carrier → its lane keys in this bucket
	for _, k := range keys {
		if strings.HasPrefix(k, "l|") {
			c := strings.SplitN(k, "|", 3)[1]
			carriers[c] = append(carriers[c], k)
		}
	}
	cnames := make([]string, 0, len(carriers))
	for c := range carriers {
		cnames = append(cnames, c)
	}
	sort.Strings(cnames)
	for _, c := range cnames {
		ct := results[carrierKey(c)]
		var flagged []*test
		for _, lk := range carriers[c] {
			if results[lk].spike {
				flagged = append(flagged, results[lk])
			}
		}
		switch {
		case ct.spike:
			// One lane holding nearly all of the excess is a lane problem.
			if len(flagged) == 1 && flagged[0].excess >= d.cfg.LaneShare*ct.excess {
				spikes = append(spikes, d.spike(c, flagged[0], win, nil))
				continue
			}
			var lanes []LaneStat
			for _, lk := range carriers[c] {
				r := results[lk]
				if r.c.K > 0 && float64(r.c.K)/float64(r.c.N) > r.expected {
					lanes = append(lanes, LaneStat{Lane: laneOf(lk), Volume: r.c.N, Exceptions: r.c.K, Observed: rate(r.c), Expected: r.expected})
				}
			}
			sort.Slice(lanes, func(a, b int) bool {
				ea := float64(lanes[a].Exceptions) - lanes[a].Expected*float64(lanes[a].Volume)
				eb := float64(lanes[b].Exceptions) - lanes[b].Expected*float64(lanes[b].Volume)
				if ea != eb {
					return ea > eb
				}
				return lanes[a].Lane.String() < lanes[b].Lane.String()
			})
			spikes = append(spikes, d.spike(c, ct, win, lanes))
		default:
			for _, f := range flagged {
				spikes = append(spikes, d.spike(c, f, win, nil))
			}
		}
	}
	// Fold the bucket into the baselines, spikes with a reduced weight.
	for _, k := range keys {
		w := 1.0
		if results[k].spike {
			w = d.cfg.SpikeWeight
		}
		d.update(k, b.Keys[k], i, w)
		d.baselines[k].Active = results[k].spike
	}
	// Keys without traffic in this bucket end their spikes.
	for k, bl := range d.baselines {
		if _, ok := b.Keys[k]; !ok {
			bl.Active = false
		}
	}
	return spikes
}

func rate(c *counts) float64 { return float64(c.K) / float64(c.N) }

func laneOf(k string) Lane {
	p := strings.SplitN(k, "|", 4)
	return Lane{Origin: p[2], Destination: p[3]}
}

// parentRate is the shrinkage target of key k: the carrier's rate for a
// lane, the overall rate for a carrier.
func (d *Detector) parentRate(k string) float64 {
	var pk string
	switch {
	case strings.HasPrefix(k, "l|"):
		pk = carrierKey(strings.SplitN(k, "|", 3)[1])
	case strings.HasPrefix(k, "c|"):
		pk = globalKey
	default:
		return math.NaN()
	}
	return d.expected(pk)
}

// expected is the baseline exception rate of k, shrunk toward its parent.
func (d *Detector) expected(k string) float64 {
	bl := d.baselines[k]
	prior := d.parentRate(k)
	s := d.cfg.PriorStrength
	if math.IsNaN(prior) {
		s = 0
		prior = 0
	}
	if bl == nil {
		return prior
	}
	if bl.SN+s == 0 {
		return 0
	}
	return (bl.SK + s*prior) / (bl.SN + s)
}

// warm reports whether k and its parents have enough history.
func (d *Detector) warm(k string) bool {
	bl := d.baselines[k]
	if bl == nil || bl.Buckets < d.cfg.MinBaselineBuckets {
		return false
	}
	if strings.HasPrefix(k, "l|") {
		return d.warm(carrierKey(strings.SplitN(k, "|", 3)[1]))
	}
	return true
}

func (d *Detector) test(k string, c *counts) *test {
	t := &test{key: k, c: c, expected: d.expected(k)}
	p := math.Max(t.expected, 1e-4)
	rho, active := 0.0, false
	if bl := d.baselines[k]; bl != nil {
		rho, active = math.Max(0, bl.Rho), bl.Active
	}
	n, x := float64(c.N), float64(c.K)
	t.excess = x - n*t.expected
	sd := math.Sqrt(n * p * (1 - p) * (1 + (n-1)*rho))
	t.z = (x - n*p) / sd
	if k == globalKey || !d.warm(k) || c.N < d.cfg.MinVolume || c.K < d.cfg.MinExceptions {
		return t
	}
	obs := rate(c)
	if obs < d.cfg.MinRatio*t.expected || obs-t.expected < d.cfg.MinLift {
		return t
	}
	// A new spike must pass the full thresholds; an active one continues
	// while it passes half the z-score and ContinueAlpha.
	minZ, alpha := d.cfg.MinZ, d.cfg.Alpha
	if active {
		minZ, alpha = minZ/2, d.cfg.ContinueAlpha
	}
	if t.z < minZ {
		return t
	}
	t.p = upperTail(c.K, c.N, p, rho)
	t.spike = t.p <= alpha
	t.ongoing = t.spike && active
	return t
}

// update folds one bucket's counts into k's baseline with weight w,
// decaying the history by the number of buckets since the last update.
func (d *Detector) update(k string, c *counts, i int64, w float64) {
	bl := d.baselines[k]
	if bl == nil {
		bl = &baseline{SR: map[string]float64{}, Last: i - 1}
		d.baselines[k] = bl
	}
	gap := float64(i - bl.Last)
	if gap < 1 {
		gap = 1
	}
	decay := math.Pow(2, -gap/d.cfg.HalfLife)
	lambda := math.Pow(2, -1/d.cfg.HalfLife)
	// Overdispersion: the squared standardised residual of this bucket
	// against the rate before it, turned into an intra-bucket correlation
	// estimate and smoothed like the counts. Buckets of one event say
	// nothing about it; spike buckets would inflate it and blunt the next
	// detection, so they are left out.
	if bl.SN > 0 && c.N > 1 && w == 1 {
		p := math.Min(math.Max(bl.SK/bl.SN, 1e-4), 1-1e-4)
		n := float64(c.N)
		// Winsorised at 3 standard deviations: one odd bucket must not
		// teach the detector that anything goes.
		u := math.Min(9, math.Pow(float64(c.K)-n*p, 2)/(n*p*(1-p)))
		// Unclipped, so binomial noise averages to zero; clipped only
		// where it is used.
		r := (u - 1) / (n - 1)
		bl.Rho = lambda*bl.Rho + (1-lambda)*math.Min(r, 0.5)
	}
	bl.SN = decay*bl.SN + w*float64(c.N)
	bl.SK = decay*bl.SK + w*float64(c.K)
	for r, v := range bl.SR {
		bl.SR[r] = v * decay
		if bl.SR[r] < 1e-6 {
			delete(bl.SR, r)
		}
	}
	for r, v := range c.Reasons {
		bl.SR[r] += w * float64(v)
	}
	bl.Buckets++
	bl.Last = i
}

// spike builds the Spike of a flagged test.
func (d *Detector) spike(carrier string, t *test, win Window, lanes []LaneStat) Spike {
	s := Spike{
		Carrier: carrier, Observed: rate(t.c), Expected: t.expected, ZScore: t.z, PValue: t.p,
		Volume: t.c.N, Exceptions: t.c.K, ReasonCounts: map[string]int{}, Window: win, Lanes: lanes, Ongoing: t.ongoing,
	}
	if strings.HasPrefix(t.key, "l|") {
		l := laneOf(t.key)
		s.Lane = &l
	}
	for r, v := range t.c.Reasons {
		s.ReasonCounts[r] = v
	}
	s.Reason = d.dominantReason(t)
	s.Evidence = append([]Evidence(nil), t.c.Evidence...)
	sort.SliceStable(s.Evidence, func(a, b int) bool {
		if !s.Evidence[a].At.Equal(s.Evidence[b].At) {
			return s.Evidence[a].At.Before(s.Evidence[b].At)
		}
		return s.Evidence[a].EventID < s.Evidence[b].EventID
	})
	return s
}

// dominantReason names the reason whose excess over its own baseline share
// is at least half of the total excess.
func (d *Detector) dominantReason(t *test) string {
	if t.excess <= 0 {
		return ""
	}
	bl := d.baselines[t.key]
	n := float64(t.c.N)
	best, bestEx := "", 0.0
	reasons := make([]string, 0, len(t.c.Reasons))
	for r := range t.c.Reasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		share := 0.0
		if bl != nil && bl.SN > 0 {
			share = bl.SR[r] / bl.SN
		}
		ex := float64(t.c.Reasons[r]) - n*share
		if ex > bestEx {
			best, bestEx = r, ex
		}
	}
	if bestEx >= 0.5*t.excess {
		return best
	}
	return ""
}
