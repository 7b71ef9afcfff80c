package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
)

// ErrNoActiveRuleset is returned by EvaluateBatch before any ruleset has
// been published (Start installs the starter ruleset, so only a process
// that did not call Start sees it).
var ErrNoActiveRuleset = apperr.Unavailable("no active ruleset: the rules service has not started", nil)

// EvaluateBatch classifies a batch of newly stored events inside the
// pipeline transaction tx: it looks up the Odoo context of each event,
// evaluates it with the active ruleset (one version for the whole batch),
// stores one evaluation record per event and adds the hit counts. It
// returns the records in batch order so triage can upsert cases next, in
// the same transaction.
func (s *Service) EvaluateBatch(ctx context.Context, tx bun.IDB, batch []*intake.Processed) ([]*Record, error) {
	return s.evaluateBatch(ctx, tx, batch, false)
}

// evaluateBatch is EvaluateBatch; with deferWrites the evaluation records
// and hit counts are queued to travel with the commit (on PostgreSQL, see
// db.InsertOptions.Defer), for when nothing later in the transaction reads
// them back: the next stage gets the records in memory.
func (s *Service) evaluateBatch(ctx context.Context, tx bun.IDB, batch []*intake.Processed, deferWrites bool) ([]*Record, error) {
	c := s.Active()
	if c == nil {
		return nil, ErrNoActiveRuleset
	}
	e := s.evaluator()
	defer s.release(e)
	recs := make([]*Record, len(batch))
	rows := make([]evaluationRow, 0, len(batch))
	hits := newHitCounter()
	for i, p := range batch {
		in := &Input{Event: p.Event, Shipment: p.Shipment}
		var ectx *EvalContext
		if lp := s.lookup.Load(); lp != nil && *lp != nil {
			o, cu, err := (*lp).Lookup(ctx, tx, p.Event, p.Shipment)
			if err != nil {
				return nil, fmt.Errorf("rules: odoo context of event %s: %w", p.Event.ID, err)
			}
			in.Order, in.Customer = o, cu
			if o != nil || cu != nil {
				ectx = &EvalContext{Order: o, Customer: cu}
			}
		}
		start := s.opts.Clock()
		rec, err := e.Evaluate(c, in)
		took := s.opts.Clock().Sub(start)
		if err != nil {
			return nil, fmt.Errorf("rules: evaluate event %s: %w", p.Event.ID, err)
		}
		rec.Context = ectx
		recs[i] = rec
		row, err := evaluationRowOf(rec, took)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
		hits.add(rec)
		observe(rec, took)
	}
	if err := s.store.insertEvaluations(ctx, tx, rows, deferWrites); err != nil {
		return nil, err
	}
	if err := s.store.addHits(ctx, tx, hits.rows(), deferWrites); err != nil {
		return nil, err
	}
	return recs, nil
}

func observe(rec *Record, took time.Duration) {
	evalSeconds.Observe(took.Seconds())
	if rec.Outcome != nil {
		evalEvents.WithLabelValues("classified").Inc()
	} else {
		evalEvents.WithLabelValues("unclassified").Inc()
	}
	if len(rec.Errors) > 0 {
		evalErrors.Add(float64(len(rec.Errors)))
	}
	if rec.DeadlineExceeded {
		evalDeadlines.Inc()
	}
}

func evaluationRowOf(rec *Record, took time.Duration) (evaluationRow, error) {
	b, err := rec.Marshal()
	if err != nil {
		return evaluationRow{}, fmt.Errorf("rules: encode record of event %s: %w", rec.EventID, err)
	}
	row := evaluationRow{
		EventID: rec.EventID, ShipmentID: rec.ShipmentID, RulesetVersion: rec.RulesetVersion, RulesetHash: rec.RulesetHash,
		EvaluatedAt: rec.EvaluatedAt, DurationUS: took.Microseconds(), Record: string(b),
	}
	if o := rec.Outcome; o != nil {
		row.PrimaryRule, row.Category, row.Severity = o.RuleID, o.Category, string(o.Severity)
	}
	if rec.Context != nil {
		cb, err := json.Marshal(rec.Context)
		if err != nil {
			return evaluationRow{}, fmt.Errorf("rules: encode context of event %s: %w", rec.EventID, err)
		}
		row.Context = string(cb)
	}
	return row, nil
}

