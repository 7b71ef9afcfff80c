package opsview

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
)

// Scorecard is one carrier's or lane's performance in the window.
type Scorecard struct {
	Carrier     string `json:"carrier,omitempty"`
	Origin      string `json:"origin,omitempty"`
	Destination string `json:"destination,omitempty"`
	// Shipments active in the window (any update).
	Shipments int `json:"shipments"`
	Delivered int `json:"delivered"`
	// OnTime of OnTimeKnown delivered shipments that had a promised date.
	OnTime      int `json:"on_time"`
	OnTimeKnown int `json:"on_time_known"`
	// WithException counts shipments that had at least one exception.
	WithException int           `json:"with_exception"`
	Reasons       []ReasonCount `json:"reasons"`
	// Transit is pickup to delivery of delivered shipments.
	TransitP50 time.Duration `json:"transit_p50"`
	TransitP90 time.Duration `json:"transit_p90"`
	// Dwell is the time since the last physical scan of shipments not yet
	// delivered: how long freight has been sitting.
	DwellP50 time.Duration `json:"dwell_p50"`
	DwellP90 time.Duration `json:"dwell_p90"`
	// Days are per-day counts (UTC), oldest first, for the trend charts.
	Days []Day `json:"days"`
}

// Key names the scorecard: the carrier, or "origin → destination".
func (s Scorecard) Key() string {
	if s.Carrier != "" {
		return s.Carrier
	}
	return laneName(s.Origin) + " → " + laneName(s.Destination)
}

func laneName(c string) string {
	if c == "" {
		return "?"
	}
	return c
}

// OnTimeRate is OnTime/OnTimeKnown, or -1 when nothing had a promise.
func (s Scorecard) OnTimeRate() float64 {
	if s.OnTimeKnown == 0 {
		return -1
	}
	return float64(s.OnTime) / float64(s.OnTimeKnown)
}

// ExceptionRate is the share of shipments with an exception.
func (s Scorecard) ExceptionRate() float64 {
	if s.Shipments == 0 {
		return 0
	}
	return float64(s.WithException) / float64(s.Shipments)
}

// ReasonCount is how many exceptions of one reason were raised.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// Day is one day of a scorecard's trend.
type Day struct {
	Date       time.Time `json:"date"`
	Delivered  int       `json:"delivered"`
	OnTime     int       `json:"on_time"`
	Known      int       `json:"known"`
	Exceptions int       `json:"exceptions"`
}

// Scorecards is one computation over the window.
type Scorecards struct {
	ComputedAt time.Time     `json:"computed_at"`
	Since      time.Time     `json:"since"`
	Took       time.Duration `json:"took"`
	Carriers   []Scorecard   `json:"carriers"`
	Lanes      []Scorecard   `json:"lanes"`
	Total      Scorecard     `json:"total"`
}

// stateRow is the slice of an intake shipment that scorecards read.
type stateRow struct {
	bun.BaseModel `bun:"table:intake_shipments"`
	ID            string `bun:"id"`
	State         string `bun:"state"`
}

// acc accumulates one scorecard.
type acc struct {
	Scorecard
	reasons map[string]int
	transit []time.Duration
	dwell   []time.Duration
	days    map[time.Time]*Day
}

func newAcc(carrier, origin, dest string) *acc {
	return &acc{Scorecard: Scorecard{Carrier: carrier, Origin: origin, Destination: dest}, reasons: map[string]int{}, days: map[time.Time]*Day{}}
}

func (a *acc) day(t time.Time) *Day {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if a.days[d] == nil {
		a.days[d] = &Day{Date: d}
	}
	return a.days[d]
}

// add folds one shipment in. now is the computation time (for dwell).
func (a *acc) add(s *intake.Shipment, since, now time.Time) {
	a.Shipments++
	if s.Status == intake.StatusDelivered && s.DeliveredAt != nil {
		a.Delivered++
		day := a.day(s.DeliveredAt.UTC())
		day.Delivered++
		if s.PromisedDelivery != nil {
			a.OnTimeKnown++
			day.Known++
			if onTime(*s.DeliveredAt, *s.PromisedDelivery) {
				a.OnTime++
				day.OnTime++
			}
		}
		if s.PickedUpAt != nil && s.DeliveredAt.After(*s.PickedUpAt) {
			a.transit = append(a.transit, s.DeliveredAt.Sub(*s.PickedUpAt))
		}
	} else if s.LastPhysicalScanAt != nil && now.After(*s.LastPhysicalScanAt) {
		a.dwell = append(a.dwell, now.Sub(*s.LastPhysicalScanAt))
	}
	had := false
	count := func(reason string, opened time.Time) {
		had = true
		a.reasons[reason]++
		if !opened.Before(since) {
			a.day(opened.UTC()).Exceptions++
		}
	}
	for _, e := range s.OpenExceptions {
		count(string(e.Reason), e.OpenedAt)
	}
	for _, e := range s.ClosedExceptions {
		count(string(e.Reason), e.OpenedAt)
	}
	if had {
		a.WithException++
	}
}

// onTime compares a delivery with its promise. A promise at midnight UTC
// is a date: delivery any time that day is on time.
func onTime(delivered, promised time.Time) bool {
	p := promised.UTC()
	if p.Hour() == 0 && p.Minute() == 0 && p.Second() == 0 {
		p = p.Add(24*time.Hour - time.Nanosecond)
	}
	return !delivered.After(p)
}

