package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/rules"
)

// Periodic tasks.
const (
	// TaskClockSweep wakes snoozed cases whose time came, moves SLA
	// clocks across their bands (at risk, breached) with the policy's
	// escalations, and refreshes the queue gauges.
	TaskClockSweep = "triage:clock_sweep"
	// TaskTimeSweep emits synthetic events for time-based conditions.
	TaskTimeSweep = "triage:time_sweep"
	// TaskCaseETARisk scores a case's ETA risk (payload {"case_id"}); the
	// ETA feature handles it.
	TaskCaseETARisk = "case:eta_risk"
)

// ClockSweepInterval is how often TaskClockSweep runs.
const ClockSweepInterval = 30 * time.Second

// Registrar is the part of the queue the service registers with.
type Registrar interface {
	Handle(taskType string, h queue.Handler)
	Every(taskType string, interval time.Duration, queueName string)
}

// Register installs the job handlers and periodic sweeps.
func (s *Service) Register(q Registrar) {
	q.Handle(TaskActionExecute, s.HandleExecute)
	q.Handle(TaskWebhookDeliver, s.HandleDeliver)
	q.Handle(TaskClockSweep, func(ctx context.Context, _ queue.Delivery) error {
		_, err := s.SweepClocks(ctx)
		return err
	})
	q.Every(TaskClockSweep, ClockSweepInterval, queue.QueueDefault)
	if s.events != nil {
		q.Handle(TaskTimeSweep, func(ctx context.Context, _ queue.Delivery) error {
			_, err := s.SweepShipments(ctx)
			return err
		})
		q.Every(TaskTimeSweep, s.policy.Sweeps.Interval.D(), queue.QueueDefault)
	}
}

// ClockSweepResult says what one clock sweep did.
type ClockSweepResult struct {
	Woken      int `json:"woken"`
	SLAChanged int `json:"sla_changed"`
}

