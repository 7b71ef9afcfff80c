package rules

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
)

// RuleView is a draft rule with its hit counts (last 30 days) and last hit.
type RuleView struct {
	Draft
	// Published is the version of this rule in the active ruleset (0 when
	// the rule is not published); a draft newer than it is unpublished work.
	Published int         `json:"published_version"`
	Hits      *HitSummary `json:"hits,omitempty"`
}

// SaveResult is the answer to creating or updating a rule: the stored
// rule and the lint warnings (errors are returned as apperr.Invalid).
type SaveResult struct {
	Rule     *Draft       `json:"rule"`
	Warnings []Diagnostic `json:"warnings"`
}

// invalid turns diagnostics into a 422 with one field error each.
func invalid(detail string, ds []Diagnostic) error {
	fields := make([]apperr.FieldError, 0, len(ds))
	for _, d := range ds {
		f := d.Field
		if d.Rule != "" {
			f = "rules[" + d.Rule + "]" + prefixDot(f)
		}
		if f == "" {
			f = "(ruleset)"
		}
		msg := d.Message
		if d.Line > 0 && (strings.HasPrefix(d.Field, "when") || strings.HasPrefix(d.Field, "severity_expr") || strings.HasPrefix(d.Field, "actions") || strings.HasPrefix(d.Field, "group")) {
			msg = fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Message)
		}
		fields = append(fields, apperr.FieldError{Field: f, Message: msg})
	}
	return apperr.Invalid(detail, fields...)
}

func prefixDot(s string) string {
	if s == "" {
		return ""
	}
	return "." + s
}

// ListRules returns the draft rules with hit counts.
func (s *Service) ListRules(ctx context.Context) ([]*RuleView, error) {
	drafts, err := s.store.Drafts(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	hits, err := s.store.HitSummaries(ctx, s.db.Read, s.now().AddDate(0, 0, -30))
	if err != nil {
		return nil, err
	}
	pub := map[string]int{}
	if c := s.Active(); c != nil {
		for _, r := range c.Ruleset.Rules {
			pub[r.ID] = r.Version
		}
	}
	out := make([]*RuleView, len(drafts))
	for i, d := range drafts {
		out[i] = &RuleView{Draft: *d, Published: pub[d.Rule.ID], Hits: hits[d.Rule.ID]}
	}
	return out, nil
}

// GetRule returns one draft rule with its hit counts.
func (s *Service) GetRule(ctx context.Context, id string) (*RuleView, error) {
	d, err := s.store.Draft(ctx, s.db.Read, id)
	if err != nil {
		return nil, err
	}
	hits, err := s.store.HitSummaries(ctx, s.db.Read, s.now().AddDate(0, 0, -30))
	if err != nil {
		return nil, err
	}
	v := &RuleView{Draft: *d, Hits: hits[id]}
	if c := s.Active(); c != nil {
		if r, ok := c.Rule(id); ok {
			v.Published = r.Version
		}
	}
	return v, nil
}

// validateDraft validates r against the draft lists and the other drafts'
// priorities.
func (s *Service) validateDraft(ctx context.Context, idb bun.IDB, r *Rule) ([]Diagnostic, error) {
	lists, err := s.store.Lists(ctx, idb)
	if err != nil {
		return nil, err
	}
	r.Normalize()
	res := ValidateRule(*r, lists)
	if !res.OK {
		return nil, invalid("the rule is not valid", res.Errors)
	}
	var clash []draftRow
	if err := idb.NewSelect().Model(&clash).Column("id").Where("priority = ?", r.Priority).Where("id <> ?", r.ID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("check priority: %w", err)
	}
	if len(clash) > 0 {
		return nil, apperr.Invalid("priority taken", apperr.FieldError{Field: "priority",
			Message: fmt.Sprintf("priority %d is used by rule %s; priorities are unique so the order never depends on chance (lower runs first)", r.Priority, clash[0].ID)})
	}
	return res.Warnings, nil
}

// CreateRule adds a draft rule.
func (s *Service) CreateRule(ctx context.Context, r Rule) (*SaveResult, error) {
	r = r.Clone()
	var res *SaveResult
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		warns, err := s.validateDraft(ctx, tx, &r)
		if err != nil {
			return err
		}
		if err := s.store.SaveDraft(ctx, tx, &r, 0, "created", Identity(ctx), s.now()); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "rule.created", SubjectType: "rule", SubjectID: r.ID, After: r}); err != nil {
			return err
		}
		d, err := s.store.Draft(ctx, tx, r.ID)
		res = &SaveResult{Rule: d, Warnings: warns}
		return err
	})
	return res, err
}

