package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// laneSpec is one simulated lane: hourly event volume and exception rate.
type laneSpec struct {
	carrier, origin, dest string
	volume                float64 // mean events per hour
	rate                  float64 // mean exception probability
}

// world simulates carriers' event streams hour by hour with a seeded RNG.
type world struct {
	rng   *rand.Rand
	clk   *clock
	d     *Detector
	lanes []laneSpec
	// season scales rates and volumes by hour of day (0: none).
	season float64
	// jitter is the sd of a log-normal factor on each bucket's rate
	// (overdispersion; 0: plain binomial).
	jitter float64
	seq    int
}

func newWorld(seed uint64, lanes []laneSpec) *world {
	clk := &clock{t: t0}
	return &world{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clk: clk, d: New(Config{}, clk.now), lanes: lanes}
}

// standardLanes returns carriers × lanes with varied volumes and rates.
func standardLanes(rng *rand.Rand, carriers, lanesPer int) []laneSpec {
	countries := []string{"NL", "DE", "FR", "BE", "PL", "IT", "ES", "AT"}
	var out []laneSpec
	for c := 0; c < carriers; c++ {
		base := 0.02 + 0.10*rng.Float64()
		for l := 0; l < lanesPer; l++ {
			out = append(out, laneSpec{
				carrier: fmt.Sprintf("carrier%02d", c), origin: countries[l%len(countries)], dest: countries[(l+3)%len(countries)],
				volume: 15 + 60*rng.Float64(), rate: base * (0.7 + 0.8*rng.Float64()),
			})
		}
	}
	return out
}