// hitCounter aggregates a batch's counts per rule and UTC day, so the
// batch writes one upsert row per rule hit rather than one per event.
type hitCounter struct {
	m     map[[2]string]*hitRow
	order [][2]string
}

func newHitCounter() *hitCounter { return &hitCounter{m: map[[2]string]*hitRow{}} }

func (h *hitCounter) get(rule string, at time.Time) *hitRow {
	k := [2]string{rule, at.UTC().Format(time.DateOnly)}
	r := h.m[k]
	if r == nil {
		r = &hitRow{RuleID: rule, Day: k[1]}
		h.m[k] = r
		h.order = append(h.order, k)
	}
	return r
}

func (h *hitCounter) hit(r *hitRow, at time.Time) {
	if r.LastHitAt == nil || at.After(*r.LastHitAt) {
		t := at.UTC()
		r.LastHitAt = &t
	}
}

func (h *hitCounter) add(rec *Record) {
	at := rec.EvaluatedAt
	for _, m := range rec.Matches {
		r := h.get(m.RuleID, at)
		r.Matched++
		if m.Suppressed {
			r.Suppressed++
		}
		h.hit(r, at)
	}
	if rec.Outcome != nil {
		h.get(rec.Outcome.RuleID, at).PrimaryHits++
	}
	for _, m := range rec.Shadow {
		r := h.get(m.RuleID, at)
		r.Shadow++
		h.hit(r, at)
	}
	for _, e := range rec.Errors {
		h.get(e.RuleID, at).Errors++
	}
}

// rows returns the counts in a stable order (rule, day) so concurrent
// batches lock rows in the same order on PostgreSQL.
func (h *hitCounter) rows() []hitRow {
	out := make([]hitRow, 0, len(h.order))
	keys := append([][2]string(nil), h.order...)
	sortKeys(keys)
	for _, k := range keys {
		out = append(out, *h.m[k])
	}
	return out
}

func sortKeys(keys [][2]string) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
}

// NextStage is what runs after rules in the pipeline: it receives the batch
// and the evaluation records (same order) inside the same transaction.
// triage implements it to upsert cases.
type NextStage func(ctx context.Context, tx bun.IDB, batch []*intake.Processed, records []*Record) error

// Stage returns the intake pipeline stage that evaluates every event and
// then calls next with the records: the next argument, else what SetNext
// installed, else nothing.
func (s *Service) Stage(next NextStage) intake.Stage {
	return intake.StageFunc(func(ctx context.Context, tx bun.IDB, batch []*intake.Processed) error {
		n := next
		if n == nil {
			if p := s.next.Load(); p != nil {
				n = *p
			}
		}
		// A chained next stage reads the records from memory, so they can
		// be written with the commit; a later standalone stage may read
		// them from the table, so then they are written at once.
		recs, err := s.evaluateBatch(ctx, tx, batch, n != nil)
		if err != nil {
			return err
		}
		if n == nil {
			return nil
		}
		return n(ctx, tx, batch, recs)
	})
}

// Evaluation returns the stored evaluation of an event.
func (s *Service) Evaluation(ctx context.Context, eventID string) (*StoredEvaluation, error) {
	return s.store.Evaluation(ctx, s.db.Read, eventID)
}

// Hits returns a rule's daily counts over the last days (all rules when id
// is "").
func (s *Service) Hits(ctx context.Context, id string, days int) ([]Hits, error) {
	if days <= 0 || days > 400 {
		return nil, apperr.Invalid("invalid days", apperr.FieldError{Field: "days", Message: "must be between 1 and 400"})
	}
	now := s.now()
	return s.store.Hits(ctx, s.db.Read, id, now.AddDate(0, 0, -days+1), now)
}