// UpdateRule replaces draft rule id, which must still be at version
// expectVersion (optimistic concurrency: two analysts never overwrite each
// other silently).
func (s *Service) UpdateRule(ctx context.Context, id string, expectVersion int, r Rule) (*SaveResult, error) {
	r = r.Clone()
	if r.ID == "" {
		r.ID = id
	}
	if r.ID != id {
		return nil, apperr.Invalid("the id cannot change", apperr.FieldError{Field: "id", Message: fmt.Sprintf("is %q, the rule is %q; create a new rule instead", r.ID, id)})
	}
	if expectVersion <= 0 {
		return nil, apperr.Invalid("version required", apperr.FieldError{Field: "version", Message: "send the version you edited (optimistic locking)"})
	}
	var res *SaveResult
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		before, err := s.store.Draft(ctx, tx, id)
		if err != nil {
			return err
		}
		warns, err := s.validateDraft(ctx, tx, &r)
		if err != nil {
			return err
		}
		if err := s.store.SaveDraft(ctx, tx, &r, expectVersion, "updated", Identity(ctx), s.now()); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "rule.updated", SubjectType: "rule", SubjectID: id, Before: before.Rule, After: r}); err != nil {
			return err
		}
		d, err := s.store.Draft(ctx, tx, id)
		res = &SaveResult{Rule: d, Warnings: warns}
		return err
	})
	return res, err
}

// DeleteRule removes draft rule id at version expectVersion. The published
// ruleset keeps it until the next publish.
func (s *Service) DeleteRule(ctx context.Context, id string, expectVersion int) error {
	return withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		before, err := s.store.Draft(ctx, tx, id)
		if err != nil {
			return err
		}
		if expectVersion <= 0 {
			expectVersion = before.Rule.Version
		}
		if err := s.store.DeleteDraft(ctx, tx, id, expectVersion, Identity(ctx), s.now()); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "rule.deleted", SubjectType: "rule", SubjectID: id, Before: before.Rule})
		return err
	})
}

// RuleHistory returns every saved version of a rule, newest first.
func (s *Service) RuleHistory(ctx context.Context, id string) ([]RuleVersion, error) {
	return s.store.History(ctx, s.db.Read, id)
}

// Lists returns the draft reference lists.
func (s *Service) Lists(ctx context.Context) (map[string][]string, error) {
	return s.store.Lists(ctx, s.db.Read)
}