func (a *acc) finish(since, now time.Time) Scorecard {
	s := a.Scorecard
	for r, n := range a.reasons {
		s.Reasons = append(s.Reasons, ReasonCount{Reason: r, Count: n})
	}
	sort.Slice(s.Reasons, func(i, j int) bool {
		if s.Reasons[i].Count != s.Reasons[j].Count {
			return s.Reasons[i].Count > s.Reasons[j].Count
		}
		return s.Reasons[i].Reason < s.Reasons[j].Reason
	})
	sortDur(a.transit)
	sortDur(a.dwell)
	s.TransitP50, s.TransitP90 = quantile(a.transit, 0.5), quantile(a.transit, 0.9)
	s.DwellP50, s.DwellP90 = quantile(a.dwell, 0.5), quantile(a.dwell, 0.9)
	start := time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	for d := start; !d.After(now); d = d.Add(24 * time.Hour) {
		if day := a.days[d]; day != nil {
			s.Days = append(s.Days, *day)
		} else {
			s.Days = append(s.Days, Day{Date: d})
		}
	}
	return s
}

func sortDur(ds []time.Duration) { sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] }) }

// Compute builds scorecards over shipments updated in [since, now), reading
// them in pages by id so memory stays bounded by the number of carriers
// and lanes, not shipments.
func Compute(ctx context.Context, idb bun.IDB, since, now time.Time) (*Scorecards, error) {
	start := time.Now()
	since, now = since.UTC(), now.UTC()
	total := newAcc("", "", "")
	carriers := map[string]*acc{}
	lanes := map[[2]string]*acc{}
	after := ""
	for {
		var rows []stateRow
		q := idb.NewSelect().Model(&rows).Column("id", "state").Where("updated_at >= ?", since).Order("id").Limit(2000)
		if after != "" {
			q = q.Where("id > ?", after)
		}
		if err := q.Scan(ctx); err != nil {
			return nil, fmt.Errorf("opsview: read shipments: %w", err)
		}
		for _, r := range rows {
			var s intake.Shipment
			if err := json.Unmarshal([]byte(r.State), &s); err != nil {
				return nil, fmt.Errorf("opsview: decode shipment %s: %w", r.ID, err)
			}
			total.add(&s, since, now)
			c := carriers[s.Carrier]
			if c == nil {
				c = newAcc(s.Carrier, "", "")
				carriers[s.Carrier] = c
			}
			c.add(&s, since, now)
			lk := [2]string{s.OriginCountry, s.DestinationCountry}
			l := lanes[lk]
			if l == nil {
				l = newAcc("", lk[0], lk[1])
				lanes[lk] = l
			}
			l.add(&s, since, now)
		}
		if len(rows) < 2000 {
			break
		}
		after = rows[len(rows)-1].ID
	}
	out := &Scorecards{ComputedAt: now, Since: since, Total: total.finish(since, now)}
	for _, c := range carriers {
		out.Carriers = append(out.Carriers, c.finish(since, now))
	}
	for _, l := range lanes {
		out.Lanes = append(out.Lanes, l.finish(since, now))
	}
	byVolume := func(s []Scorecard) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].Shipments != s[j].Shipments {
				return s[i].Shipments > s[j].Shipments
			}
			return s[i].Key() < s[j].Key()
		})
	}
	byVolume(out.Carriers)
	byVolume(out.Lanes)
	out.Took = time.Since(start)
	return out, nil
}

// Reports caches scorecards: a request gets the last computation while it
// is younger than TTL; an older one is still returned while a fresh one is
// computed in the background, so pages never wait after the first time.
type Reports struct {
	DB     bun.IDB
	Now    func() time.Time
	Window time.Duration
	TTL    time.Duration
	Log    *slog.Logger

	mu      sync.Mutex
	cached  *Scorecards
	running chan struct{}
}

// NewReports returns a cache over a 30-day window refreshed every 5 minutes.
func NewReports(idb bun.IDB, now func() time.Time, log *slog.Logger) *Reports {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reports{DB: idb, Now: now, Window: 30 * 24 * time.Hour, TTL: 5 * time.Minute, Log: log}
}

// Scorecards returns cached scorecards, computing them when there are
// none (waiting at most until ctx ends) and refreshing stale ones in the
// background.
func (r *Reports) Scorecards(ctx context.Context) (*Scorecards, error) {
	r.mu.Lock()
	cached, running := r.cached, r.running
	fresh := cached != nil && r.Now().Sub(cached.ComputedAt) < r.TTL
	if !fresh && running == nil {
		running = make(chan struct{})
		r.running = running
		go r.refresh(running)
	}
	r.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	select {
	case <-running:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cached == nil {
		return nil, fmt.Errorf("opsview: scorecards could not be computed (see the logs)")
	}
	return r.cached, nil
}

// Refresh recomputes now (tests, and after a demo import).
func (r *Reports) Refresh(ctx context.Context) (*Scorecards, error) {
	now := r.Now()
	sc, err := Compute(ctx, r.DB, now.Add(-r.Window), now)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cached = sc
	r.mu.Unlock()
	return sc, nil
}

func (r *Reports) refresh(done chan struct{}) {
	defer func() {
		r.mu.Lock()
		r.running = nil
		r.mu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := r.Refresh(ctx); err != nil {
		r.Log.Error("scorecards", "err", err)
	}
}
