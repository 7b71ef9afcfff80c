package triage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/rules"
)

// ListFilter selects cases. Zero fields match everything, except States:
// empty means the working queue (open and acknowledged).
type ListFilter struct {
	States     []State          `json:"state,omitempty"`
	Severities []rules.Severity `json:"severity,omitempty"`
	Queue      string           `json:"queue,omitempty"`
	Team       string           `json:"team,omitempty"`
	// Assignee is a user id, "me" or "none".
	Assignee   string   `json:"assignee,omitempty"`
	Carrier    string   `json:"carrier,omitempty"`
	Customer   string   `json:"customer,omitempty"` // Odoo customer (res.partner) id
	SLAStates  []string `json:"sla_state,omitempty"`
	Category   string   `json:"category,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	ParentID   string   `json:"parent_id,omitempty"`
	ShipmentID string   `json:"shipment_id,omitempty"`
	// Q searches tracking number (prefix or last digits), order and
	// picking reference and customer name (word prefix).
	Q string `json:"q,omitempty"`
	// Sort: priority (default, highest first), newest, oldest, due
	// (soonest SLA deadline first; only cases with a running clock).
	Sort   string `json:"sort,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Sorts lists the sort orders.
var Sorts = []string{"priority", "newest", "oldest", "due"}

// Page is one page of cases.
type Page struct {
	Cases []*Case `json:"cases"`
	// NextCursor continues the listing (same filter); "" on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Validate checks a filter and fills defaults.
func (f *ListFilter) Validate() error {
	var fe []apperr.FieldError
	bad := func(field, msg string) { fe = append(fe, apperr.FieldError{Field: field, Message: msg}) }
	for _, s := range f.States {
		if !s.Valid() {
			bad("state", fmt.Sprintf("%q is not one of open, acknowledged, snoozed, resolved, dismissed", s))
		}
	}
	for _, s := range f.Severities {
		if s.Rank() == 0 {
			bad("severity", fmt.Sprintf("%q is not one of critical, high, medium, low, info", s))
		}
	}
	for _, s := range f.SLAStates {
		if !containsStr(SLAStates, s) {
			bad("sla_state", fmt.Sprintf("%q is not one of %s", s, strings.Join(SLAStates, ", ")))
		}
	}
	if f.Sort == "" {
		f.Sort = "priority"
	}
	if !containsStr(Sorts, f.Sort) {
		bad("sort", "must be one of "+strings.Join(Sorts, ", "))
	}
	if f.Kind != "" && f.Kind != KindShipment && f.Kind != KindGroup && f.Kind != KindDisruption {
		bad("kind", "must be shipment, group or disruption")
	}
	f.Q = strings.TrimSpace(f.Q)
	if f.Q != "" && (utf8.RuneCountInString(f.Q) < 2 || len(f.Q) > 100) {
		bad("q", "2-100 characters")
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 0 || f.Limit > 500 {
		bad("limit", "1-500")
	}
	if f.Cursor != "" {
		if _, err := decodeCursor(f.Cursor, f.Sort); err != nil {
			bad("cursor", "not a cursor of this listing (same filter and sort)")
		}
	}
	for _, v := range []struct{ field, val string }{{"queue", f.Queue}, {"team", f.Team}, {"assignee", f.Assignee}, {"carrier", f.Carrier},
		{"customer", f.Customer}, {"category", f.Category}, {"parent_id", f.ParentID}, {"shipment_id", f.ShipmentID}} {
		if len(v.val) > 200 {
			bad(v.field, "at most 200 characters")
		}
	}
	if len(fe) > 0 {
		return apperr.Invalid("invalid case filter", fe...)
	}
	return nil
}

type cursor struct {
	priority int
	due      time.Time
	id       string
}

func encodeCursor(sort string, c *Case) string {
	var s string
	switch sort {
	case "priority":
		s = "p|" + strconv.Itoa(c.Priority) + "|" + c.ID
	case "due":
		due := ""
		if c.DueAt != nil {
			due = strconv.FormatInt(c.DueAt.UnixNano(), 10)
		}
		s = "d|" + due + "|" + c.ID
	default:
		s = "t||" + c.ID
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(raw, sort string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return cursor{}, err
	}
	parts := strings.SplitN(string(b), "|", 3)
	if len(parts) != 3 || parts[2] == "" {
		return cursor{}, fmt.Errorf("bad cursor")
	}
	var c cursor
	c.id = parts[2]
	switch {
	case sort == "priority" && parts[0] == "p":
		if c.priority, err = strconv.Atoi(parts[1]); err != nil {
			return c, err
		}
	case sort == "due" && parts[0] == "d":
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return c, err
		}
		c.due = time.Unix(0, n).UTC()
	case (sort == "newest" || sort == "oldest") && parts[0] == "t":
	default:
		return c, fmt.Errorf("cursor of another sort")
	}
	return c, nil
}

// caseQuery builds the filtered select (without order and limit).
func (s *Service) caseQuery(ctx context.Context, q *bun.SelectQuery, f ListFilter, scope *accessScope) *bun.SelectQuery {
	// A text search matches few cases, found through the terms index; on
	// SQLite, which has no statistics to know that, the unary + keeps the
	// planner from scanning a whole filter or order index instead and
	// checking each case against the matches (87,000 index entries for
	// one tracking number, 110 ms, in BenchmarkConsolePages).
	col := func(name string) string {
		if f.Q != "" && !s.db.IsPostgres() {
			return "+" + name
		}
		return name
	}
	states := f.States
	if len(states) == 0 {
		states = []State{StateOpen, StateAcknowledged}
	}
	buckets := map[string]bool{}
	var bl []string
	for _, st := range states {
		b := bucketOf(st)
		if !buckets[b] {
			buckets[b] = true
			bl = append(bl, b)
		}
	}
	if len(bl) == 1 {
		q = q.Where(col("bucket")+" = ?", bl[0])
	} else {
		q = q.Where(col("bucket")+" IN (?)", bun.In(bl))
	}
	// The state filter is redundant when it names whole buckets.
	if !(len(f.States) == 0 || coversBuckets(f.States)) {
		q = q.Where(col("state")+" IN (?)", bun.In(f.States))
	}
	if len(f.Severities) == 1 {
		q = q.Where(col("severity")+" = ?", f.Severities[0])
	} else if len(f.Severities) > 1 {
		q = q.Where(col("severity")+" IN (?)", bun.In(f.Severities))
	}
	if f.Queue != "" {
		q = q.Where(col("queue")+" = ?", f.Queue)
	}
	if f.Team != "" {
		q = q.Where(col("team")+" = ?", f.Team)
	}
	switch f.Assignee {
	case "":
	case "none":
		q = q.Where(col("assignee_id") + " = ''")
	case "me":
		p := principal(ctx)
		uid := p.UserID
		if uid == "" && p.Kind == "user" {
			uid = p.ID
		}
		q = q.Where(col("assignee_id")+" = ?", uid)
	default:
		q = q.Where(col("assignee_id")+" = ?", f.Assignee)
	}
	if f.Carrier != "" {
		q = q.Where(col("carrier")+" = ?", strings.ToLower(f.Carrier))
	}
	if f.Customer != "" {
		q = q.Where(col("customer_id")+" = ?", f.Customer)
	}
	if len(f.SLAStates) == 1 {
		q = q.Where(col("sla_state")+" = ?", f.SLAStates[0])
	} else if len(f.SLAStates) > 1 {
		q = q.Where(col("sla_state")+" IN (?)", bun.In(f.SLAStates))
	}
	if f.Category != "" {
		q = q.Where(col("category")+" = ?", f.Category)
	}
	if f.Kind != "" {
		q = q.Where(col("kind")+" = ?", f.Kind)
	}
	if f.ParentID != "" {
		q = q.Where("parent_id = ?", f.ParentID)
	}
	if f.ShipmentID != "" {
		q = q.Where("id IN (SELECT case_id FROM triage_case_shipments WHERE shipment_id = ?)", f.ShipmentID)
	}
	if f.Q != "" {
		t := strings.ToLower(f.Q)
		r := []rune(t)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		rev := "~" + string(r)
		q = q.Where("id IN (SELECT case_id FROM triage_case_terms WHERE (term >= ? AND term < ?) OR (term >= ? AND term < ?))",
			t, prefixEnd(t), rev, prefixEnd(rev))
	}
	if f.Sort == "due" {
		q = q.Where("due_at IS NOT NULL")
	}
	return scope.apply(q)
}

// prefixEnd returns the smallest string above every string with prefix p
// (byte order).
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return p + "\uffff"
}

func coversBuckets(states []State) bool {
	has := map[State]bool{}
	for _, s := range states {
		has[s] = true
	}
	for _, s := range states {
		switch bucketOf(s) {
		case BucketQueue:
			if !has[StateOpen] || !has[StateAcknowledged] {
				return false
			}
		case BucketClosed:
			if !has[StateResolved] || !has[StateDismissed] {
				return false
			}
		}
	}
	return true
}

func orderAndSeek(q *bun.SelectQuery, f ListFilter) (*bun.SelectQuery, error) {
	var cur *cursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, f.Sort)
		if err != nil {
			return nil, apperr.Invalid("invalid cursor", apperr.FieldError{Field: "cursor", Message: "not a cursor of this listing"})
		}
		cur = &c
	}
	switch f.Sort {
	case "priority":
		if cur != nil {
			q = q.Where("(priority < ? OR (priority = ? AND id < ?))", cur.priority, cur.priority, cur.id)
		}
		q = q.OrderExpr("priority DESC, id DESC")
	case "newest":
		if cur != nil {
			q = q.Where("id < ?", cur.id)
		}
		q = q.OrderExpr("id DESC")
	case "oldest":
		if cur != nil {
			q = q.Where("id > ?", cur.id)
		}
		q = q.OrderExpr("id ASC")
	case "due":
		if cur != nil {
			q = q.Where("(due_at > ? OR (due_at = ? AND id > ?))", cur.due, cur.due, cur.id)
		}
		q = q.OrderExpr("due_at ASC, id ASC")
	}
	return q, nil
}