// PutList creates, replaces or (nil values) deletes a draft reference list.
// Lists are versioned with the ruleset: the change goes live on publish.
func (s *Service) PutList(ctx context.Context, name string, vals []string) error {
	if !reListName.MatchString(name) {
		return apperr.Invalid("invalid list name", apperr.FieldError{Field: "name", Message: "must start with a lowercase letter and use only a-z, 0-9 and _ (at most 64)"})
	}
	if len(vals) > MaxListValues {
		return apperr.Invalid("list too long", apperr.FieldError{Field: "values", Message: fmt.Sprintf("at most %d values", MaxListValues)})
	}
	if vals != nil {
		vals = sortedUnique(append([]string{}, vals...))
	}
	return withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		before, err := s.store.Lists(ctx, tx)
		if err != nil {
			return err
		}
		old, existed := before[name]
		if vals == nil && !existed {
			return apperr.NotFound("reference list "+name, nil)
		}
		if vals == nil {
			// Refuse to delete a list a draft rule still uses.
			drafts, err := s.store.Drafts(ctx, tx)
			if err != nil {
				return err
			}
			for _, d := range drafts {
				if strings.Contains(d.Rule.When, `"`+name+`"`) {
					return apperr.Conflict(fmt.Sprintf("rule %s uses list %s; change the rule first", d.Rule.ID, name))
				}
			}
		}
		if err := s.store.PutList(ctx, tx, name, vals, Identity(ctx), s.now()); err != nil {
			return err
		}
		action := "rule_list.updated"
		if vals == nil {
			action = "rule_list.deleted"
		} else if !existed {
			action = "rule_list.created"
		}
		var b, a any
		if existed {
			b = old
		}
		if vals != nil {
			a = vals
		}
		_, err = audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: action, SubjectType: "rule_list", SubjectID: name, Before: b, After: a})
		return err
	})
}

// ImportResult reports an import into the drafts.
type ImportResult struct {
	Created   []string     `json:"created"`
	Updated   []string     `json:"updated"`
	Unchanged []string     `json:"unchanged"`
	Deleted   []string     `json:"deleted"`
	Warnings  []Diagnostic `json:"warnings"`
	Tests     []TestResult `json:"tests"`
}

