package triage

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// changes collects everything one transaction does to triage — case rows,
// links, search terms, timeline lines, actions, comments, audit records,
// outbound events and outbox jobs — and writes each kind with one
// multi-row statement (chunked) in flush. The pipeline stage and bulk
// operations touch thousands of cases this way without a round trip per
// case.
type changes struct {
	s     *Service
	ctx   context.Context
	now   time.Time
	actor audit.Actor

	cases      map[string]*Case
	orig       map[string]*Case // as loaded, for writing only changed columns
	order      []string
	isNew      map[string]bool
	termsDirty map[string]bool
	links      []caseShipment
	timeline   []TimelineEntry
	audits     []audit.Record
	jobs       []queue.Job
	// later are debounced jobs that run at the end of their window (AI
	// summaries, ETA risk): written with jobs, but they do not wake the
	// outbox dispatcher after the commit.
	later      []queue.Job
	newActions []*Action
	actions    map[string]*Action // changed existing actions
	comments   []*Comment
	notices    []notice
	candIns    []candidate
	candDel    []string // fingerprints whose candidates are consumed
	summarize  map[string]bool
	scoreETA   map[string]bool
	after      []func()
	// grouped counts the children attached to disruptions this changeset
	// read without a lock; flush adds them with one late UPDATE each.
	grouped map[string]int
}

func (s *Service) newChanges(ctx context.Context, now time.Time) *changes {
	return &changes{s: s, ctx: ctx, now: now.UTC(), actor: actorOf(ctx), cases: map[string]*Case{}, orig: map[string]*Case{}, isNew: map[string]bool{},
		termsDirty: map[string]bool{}, actions: map[string]*Action{}, summarize: map[string]bool{}, scoreETA: map[string]bool{},
		grouped: map[string]int{}}
}

// touch marks c as changed; it is written at flush.
func (ch *changes) touch(c *Case) {
	if _, ok := ch.cases[c.ID]; !ok {
		ch.order = append(ch.order, c.ID)
	}
	ch.cases[c.ID] = c
}

// add registers a new case.
func (ch *changes) add(c *Case) {
	ch.isNew[c.ID] = true
	ch.termsDirty[c.ID] = true
	ch.touch(c)
}

// line appends a timeline entry by the changeset's actor.
func (ch *changes) line(c *Case, kind, eventID, summary string, data any) {
	ch.lineBy(c, ch.actor, kind, eventID, summary, data)
}

func (ch *changes) lineBy(c *Case, a audit.Actor, kind, eventID, summary string, data any) {
	ch.timeline = append(ch.timeline, TimelineEntry{ID: ids.At(ch.now), CaseID: c.ID, At: ch.now, Kind: kind, EventID: eventID,
		ActorType: a.Type, ActorID: a.ID, ActorName: a.Name, Summary: summary, Data: rawJSON(data)})
}

// auditCase records a case change with compact before/after snapshots.
func (ch *changes) auditCase(action string, before, after *Case, detail string) {
	r := audit.Record{Action: action, SubjectType: "case", Detail: detail}
	if before != nil {
		r.Before = snapshot(before)
		r.SubjectID = before.ID
	}
	if after != nil {
		r.After = snapshot(after)
		r.SubjectID = after.ID
	}
	ch.audits = append(ch.audits, r)
}

func (ch *changes) auditRecord(r audit.Record) { ch.audits = append(ch.audits, r) }

// caseSnapshot is what the audit trail keeps of a case: the fields people
// change and the clocks, not the whole row.
type caseSnapshot struct {
	State        State      `json:"state"`
	Severity     string     `json:"severity"`
	Team         string     `json:"team,omitempty"`
	Queue        string     `json:"queue,omitempty"`
	AssigneeID   string     `json:"assignee_id,omitempty"`
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
	UntilEvent   bool       `json:"snooze_until_event,omitempty"`
	CloseReason  string     `json:"close_reason,omitempty"`
	CloseNote    string     `json:"close_note,omitempty"`
	ParentID     string     `json:"parent_id,omitempty"`
	SLAState     string     `json:"sla_state"`
	RespondBy    *time.Time `json:"respond_by,omitempty"`
	ResolveBy    *time.Time `json:"resolve_by,omitempty"`
	Escalation   int        `json:"escalation_level,omitempty"`
	Priority     int        `json:"priority"`
	EventCount   int        `json:"event_count"`
}