// List returns one page of cases the caller may read.
func (s *Service) List(ctx context.Context, f ListFilter) (*Page, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var rows []*Case
	q, err := s.listQuery(ctx, f, &rows)
	if err != nil {
		return nil, err
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	page := &Page{Cases: rows}
	if len(rows) > f.Limit {
		page.Cases = rows[:f.Limit]
		page.NextCursor = encodeCursor(f.Sort, page.Cases[f.Limit-1])
	}
	if page.Cases == nil {
		page.Cases = []*Case{}
	}
	return page, nil
}

// listQuery is List's query for a validated filter: one page and one row
// more, to tell whether there is a next page.
func (s *Service) listQuery(ctx context.Context, f ListFilter, rows *[]*Case) (*bun.SelectQuery, error) {
	scope, err := s.scopeOf(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	q := s.caseQuery(ctx, s.db.Read.NewSelect().Model(rows), f, scope)
	if q, err = orderAndSeek(q, f); err != nil {
		return nil, err
	}
	return q.Limit(int64(f.Limit + 1)), nil
}

// matchIDs returns the ids of the cases a filter selects (bulk), in the
// filter's order, up to limit.
func (s *Service) matchIDs(ctx context.Context, idb bun.IDB, f ListFilter, limit int) ([]string, error) {
	f.Limit = 0
	if err := f.Validate(); err != nil {
		return nil, err
	}
	f.Limit = limit
	scope, err := s.scopeOf(ctx, idb)
	if err != nil {
		return nil, err
	}
	var out []string
	q := s.caseQuery(ctx, idb.NewSelect().Model((*Case)(nil)).Column("id"), f, scope)
	if q, err = orderAndSeek(q, f); err != nil {
		return nil, err
	}
	if err := q.Limit(int64(f.Limit)).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("select cases: %w", err)
	}
	return out, nil
}

// Get returns a case the caller may read.
func (s *Service) Get(ctx context.Context, id string) (*Case, error) {
	c, err := getCase(ctx, s.db.Read, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkCaseAccess(ctx, s.db.Read, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Detail is a case with its history.
type Detail struct {
	Case        *Case             `json:"case"`
	Timeline    []TimelineEntry   `json:"timeline"`
	Evaluations []json.RawMessage `json:"evaluations"`
	Actions     []*Action         `json:"actions"`
	Comments    []*Comment        `json:"comments"`
	Audit       []audit.Entry     `json:"audit"`
	Children    []*Case           `json:"children,omitempty"`
	Parent      *Case             `json:"parent,omitempty"`
	Shipments   []string          `json:"shipment_ids"`
}

// GetDetail returns a case with its timeline, the rule evaluations of its
// events (exact stored records), actions, comments, audit entries (of the
// case and its actions), and its disruption parent or children.
func (s *Service) GetDetail(ctx context.Context, id string) (*Detail, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	read := s.db.Read
	d := &Detail{Case: c}
	if err := read.NewSelect().Model(&d.Timeline).Where("case_id = ?", id).OrderExpr("id").Limit(2000).Scan(ctx); err != nil {
		return nil, fmt.Errorf("timeline of case %s: %w", id, err)
	}
	var evIDs []string
	seen := map[string]bool{}
	for _, t := range d.Timeline {
		if t.Kind == TLEvaluation && t.EventID != "" && !seen[t.EventID] {
			seen[t.EventID] = true
			evIDs = append(evIDs, t.EventID)
		}
	}
	recs, err := storedRecords(ctx, read, evIDs)
	if err != nil {
		return nil, err
	}
	d.Evaluations = []json.RawMessage{}
	for _, e := range evIDs {
		if r, ok := recs[e]; ok {
			d.Evaluations = append(d.Evaluations, r)
		}
	}
	if d.Actions, err = s.caseActions(ctx, read, id); err != nil {
		return nil, err
	}
	if d.Comments, err = s.Comments(ctx, id); err != nil {
		return nil, err
	}
	caseAudit, err := audit.ForSubject(ctx, read, "case", id)
	if err != nil {
		return nil, err
	}
	d.Audit = caseAudit
	for _, a := range d.Actions {
		ae, err := audit.ForSubject(ctx, read, "action", a.ID)
		if err != nil {
			return nil, err
		}
		d.Audit = append(d.Audit, ae...)
	}
	sortAudit(d.Audit)
	if err := read.NewSelect().Model((*caseShipment)(nil)).Column("shipment_id").Where("case_id = ?", id).
		OrderExpr("shipment_id").Limit(1000).Scan(ctx, &d.Shipments); err != nil {
		return nil, fmt.Errorf("shipments of case %s: %w", id, err)
	}
	if c.Kind == KindDisruption {
		if err := read.NewSelect().Model(&d.Children).Where("parent_id = ?", id).OrderExpr("priority DESC, id DESC").Limit(500).Scan(ctx); err != nil {
			return nil, fmt.Errorf("children of case %s: %w", id, err)
		}
	} else if c.ParentID != "" {
		if p, err := getCase(ctx, read, c.ParentID); err == nil {
			d.Parent = p
		}
	}
	if d.Timeline == nil {
		d.Timeline = []TimelineEntry{}
	}
	if d.Actions == nil {
		d.Actions = []*Action{}
	}
	if d.Comments == nil {
		d.Comments = []*Comment{}
	}
	if d.Audit == nil {
		d.Audit = []audit.Entry{}
	}
	if d.Shipments == nil {
		d.Shipments = []string{}
	}
	return d, nil
}

func sortAudit(es []audit.Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Seq < es[j-1].Seq; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// Stats are queue health figures.
type Stats struct {
	Live       map[string]int `json:"live_by_state"`
	BySeverity map[string]int `json:"live_by_severity"`
	BySLA      map[string]int `json:"live_by_sla_state"`
	// Aging counts live cases by age since opening.
	Aging map[string]int `json:"aging"`
	// MTTA and MTTR over the window, in seconds (0 when nothing happened).
	Window          string  `json:"window"`
	MTTASeconds     float64 `json:"mtta_seconds"`
	MTTRSeconds     float64 `json:"mttr_seconds"`
	Acknowledged    int     `json:"acknowledged"`
	Resolved        int     `json:"resolved"`
	BreachesRespond int     `json:"respond_breaches"`
	BreachesResolve int     `json:"resolve_breaches"`
}

// AgeBands are the aging bands of Stats and the age gauge.
var AgeBands = []struct {
	Name string
	Max  time.Duration
}{{"lt_1h", time.Hour}, {"1h_4h", 4 * time.Hour}, {"4h_24h", 24 * time.Hour}, {"1d_3d", 72 * time.Hour}, {"3d_7d", 7 * 24 * time.Hour}, {"gt_7d", 0}}

// Stats computes queue health over the cases the caller may read; window
// bounds the MTTA/MTTR sample (cases opened within it).
func (s *Service) Stats(ctx context.Context, window time.Duration) (*Stats, error) {
	scope, err := s.scopeOf(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	st := &Stats{Live: map[string]int{}, BySeverity: map[string]int{}, BySLA: map[string]int{}, Aging: map[string]int{}, Window: rules.Duration(window).String()}
	var groups []struct {
		State    string `bun:"state"`
		Severity string `bun:"severity"`
		SLAState string `bun:"sla_state"`
		N        int    `bun:"n"`
	}
	q := s.db.Read.NewSelect().Model((*Case)(nil)).ColumnExpr("state, severity, sla_state, COUNT(*) AS n").
		Where("bucket <> ?", BucketClosed).GroupExpr("state, severity, sla_state")
	if err := scope.apply(q).Scan(ctx, &groups); err != nil {
		return nil, fmt.Errorf("case stats: %w", err)
	}
	for _, g := range groups {
		st.Live[g.State] += g.N
		st.BySeverity[g.Severity] += g.N
		st.BySLA[g.SLAState] += g.N
	}
	aging, err := s.aging(ctx, scope, now)
	if err != nil {
		return nil, err
	}
	st.Aging = aging
	since := now.Add(-window)
	// Opened within the window (ids are ULIDs of the opening time).
	secs := func(from, to string) string {
		if s.db.IsPostgres() {
			return "EXTRACT(EPOCH FROM (" + to + " - " + from + "))"
		}
		return "((julianday(" + to + ") - julianday(" + from + ")) * 86400.0)"
	}
	var agg struct {
		Ack      int      `bun:"ack"`
		AckSum   *float64 `bun:"ack_sum"`
		Res      int      `bun:"res"`
		ResSum   *float64 `bun:"res_sum"`
		BRespond int      `bun:"b_respond"`
		BResolve int      `bun:"b_resolve"`
	}
	q = s.db.Read.NewSelect().Model((*Case)(nil)).
		ColumnExpr("COUNT(first_acknowledged_at) AS ack").
		ColumnExpr("SUM("+secs("opened_at", "first_acknowledged_at")+") AS ack_sum").
		ColumnExpr("COALESCE(SUM(CASE WHEN state = 'resolved' AND closed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS res").
		ColumnExpr("SUM(CASE WHEN state = 'resolved' AND closed_at IS NOT NULL THEN "+secs("opened_at", "closed_at")+" END) AS res_sum").
		ColumnExpr("COUNT(respond_breached_at) AS b_respond").
		ColumnExpr("COUNT(resolve_breached_at) AS b_resolve").
		Where("id >= ?", idFloor(since)).Where("kind <> ?", KindDisruption)
	if err := scope.apply(q).Scan(ctx, &agg); err != nil {
		return nil, fmt.Errorf("case timing stats: %w", err)
	}
	st.Acknowledged, st.Resolved, st.BreachesRespond, st.BreachesResolve = agg.Ack, agg.Res, agg.BRespond, agg.BResolve
	if agg.Ack > 0 && agg.AckSum != nil {
		st.MTTASeconds = *agg.AckSum / float64(agg.Ack)
	}
	if agg.Res > 0 && agg.ResSum != nil {
		st.MTTRSeconds = *agg.ResSum / float64(agg.Res)
	}
	return st, nil
}

// aging counts live cases per age band in one pass over the live cases:
// a case's id is a ULID of its opening time, so "opened after t" is
// "id >= idFloor(t)" and needs no date arithmetic.
func (s *Service) aging(ctx context.Context, scope *accessScope, now time.Time) (map[string]int, error) {
	q := s.db.Read.NewSelect().Model((*Case)(nil)).Where("bucket IN (?)", bun.In([]string{BucketQueue, BucketSnoozed}))
	var args []any
	for i, b := range AgeBands {
		if b.Max == 0 {
			q = q.ColumnExpr("COUNT(*) AS total")
			continue
		}
		args = append(args, idFloor(now.Add(-b.Max)))
		q = q.ColumnExpr(fmt.Sprintf("COALESCE(SUM(CASE WHEN id >= ? THEN 1 ELSE 0 END), 0) AS b%d", i), args[len(args)-1])
	}
	rows, err := scope.apply(q).Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("case aging: %w", err)
	}
	defer rows.Close()
	vals := make([]int64, len(AgeBands))
	ptrs := make([]any, 0, len(AgeBands))
	for i, b := range AgeBands {
		if b.Max > 0 {
			ptrs = append(ptrs, &vals[i])
		}
	}
	var total int64
	// COUNT(*) was added where the open-ended band is (last).
	ptrs = append(ptrs, &total)
	if rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("case aging: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("case aging: %w", err)
	}
	out := map[string]int{}
	var prev int64
	for i, b := range AgeBands {
		if b.Max == 0 {
			out[b.Name] = int(total - prev)
			continue
		}
		out[b.Name] = int(vals[i] - prev)
		prev = vals[i]
	}
	return out, nil
}

// idFloor is the smallest ULID of time t.
func idFloor(t time.Time) string {
	ms := uint64(t.UnixMilli())
	const enc = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [10]byte
	for i := 9; i >= 0; i-- {
		b[i] = enc[ms&31]
		ms >>= 5
	}
	return string(b[:])
}