// Import loads a ruleset (from a YAML file kept in git) into the drafts.
// Rules are matched by id; with replace, drafts not in the file are
// deleted and lists not in the file removed. The file must compile;
// failing tests are reported (publish is where they block).
func (s *Service) Import(ctx context.Context, rs *Ruleset, replace bool) (*ImportResult, error) {
	c, rep := Compile(rs, CompileOptions{Lint: true})
	if c == nil {
		return nil, invalid("the ruleset file is not valid", rep.Errors)
	}
	e := s.evaluator()
	tests := c.RunTests(e)
	s.release(e)
	res := &ImportResult{Created: []string{}, Updated: []string{}, Unchanged: []string{}, Deleted: []string{}, Warnings: rep.Warnings, Tests: tests}
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		drafts, err := s.store.Drafts(ctx, tx)
		if err != nil {
			return err
		}
		existing := map[string]*Draft{}
		for _, d := range drafts {
			existing[d.Rule.ID] = d
		}
		in := map[string]bool{}
		actor, now := Identity(ctx), s.now()
		// Free the priorities first: the file's order wins.
		for _, d := range drafts {
			if _, err := tx.NewUpdate().Model((*draftRow)(nil)).Set("priority = ?", -d.Rule.Priority-MaxPriority).Where("id = ?", d.Rule.ID).Exec(ctx); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
		for i := range c.Ruleset.Rules {
			r := c.Ruleset.Rules[i].Clone()
			in[r.ID] = true
			old := existing[r.ID]
			if old != nil {
				r.Version = old.Rule.Version
				if sameRule(&old.Rule, &r) {
					if _, err := tx.NewUpdate().Model((*draftRow)(nil)).Set("priority = ?", r.Priority).Where("id = ?", r.ID).Exec(ctx); err != nil {
						return fmt.Errorf("import: %w", err)
					}
					res.Unchanged = append(res.Unchanged, r.ID)
					continue
				}
				if err := s.store.SaveDraft(ctx, tx, &r, old.Rule.Version, "imported", actor, now); err != nil {
					return err
				}
				res.Updated = append(res.Updated, r.ID)
			} else {
				if err := s.store.SaveDraft(ctx, tx, &r, 0, "imported", actor, now); err != nil {
					return err
				}
				res.Created = append(res.Created, r.ID)
			}
		}
		for _, d := range drafts {
			if in[d.Rule.ID] {
				continue
			}
			if replace {
				if err := s.store.DeleteDraft(ctx, tx, d.Rule.ID, d.Rule.Version, actor, now); err != nil {
					return err
				}
				res.Deleted = append(res.Deleted, d.Rule.ID)
				continue
			}
			if _, err := tx.NewUpdate().Model((*draftRow)(nil)).Set("priority = ?", d.Rule.Priority).Where("id = ?", d.Rule.ID).Exec(ctx); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
		// Priorities must still be unique after merging.
		var dup []struct {
			Priority int `bun:"priority"`
			N        int `bun:"n"`
		}
		if err := tx.NewSelect().Model((*draftRow)(nil)).Column("priority").ColumnExpr("COUNT(*) AS n").Group("priority").Having("COUNT(*) > 1").Scan(ctx, &dup); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if len(dup) > 0 {
			return apperr.Invalid("priority clash", apperr.FieldError{Field: "rules", Message: fmt.Sprintf("after merging, priority %d is used by %d rules; import with replace or renumber", dup[0].Priority, dup[0].N)})
		}
		lists, err := s.store.Lists(ctx, tx)
		if err != nil {
			return err
		}
		for name, vals := range c.Ruleset.Lists {
			if err := s.store.PutList(ctx, tx, name, vals, actor, now); err != nil {
				return err
			}
		}
		if replace {
			for name := range lists {
				if _, ok := c.Ruleset.Lists[name]; !ok {
					if err := s.store.PutList(ctx, tx, name, nil, actor, now); err != nil {
						return err
					}
				}
			}
		}
		_, err = audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "rules.imported", SubjectType: "rule", SubjectID: "*",
			After: map[string]any{"created": res.Created, "updated": res.Updated, "deleted": res.Deleted, "unchanged": len(res.Unchanged), "replace": replace}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sameRule compares rule content, ignoring the version.
func sameRule(a, b *Rule) bool {
	x, y := a.Clone(), b.Clone()
	x.Version, y.Version = 0, 0
	x.Normalize()
	y.Normalize()
	sa, err1 := specOf(&x)
	sb, err2 := specOf(&y)
	return err1 == nil && err2 == nil && sa == sb
}

// Export returns a ruleset for YAML: "draft", "active" or a version number.
func (s *Service) Export(ctx context.Context, which string) (*Ruleset, error) {
	switch which {
	case "", "draft":
		rs, _, err := s.store.DraftRuleset(ctx, s.db.Read)
		return rs, err
	case "active":
		version, _, err := s.store.Active(ctx, s.db.Read)
		if err != nil {
			return nil, err
		}
		if version == 0 {
			return nil, apperr.NotFound("active ruleset", nil)
		}
		which = strconv.FormatInt(version, 10)
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(which, "v"), 10, 64)
	if err != nil || n <= 0 {
		return nil, apperr.Invalid("invalid ruleset", apperr.FieldError{Field: "ruleset", Message: "use draft, active or a version number"})
	}
	v, err := s.store.GetVersion(ctx, s.db.Read, n)
	if err != nil {
		return nil, err
	}
	return v.Content, nil
}

// TestDrafts compiles the drafts and runs the test cases of the named rules
// (all rules when none are named).
func (s *Service) TestDrafts(ctx context.Context, ids ...string) (*Report, error) {
	rs, _, err := s.store.DraftRuleset(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	return s.TestRuleset(rs, ids...), nil
}

// TestRuleset compiles rs with lint and runs its test cases.
func (s *Service) TestRuleset(rs *Ruleset, ids ...string) *Report {
	_, rep := s.testRuleset(rs, ids...)
	return rep
}

// testRuleset is TestRuleset that also returns the compiled ruleset when
// everything passed.
func (s *Service) testRuleset(rs *Ruleset, ids ...string) (*Compiled, *Report) {
	c, rep := Compile(rs, CompileOptions{Lint: true, RequireTests: s.requireTests()})
	if c == nil {
		// Report everything we can: compile again without the test
		// requirement to still run the tests of valid rules.
		c2, _ := Compile(rs, CompileOptions{})
		if c2 == nil {
			return nil, rep
		}
		c = c2
	}
	e := s.evaluator()
	defer s.release(e)
	if len(ids) == 0 {
		rep.Tests = c.RunTests(e)
	} else {
		for _, id := range ids {
			res, err := c.RunRuleTests(e, id)
			if err != nil {
				rep.Errors = append(rep.Errors, Diagnostic{Rule: id, Line: 1, Column: 1, Code: "not_found", Message: err.Error()})
				continue
			}
			rep.Tests = append(rep.Tests, res...)
		}
	}
	for _, t := range rep.Tests {
		if !t.Passed {
			rep.OK = false
		}
	}
	rep.OK = rep.OK && len(rep.Errors) == 0
	if !rep.OK {
		return nil, rep
	}
	return c, rep
}

// Try evaluates an input against the drafts (draft true) or the active
// ruleset and returns the record ("try it" in the console).
func (s *Service) Try(ctx context.Context, in *Input, draft bool) (*Record, error) {
	if in == nil || in.Event == nil {
		return nil, apperr.Invalid("input required", apperr.FieldError{Field: "event", Message: "is required"})
	}
	if in.EvalTime().IsZero() {
		return nil, apperr.Invalid("evaluation time required", apperr.FieldError{Field: "event.received_at", Message: "set event.received_at or now"})
	}
	var c *Compiled
	if draft {
		rs, _, err := s.store.DraftRuleset(ctx, s.db.Read)
		if err != nil {
			return nil, err
		}
		var rep *Report
		if c, rep = s.compiled(rs, CompileOptions{}); c == nil {
			return nil, invalid("the drafts do not compile", rep.Errors)
		}
	} else if c = s.Active(); c == nil {
		return nil, apperr.Unavailable("no ruleset is active yet", nil)
	}
	e := s.evaluator()
	defer s.release(e)
	return e.Evaluate(c, in)
}

// PublishResult is the answer to a publish request.
type PublishResult struct {
	Version *Version `json:"version"`
	Report  *Report  `json:"report"`
}

// PublishError is returned when drafts cannot be published; Report says
// which errors or test failures block it.
type PublishError struct{ Report *Report }

// Unwrap makes a PublishError a 422 with one field error per failing
// test case or error, for callers that only map apperr kinds.
func (e *PublishError) Unwrap() error {
	var fields []apperr.FieldError
	for _, d := range e.Report.Errors {
		f := "rules[" + d.Rule + "]" + prefixDot(d.Field)
		if d.Rule == "" {
			f = "(ruleset)" + prefixDot(d.Field)
		}
		fields = append(fields, apperr.FieldError{Field: f, Message: d.Message})
	}
	for _, t := range e.Report.Tests {
		if !t.Passed {
			fields = append(fields, apperr.FieldError{Field: "rules[" + t.Rule + "].tests[" + t.Test + "]", Message: strings.Join(t.Failures, "; ")})
		}
	}
	return &apperr.Error{Kind: apperr.KindInvalid, Type: "publish-blocked", Detail: e.Error(), Fields: fields}
}

func (e *PublishError) Error() string {
	var failed []string
	for _, t := range e.Report.Tests {
		if !t.Passed {
			failed = append(failed, t.Rule+"/"+t.Test)
		}
	}
	msg := fmt.Sprintf("cannot publish: %d errors, %d failing tests", len(e.Report.Errors), len(failed))
	if len(failed) > 0 {
		msg += " (" + strings.Join(failed, ", ") + ")"
	}
	return msg
}

// Publish freezes the drafts into a new immutable ruleset version. Every
// rule must compile and every test case pass. With four-eyes the version
// waits for approval by someone else; otherwise it becomes active at once
// (in every process within seconds).
func (s *Service) Publish(ctx context.Context, note string) (*PublishResult, error) {
	if len(note) > MaxDescription {
		return nil, apperr.Invalid("note too long", apperr.FieldError{Field: "note", Message: fmt.Sprintf("at most %d characters", MaxDescription)})
	}
	// Compile and test outside the write transaction (it can take a second
	// for thousands of rules and SQLite has one writer); the transaction
	// then checks the drafts did not change meanwhile.
	rs, _, err := s.store.DraftRuleset(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	if len(rs.Rules) == 0 {
		return nil, apperr.Invalid("nothing to publish", apperr.FieldError{Field: "rules", Message: "there are no draft rules"})
	}
	c, rep := s.testRuleset(rs)
	if c == nil {
		return nil, &PublishError{Report: rep}
	}
	var out *PublishResult
	var published *Compiled
	err = withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		cur, _, err := s.store.DraftRuleset(ctx, tx)
		if err != nil {
			return err
		}
		cur.Normalize()
		if cur.Hash() != c.Hash {
			return apperr.Conflict("the drafts changed while they were being tested; publish again")
		}
		activeV, activeHash, err := s.store.Active(ctx, tx)
		if err != nil {
			return err
		}
		if c.Hash == activeHash {
			return apperr.Conflict(fmt.Sprintf("the drafts are identical to the active ruleset (version %d)", activeV))
		}
		next, err := s.store.NextVersion(ctx, tx)
		if err != nil {
			return err
		}
		now, actor := s.now(), Identity(ctx)
		v := &Version{Version: next, Hash: c.Hash, Status: StatusPending, BaseVersion: activeV, RuleCount: len(c.Ruleset.Rules),
			Note: note, CreatedBy: actor, CreatedAt: now}
		if !s.opts.FourEyes {
			v.Status, v.DecidedBy, v.DecidedAt, v.PublishedAt = StatusPublished, actor, &now, &now
		}
		if err := s.store.InsertVersion(ctx, tx, v, c.Ruleset); err != nil {
			return err
		}
		action := "ruleset.publish_requested"
		if v.Status == StatusPublished {
			action = "ruleset.published"
			if err := s.store.SetActive(ctx, tx, v.Version, v.Hash, now); err != nil {
				return err
			}
			c.Version = v.Version
			published = c
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: action, SubjectType: "ruleset", SubjectID: strconv.FormatInt(v.Version, 10),
			After: map[string]any{"version": v.Version, "hash": v.Hash, "rules": v.RuleCount, "base_version": activeV, "note": note}}); err != nil {
			return err
		}
		out = &PublishResult{Version: v, Report: rep}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if published != nil {
		s.swap(published)
	}
	return out, nil
}

// Approve publishes a pending version. The approver must not be its
// author, and the version must still be based on the active version (else
// it would silently undo what was published since).
func (s *Service) Approve(ctx context.Context, version int64, note string) (*Version, error) {
	// Recompile and rerun the tests outside the write transaction: the
	// engine may have changed since the request.
	pending, err := s.store.GetVersion(ctx, s.db.Read, version)
	if err != nil {
		return nil, err
	}
	if pending.Status != StatusPending {
		return nil, apperr.Conflict(fmt.Sprintf("ruleset version %d is %s, not pending", version, pending.Status))
	}
	actor := Identity(ctx)
	if actor == pending.CreatedBy {
		return nil, apperr.Forbidden("four-eyes: the author of a ruleset version cannot approve it; ask another analyst or admin")
	}
	c, err := s.compileVersion(pending)
	if err != nil {
		return nil, err
	}
	e := s.evaluator()
	tests := c.RunTests(e)
	s.release(e)
	for _, t := range tests {
		if !t.Passed {
			return nil, &PublishError{Report: &Report{Errors: []Diagnostic{}, Warnings: []Diagnostic{}, Tests: tests}}
		}
	}
	var out *Version
	err = withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		activeV, _, err := s.store.Active(ctx, tx)
		if err != nil {
			return err
		}
		if activeV != pending.BaseVersion {
			return apperr.Conflict(fmt.Sprintf("version %d was requested on top of version %d, but version %d has been published since: publish the drafts again", version, pending.BaseVersion, activeV))
		}
		now := s.now()
		if err := s.store.Decide(ctx, tx, version, StatusPublished, actor, note, now); err != nil {
			return err
		}
		if err := s.store.SetActive(ctx, tx, version, pending.Hash, now); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "ruleset.approved", SubjectType: "ruleset", SubjectID: strconv.FormatInt(version, 10),
			Before: map[string]any{"status": StatusPending}, After: map[string]any{"status": StatusPublished, "hash": pending.Hash, "author": pending.CreatedBy}, Detail: note}); err != nil {
			return err
		}
		out, err = s.store.GetVersion(ctx, tx, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.swap(c)
	out.Content = nil
	out.Active = true
	return out, nil
}

// Reject closes a pending version without publishing it. The author may
// withdraw their own request.
func (s *Service) Reject(ctx context.Context, version int64, note string) (*Version, error) {
	var out *Version
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		v, err := s.store.GetVersion(ctx, tx, version)
		if err != nil {
			return err
		}
		status := StatusRejected
		if Identity(ctx) == v.CreatedBy {
			status = StatusWithdrawn
		}
		if err := s.store.Decide(ctx, tx, version, status, Identity(ctx), note, s.now()); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "ruleset." + status, SubjectType: "ruleset", SubjectID: strconv.FormatInt(version, 10),
			Before: map[string]any{"status": StatusPending}, After: map[string]any{"status": status}, Detail: note}); err != nil {
			return err
		}
		out, err = s.store.GetVersion(ctx, tx, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Content = nil
	return out, nil
}

// Rollback republishes an earlier published version as a new version and
// activates it at once: it returns to content that was already approved,
// so it does not wait for four-eyes (it is audited like any publish).
// With resetDrafts the drafts are replaced by that content too.
func (s *Service) Rollback(ctx context.Context, version int64, note string, resetDrafts bool) (*Version, error) {
	var published *Compiled
	var out *Version
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		old, err := s.store.GetVersion(ctx, tx, version)
		if err != nil {
			return err
		}
		if old.Status != StatusPublished {
			return apperr.Conflict(fmt.Sprintf("version %d was never published (%s); only published versions can be restored", version, old.Status))
		}
		activeV, activeHash, err := s.store.Active(ctx, tx)
		if err != nil {
			return err
		}
		if old.Hash == activeHash {
			return apperr.Conflict(fmt.Sprintf("version %d has the same content as the active version %d", version, activeV))
		}
		c, err := s.compileVersion(old)
		if err != nil {
			return err
		}
		next, err := s.store.NextVersion(ctx, tx)
		if err != nil {
			return err
		}
		now, actor := s.now(), Identity(ctx)
		v := &Version{Version: next, Hash: old.Hash, Status: StatusPublished, BaseVersion: activeV, RollbackOf: version,
			RuleCount: old.RuleCount, Note: note, CreatedBy: actor, CreatedAt: now, DecidedBy: actor, DecidedAt: &now, PublishedAt: &now}
		if v.Note == "" {
			v.Note = fmt.Sprintf("rollback to version %d", version)
		}
		if err := s.store.InsertVersion(ctx, tx, v, old.Content); err != nil {
			return err
		}
		if err := s.store.SetActive(ctx, tx, next, old.Hash, now); err != nil {
			return err
		}
		if resetDrafts {
			if err := s.resetDrafts(ctx, tx, old.Content, actor, now); err != nil {
				return err
			}
		}
		if _, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "ruleset.rolled_back", SubjectType: "ruleset", SubjectID: strconv.FormatInt(next, 10),
			Before: map[string]any{"version": activeV, "hash": activeHash}, After: map[string]any{"version": next, "hash": old.Hash, "restores": version, "reset_drafts": resetDrafts}, Detail: note}); err != nil {
			return err
		}
		c.Version = next
		published = c
		out = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.swap(published)
	out.Active = true
	return out, nil
}