func snapshot(c *Case) caseSnapshot {
	return caseSnapshot{State: c.State, Severity: string(c.Severity), Team: c.Team, Queue: c.Queue, AssigneeID: c.AssigneeID,
		SnoozedUntil: c.SnoozedUntil, UntilEvent: c.SnoozeUntilEvent, CloseReason: c.CloseReason, CloseNote: c.CloseNote,
		ParentID: c.ParentID, SLAState: c.SLAState, RespondBy: c.RespondBy, ResolveBy: c.ResolveBy, Escalation: c.EscalationLevel,
		Priority: c.Priority, EventCount: c.EventCount}
}

// job adds an outbox job.
func (ch *changes) job(j queue.Job) { ch.jobs = append(ch.jobs, j) }

// refresh recomputes the derived fields of c (bucket, SLA, priority) and
// applies breach escalations, recording them.
func (ch *changes) refresh(c *Case) {
	c.Bucket = bucketOf(c.State)
	for _, b := range ch.s.evaluateSLA(c, ch.now) {
		ch.onBreach(c, b)
	}
	c.PriorityComponents = ch.s.policy.computePriority(c, ch.now)
	c.Priority = c.PriorityComponents.Score
	c.UpdatedAt = ch.now
}

type trackKey struct{}

// withTracker makes case loads in ctx record their original state in ch.
func withTracker(ctx context.Context, ch *changes) context.Context {
	return context.WithValue(ctx, trackKey{}, ch)
}

// track records the state of freshly loaded cases, so flush writes only
// the columns that changed (fewer index updates per row).
func track(ctx context.Context, cs ...*Case) {
	ch, ok := ctx.Value(trackKey{}).(*changes)
	if !ok {
		return
	}
	for _, c := range cs {
		if _, seen := ch.orig[c.ID]; !seen && !ch.isNew[c.ID] {
			ch.orig[c.ID] = c.clone()
		}
	}
}

// caseFields maps Case struct fields to their columns (all but the key
// and created_at, which never change).
var caseFields = func() []struct {
	index  int
	column string
} {
	var out []struct {
		index  int
		column string
	}
	t := reflect.TypeOf(Case{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("bun")
		if f.Anonymous || tag == "" || tag == "-" {
			continue
		}
		col, _, _ := strings.Cut(tag, ",")
		if col == "id" || col == "created_at" {
			continue
		}
		out = append(out, struct {
			index  int
			column string
		}{i, col})
	}
	return out
}()

// changedColumns returns the columns whose values differ between a and b.
func changedColumns(a, b *Case) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for _, f := range caseFields {
		if !reflect.DeepEqual(va.Field(f.index).Interface(), vb.Field(f.index).Interface()) {
			out = append(out, f.column)
		}
	}
	return out
}

