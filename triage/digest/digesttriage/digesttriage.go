// Package digesttriage reads what digests need from triage's tables: the
// cases of some customers over a period, with their timeline and actions
// (digest.CaseSource), and the escalations — cases that reached a severity
// or breached an SLA — in commit-safe order (digest.EscalationFeed).
//
// It exists so that package digest depends on neither triage's types nor
// its schema; internal/app plugs these in. Triage offers no push hook for
// escalations, so the feed is polled: it reads triage_timeline rows after
// a watermark (timeline ids are ULIDs, so they sort by time). Rows younger
// than Settle are not read yet, because a triage transaction stamps its
// ids before it commits; a row that commits within Settle of its stamp is
// never skipped.
package digesttriage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// Settle is how old a timeline row must be before the feed reads it.
const Settle = 15 * time.Second

// MaxCases bounds the cases one digest reads.
const MaxCases = 5000

// Source implements digest.CaseSource and digest.EscalationFeed.
type Source struct {
	idb bun.IDB
	now func() time.Time
}

var (
	_ digest.CaseSource     = (*Source)(nil)
	_ digest.EscalationFeed = (*Source)(nil)
)

// New returns a source over the database holding triage's tables (the
// read pool).
func New(idb bun.IDB, now func() time.Time) *Source {
	if now == nil {
		now = time.Now
	}
	return &Source{idb: idb, now: now}
}

// CustomerCases returns the cases of the customers that were open at some
// point of [Since, Until): opened before Until and not closed before Since.
func (s *Source) CustomerCases(ctx context.Context, q digest.CaseQuery) ([]digest.Case, error) {
	if len(q.Customers) == 0 {
		return nil, nil
	}
	var cs []triage.Case
	err := s.idb.NewSelect().Model(&cs).Where("customer_id IN (?)", bun.In(q.Customers)).Where("opened_at < ?", q.Until.UTC()).
		WhereGroup(" AND ", func(w *bun.SelectQuery) *bun.SelectQuery {
			return w.Where("closed_at IS NULL").WhereOr("closed_at >= ?", q.Since.UTC())
		}).Where("kind <> ?", triage.KindDisruption).OrderExpr("priority DESC, id").Limit(MaxCases).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("digest cases: %w", err)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(cs))
	out := make([]digest.Case, 0, len(cs))
	byID := map[string]int{}
	for _, c := range cs {
		if !digest.Severity(c.Severity).AtLeast(q.MinSeverity) {
			continue
		}
		byID[c.ID] = len(out)
		ids = append(ids, c.ID)
		out = append(out, caseOf(&c))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	for start := 0; start < len(ids); start += 1000 {
		part := ids[start:min(start+1000, len(ids))]
		var tl []triage.TimelineEntry
		if err := s.idb.NewSelect().Model(&tl).Where("case_id IN (?)", bun.In(part)).Where("at >= ? AND at < ?", q.Since.UTC(), q.Until.UTC()).
			Where("kind IN (?)", bun.In([]string{triage.TLState, triage.TLEscalation, triage.TLSLA, triage.TLAssignment, triage.TLComment})).
			Order("id").Scan(ctx); err != nil {
			return nil, fmt.Errorf("digest case timeline: %w", err)
		}
		for _, e := range tl {
			if ch, ok := changeOf(e); ok {
				i := byID[e.CaseID]
				out[i].Changes = append(out[i].Changes, ch)
			}
		}
		var acts []triage.Action
		if err := s.idb.NewSelect().Model(&acts).Where("case_id IN (?)", bun.In(part)).
			WhereGroup(" AND ", func(w *bun.SelectQuery) *bun.SelectQuery {
				return w.Where("state = ?", triage.ActionProposed).
					WhereOr("state IN (?) AND finished_at >= ? AND finished_at < ?", bun.In([]triage.ActionState{triage.ActionSucceeded, triage.ActionFailed}),
						q.Since.UTC(), q.Until.UTC())
			}).Order("id").Scan(ctx); err != nil {
			return nil, fmt.Errorf("digest case actions: %w", err)
		}
		for _, a := range acts {
			i := byID[a.CaseID]
			at := a.CreatedAt
			if a.FinishedAt != nil {
				at = *a.FinishedAt
			}
			summary := a.Rationale
			if a.State == triage.ActionFailed && a.LastError != "" {
				summary = a.LastError
			}
			out[i].Actions = append(out[i].Actions, digest.Action{ID: a.ID, Type: a.Type, State: string(a.State), Summary: truncate(summary, 200), At: at.UTC()})
		}
	}
	return out, nil
}

func caseOf(c *triage.Case) digest.Case {
	d := digest.Case{ID: c.ID, Ref: Ref(c.ID), Title: c.Title, CustomerID: c.CustomerID, CustomerName: c.CustomerName,
		Severity: digest.Severity(c.Severity), State: string(c.State), Category: c.Category, Carrier: c.Carrier,
		TrackingNumber: c.TrackingNumber, OrderRef: c.OrderRef, OpenedAt: c.OpenedAt.UTC(), ResolveBy: c.ResolveBy, ETARisk: c.ETARisk}
	if c.State.Closed() && c.ClosedAt != nil {
		t := c.ClosedAt.UTC()
		d.ResolvedAt = &t
	}
	switch c.SLAState {
	case triage.SLABreached:
		d.SLA = "breached"
	case triage.SLAAtRisk:
		d.SLA = "at_risk"
	default:
		d.SLA = "ok"
	}
	return d
}

