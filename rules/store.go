package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
)

// Store reads and writes the rules tables. Methods take the connection to
// use (the read pool, the write pool or a transaction) so callers compose
// one transaction.
type Store struct{}

type draftRow struct {
	bun.BaseModel `bun:"table:rules"`

	ID        string    `bun:"id,pk"`
	Version   int       `bun:"version"`
	Priority  int       `bun:"priority"`
	Mode      string    `bun:"mode"`
	Spec      string    `bun:"spec"`
	CreatedBy string    `bun:"created_by"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedBy string    `bun:"updated_by"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// Draft is a rule in the working copy, with who changed it last.
type Draft struct {
	Rule      Rule      `json:"rule"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (r *draftRow) decode() (*Draft, error) {
	var rule Rule
	if err := json.Unmarshal([]byte(r.Spec), &rule); err != nil {
		return nil, fmt.Errorf("decode rule %s: %w", r.ID, err)
	}
	rule.Version = r.Version
	return &Draft{Rule: rule, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC()}, nil
}

func specOf(r *Rule) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode rule %s: %w", r.ID, err)
	}
	return string(b), nil
}

type ruleVersionRow struct {
	bun.BaseModel `bun:"table:rule_versions"`

	RuleID    string    `bun:"rule_id,pk"`
	Version   int       `bun:"version,pk"`
	Change    string    `bun:"change"`
	Spec      string    `bun:"spec"`
	ChangedBy string    `bun:"changed_by"`
	ChangedAt time.Time `bun:"changed_at"`
}

// RuleVersion is one saved version of a rule.
type RuleVersion struct {
	RuleID    string    `json:"rule_id"`
	Version   int       `json:"version"`
	Change    string    `json:"change"` // created | updated | deleted | imported
	Rule      *Rule     `json:"rule,omitempty"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
}

type listRow struct {
	bun.BaseModel `bun:"table:rule_lists"`

	Name      string    `bun:"name,pk"`
	Vals      string    `bun:"vals"`
	UpdatedBy string    `bun:"updated_by"`
	UpdatedAt time.Time `bun:"updated_at"`
}

type rulesetRow struct {
	bun.BaseModel `bun:"table:rulesets"`

	Version      int64      `bun:"version,pk"`
	Hash         string     `bun:"hash"`
	Status       string     `bun:"status"`
	BaseVersion  int64      `bun:"base_version"`
	RollbackOf   int64      `bun:"rollback_of"`
	RuleCount    int        `bun:"rule_count"`
	Content      string     `bun:"content"`
	Note         string     `bun:"note"`
	CreatedBy    string     `bun:"created_by"`
	CreatedAt    time.Time  `bun:"created_at"`
	DecidedBy    string     `bun:"decided_by"`
	DecidedAt    *time.Time `bun:"decided_at"`
	DecisionNote string     `bun:"decision_note"`
	PublishedAt  *time.Time `bun:"published_at"`
}

// Ruleset version statuses.
const (
	StatusPending   = "pending"   // waiting for a second person's approval
	StatusPublished = "published" // was (or is) the active version
	StatusRejected  = "rejected"
	StatusWithdrawn = "withdrawn" // superseded before approval
)

// Version is one immutable ruleset version.
type Version struct {
	Version      int64      `json:"version"`
	Hash         string     `json:"hash"`
	Status       string     `json:"status"`
	Active       bool       `json:"active"`
	BaseVersion  int64      `json:"base_version"`
	RollbackOf   int64      `json:"rollback_of,omitempty"`
	RuleCount    int        `json:"rule_count"`
	Note         string     `json:"note,omitempty"`
	CreatedBy    string     `json:"created_by"`
	CreatedAt    time.Time  `json:"created_at"`
	DecidedBy    string     `json:"decided_by,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	DecisionNote string     `json:"decision_note,omitempty"`
	PublishedAt  *time.Time `json:"published_at,omitempty"`
	// Content is the frozen ruleset (only on single-version reads).
	Content *Ruleset `json:"content,omitempty"`
}

func (r *rulesetRow) decode(withContent bool) (*Version, error) {
	v := &Version{
		Version: r.Version, Hash: r.Hash, Status: r.Status, BaseVersion: r.BaseVersion, RollbackOf: r.RollbackOf,
		RuleCount: r.RuleCount, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), DecidedBy: r.DecidedBy,
		DecidedAt: utcPtr(r.DecidedAt), DecisionNote: r.DecisionNote, PublishedAt: utcPtr(r.PublishedAt),
	}
	if withContent {
		var rs Ruleset
		if err := json.Unmarshal([]byte(r.Content), &rs); err != nil {
			return nil, fmt.Errorf("decode ruleset version %d: %w", r.Version, err)
		}
		v.Content = &rs
	}
	return v, nil
}

type activeRow struct {
	bun.BaseModel `bun:"table:rules_active"`

	ID        int       `bun:"id,pk"`
	Version   int64     `bun:"version"`
	Hash      string    `bun:"hash"`
	ChangedAt time.Time `bun:"changed_at"`
}

type evaluationRow struct {
	bun.BaseModel `bun:"table:rule_evaluations"`

	EventID        string    `bun:"event_id,pk"`
	ShipmentID     string    `bun:"shipment_id"`
	RulesetVersion int64     `bun:"ruleset_version"`
	RulesetHash    string    `bun:"ruleset_hash"`
	PrimaryRule    string    `bun:"primary_rule"`
	Category       string    `bun:"category"`
	Severity       string    `bun:"severity"`
	EvaluatedAt    time.Time `bun:"evaluated_at"`
	DurationUS     int64     `bun:"duration_us"`
	Record         string    `bun:"record"`
	Context        string    `bun:"context"`
}

// StoredEvaluation is an evaluation record as stored: the record's exact
// bytes, the Odoo context it used and how long the engine took.
type StoredEvaluation struct {
	Record     json.RawMessage `json:"record"`
	Context    *EvalContext    `json:"context,omitempty"`
	DurationUS int64           `json:"duration_us"`
}

// EvalContext is the Odoo context of an evaluation, kept for replay.
type EvalContext struct {
	Order    *Order    `json:"order,omitempty"`
	Customer *Customer `json:"customer,omitempty"`
}

type hitRow struct {
	bun.BaseModel `bun:"table:rule_hits"`

	RuleID      string     `bun:"rule_id,pk" json:"rule_id"`
	Day         string     `bun:"day,pk" json:"day"`
	Matched     int64      `bun:"matched" json:"matched"`
	PrimaryHits int64      `bun:"primary_hits" json:"primary"`
	Suppressed  int64      `bun:"suppressed" json:"suppressed"`
	Shadow      int64      `bun:"shadow" json:"shadow"`
	Errors      int64      `bun:"errors" json:"errors"`
	LastHitAt   *time.Time `bun:"last_hit_at" json:"last_hit_at,omitempty"`
}

// Hits are one rule's counts for one UTC day.
type Hits = hitRow

func notFound(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.NotFound(what, err)
	}
	return err
}

// Drafts returns every draft rule in priority order.
func (Store) Drafts(ctx context.Context, idb bun.IDB) ([]*Draft, error) {
	var rows []draftRow
	if err := idb.NewSelect().Model(&rows).OrderExpr("priority, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list draft rules: %w", err)
	}
	out := make([]*Draft, 0, len(rows))
	for i := range rows {
		d, err := rows[i].decode()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Draft returns one draft rule.
func (Store) Draft(ctx context.Context, idb bun.IDB, id string) (*Draft, error) {
	var row draftRow
	if err := idb.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound("rule "+id, fmt.Errorf("get rule %s: %w", id, err))
	}
	return row.decode()
}

// SaveDraft inserts a rule (expectVersion 0) or updates it when its stored
// version is expectVersion, and records the new version in the history.
// The rule's Version is set to the new version.
func (Store) SaveDraft(ctx context.Context, idb bun.IDB, r *Rule, expectVersion int, change, actor string, now time.Time) error {
	now = now.UTC()
	r.Version = expectVersion + 1
	spec, err := specOf(r)
	if err != nil {
		return err
	}
	if expectVersion == 0 {
		row := &draftRow{ID: r.ID, Version: r.Version, Priority: r.Priority, Mode: string(r.Mode), Spec: spec,
			CreatedBy: actor, CreatedAt: now, UpdatedBy: actor, UpdatedAt: now}
		if _, err := idb.NewInsert().Model(row).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Conflict(fmt.Sprintf("a rule with id %q exists already", r.ID))
			}
			return fmt.Errorf("insert rule %s: %w", r.ID, err)
		}
		// A rule id used before (then deleted) continues its history.
		var last int
		if err := idb.NewSelect().Model((*ruleVersionRow)(nil)).ColumnExpr("COALESCE(MAX(version), 0)").
			Where("rule_id = ?", r.ID).Scan(ctx, &last); err != nil {
			return fmt.Errorf("rule %s history: %w", r.ID, err)
		}
		if last > 0 {
			r.Version = last + 1
			if spec, err = specOf(r); err != nil {
				return err
			}
			if _, err := idb.NewUpdate().Model((*draftRow)(nil)).Set("version = ?", r.Version).Set("spec = ?", spec).
				Where("id = ?", r.ID).Exec(ctx); err != nil {
				return fmt.Errorf("update rule %s: %w", r.ID, err)
			}
		}
	} else {
		res, err := idb.NewUpdate().Model((*draftRow)(nil)).
			Set("version = ?", r.Version).Set("priority = ?", r.Priority).Set("mode = ?", string(r.Mode)).Set("spec = ?", spec).
			Set("updated_by = ?", actor).Set("updated_at = ?", now).
			Where("id = ?", r.ID).Where("version = ?", expectVersion).Exec(ctx)
		if err != nil {
			return fmt.Errorf("update rule %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict(fmt.Sprintf("rule %s was changed by someone else (your version %d is not the latest): reload and apply your change again", r.ID, expectVersion))
		}
	}
	hist := &ruleVersionRow{RuleID: r.ID, Version: r.Version, Change: change, Spec: spec, ChangedBy: actor, ChangedAt: now}
	if _, err := idb.NewInsert().Model(hist).Exec(ctx); err != nil {
		return fmt.Errorf("record rule %s version %d: %w", r.ID, r.Version, err)
	}
	return nil
}

// DeleteDraft removes a rule from the drafts when its stored version is
// expectVersion, recording the deletion in the history.
func (Store) DeleteDraft(ctx context.Context, idb bun.IDB, id string, expectVersion int, actor string, now time.Time) error {
	res, err := idb.NewDelete().Model((*draftRow)(nil)).Where("id = ?", id).Where("version = ?", expectVersion).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete rule %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Conflict(fmt.Sprintf("rule %s was changed by someone else (your version %d is not the latest): reload first", id, expectVersion))
	}
	hist := &ruleVersionRow{RuleID: id, Version: expectVersion + 1, Change: "deleted", Spec: "", ChangedBy: actor, ChangedAt: now.UTC()}
	if _, err := idb.NewInsert().Model(hist).Exec(ctx); err != nil {
		return fmt.Errorf("record rule %s deletion: %w", id, err)
	}
	return nil
}

// History returns a rule's versions, newest first.
func (Store) History(ctx context.Context, idb bun.IDB, id string) ([]RuleVersion, error) {
	var rows []ruleVersionRow
	if err := idb.NewSelect().Model(&rows).Where("rule_id = ?", id).OrderExpr("version DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("rule %s history: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, apperr.NotFound("rule "+id, sql.ErrNoRows)
	}
	out := make([]RuleVersion, len(rows))
	for i, r := range rows {
		out[i] = RuleVersion{RuleID: r.RuleID, Version: r.Version, Change: r.Change, ChangedBy: r.ChangedBy, ChangedAt: r.ChangedAt.UTC()}
		if r.Spec != "" {
			var rule Rule
			if err := json.Unmarshal([]byte(r.Spec), &rule); err != nil {
				return nil, fmt.Errorf("decode rule %s version %d: %w", id, r.Version, err)
			}
			out[i].Rule = &rule
		}
	}
	return out, nil
}

// Lists returns the draft reference lists.
func (Store) Lists(ctx context.Context, idb bun.IDB) (map[string][]string, error) {
	var rows []listRow
	if err := idb.NewSelect().Model(&rows).OrderExpr("name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list reference lists: %w", err)
	}
	out := make(map[string][]string, len(rows))
	for _, r := range rows {
		var vals []string
		if err := json.Unmarshal([]byte(r.Vals), &vals); err != nil {
			return nil, fmt.Errorf("decode list %s: %w", r.Name, err)
		}
		out[r.Name] = vals
	}
	return out, nil
}

// PutList creates or replaces a draft reference list; nil values delete it.
func (Store) PutList(ctx context.Context, idb bun.IDB, name string, vals []string, actor string, now time.Time) error {
	if _, err := idb.NewDelete().Model((*listRow)(nil)).Where("name = ?", name).Exec(ctx); err != nil {
		return fmt.Errorf("replace list %s: %w", name, err)
	}
	if vals == nil {
		return nil
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return fmt.Errorf("encode list %s: %w", name, err)
	}
	row := &listRow{Name: name, Vals: string(b), UpdatedBy: actor, UpdatedAt: now.UTC()}
	if _, err := idb.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("insert list %s: %w", name, err)
	}
	return nil
}

// DraftRuleset assembles the drafts and lists into a ruleset.
func (s Store) DraftRuleset(ctx context.Context, idb bun.IDB) (*Ruleset, []*Draft, error) {
	drafts, err := s.Drafts(ctx, idb)
	if err != nil {
		return nil, nil, err
	}
	lists, err := s.Lists(ctx, idb)
	if err != nil {
		return nil, nil, err
	}
	rs := &Ruleset{Lists: lists, Rules: make([]Rule, len(drafts))}
	for i, d := range drafts {
		rs.Rules[i] = d.Rule
	}
	return rs, drafts, nil
}

// NextVersion returns the next ruleset version number.
func (Store) NextVersion(ctx context.Context, idb bun.IDB) (int64, error) {
	var max int64
	if err := idb.NewSelect().Model((*rulesetRow)(nil)).ColumnExpr("COALESCE(MAX(version), 0)").Scan(ctx, &max); err != nil {
		return 0, fmt.Errorf("next ruleset version: %w", err)
	}
	return max + 1, nil
}

// InsertVersion stores a new ruleset version.
func (Store) InsertVersion(ctx context.Context, idb bun.IDB, v *Version, content *Ruleset) error {
	b, err := json.Marshal(content)
	if err != nil {
		return fmt.Errorf("encode ruleset: %w", err)
	}
	row := &rulesetRow{
		Version: v.Version, Hash: v.Hash, Status: v.Status, BaseVersion: v.BaseVersion, RollbackOf: v.RollbackOf,
		RuleCount: v.RuleCount, Content: string(b), Note: v.Note, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt.UTC(),
		DecidedBy: v.DecidedBy, DecidedAt: utcPtr(v.DecidedAt), DecisionNote: v.DecisionNote, PublishedAt: utcPtr(v.PublishedAt),
	}
	if _, err := idb.NewInsert().Model(row).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return apperr.Conflict("another ruleset version was created at the same time; try again")
		}
		return fmt.Errorf("insert ruleset version %d: %w", v.Version, err)
	}
	return nil
}

// GetVersion returns one ruleset version with its content.
func (Store) GetVersion(ctx context.Context, idb bun.IDB, version int64) (*Version, error) {
	var row rulesetRow
	if err := idb.NewSelect().Model(&row).Where("version = ?", version).Scan(ctx); err != nil {
		return nil, notFound(fmt.Sprintf("ruleset version %d", version), fmt.Errorf("get ruleset version %d: %w", version, err))
	}
	return row.decode(true)
}

// ListVersions returns ruleset versions, newest first, without content.
func (Store) ListVersions(ctx context.Context, idb bun.IDB, limit int) ([]*Version, error) {
	var rows []rulesetRow
	q := idb.NewSelect().Model(&rows).ExcludeColumn("content").OrderExpr("version DESC")
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list ruleset versions: %w", err)
	}
	out := make([]*Version, len(rows))
	for i := range rows {
		v, err := rows[i].decode(false)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Decide moves a pending version to status, with who decided and when.
func (Store) Decide(ctx context.Context, idb bun.IDB, version int64, status, actor, note string, now time.Time) error {
	now = now.UTC()
	q := idb.NewUpdate().Model((*rulesetRow)(nil)).Set("status = ?", status).Set("decided_by = ?", actor).
		Set("decided_at = ?", now).Set("decision_note = ?", note)
	if status == StatusPublished {
		q = q.Set("published_at = ?", now)
	}
	res, err := q.Where("version = ?", version).Where("status = ?", StatusPending).Exec(ctx)
	if err != nil {
		return fmt.Errorf("decide ruleset version %d: %w", version, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Conflict(fmt.Sprintf("ruleset version %d is not pending any more", version))
	}
	return nil
}

// Active returns the active version number and hash; version 0 means no
// ruleset has been published.
func (Store) Active(ctx context.Context, idb bun.IDB) (int64, string, error) {
	var row activeRow
	err := idb.NewSelect().Model(&row).Where("id = 1").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read active ruleset: %w", err)
	}
	return row.Version, row.Hash, nil
}

// SetActive makes version the active ruleset for every process. bun's
// ON CONFLICT … DO UPDATE without SET sets every non-key column of
// activeRow from EXCLUDED.
func (Store) SetActive(ctx context.Context, idb bun.IDB, version int64, hash string, now time.Time) error {
	row := &activeRow{ID: 1, Version: version, Hash: hash, ChangedAt: now.UTC()}
	if _, err := idb.NewInsert().Model(row).On("CONFLICT (id) DO UPDATE").Exec(ctx); err != nil {
		return fmt.Errorf("activate ruleset version %d: %w", version, err)
	}
	return nil
}

// InsertEvaluations stores evaluation rows (multi-row insert).
func (Store) insertEvaluations(ctx context.Context, idb bun.IDB, rows []evaluationRow, deferred bool) error {
	if len(rows) == 0 {
		return nil
	}
	// A parameterised bulk insert: the records are kilobytes of JSON each,
	// which bun would escape into the statement text.
	if err := db.Insert(ctx, idb, rows, db.InsertOptions{Defer: deferred}); err != nil {
		return fmt.Errorf("store %d evaluation records: %w", len(rows), err)
	}
	return nil
}

// Evaluation returns the stored evaluation of an event.
func (Store) Evaluation(ctx context.Context, idb bun.IDB, eventID string) (*StoredEvaluation, error) {
	var row evaluationRow
	if err := idb.NewSelect().Model(&row).Where("event_id = ?", eventID).Scan(ctx); err != nil {
		return nil, notFound("evaluation of event "+eventID, fmt.Errorf("get evaluation %s: %w", eventID, err))
	}
	se := &StoredEvaluation{Record: json.RawMessage(row.Record), DurationUS: row.DurationUS}
	if row.Context != "" {
		se.Context = &EvalContext{}
		if err := json.Unmarshal([]byte(row.Context), se.Context); err != nil {
			return nil, fmt.Errorf("decode evaluation context %s: %w", eventID, err)
		}
	}
	return se, nil
}

// contexts returns the stored Odoo contexts of the events with ids in
// (after, upTo], keyed by event id, at most limit rows (paging helper of
// the backtest's merge with the intake event stream).
func (Store) contexts(ctx context.Context, idb bun.IDB, after, upTo string, limit int) ([]evaluationRow, error) {
	var rows []evaluationRow
	q := idb.NewSelect().Model(&rows).Column("event_id", "context").Where("event_id > ?", after).Where("context <> ''").
		OrderExpr("event_id").Limit(int64(limit))
	if upTo != "" {
		q = q.Where("event_id <= ?", upTo)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("read evaluation contexts: %w", err)
	}
	return rows, nil
}

// addHits adds counts per rule and day (one upsert per row).
func (Store) addHits(ctx context.Context, idb bun.IDB, rows []hitRow, deferred bool) error {
	if len(rows) == 0 {
		return nil
	}
	q := idb.NewInsert().Model(&rows).
		On("CONFLICT (rule_id, day) DO UPDATE").
		Set("matched = ?TableAlias.matched + EXCLUDED.matched").
		Set("primary_hits = ?TableAlias.primary_hits + EXCLUDED.primary_hits").
		Set("suppressed = ?TableAlias.suppressed + EXCLUDED.suppressed").
		Set("shadow = ?TableAlias.shadow + EXCLUDED.shadow").
		Set("errors = ?TableAlias.errors + EXCLUDED.errors").
		Set("last_hit_at = CASE WHEN ?TableAlias.last_hit_at IS NULL OR (EXCLUDED.last_hit_at IS NOT NULL AND EXCLUDED.last_hit_at > ?TableAlias.last_hit_at) THEN EXCLUDED.last_hit_at ELSE ?TableAlias.last_hit_at END")
	if err := db.Exec(ctx, idb, q.String(), deferred); err != nil {
		return fmt.Errorf("count rule hits: %w", err)
	}
	return nil
}

// Hits returns the daily counts of a rule (all rules when ruleID is "")
// for days in [from, to], oldest first.
func (Store) Hits(ctx context.Context, idb bun.IDB, ruleID string, from, to time.Time) ([]Hits, error) {
	var rows []hitRow
	q := idb.NewSelect().Model(&rows).Where("day >= ?", from.UTC().Format(time.DateOnly)).
		Where("day <= ?", to.UTC().Format(time.DateOnly)).OrderExpr("rule_id, day")
	if ruleID != "" {
		q = q.Where("rule_id = ?", ruleID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("read rule hits: %w", err)
	}
	for i := range rows {
		rows[i].LastHitAt = utcPtr(rows[i].LastHitAt)
	}
	return rows, nil
}

// HitSummary is a rule's totals over a period and its last hit ever.
type HitSummary struct {
	RuleID     string     `json:"rule_id"`
	Matched    int64      `json:"matched"`
	Primary    int64      `json:"primary"`
	Suppressed int64      `json:"suppressed"`
	Shadow     int64      `json:"shadow"`
	Errors     int64      `json:"errors"`
	LastHitAt  *time.Time `json:"last_hit_at,omitempty"`
}

// HitSummaries returns totals per rule for days since from, and each
// rule's last hit time over all days.
func (Store) HitSummaries(ctx context.Context, idb bun.IDB, from time.Time) (map[string]*HitSummary, error) {
	var rows []struct {
		RuleID     string `bun:"rule_id"`
		Matched    int64  `bun:"matched"`
		Primary    int64  `bun:"primary_hits"`
		Suppressed int64  `bun:"suppressed"`
		Shadow     int64  `bun:"shadow"`
		Errors     int64  `bun:"errors"`
	}
	if err := idb.NewSelect().Model((*hitRow)(nil)).Column("rule_id").
		ColumnExpr("SUM(matched) AS matched, SUM(primary_hits) AS primary_hits, SUM(suppressed) AS suppressed, SUM(shadow) AS shadow, SUM(errors) AS errors").
		Where("day >= ?", from.UTC().Format(time.DateOnly)).Group("rule_id").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("sum rule hits: %w", err)
	}
	out := make(map[string]*HitSummary, len(rows))
	for _, r := range rows {
		out[r.RuleID] = &HitSummary{RuleID: r.RuleID, Matched: r.Matched, Primary: r.Primary, Suppressed: r.Suppressed, Shadow: r.Shadow, Errors: r.Errors}
	}
	var last []struct {
		RuleID    string     `bun:"rule_id"`
		LastHitAt *time.Time `bun:"last_hit_at"`
	}
	if err := idb.NewSelect().Model((*hitRow)(nil)).Column("rule_id").ColumnExpr("MAX(last_hit_at) AS last_hit_at").
		Group("rule_id").Scan(ctx, &last); err != nil {
		return nil, fmt.Errorf("read last rule hits: %w", err)
	}
	for _, r := range last {
		if r.LastHitAt == nil {
			continue
		}
		s := out[r.RuleID]
		if s == nil {
			s = &HitSummary{RuleID: r.RuleID}
			out[r.RuleID] = s
		}
		s.LastHitAt = utcPtr(r.LastHitAt)
	}
	return out, nil
}

// pruneSlice selects the next slice of evaluation records made before
// cutoff (index rule_evaluations_evaluated).
func pruneSlice(d *db.DB, cutoff time.Time) *bun.SelectQuery {
	return d.NewSelect().Model((*evaluationRow)(nil)).Column("event_id").Where("evaluated_at < ?", cutoff.UTC()).Limit(5000)
}

// PruneEvaluations deletes evaluation records made before cutoff, and hit
// counts older than 400 days, in slices of 5,000 rows so a large backlog
// never holds SQLite's writer for long. It returns the rows deleted.
func (Store) PruneEvaluations(ctx context.Context, d *db.DB, cutoff time.Time) (int, error) {
	total := 0
	for {
		res, err := d.NewDelete().Model((*evaluationRow)(nil)).Where("event_id IN (?)", pruneSlice(d, cutoff)).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("prune evaluation records: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
		if n < 5000 {
			break
		}
	}
	res, err := d.NewDelete().Model((*hitRow)(nil)).Where("day < ?", cutoff.UTC().AddDate(0, 0, -400).Format(time.DateOnly)).Exec(ctx)
	if err != nil {
		return total, fmt.Errorf("prune rule hits: %w", err)
	}
	n, _ := res.RowsAffected()
	return total + int(n), nil
}