// flush writes the changeset inside tx.
func (ch *changes) flush(ctx context.Context, tx bun.IDB) error {
	rows := make([]*Case, 0, len(ch.order))
	cols := map[string]bool{}
	all := false
	for _, id := range ch.order {
		c := ch.cases[id]
		if !ch.isNew[id] {
			c.Version++
			if o := ch.orig[id]; o != nil {
				for _, col := range changedColumns(o, c) {
					cols[col] = true
				}
			} else {
				all = true
			}
		}
		rows = append(rows, c)
	}
	set := caseColumns
	if !all {
		set = make([]string, 0, len(cols))
		for _, col := range caseColumns {
			if cols[col] {
				set = append(set, col)
			}
		}
	}
	if err := upsertCases(ctx, tx, rows, set); err != nil {
		return err
	}
	if err := ch.writeTerms(ctx, tx); err != nil {
		return err
	}
	if err := db.Insert(ctx, tx, ch.links, db.InsertOptions{Suffix: "ON CONFLICT DO NOTHING"}); err != nil {
		return fmt.Errorf("link cases to shipments: %w", err)
	}
	if len(ch.candDel) > 0 {
		for _, part := range chunkStrings(ch.candDel, 500) {
			if _, err := tx.NewDelete().Model((*candidate)(nil)).Where("fingerprint IN (?)", bun.In(part)).Exec(ctx); err != nil {
				return fmt.Errorf("consume case candidates: %w", err)
			}
		}
	}
	if len(ch.candIns) > 0 {
		if _, err := tx.NewInsert().Model(&ch.candIns).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("store case candidates: %w", err)
		}
	}
	if len(ch.newActions) > 0 {
		if _, err := tx.NewInsert().Model(&ch.newActions).Exec(ctx); err != nil {
			return fmt.Errorf("store proposed actions: %w", err)
		}
	}
	for _, a := range ch.actions {
		if err := updateAction(ctx, tx, a); err != nil {
			return err
		}
	}
	if len(ch.comments) > 0 {
		if _, err := tx.NewInsert().Model(&ch.comments).Exec(ctx); err != nil {
			return fmt.Errorf("store comments: %w", err)
		}
	}
	if err := ch.s.scheduleAI(ch); err != nil {
		return err
	}
	if err := ch.s.deliverNotices(ctx, tx, ch); err != nil {
		return err
	}
	for _, part := range chunkTimeline(ch.timeline, 1000) {
		if err := db.Insert(ctx, tx, part, db.InsertOptions{}); err != nil {
			return fmt.Errorf("store case timeline: %w", err)
		}
	}
	jobs := append(ch.jobs[:len(ch.jobs):len(ch.jobs)], ch.later...)
	for i := 0; i < len(jobs); i += 1000 {
		end := min(i+1000, len(jobs))
		if err := queue.Add(ctx, tx, jobs[i:end]...); err != nil {
			return err
		}
	}
	if err := ch.countGrouped(ctx, tx); err != nil {
		return err
	}
	// Last: the audit chain's head is one row every writer locks, held
	// from here to the commit.
	for i := 0; i < len(ch.audits); i += 2000 {
		end := min(i+2000, len(ch.audits))
		if _, err := audit.Append(ctx, tx, ch.now, ch.audits[i:end]...); err != nil {
			return err
		}
	}
	return nil
}