// resetDrafts replaces the drafts and lists with content.
func (s *Service) resetDrafts(ctx context.Context, tx bun.Tx, content *Ruleset, actor string, now time.Time) error {
	drafts, err := s.store.Drafts(ctx, tx)
	if err != nil {
		return err
	}
	for _, d := range drafts {
		if err := s.store.DeleteDraft(ctx, tx, d.Rule.ID, d.Rule.Version, actor, now); err != nil {
			return err
		}
	}
	for i := range content.Rules {
		r := content.Rules[i].Clone()
		if err := s.store.SaveDraft(ctx, tx, &r, 0, "restored", actor, now); err != nil {
			return err
		}
	}
	lists, err := s.store.Lists(ctx, tx)
	if err != nil {
		return err
	}
	for name := range lists {
		if err := s.store.PutList(ctx, tx, name, nil, actor, now); err != nil {
			return err
		}
	}
	for name, vals := range content.Lists {
		if err := s.store.PutList(ctx, tx, name, vals, actor, now); err != nil {
			return err
		}
	}
	return nil
}

// Versions lists ruleset versions, newest first, marking the active one.
func (s *Service) Versions(ctx context.Context, limit int) ([]*Version, error) {
	vs, err := s.store.ListVersions(ctx, s.db.Read, limit)
	if err != nil {
		return nil, err
	}
	active, _, err := s.store.Active(ctx, s.db.Read)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		v.Active = v.Version == active
	}
	return vs, nil
}