func poisson(rng *rand.Rand, mean float64) int {
	if mean > 200 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

var normalReasons = []struct {
	r string
	w float64
}{{"delayed", 0.45}, {"recipient_unavailable", 0.3}, {"address_issue", 0.15}, {"customs_hold", 0.1}}

func (w *world) reason() string {
	u := w.rng.Float64()
	for _, nr := range normalReasons {
		if u < nr.w {
			return nr.r
		}
		u -= nr.w
	}
	return "exception_other"
}

// hour emits one hour of events (override may replace a lane's rate and
// reason) at the clock's hour, then moves the clock past the hour's end and
// sweeps.
func (w *world) hour(t *testing.T, override func(l laneSpec) (rate float64, reason string, ok bool)) []Spike {
	t.Helper()
	start := w.clk.t.Truncate(time.Hour)
	hod := float64(start.Hour())
	for _, l := range w.lanes {
		f := 1 + w.season*math.Sin(2*math.Pi*hod/24)
		n := poisson(w.rng, l.volume*f)
		rate := l.rate * (1 + w.season*0.5*math.Cos(2*math.Pi*hod/24))
		if w.jitter > 0 {
			rate *= math.Exp(w.jitter*w.rng.NormFloat64() - w.jitter*w.jitter/2)
		}
		forced := ""
		if override != nil {
			if r, why, ok := override(l); ok {
				rate, forced = r, why
			}
		}
		rate = math.Min(rate, 0.95)
		for i := 0; i < n; i++ {
			w.seq++
			o := Observation{
				Carrier: l.carrier, Origin: l.origin, Destination: l.dest,
				At:      start.Add(time.Duration(w.rng.Int64N(int64(time.Hour)))),
				EventID: fmt.Sprintf("ev%08d", w.seq), ShipmentID: fmt.Sprintf("sh%08d", w.seq),
			}
			if w.rng.Float64() < rate {
				o.Exception = true
				o.Reason = w.reason()
				if forced != "" && w.rng.Float64() < 0.9 {
					o.Reason = forced
				}
			}
			w.clk.t = start // observations arrive during the hour
			if err := w.d.Observe(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.clk.t = start.Add(time.Hour + time.Minute)
	return w.d.Sweep()
}

func (w *world) run(t *testing.T, hours int) []Spike {
	t.Helper()
	var all []Spike
	for h := 0; h < hours; h++ {
		all = append(all, w.hour(t, nil)...)
	}
	return all
}

func describe(ss []Spike) string {
	s := ""
	for _, x := range ss {
		lane := "*"
		if x.Lane != nil {
			lane = x.Lane.String()
		}
		s += fmt.Sprintf("\n  %s %s %s obs=%.3f exp=%.3f z=%.1f p=%.2g n=%d k=%d at %s", x.Carrier, lane, x.Reason, x.Observed, x.Expected, x.ZScore, x.PValue, x.Volume, x.Exceptions, x.Window.Start.Format(time.RFC3339))
	}
	return s
}

func TestNormalBinomialVariationStaysQuiet(t *testing.T) {
	days := 40
	if testing.Short() {
		days = 15
	}
	w := newWorld(7, nil)
	w.lanes = standardLanes(w.rng, 10, 3)
	if spikes := w.run(t, days*24); len(spikes) != 0 {
		t.Fatalf("%d spikes from binomial noise over %d days × %d lanes:%s", len(spikes), days, len(w.lanes), describe(spikes))
	}
}

func TestSeasonalOverdispersedVariationStaysQuiet(t *testing.T) {
	days := 40
	if testing.Short() {
		days = 15
	}
	w := newWorld(11, nil)
	w.lanes = standardLanes(w.rng, 8, 3)
	w.season = 0.3  // ±30% volume, ±15% rate over the day
	w.jitter = 0.15 // bucket-to-bucket rate noise beyond binomial
	if spikes := w.run(t, days*24); len(spikes) != 0 {
		t.Fatalf("%d spikes from seasonal, overdispersed noise:%s", len(spikes), describe(spikes))
	}
}

func TestCarrierDelaySpikeDetectedInOneSweep(t *testing.T) {
	w := newWorld(3, nil)
	w.lanes = standardLanes(w.rng, 6, 4)
	if s := w.run(t, 14*24); len(s) != 0 {
		t.Fatalf("warm-up produced spikes:%s", describe(s))
	}
	spikeHour := w.clk.t.Truncate(time.Hour)
	spikes := w.hour(t, func(l laneSpec) (float64, string, bool) {
		if l.carrier == "carrier02" {
			return l.rate + 0.25, "delayed", true
		}
		return 0, "", false
	})
	if len(spikes) != 1 {
		t.Fatalf("got %d spikes, want 1:%s", len(spikes), describe(spikes))
	}
	s := spikes[0]
	if s.Carrier != "carrier02" || s.Lane != nil || s.Reason != "delayed" {
		t.Errorf("spike %s lane=%v reason=%q, want carrier02 carrier-wide delayed", s.Carrier, s.Lane, s.Reason)
	}
	if !s.Window.Start.Equal(spikeHour) || !s.Window.End.Equal(spikeHour.Add(time.Hour)) {
		t.Errorf("window %v, want the spike hour %v", s.Window, spikeHour)
	}
	if s.Observed < s.Expected+0.15 || s.ZScore < 4 || s.PValue > 1e-6 {
		t.Errorf("observed %.3f expected %.3f z %.1f p %.2g", s.Observed, s.Expected, s.ZScore, s.PValue)
	}
	if len(s.Lanes) < 2 || len(s.Evidence) == 0 || len(s.Evidence) > 20 {
		t.Errorf("lanes %d evidence %d", len(s.Lanes), len(s.Evidence))
	}
	for _, e := range s.Evidence {
		if e.EventID == "" || e.At.Before(spikeHour) || !e.At.Before(spikeHour.Add(time.Hour)) {
			t.Errorf("evidence %+v outside the window", e)
		}
	}
	if s.Key() != "carrier02|*|delayed" {
		t.Errorf("key %q", s.Key())
	}
	// The next normal hour is quiet again.
	if next := w.hour(t, nil); len(next) != 0 {
		t.Errorf("spikes after the spike hour:%s", describe(next))
	}
}

func TestLaneSpikeReportedAsLane(t *testing.T) {
	w := newWorld(5, nil)
	w.lanes = standardLanes(w.rng, 4, 4)
	w.lanes[5].volume = 60 // carrier01, second lane: a busy lane among four
	w.run(t, 10*24)
	target := w.lanes[5]
	spikes := w.hour(t, func(l laneSpec) (float64, string, bool) {
		if l == target {
			return 0.6, "customs_hold", true
		}
		return 0, "", false
	})
	if len(spikes) != 1 {
		t.Fatalf("got %d spikes, want 1:%s", len(spikes), describe(spikes))
	}
	s := spikes[0]
	want := Lane{Origin: target.origin, Destination: target.dest}
	if s.Carrier != target.carrier || s.Lane == nil || *s.Lane != want || s.Reason != "customs_hold" {
		t.Errorf("spike %s lane=%v reason=%q, want %s %v customs_hold", s.Carrier, s.Lane, s.Reason, target.carrier, want)
	}
	if s.Key() != fmt.Sprintf("%s|%s>%s|customs_hold", target.carrier, target.origin, target.dest) {
		t.Errorf("key %q", s.Key())
	}
}

func TestThinTrafficNeverSpikes(t *testing.T) {
	clk := &clock{t: t0}
	d := New(Config{}, clk.now)
	// A month of a tiny lane: 3 events an hour, one exception in ten.
	for h := 0; h < 30*24; h++ {
		start := t0.Add(time.Duration(h) * time.Hour)
		clk.t = start
		for i := 0; i < 3; i++ {
			_ = d.Observe(Observation{Carrier: "tiny", Origin: "NL", Destination: "DE", At: start, Exception: (h*3+i)%10 == 0, Reason: "delayed"})
		}
		clk.t = start.Add(time.Hour)
		d.Sweep()
	}
	// Then an hour in which all 20 events are exceptions: below MinVolume.
	start := clk.t
	for i := 0; i < 20; i++ {
		_ = d.Observe(Observation{Carrier: "tiny", Origin: "NL", Destination: "DE", At: start, Exception: true, Reason: "lost"})
	}
	clk.t = start.Add(time.Hour)
	if s := d.Sweep(); len(s) != 0 {
		t.Fatalf("spike on %d events, below the minimum volume:%s", 20, describe(s))
	}
}

func TestColdStartDoesNotSpike(t *testing.T) {
	clk := &clock{t: t0}
	d := New(Config{}, clk.now)
	for i := 0; i < 200; i++ {
		_ = d.Observe(Observation{Carrier: "new", Origin: "NL", Destination: "DE", At: t0, Exception: i%2 == 0, Reason: "delayed"})
	}
	clk.t = t0.Add(time.Hour)
	if s := d.Sweep(); len(s) != 0 {
		t.Fatalf("spike without a baseline:%s", describe(s))
	}
}

func TestLastingShiftIsLearnt(t *testing.T) {
	w := newWorld(9, nil)
	w.lanes = standardLanes(w.rng, 3, 2)
	w.run(t, 10*24)
	shifted := func(l laneSpec) (float64, string, bool) {
		if l.carrier == "carrier00" {
			return l.rate + 0.2, "delayed", true
		}
		return 0, "", false
	}
	first, last, flagged := -1, -1, 0
	for h := 0; h < 20*24; h++ {
		s := w.hour(t, shifted)
		if len(s) == 0 {
			continue
		}
		if first < 0 {
			first = h
		} else if !s[0].Ongoing {
			t.Errorf("hour %d: a continuing spike is not marked ongoing", h)
		}
		last = h
		flagged++
	}
	if first != 0 {
		t.Fatalf("the shift was first flagged after %d hours, want at once", first)
	}
	if flagged < (last+1)*8/10 {
		t.Errorf("the shift was reported in only %d of its first %d hours", flagged, last+1)
	}
	if last > 10*24 {
		t.Errorf("a lasting shift still alarms after %d hours; the baseline does not adapt", last)
	}
	t.Logf("shift reported in %d hours from hour 0 to hour %d", flagged, last)
}

func TestLateAndInvalidObservations(t *testing.T) {
	clk := &clock{t: t0.Add(2 * time.Hour)}
	d := New(Config{}, clk.now)
	d.Sweep()
	if err := d.Observe(Observation{Carrier: "dhl", At: t0}); err != nil {
		t.Fatal(err)
	}
	if d.Late() != 1 {
		t.Errorf("late = %d, want 1", d.Late())
	}
	for _, o := range []Observation{{At: t0}, {Carrier: "  ", At: t0}, {Carrier: "dhl"}} {
		if err := d.Observe(o); !errors.Is(err, ErrInvalidObservation) {
			t.Errorf("Observe(%+v) = %v", o, err)
		}
	}
	// A future timestamp counts in the current bucket, not a future one.
	if err := d.Observe(Observation{Carrier: "dhl", At: clk.t.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Hour)
	d.Sweep()
	if bl := d.baselines[carrierKey("dhl")]; bl == nil || bl.SN != 1 {
		t.Errorf("future observation not counted in the current bucket: %+v", bl)
	}
}

func TestSnapshotRestoreContinuesIdentically(t *testing.T) {
	a := newWorld(21, nil)
	a.lanes = standardLanes(a.rng, 3, 3)
	a.run(t, 5*24)
	// Leave a bucket half filled.
	start := a.clk.t.Truncate(time.Hour)
	_ = a.d.Observe(Observation{Carrier: "carrier00", Origin: "NL", Destination: "BE", At: start, Exception: true, Reason: "delayed", EventID: "open1"})
	snap, err := a.d.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	bclk := &clock{t: a.clk.t}
	b := New(Config{}, bclk.now)
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := b.Snapshot()
	if string(again) != string(snap) {
		t.Fatalf("snapshot of the restored detector differs")
	}
	// Feed both the same spike hour.
	for i := 0; i < 300; i++ {
		o := Observation{Carrier: "carrier01", Origin: "NL", Destination: "PL", At: start.Add(time.Duration(i) * time.Second), Exception: i%2 == 0, Reason: "lost", EventID: fmt.Sprint(i)}
		_ = a.d.Observe(o)
		_ = b.Observe(o)
	}
	a.clk.t = start.Add(time.Hour)
	bclk.t = a.clk.t
	sa, sb := a.d.Sweep(), b.Sweep()
	if len(sa) == 0 {
		t.Fatalf("no spike to compare")
	}
	if diff := cmp.Diff(sa, sb); diff != "" {
		t.Errorf("restored detector differs (-orig +restored):\n%s", diff)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	d := New(Config{}, nil)
	for name, s := range map[string]string{
		"not json":      "{",
		"version":       `{"version":9,"bucket":3600000000000}`,
		"bucket width":  `{"version":1,"bucket":60000000000}`,
		"bad bucket":    `{"version":1,"bucket":3600000000000,"buckets":{"x":{"keys":{}}}}`,
		"bad counts":    `{"version":1,"bucket":3600000000000,"buckets":{"5":{"keys":{"*":{"n":1,"k":3}}}}}`,
		"bad baseline":  `{"version":1,"bucket":3600000000000,"baselines":{"*":{"sn":1,"sk":5}}}`,
		"null baseline": `{"version":1,"bucket":3600000000000,"baselines":{"*":null}}`,
	} {
		if err := d.Restore([]byte(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUpperTail(t *testing.T) {
	brute := func(k, n int, p float64) float64 {
		s := 0.0
		for x := k; x <= n; x++ {
			s += math.Exp(lchoose(n, x) + float64(x)*math.Log(p) + float64(n-x)*math.Log(1-p))
		}
		return s
	}
	tests := []struct {
		k, n int
		p    float64
	}{{3, 10, 0.1}, {0, 10, 0.3}, {11, 10, 0.3}, {40, 200, 0.05}, {120, 1000, 0.08}, {1000, 1000, 0.5}}
	for _, tt := range tests {
		got, want := upperTail(tt.k, tt.n, tt.p, 0), brute(tt.k, tt.n, tt.p)
		if tt.k <= 0 {
			want = 1
		}
		if tt.k > tt.n {
			want = 0
		}
		if math.Abs(got-want) > 1e-12 && math.Abs(got-want)/want > 1e-9 {
			t.Errorf("upperTail(%d,%d,%g) = %g, want %g", tt.k, tt.n, tt.p, got, want)
		}
	}
	if got := upperTail(3, 10, 0.1, 0); math.Abs(got-0.0701908264) > 1e-9 {
		t.Errorf("P(X>=3 | 10, 0.1) = %.10f", got)
	}
	// Overdispersion makes the tail heavier, and a tiny rho is binomial.
	b, bb := upperTail(40, 200, 0.1, 0), upperTail(40, 200, 0.1, 0.05)
	if !(bb > b) {
		t.Errorf("beta-binomial tail %g not heavier than binomial %g", bb, b)
	}
	if nb := upperTail(40, 200, 0.1, 1e-7); math.Abs(nb-b)/b > 1e-3 {
		t.Errorf("rho→0 tail %g, binomial %g", nb, b)
	}
	// The beta-binomial pmf sums to one.
	if s := upperTail(0, 50, 0.2, 0.1) - upperTail(51, 50, 0.2, 0.1); math.Abs(s-1) > 1e-12 {
		t.Errorf("total probability %g", s)
	}
	if s := upperTail(1, 50, 0.2, 0.1); s <= 0 || s >= 1 {
		t.Errorf("P(X>=1) = %g", s)
	}
}

// TestFalseAlarmsAcrossSeeds measures the false-alarm rate over many
// seeds, half of them with daily seasonality and overdispersion: 12 worlds
// × 30 days × 40 keys ≈ 346,000 key-buckets. Heavy-tailed noise does
// produce the odd extreme bucket, so the bound is one spike in all of them
// (about one per 70 days for 200 keys swept hourly); the figure is logged.
func TestFalseAlarmsAcrossSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("long: many simulated months")
	}
	total, buckets := 0, 0
	for seed := uint64(100); seed < 112; seed++ {
		w := newWorld(seed, nil)
		w.lanes = standardLanes(w.rng, 10, 3)
		if seed%2 == 0 {
			w.season, w.jitter = 0.3, 0.15
		}
		s := w.run(t, 30*24)
		total += len(s)
		buckets += 30 * 24 * 40
		if len(s) > 0 {
			t.Logf("seed %d: %d spikes%s", seed, len(s), describe(s))
		}
	}
	t.Logf("false spikes: %d in %d key-buckets", total, buckets)
	if total > 1 {
		t.Errorf("%d false spikes in %d key-buckets, want at most 1", total, buckets)
	}
}

// TestDetectionPower measures how often a one-hour carrier-wide rise of the
// exception rate is caught in the sweep right after it, by size of the
// rise, and requires near-certain detection of large rises.
func TestDetectionPower(t *testing.T) {
	if testing.Short() {
		t.Skip("long: many simulated spikes")
	}
	for _, rise := range []float64{0.05, 0.10, 0.15, 0.25} {
		caught, tries := 0, 0
		for seed := uint64(1); seed <= 6; seed++ {
			w := newWorld(seed+500, nil)
			w.lanes = standardLanes(w.rng, 4, 4)
			w.run(t, 10*24)
			for c := 0; c < 4; c++ {
				carrier := fmt.Sprintf("carrier%02d", c)
				s := w.hour(t, func(l laneSpec) (float64, string, bool) {
					if l.carrier == carrier {
						return l.rate + rise, "delayed", true
					}
					return 0, "", false
				})
				tries++
				for _, x := range s {
					if x.Carrier == carrier {
						caught++
						break
					}
				}
				w.run(t, 24) // let the spike pass before the next one
			}
		}
		t.Logf("rise +%.2f: caught %d of %d", rise, caught, tries)
		if rise >= 0.25 && caught < tries*95/100 {
			t.Errorf("rise +%.2f caught in only %d of %d sweeps", rise, caught, tries)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	clk := &clock{t: t0}
	d := New(Config{}, clk.now)
	o := Observation{Carrier: "dhl", Origin: "NL", Destination: "DE", At: t0, Exception: true, Reason: "delayed", EventID: "e"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.Exception = i%20 == 0
		_ = d.Observe(o)
	}
}

// BenchmarkSweep sweeps one hour of 100 carriers × 10 lanes × 50 events.
func BenchmarkSweep(b *testing.B) {
	w := newWorld(1, nil)
	w.lanes = standardLanes(w.rng, 100, 10)
	for i := range w.lanes {
		w.lanes[i].volume = 50
	}
	// Warm baselines once, then time sweeps of fresh buckets.
	for h := 0; h < 30; h++ {
		w.hour(&testing.T{}, nil)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		start := w.clk.t.Truncate(time.Hour)
		w.clk.t = start
		for _, l := range w.lanes {
			for i := 0; i < 50; i++ {
				_ = w.d.Observe(Observation{Carrier: l.carrier, Origin: l.origin, Destination: l.dest, At: start, Exception: i%15 == 0, Reason: "delayed"})
			}
		}
		w.clk.t = start.Add(time.Hour + time.Minute)
		b.StartTimer()
		w.d.Sweep()
	}
}

func TestObserveCountEqualsObserve(t *testing.T) {
	clk := &clock{t: t0}
	one, many := New(Config{}, clk.now), New(Config{}, clk.now)
	for i := 0; i < 40; i++ {
		o := Observation{Carrier: "DHL", Origin: "nl", Destination: "de", At: t0.Add(time.Duration(i) * time.Minute), Exception: i%4 == 0, Reason: "delayed"}
		if i%8 == 0 {
			o.Reason = "lost"
		}
		if err := one.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := many.ObserveCount(Count{Carrier: "dhl", Origin: "NL", Destination: "DE", At: t0, Events: 40, Exceptions: map[string]int{"delayed": 5, "lost": 5}}); err != nil {
		t.Fatal(err)
	}
	clk.t = t0.Add(time.Hour)
	one.Sweep()
	many.Sweep()
	a, _ := one.Snapshot()
	b, _ := many.Snapshot()
	if string(a) != string(b) {
		t.Errorf("snapshots differ:\n%s\n%s", a, b)
	}
	for _, c := range []Count{
		{Carrier: "dhl", At: t0, Events: 1, Exceptions: map[string]int{"delayed": 2}},
		{Carrier: "dhl", At: t0, Events: 3, Exceptions: map[string]int{"delayed": -1}},
		{Carrier: "", At: t0, Events: 3},
	} {
		if err := many.ObserveCount(c); !errors.Is(err, ErrInvalidObservation) {
			t.Errorf("ObserveCount(%+v) = %v", c, err)
		}
	}
}

func TestSilentKeysAreForgotten(t *testing.T) {
	clk := &clock{t: t0}
	d := New(Config{HalfLife: 2}, clk.now)
	_ = d.Observe(Observation{Carrier: "gone", Origin: "NL", Destination: "DE", At: t0})
	clk.t = t0.Add(time.Hour)
	d.Sweep()
	if d.baselines[carrierKey("gone")] == nil {
		t.Fatal("baseline not created")
	}
	for h := 2; h < 30; h++ {
		clk.t = t0.Add(time.Duration(h) * time.Hour)
		_ = d.Observe(Observation{Carrier: "busy", At: clk.t.Add(-time.Hour)})
		d.Sweep()
	}
	if d.baselines[carrierKey("gone")] != nil || d.baselines[laneKey("gone", Lane{Origin: "NL", Destination: "DE"})] != nil {
		t.Errorf("silent keys kept after 28 buckets with a half-life of 2")
	}
	if d.baselines[carrierKey("busy")] == nil || d.baselines[globalKey] == nil {
		t.Errorf("active keys dropped")
	}
}

// FuzzRestore feeds arbitrary snapshots to Restore: it must reject what it
// cannot use, and a detector it accepted must keep working.
func FuzzRestore(f *testing.F) {
	w := newWorld(1, nil)
	w.lanes = standardLanes(w.rng, 2, 2)
	w.run(&testing.T{}, 30)
	_ = w.d.Observe(Observation{Carrier: "carrier00", Origin: "NL", Destination: "DE", At: w.clk.t, Exception: true, Reason: "delayed", EventID: "e1"})
	snap, _ := w.d.Snapshot()
	f.Add(snap)
	f.Add([]byte(`{"version":1,"bucket":3600000000000}`))
	f.Add([]byte(`{"version":1,"bucket":3600000000000,"buckets":{"5":{"keys":{"*":{"n":3,"k":1}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := &clock{t: t0}
		d := New(Config{}, clk.now)
		if err := d.Restore(data); err != nil {
			return
		}
		_ = d.Observe(Observation{Carrier: "dhl", At: t0})
		clk.t = t0.Add(2 * time.Hour)
		for _, s := range d.Sweep() {
			if math.IsNaN(s.ZScore) || s.Volume < s.Exceptions {
				t.Fatalf("bad spike from a restored state: %+v", s)
			}
		}
		if _, err := d.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}