// countGrouped adds the children attached to disruptions read without a
// lock. Only the audit append follows it, so the disruption's row is
// locked only from here to the commit: during an outbreak every batch
// groups cases under the same disruption, and a lock taken when the batch
// read it made the committers wait for each other's whole transaction.
// A disruption closed since it was read fails the transaction with
// db.ErrRetryTx; the rerun reads it closed.
func (ch *changes) countGrouped(ctx context.Context, tx bun.IDB) error {
	parents := make([]string, 0, len(ch.grouped))
	for id := range ch.grouped {
		parents = append(parents, id)
	}
	sort.Strings(parents) // one lock order in every committer
	for _, id := range parents {
		res, err := tx.NewUpdate().Model((*Case)(nil)).Set("child_count = child_count + ?", ch.grouped[id]).
			Set("version = version + 1").Where("id = ?", id).Where("bucket <> ?", BucketClosed).Exec(ctx)
		if err != nil {
			return fmt.Errorf("count cases grouped under disruption %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("disruption %s closed while cases were grouped under it: %w", id, db.ErrRetryTx)
		}
	}
	return nil
}

// committed runs after the transaction committed.
func (ch *changes) committed() {
	if len(ch.jobs) > 0 {
		ch.s.kick()
	}
	for _, fn := range ch.after {
		fn()
	}
}

func chunkStrings(xs []string, n int) [][]string {
	var out [][]string
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}

func chunkTimeline(xs []TimelineEntry, n int) [][]TimelineEntry {
	var out [][]TimelineEntry
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}

// caseColumns are the columns an upsert rewrites (all but id and
// created_at).
var caseColumns = []string{"kind", "fingerprint", "state", "bucket", "title", "category", "reason", "severity", "initial_severity",
	"queue", "team", "assignee_id", "assignee_name", "shipment_id", "carrier", "tracking_number", "order_ref", "picking_ref",
	"customer_id", "customer_name", "customer_tier", "sales_team", "salesperson", "order_value", "currency", "lane", "rule_id",
	"rule_version", "ruleset_version", "tags", "auto_resolve", "parent_id", "child_count", "event_count", "first_event_at",
	"last_event_at", "last_event_id", "opened_at", "acknowledged_at", "first_acknowledged_at", "closed_at", "close_reason",
	"close_note", "reopen_count", "snoozed_until", "snooze_until_event", "snoozed_at", "sla_started_at", "respond_by",
	"resolve_by", "due_at", "sla_state", "sla_next_check_at", "respond_breached_at", "resolve_breached_at", "business_hours",
	"escalation_level", "priority", "priority_components", "eta_risk", "eta_detail", "source", "detail", "version", "updated_at"}

// upsertCases writes new and changed cases with one statement per 500:
// new rows whole, existing rows the columns in set. Callers hold the rows
// (FOR UPDATE on PostgreSQL, the single writer on SQLite).
func upsertCases(ctx context.Context, tx bun.IDB, rows []*Case, set []string) error {
	// One parameterised statement (internal/db's bulk insert): a case row
	// is wide, and bun would format every value into the text.
	suffix := "ON CONFLICT (id) DO NOTHING"
	if len(set) > 0 {
		suffix = db.UpdateSet("id", set)
	}
	for i := 0; i < len(rows); i += 500 {
		part := rows[i:min(i+500, len(rows))]
		if err := db.Insert(ctx, tx, part, db.InsertOptions{Suffix: suffix}); err != nil {
			return fmt.Errorf("store %d cases: %w", len(part), err)
		}
	}
	return nil
}

// writeTerms rewrites the search terms of cases whose searchable fields
// changed.
func (ch *changes) writeTerms(ctx context.Context, tx bun.IDB) error {
	if len(ch.termsDirty) == 0 {
		return nil
	}
	var idsOld []string
	var terms []caseTerm
	for id := range ch.termsDirty {
		if !ch.isNew[id] {
			idsOld = append(idsOld, id)
		}
		for _, t := range searchTerms(ch.cases[id]) {
			terms = append(terms, caseTerm{Term: t, CaseID: id})
		}
	}
	sort.Strings(idsOld)
	for _, part := range chunkStrings(idsOld, 500) {
		if _, err := tx.NewDelete().Model((*caseTerm)(nil)).Where("case_id IN (?)", bun.In(part)).Exec(ctx); err != nil {
			return fmt.Errorf("clear search terms: %w", err)
		}
	}
	for i := 0; i < len(terms); i += 1000 {
		part := terms[i:min(i+1000, len(terms))]
		if err := db.Insert(ctx, tx, part, db.InsertOptions{Suffix: "ON CONFLICT DO NOTHING"}); err != nil {
			return fmt.Errorf("store search terms: %w", err)
		}
	}
	return nil
}

// searchTerms are the lower-case tokens q searches by prefix: tracking
// number, order and picking reference (whole and split at punctuation),
// customer name words, and "~" + the reversed tracking number for a search
// by its last digits.
func searchTerms(c *Case) []string {
	set := map[string]bool{}
	addTok := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if len(s) >= 2 && len(s) <= 100 {
			set[s] = true
		}
	}
	for _, v := range []string{c.TrackingNumber, c.OrderRef, c.PickingRef} {
		if v == "" {
			continue
		}
		addTok(v)
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			addTok(part)
		}
		// Every tail after a separator, so "OUT/00042" finds WH/OUT/00042.
		for i := 0; i < len(v); {
			r, w := utf8.DecodeRuneInString(v[i:])
			if i > 0 && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				addTok(v[i+w:])
			}
			i += w
		}
	}
	if tn := strings.ToLower(c.TrackingNumber); len(tn) >= 2 {
		r := []rune(tn)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		set["~"+string(r)] = true
	}
	addTok(c.CustomerName)
	for _, w := range strings.FieldsFunc(c.CustomerName, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		addTok(w)
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
