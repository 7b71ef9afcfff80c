package eta

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"time"
)

// Synthetic generates completed shipments with known ground truth, for the
// live model's tests, its benchmarks and `yardmaster eta bench`. Each lane
// (carrier × origin × destination × service) has a log-normal transit time
// whose median depends on the lane; a share of shipments hit an exception
// that adds a fixed delay; the last mile takes a few hours. Deterministic
// for a given Seed.
type Synthetic struct {
	Seed      uint64
	Carriers  int           // default 12
	Countries int           // default 40
	Services  int           // default 3
	Start     time.Time     // first pickup
	Span      time.Duration // pickups spread over this (default 365 days)
	// ExceptionRate is the share of shipments with an exception (default 0.1)
	// and ExceptionDelay the delay it adds (default 48 h).
	ExceptionRate  float64
	ExceptionDelay time.Duration
}

func (s *Synthetic) defaults() {
	if s.Carriers == 0 {
		s.Carriers = 12
	}
	if s.Countries == 0 {
		s.Countries = 40
	}
	if s.Services == 0 {
		s.Services = 3
	}
	if s.Span == 0 {
		s.Span = 365 * 24 * time.Hour
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if s.ExceptionRate == 0 {
		s.ExceptionRate = 0.1
	}
	if s.ExceptionDelay == 0 {
		s.ExceptionDelay = 48 * time.Hour
	}
}

// SynthShipment is a generated shipment with its ground truth.
type SynthShipment struct {
	Completed
	// MedianHours is the true median transit of its lane without exception.
	MedianHours float64
	Sigma       float64
	// Promised is pickup plus the lane's quoted transit.
	Promised time.Time
}

// LaneMedianHours is the true median transit of a lane (without exception).
func (s *Synthetic) LaneMedianHours(carrier, origin, dest, service int) float64 {
	// Domestic 1–3 days, international 3–10; carriers differ by ±30 %;
	// express service is 40 % faster, economy 30 % slower.
	base := 30.0 + 6*float64((origin*7+dest*13)%9)
	if origin != dest {
		base = 80 + 20*float64((origin*5+dest*3)%8)
	}
	base *= 0.7 + 0.06*float64(carrier%11)
	switch service % 3 {
	case 0:
		base *= 0.6
	case 2:
		base *= 1.3
	}
	return base
}

// Shipments yields n generated shipments.
func (s *Synthetic) Shipments(n int) iter.Seq2[SynthShipment, error] {
	s.defaults()
	return func(yield func(SynthShipment, error) bool) {
		r := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
		for i := 0; i < n; i++ {
			c := r.IntN(s.Carriers)
			o := skewed(r, s.Countries)
			d := o
			if r.Float64() < 0.4 {
				d = skewed(r, s.Countries)
			}
			sv := r.IntN(s.Services)
			med := s.LaneMedianHours(c, o, d, sv)
			sigma := 0.25 + 0.05*float64(c%4)
			pick := s.Start.Add(time.Duration(r.Int64N(int64(s.Span))))
			hours := med * math.Exp(sigma*r.NormFloat64())
			var exc []string
			if r.Float64() < s.ExceptionRate {
				hours += s.ExceptionDelay.Hours()
				exc = []string{"weather"}
			}
			deliv := pick.Add(time.Duration(hours * float64(time.Hour)))
			lm := deliv.Add(-time.Duration((2 + 6*r.Float64()) * float64(time.Hour)))
			if lm.Before(pick) {
				lm = pick
			}
			quoted := med * math.Exp(sigma*0.84) // the lane's true p80
			sh := SynthShipment{
				Completed: Completed{
					Carrier: fmt.Sprintf("carrier-%02d", c), Origin: countryCode(o), Destination: countryCode(d),
					Service:    []string{"express", "standard", "economy"}[sv%3],
					PickedUpAt: pick, DeliveredAt: deliv, LastMileAt: lm, Exceptions: exc,
				},
				MedianHours: med, Sigma: sigma,
				Promised: pick.Add(time.Duration(quoted * float64(time.Hour))),
			}
			if !yield(sh, nil) {
				return
			}
		}
	}
}

// Completed adapts Shipments to the training input.
func (s *Synthetic) Completed(n int) iter.Seq2[Completed, error] {
	return func(yield func(Completed, error) bool) {
		for sh, err := range s.Shipments(n) {
			if !yield(sh.Completed, err) {
				return
			}
		}
	}
}

// skewed picks a country with a Zipf-like skew, so some lanes are rich and
// many are thin, as in real networks.
func skewed(r *rand.Rand, n int) int {
	x := r.Float64()
	return int(float64(n) * x * x * x)
}

func countryCode(i int) string { return string([]byte{'A' + byte(i/26%26), 'A' + byte(i%26)}) }
