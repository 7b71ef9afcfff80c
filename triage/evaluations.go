package triage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/rules"
)

// Evaluation is the rules' verdict on one event and the Odoo context it
// was made with (order value, customer and tier feed the case).
type Evaluation struct {
	Record   *rules.Record
	Order    *rules.Order
	Customer *rules.Customer
}

// EvaluationSource gives the triage stage the evaluations of a batch's
// events, made earlier in the same transaction by the rules stage.
type EvaluationSource interface {
	Evaluations(ctx context.Context, tx bun.IDB, eventIDs []string) (map[string]*Evaluation, error)
}

// StoredEvaluations reads the evaluation records the rules stage stores in
// rule_evaluations (event_id, record, context — see migrations
// 20261127002001_rules.go and rules.StoredEvaluation). Reading the stored
// record, rather than sharing memory with the rules stage, means the case
// is built from exactly the bytes that explain it later.
type StoredEvaluations struct{}

type evalRow struct {
	EventID string `bun:"event_id"`
	Record  string `bun:"record"`
	Context string `bun:"context"`
}

// Evaluations reads and decodes the records of eventIDs.
func (StoredEvaluations) Evaluations(ctx context.Context, tx bun.IDB, eventIDs []string) (map[string]*Evaluation, error) {
	out := make(map[string]*Evaluation, len(eventIDs))
	for _, part := range chunkStrings(eventIDs, 500) {
		var rows []evalRow
		if err := tx.NewSelect().Table("rule_evaluations").Column("event_id", "record", "context").
			Where("event_id IN (?)", bun.In(part)).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("read rule evaluations: %w", err)
		}
		for _, r := range rows {
			ev := &Evaluation{Record: &rules.Record{}}
			if err := json.Unmarshal([]byte(r.Record), ev.Record); err != nil {
				return nil, fmt.Errorf("decode evaluation of event %s: %w", r.EventID, err)
			}
			if r.Context != "" {
				var ec rules.EvalContext
				if err := json.Unmarshal([]byte(r.Context), &ec); err != nil {
					return nil, fmt.Errorf("decode evaluation context of event %s: %w", r.EventID, err)
				}
				ev.Order, ev.Customer = ec.Order, ec.Customer
			}
			out[r.EventID] = ev
		}
	}
	return out, nil
}

// storedRecords returns the raw stored records of events (case detail).
func storedRecords(ctx context.Context, idb bun.IDB, eventIDs []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, part := range chunkStrings(eventIDs, 500) {
		var rows []evalRow
		if err := idb.NewSelect().Table("rule_evaluations").Column("event_id", "record").
			Where("event_id IN (?)", bun.In(part)).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("read rule evaluations: %w", err)
		}
		for _, r := range rows {
			out[r.EventID] = json.RawMessage(r.Record)
		}
	}
	return out, nil
}