// SweepClocks wakes cases snoozed until a time that has come and
// re-evaluates the SLA of cases whose band changes, in pages, each page
// one transaction. It is idempotent: a second run at the same time finds
// nothing.
func (s *Service) SweepClocks(ctx context.Context) (ClockSweepResult, error) {
	ctx = audit.WithActor(ctx, audit.System)
	var res ClockSweepResult
	now := s.now().UTC()
	var err error
	res.Woken, err = s.sweepCases(ctx, "snoozes that ended", func() *bun.SelectQuery {
		// The state filter keeps a row whose bucket disagrees with its
		// state from filling pages ahead of real snoozes.
		return s.db.Read.NewSelect().Model((*Case)(nil)).Where("bucket = ?", BucketSnoozed).
			Where("state = ?", StateSnoozed).Where("snoozed_until <= ?", now).OrderExpr("snoozed_until, id")
	}, func(ch *changes, c *Case) bool {
		if c.State != StateSnoozed || c.SnoozedUntil == nil || c.SnoozedUntil.After(ch.now) {
			return false
		}
		ch.wake(c, "time", "snooze until "+c.SnoozedUntil.Format(time.RFC3339)+" ended")
		return true
	})
	if err != nil {
		return res, err
	}
	res.SLAChanged, err = s.sweepCases(ctx, "SLA clocks to check", func() *bun.SelectQuery {
		return s.db.Read.NewSelect().Model((*Case)(nil)).Where("sla_next_check_at <= ?", now).
			Where("bucket <> ?", BucketClosed).OrderExpr("sla_next_check_at, id")
	}, func(ch *changes, c *Case) bool {
		if !c.Live() {
			return false
		}
		before := c.clone()
		ch.refresh(c)
		if c.SLAState == before.SLAState && c.Priority == before.Priority && c.Severity == before.Severity && c.Team == before.Team &&
			sameTime(c.SLANextCheckAt, before.SLANextCheckAt) {
			return false
		}
		ch.touch(c)
		if c.SLAState != before.SLAState {
			ch.lineBy(c, audit.System, TLSLA, "", "SLA "+before.SLAState+" → "+c.SLAState, map[string]any{"due_at": c.DueAt})
			ch.auditCase("case.sla_"+c.SLAState, before, c, "")
			if c.SLAState == SLAAtRisk {
				ch.notifyCase(EventCaseUpdated, c, "sla_at_risk")
			}
		}
		return true
	})
	if err != nil {
		return res, err
	}
	if err := s.refreshGauges(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// Clock sweep paging: each page is one transaction over at most
// sweepPageSize cases; one run reads at most sweepMaxPages pages.
const (
	sweepPageSize = 500
	sweepMaxPages = 1000
)

// sweepCases pages through the cases find selects (ordered; sweepCases
// adds the id column and the limit), locks each page in one transaction
// and calls step on each case still there; step reports whether it
// changed the case. It returns how many cases changed. It stops after a
// short page, after sweepMaxPages pages, and after a page in which step
// changed nothing: such a page wrote nothing, so the next read would
// return the same page again.
func (s *Service) sweepCases(ctx context.Context, what string, find func() *bun.SelectQuery, step func(ch *changes, c *Case) bool) (int, error) {
	total := 0
	for range sweepMaxPages {
		var due []string
		if err := find().Column("id").Limit(sweepPageSize).Scan(ctx, &due); err != nil {
			return total, fmt.Errorf("find %s: %w", what, err)
		}
		if len(due) == 0 {
			break
		}
		n := 0
		err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
			m, err := lockCases(ctx, tx, due)
			if err != nil {
				return err
			}
			n = 0
			for _, id := range due {
				if c := m[id]; c != nil && step(ch, c) {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if len(due) < sweepPageSize || n == 0 {
			break
		}
	}
	return total, nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// refreshGauges sets the open-case and aging gauges from the database.
func (s *Service) refreshGauges(ctx context.Context) error {
	var groups []struct {
		State    string `bun:"state"`
		Severity string `bun:"severity"`
		SLAState string `bun:"sla_state"`
		N        int    `bun:"n"`
	}
	if err := s.db.Read.NewSelect().Model((*Case)(nil)).ColumnExpr("state, severity, sla_state, COUNT(*) AS n").
		Where("bucket <> ?", BucketClosed).GroupExpr("state, severity, sla_state").Scan(ctx, &groups); err != nil {
		return fmt.Errorf("count live cases: %w", err)
	}
	mOpenCases.Reset()
	for _, g := range groups {
		mOpenCases.WithLabelValues(g.State, g.Severity, g.SLAState).Set(float64(g.N))
	}
	aging, err := s.aging(ctx, nil, s.now().UTC())
	if err != nil {
		return err
	}
	for k, v := range aging {
		mCaseAge.WithLabelValues(k).Set(float64(v))
	}
	return nil
}

// Sweep kinds.
const (
	SweepStale         = "stale"
	SweepPromised      = "promised_passed"
	SweepPickupDwell   = "pickup_dwell"
	SweepCustomsDwell  = "customs_dwell"
	SweepNeverPickedUp = "never_picked_up"
)

// shipRow is the part of intake_shipments the sweeps read (intake's table,
// read-only: see migrations 20261127001001_intake.go).
type shipRow struct {
	ID                 string     `bun:"id"`
	Carrier            string     `bun:"carrier"`
	TrackingNumber     string     `bun:"tracking_number"`
	Status             string     `bun:"status"`
	StatusAt           *time.Time `bun:"status_at"`
	FirstSeenAt        time.Time  `bun:"first_seen_at"`
	LastPhysicalScanAt *time.Time `bun:"last_physical_scan_at"`
	PromisedDelivery   *time.Time `bun:"promised_delivery"`
	OpenExceptions     int        `bun:"open_exceptions"`
	State              string     `bun:"state"`
}

// sweepHit is one synthetic event to emit.
type sweepHit struct {
	kind, key string
	ship      *shipRow
	since     time.Time
	threshold rules.Duration
	reason    intake.Reason
}

var terminalStatuses = []string{"delivered", "returned", "cancelled", "failed"}

// highest returns the largest threshold age reaches, or -1.
func highest(ths []rules.Duration, age time.Duration) rules.Duration {
	h := rules.Duration(-1)
	for _, t := range ths {
		if age >= t.D() {
			h = t
		}
	}
	return h
}

// SweepShipments finds shipments in time-based conditions — stale (no
// physical scan), promised date passed, waiting at a pickup point, held in
// customs, never picked up — and emits one synthetic event per condition,
// episode and threshold into the intake pipeline (source "yardmaster",
// activity "sweep"), so rules classify them like any event. The event's
// source id names the condition episode (e.g. the time of the last scan),
// so a rerun emits nothing twice. It returns the events emitted per kind.
func (s *Service) SweepShipments(ctx context.Context) (map[string]int, error) {
	if s.events == nil {
		return nil, fmt.Errorf("triage: sweeps need an event submitter")
	}
	now := s.now().UTC()
	sw := s.policy.Sweeps
	out := map[string]int{}
	type finder struct {
		kind string
		find func(ctx context.Context, after string) ([]sweepHit, string, error)
	}
	var finders []finder
	statuses := make([]string, 0, len(sw.Stale))
	for st := range sw.Stale {
		statuses = append(statuses, st)
	}
	sort.Strings(statuses)
	for _, st := range statuses {
		ths := sw.Stale[st]
		if len(ths) == 0 {
			continue
		}
		finders = append(finders, finder{SweepStale, func(ctx context.Context, after string) ([]sweepHit, string, error) {
			cut := now.Add(-ths[0].D())
			q := s.db.Read.NewSelect().Table("intake_shipments").Column("id", "carrier", "tracking_number", "status", "status_at",
				"first_seen_at", "last_physical_scan_at").Where("status = ?", st).
				Where("(last_physical_scan_at < ? OR (last_physical_scan_at IS NULL AND first_seen_at < ?))", cut, cut)
			return s.scanShipments(ctx, q, after, func(r *shipRow) *sweepHit {
				since := r.FirstSeenAt
				if r.LastPhysicalScanAt != nil {
					since = *r.LastPhysicalScanAt
				}
				th := highest(ths, now.Sub(since))
				if th < 0 {
					return nil
				}
				return &sweepHit{kind: SweepStale, ship: r, since: since, threshold: th, reason: "no_updates"}
			})
		}})
	}
	if ths := sw.PromisedPassed; len(ths) > 0 {
		finders = append(finders, finder{SweepPromised, func(ctx context.Context, after string) ([]sweepHit, string, error) {
			q := s.db.Read.NewSelect().Table("intake_shipments").Column("id", "carrier", "tracking_number", "status", "promised_delivery").
				Where("status NOT IN (?)", bun.In(terminalStatuses)).Where("promised_delivery < ?", now.Add(-ths[0].D()))
			return s.scanShipments(ctx, q, after, func(r *shipRow) *sweepHit {
				th := highest(ths, now.Sub(*r.PromisedDelivery))
				if th < 0 {
					return nil
				}
				return &sweepHit{kind: SweepPromised, ship: r, since: *r.PromisedDelivery, threshold: th}
			})
		}})
	}
	if ths := sw.PickupDwell; len(ths) > 0 {
		finders = append(finders, finder{SweepPickupDwell, func(ctx context.Context, after string) ([]sweepHit, string, error) {
			q := s.db.Read.NewSelect().Table("intake_shipments").Column("id", "carrier", "tracking_number", "status", "status_at").
				Where("status = ?", "available_for_pickup").Where("status_at < ?", now.Add(-ths[0].D()))
			return s.scanShipments(ctx, q, after, func(r *shipRow) *sweepHit {
				th := highest(ths, now.Sub(*r.StatusAt))
				if th < 0 {
					return nil
				}
				return &sweepHit{kind: SweepPickupDwell, ship: r, since: *r.StatusAt, threshold: th}
			})
		}})
	}
	if ths := sw.NeverPickedUp; len(ths) > 0 {
		finders = append(finders, finder{SweepNeverPickedUp, func(ctx context.Context, after string) ([]sweepHit, string, error) {
			cut := now.Add(-ths[0].D())
			q := s.db.Read.NewSelect().Table("intake_shipments").Column("id", "carrier", "tracking_number", "status", "status_at", "first_seen_at").
				Where("status IN (?)", bun.In([]string{"pending", "info_received"})).
				Where("(status_at < ? OR (status_at IS NULL AND first_seen_at < ?))", cut, cut)
			return s.scanShipments(ctx, q, after, func(r *shipRow) *sweepHit {
				since := r.FirstSeenAt
				if r.StatusAt != nil {
					since = *r.StatusAt
				}
				th := highest(ths, now.Sub(since))
				if th < 0 {
					return nil
				}
				return &sweepHit{kind: SweepNeverPickedUp, ship: r, since: since, threshold: th}
			})
		}})
	}
	if ths := sw.CustomsDwell; len(ths) > 0 {
		finders = append(finders, finder{SweepCustomsDwell, func(ctx context.Context, after string) ([]sweepHit, string, error) {
			q := s.db.Read.NewSelect().Table("intake_shipments").Column("id", "carrier", "tracking_number", "status", "state").
				Where("status NOT IN (?)", bun.In(terminalStatuses)).Where("open_exceptions > 0")
			return s.scanShipments(ctx, q, after, func(r *shipRow) *sweepHit {
				var st struct {
					Open []intake.OpenException `json:"open_exceptions"`
				}
				if json.Unmarshal([]byte(r.State), &st) != nil {
					return nil
				}
				var since *time.Time
				for _, o := range st.Open {
					if o.Category == "customs" && (since == nil || o.OpenedAt.Before(*since)) {
						t := o.OpenedAt
						since = &t
					}
				}
				if since == nil {
					return nil
				}
				th := highest(ths, now.Sub(*since))
				if th < 0 {
					return nil
				}
				return &sweepHit{kind: SweepCustomsDwell, ship: r, since: *since, threshold: th}
			})
		}})
	}
	for _, f := range finders {
		after := ""
		for emitted := 0; emitted < sw.MaxPerRun; {
			hits, next, err := f.find(ctx, after)
			if err != nil {
				return out, err
			}
			n, err := s.emit(ctx, hits, now, sw.MaxPerRun-emitted)
			if err != nil {
				return out, err
			}
			emitted += n
			out[f.kind] += n
			if next == "" {
				break
			}
			after = next
		}
	}
	return out, nil
}

// scanShipments pages through a shipment query by id.
func (s *Service) scanShipments(ctx context.Context, q *bun.SelectQuery, after string, hit func(*shipRow) *sweepHit) ([]sweepHit, string, error) {
	const page = 500
	var rows []*shipRow
	if after != "" {
		q = q.Where("id > ?", after)
	}
	if err := q.OrderExpr("id").Limit(page).Scan(ctx, &rows); err != nil {
		return nil, "", fmt.Errorf("sweep shipments: %w", err)
	}
	var hits []sweepHit
	for _, r := range rows {
		if h := hit(r); h != nil {
			h.key = fmt.Sprintf("sweep:%s:%s:%d:%s", h.kind, r.ID, h.since.UTC().Unix(), h.threshold)
			hits = append(hits, *h)
		}
	}
	next := ""
	if len(rows) == page {
		next = rows[len(rows)-1].ID
	}
	return hits, next, nil
}

// emit submits the hits that were not emitted before, up to max.
func (s *Service) emit(ctx context.Context, hits []sweepHit, now time.Time, max int) (int, error) {
	if len(hits) == 0 || max <= 0 {
		return 0, nil
	}
	dkeys := make([]string, len(hits))
	for i, h := range hits {
		dkeys[i] = intake.SyntheticSource + ":id:" + h.key
	}
	var seen []string
	if err := s.db.Read.NewSelect().Table("intake_events").Column("dkey").Where("dkey IN (?)", bun.In(dkeys)).Scan(ctx, &seen); err != nil {
		return 0, fmt.Errorf("check emitted sweep events: %w", err)
	}
	done := map[string]bool{}
	for _, k := range seen {
		done[k] = true
	}
	var evs []*intake.Event
	kinds := map[string]int{}
	for i, h := range hits {
		if done[dkeys[i]] || len(evs) >= max {
			continue
		}
		ev := &intake.Event{SourceEventID: h.key, Carrier: h.ship.Carrier, TrackingNumber: h.ship.TrackingNumber,
			OccurredAt: now, TZKnown: true, ReceivedAt: now, Activity: "sweep",
			Attributes: map[string]any{"sweep": h.kind, "threshold": h.threshold.String(), "since": h.since.UTC().Format(time.RFC3339),
				intake.AttrShipmentID: h.ship.ID}}
		if h.reason != "" {
			ev.Exception = &intake.Exception{Reason: h.reason}
		}
		evs = append(evs, ev)
		kinds[h.kind]++
	}
	for i := 0; i < len(evs); i += 200 {
		part := evs[i:min(i+200, len(evs))]
		if _, err := s.events.SubmitEvents(ctx, intake.SyntheticSource, part); err != nil {
			return i, fmt.Errorf("submit sweep events: %w", err)
		}
	}
	for k, n := range kinds {
		mSweepEvents.WithLabelValues(k).Add(float64(n))
	}
	return len(evs), nil
}

// scheduleAI adds the summary and ETA-scoring jobs of the changeset's
// cases (debounced by the schedulers).
func (s *Service) scheduleAI(ch *changes) error {
	_, sum, eta := s.hooks()
	if sum != nil {
		for _, id := range sortedKeys(ch.summarize) {
			if c := ch.cases[id]; c != nil && !c.Live() {
				continue
			}
			j, err := sum.SummarizeJob(id, ch.now)
			if err != nil {
				return err
			}
			ch.later = append(ch.later, j)
		}
	}
	if eta != nil {
		for _, id := range sortedKeys(ch.scoreETA) {
			if c := ch.cases[id]; c != nil && !c.Live() {
				continue
			}
			ch.later = append(ch.later, eta.ETARiskJob(id, ch.now))
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// QueueETA schedules TaskCaseETARisk jobs through the outbox, one per case
// per Debounce window (run at the end of the window).
type QueueETA struct{ Debounce time.Duration }

// ETARiskJob is the debounced scoring job: it runs at the end of its
// window, so a burst of events on a case costs one scoring.
func (q QueueETA) ETARiskJob(caseID string, now time.Time) queue.Job {
	d := q.Debounce
	if d <= 0 {
		d = 2 * time.Minute
	}
	slot := now.UTC().Truncate(d)
	return queue.Job{Key: TaskCaseETARisk + ":" + caseID + ":" + strconv.FormatInt(slot.Unix(), 10),
		Type: TaskCaseETARisk, Payload: map[string]string{"case_id": caseID}, Queue: queue.QueueLow, RunAt: slot.Add(d), MaxRetry: 5}
}

// SetETARisk records a case's ETA risk (probability of missing the
// promised date, 0..1) with its explanation, and rescores the case.
func (s *Service) SetETARisk(ctx context.Context, caseID string, risk float64, detail string) (*Case, error) {
	if risk < 0 || risk > 1 || risk != risk {
		return nil, fmt.Errorf("triage: ETA risk %v is not a probability", risk)
	}
	var out *Case
	err := s.inTx(audit.WithActor(ctx, audit.System), func(ctx context.Context, tx bun.Tx, ch *changes) error {
		c, err := lockCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		before := c.clone()
		r := risk
		c.ETARisk, c.ETADetail = &r, truncate(detail, 2000)
		ch.refresh(c)
		ch.touch(c)
		if before.ETARisk == nil || *before.ETARisk != risk {
			ch.lineBy(c, audit.System, TLETA, "", fmt.Sprintf("ETA risk %.0f%%", risk*100), map[string]any{"risk": risk, "detail": detail})
			ch.auditCase("case.eta_scored", before, c, fmt.Sprintf("risk %.3f", risk))
		}
		out = c
		return nil
	})
	return out, err
}

// PruneCandidates deletes min_count candidates older than the longest
// grouping window rules allow (30 days): they can no longer count.
func (s *Service) PruneCandidates(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.NewDelete().Model((*candidate)(nil)).Where("at < ?", now.UTC().Add(-31*24*time.Hour)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune case candidates: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