// Ref is the short reference of a case shown in digests: the random tail
// of its ULID (the head is the time, alike for cases of one hour).
func Ref(id string) string {
	if len(id) > 8 {
		return "#" + id[len(id)-8:]
	}
	return "#" + id
}

// changeOf maps a timeline line to a digest change.
func changeOf(e triage.TimelineEntry) (digest.Change, bool) {
	ch := digest.Change{At: e.At.UTC(), Detail: truncate(e.Summary, 200)}
	s := strings.ToLower(e.Summary)
	switch e.Kind {
	case triage.TLEscalation:
		ch.Kind = digest.ChangeEscalated
	case triage.TLSLA:
		switch {
		case strings.Contains(s, "breached"):
			ch.Kind = digest.ChangeSLABreached
		case strings.HasSuffix(s, triage.SLAAtRisk):
			ch.Kind = digest.ChangeSLAAtRisk
		default:
			ch.Kind = "sla"
		}
	case triage.TLAssignment:
		ch.Kind = digest.ChangeAssigned
	case triage.TLComment:
		// The body may be internal; the digest says only who commented.
		ch.Kind, ch.Detail = digest.ChangeComment, "by "+e.ActorName
	case triage.TLState:
		switch {
		case strings.HasPrefix(s, "opened"):
			ch.Kind = digest.ChangeOpened
		case strings.HasPrefix(s, "acknowledged"):
			ch.Kind, ch.Detail = digest.ChangeAcknowledged, ""
		case strings.HasPrefix(s, "resolved"):
			ch.Kind = digest.ChangeResolved
		case strings.HasPrefix(s, "dismissed"):
			ch.Kind = digest.ChangeDismissed
		case strings.HasPrefix(s, "reopened"):
			ch.Kind = digest.ChangeReopened
		case strings.HasPrefix(s, "severity "):
			ch.Kind = digest.ChangeEscalated
		default:
			ch.Kind = "updated"
		}
	default:
		return ch, false
	}
	if ch.Detail != "" && strings.EqualFold(ch.Detail, string(ch.Kind)) {
		ch.Detail = ""
	}
	return ch, true
}

type escRow struct {
	ID           string    `bun:"id"`
	CaseID       string    `bun:"case_id"`
	At           time.Time `bun:"at"`
	Kind         string    `bun:"kind"`
	Summary      string    `bun:"summary"`
	Title        string    `bun:"title"`
	CustomerID   string    `bun:"customer_id"`
	CustomerName string    `bun:"customer_name"`
	Severity     string    `bun:"severity"`
}

// EscalationsAfter returns the timeline lines that escalate a case — a
// severity raised (by a rule, a breach policy or a person), an SLA
// breached, a case opened or reopened (at its severity; the subscription
// decides whether that severity matters) — after cursor and older than
// Settle, oldest first, with the case's customer and current severity.
func (s *Source) EscalationsAfter(ctx context.Context, cursor string, limit int) ([]digest.Escalation, error) {
	if limit <= 0 {
		limit = 500
	}
	upto := ids.Floor(s.now().Add(-Settle))
	var rows []escRow
	err := s.idb.NewSelect().TableExpr("triage_timeline AS t").Join("JOIN triage_cases AS c ON c.id = t.case_id").
		ColumnExpr("t.id, t.case_id, t.at, t.kind, t.summary, c.title, c.customer_id, c.customer_name, c.severity").
		Where("t.id > ? AND t.id < ?", cursor, upto).
		WhereGroup(" AND ", func(w *bun.SelectQuery) *bun.SelectQuery {
			return w.Where("t.kind = ?", triage.TLEscalation).
				WhereOr("t.kind = ? AND t.summary LIKE ?", triage.TLSLA, "%breached%").
				WhereOr("t.kind = ? AND (t.summary LIKE ? OR t.summary LIKE ? OR t.summary LIKE ?)", triage.TLState, "opened%", "reopened%", "severity %")
		}).Where("c.customer_id <> ''").OrderExpr("t.id").Limit(int64(limit)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("escalation feed: %w", err)
	}
	out := make([]digest.Escalation, 0, len(rows))
	for _, r := range rows {
		kind := digest.EscalationSeverity
		if r.Kind == triage.TLSLA {
			kind = digest.EscalationBreach
		}
		out = append(out, digest.Escalation{Cursor: r.ID, CaseID: r.CaseID, CaseRef: Ref(r.CaseID), Title: r.Title, CustomerID: r.CustomerID,
			CustomerName: r.CustomerName, Severity: digest.Severity(r.Severity), Kind: kind, At: r.At.UTC()})
	}
	return out, nil
}

// CursorAt is the smallest timeline id of time t.
func (s *Source) CursorAt(t time.Time) string { return ids.Floor(t) }

// StillEscalated reports which cases are still in the working queue (not
// closed, not snoozed): repeat notices only remind of those.
func (s *Source) StillEscalated(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(caseIDs); start += 1000 {
		part := caseIDs[start:min(start+1000, len(caseIDs))]
		var live []string
		if err := s.idb.NewSelect().Model((*triage.Case)(nil)).Column("id").Where("id IN (?) AND bucket = ?", bun.In(part), triage.BucketQueue).
			Scan(ctx, &live); err != nil {
			return nil, fmt.Errorf("escalated cases: %w", err)
		}
		for _, id := range live {
			out[id] = true
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