// GetVersion returns a version with its content ("active" allowed).
func (s *Service) GetVersion(ctx context.Context, which string) (*Version, error) {
	n, err := s.resolveVersion(ctx, which)
	if err != nil {
		return nil, err
	}
	v, err := s.store.GetVersion(ctx, s.db.Read, n)
	if err != nil {
		return nil, err
	}
	active, _, err := s.store.Active(ctx, s.db.Read)
	v.Active = v.Version == active
	return v, err
}

func (s *Service) resolveVersion(ctx context.Context, which string) (int64, error) {
	if which == "active" {
		v, _, err := s.store.Active(ctx, s.db.Read)
		if err != nil {
			return 0, err
		}
		if v == 0 {
			return 0, apperr.NotFound("active ruleset", nil)
		}
		return v, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(which, "v"), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.Invalid("invalid version", apperr.FieldError{Field: "version", Message: fmt.Sprintf("%q is not a version number, \"active\" or \"draft\"", which)})
	}
	return n, nil
}

// contentOf returns the ruleset named by which: "draft", "active" or a
// version number.
func (s *Service) contentOf(ctx context.Context, which string) (*Ruleset, string, error) {
	if which == "draft" {
		rs, _, err := s.store.DraftRuleset(ctx, s.db.Read)
		return rs, "draft", err
	}
	n, err := s.resolveVersion(ctx, which)
	if err != nil {
		return nil, "", err
	}
	v, err := s.store.GetVersion(ctx, s.db.Read, n)
	if err != nil {
		return nil, "", err
	}
	return v.Content, "v" + strconv.FormatInt(n, 10), nil
}

// Diff compares two rulesets: "draft", "active" or version numbers.
func (s *Service) Diff(ctx context.Context, a, b string) (*Diff, error) {
	ra, la, err := s.contentOf(ctx, a)
	if err != nil {
		return nil, err
	}
	rb, lb, err := s.contentOf(ctx, b)
	if err != nil {
		return nil, err
	}
	d := DiffRulesets(ra, rb)
	d.From, d.To = la, lb
	return d, nil
}

// sortedIDs returns the keys of m sorted.
func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
