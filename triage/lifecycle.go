package triage

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/rules"
)

// Op is one lifecycle operation, applied to one case or (in bulk) to many
// in one transaction through the same code path.
type Op struct {
	// Name: acknowledge, assign, unassign, snooze, wake, resolve, dismiss,
	// reopen, update.
	Name string `json:"op"`
	// Assign: a user id ("me" for the caller) and/or a team.
	AssigneeID *string `json:"assignee_id,omitempty"`
	Team       *string `json:"team,omitempty"`
	// Snooze: until a time and/or until the shipment's next event
	// (whichever comes first).
	Until          *time.Time `json:"until,omitempty"`
	UntilNextEvent bool       `json:"until_next_event,omitempty"`
	// Resolve/dismiss: a reason code and a note.
	Reason string `json:"reason,omitempty"`
	Note   string `json:"note,omitempty"`
	// Update: severity, queue, title.
	Severity *rules.Severity `json:"severity,omitempty"`
	Queue    *string         `json:"queue,omitempty"`
	Title    *string         `json:"title,omitempty"`
	// ApplyToChildren applies an operation on a disruption to its live
	// child cases as well.
	ApplyToChildren bool `json:"apply_to_children,omitempty"`

	assignee *auth.User // resolved assignee
}

// OpNames lists the operations.
var OpNames = []string{"acknowledge", "assign", "unassign", "snooze", "wake", "resolve", "dismiss", "reopen", "update"}

// MaxSnooze is the longest snooze.
const MaxSnooze = 90 * 24 * time.Hour

// EventSnoozeLimit bounds a snooze until the next event given without a
// time: the case returns after it even if the shipment stays silent.
const EventSnoozeLimit = 7 * 24 * time.Hour

var reTeam = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} _.:/-]{0,99}$`)

// prepare validates op once for all the cases it applies to and resolves
// the assignee.
func (s *Service) prepare(ctx context.Context, idb bun.IDB, op *Op, now time.Time) error {
	var fe []apperr.FieldError
	bad := func(field, msg string) { fe = append(fe, apperr.FieldError{Field: field, Message: msg}) }
	if utf8.RuneCountInString(op.Note) > 4000 {
		bad("note", "at most 4000 characters")
	}
	switch op.Name {
	case "acknowledge", "wake", "reopen", "unassign":
	case "assign":
		if op.AssigneeID == nil && op.Team == nil {
			bad("assignee_id", "give assignee_id (a user id or \"me\") and/or team")
		}
		if op.AssigneeID != nil && *op.AssigneeID != "" {
			uid := *op.AssigneeID
			if uid == "me" {
				p := principal(ctx)
				uid = p.UserID
				if uid == "" && p.Kind == "user" {
					uid = p.ID
				}
				if uid == "" {
					bad("assignee_id", "\"me\" needs a user (this token has no user)")
					break
				}
			}
			u, err := auth.GetUser(ctx, idb, uid)
			switch {
			case apperr.KindOf(err) == apperr.KindNotFound:
				bad("assignee_id", "no such user")
			case err != nil:
				return err
			case u.Disabled:
				bad("assignee_id", "user "+u.Username+" is disabled")
			default:
				op.assignee = &u
			}
		}
		if op.Team != nil && *op.Team != "" && !reTeam.MatchString(*op.Team) {
			bad("team", "1-100 characters: letters, digits, space and _ . : / -")
		}
	case "snooze":
		if op.Until == nil && !op.UntilNextEvent {
			bad("until", "give until (a time) and/or until_next_event")
		}
		if op.Until != nil {
			u := op.Until.UTC()
			op.Until = &u
			if !u.After(now) {
				bad("until", "must be in the future")
			} else if u.Sub(now) > MaxSnooze {
				bad("until", "at most 90 days ahead")
			}
		}
	case "resolve", "dismiss":
		st := StateResolved
		if op.Name == "dismiss" {
			st = StateDismissed
		}
		if op.Reason == "" {
			if op.Name == "dismiss" {
				bad("reason", "a reason is required: "+strings.Join(CloseReasons[st], ", "))
			} else {
				op.Reason = "fixed"
			}
		}
		if op.Reason != "" && !containsStr(CloseReasons[st], op.Reason) {
			bad("reason", fmt.Sprintf("%q is not one of %s", op.Reason, strings.Join(CloseReasons[st], ", ")))
		}
	case "update":
		if op.Severity == nil && op.Queue == nil && op.Title == nil && op.Team == nil {
			bad("severity", "give severity, queue, team and/or title")
		}
		if op.Severity != nil && op.Severity.Rank() == 0 {
			bad("severity", "must be one of critical, high, medium, low, info")
		}
		if op.Queue != nil && *op.Queue != "" && !reTeam.MatchString(*op.Queue) {
			bad("queue", "1-100 characters: letters, digits, space and _ . : / -")
		}
		if op.Team != nil && *op.Team != "" && !reTeam.MatchString(*op.Team) {
			bad("team", "1-100 characters: letters, digits, space and _ . : / -")
		}
		if op.Title != nil && (strings.TrimSpace(*op.Title) == "" || utf8.RuneCountInString(*op.Title) > 300) {
			bad("title", "1-300 characters")
		}
	default:
		bad("op", fmt.Sprintf("%q is not one of %s", op.Name, strings.Join(OpNames, ", ")))
	}
	if len(fe) > 0 {
		return apperr.Invalid("invalid "+op.Name, fe...)
	}
	return nil
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// errSkip says an operation does not apply to a case in its state; single
// operations report it as a conflict, bulk operations count it as skipped.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

// apply performs op on c, recording timeline, audit, metrics and events.
func (ch *changes) apply(c *Case, op *Op) error {
	before := c.clone()
	now := ch.now
	s := ch.s
	switch op.Name {
	case "acknowledge":
		switch c.State {
		case StateAcknowledged:
			return errSkip{"already acknowledged"}
		case StateResolved, StateDismissed:
			return errSkip{"the case is " + string(c.State)}
		}
		if c.State == StateSnoozed {
			c.clearSnooze()
		}
		c.State = StateAcknowledged
		c.AcknowledgedAt = &now
		if c.FirstAcknowledgedAt == nil {
			c.FirstAcknowledgedAt = &now
			tta := now.Sub(c.OpenedAt).Seconds()
			sev := string(c.Severity)
			ch.after = append(ch.after, func() { mTTA.WithLabelValues(sev).Observe(tta) })
		}
		// Acknowledging is taking ownership when nobody owns the case.
		if c.AssigneeID == "" && ch.actor.Type == "user" {
			c.AssigneeID, c.AssigneeName = ch.actor.ID, ch.actor.Name
		}
		ch.line(c, TLState, "", "acknowledged", nil)
	case "assign":
		changed := false
		if op.AssigneeID != nil {
			id, name := "", ""
			if op.assignee != nil {
				id, name = op.assignee.ID, op.assignee.DisplayName
				if name == "" {
					name = op.assignee.Username
				}
			}
			if id != c.AssigneeID {
				c.AssigneeID, c.AssigneeName, changed = id, name, true
			}
		}
		if op.Team != nil && *op.Team != c.Team {
			c.Team, changed = *op.Team, true
		}
		if !changed {
			return errSkip{"already assigned so"}
		}
		who := c.AssigneeName
		if who == "" {
			who = "nobody"
		}
		ch.line(c, TLAssignment, "", fmt.Sprintf("assigned to %s (team %s)", who, orDash(c.Team)), map[string]any{"assignee_id": c.AssigneeID, "team": c.Team})
	case "unassign":
		if c.AssigneeID == "" {
			return errSkip{"not assigned"}
		}
		c.AssigneeID, c.AssigneeName = "", ""
		ch.line(c, TLAssignment, "", "unassigned", nil)
	case "snooze":
		if c.State.Closed() {
			return errSkip{"the case is " + string(c.State)}
		}
		c.State = StateSnoozed
		c.SnoozedAt = &now
		c.SnoozedUntil = op.Until
		c.SnoozeUntilEvent = op.UntilNextEvent
		if c.SnoozedUntil == nil {
			// Waiting for an event that never comes must not lose the case.
			t := now.Add(EventSnoozeLimit)
			c.SnoozedUntil = &t
		}
		ch.line(c, TLState, "", "snoozed "+snoozeText(c), map[string]any{"until": op.Until, "until_next_event": op.UntilNextEvent, "note": op.Note})
	case "wake":
		if c.State != StateSnoozed {
			return errSkip{"not snoozed"}
		}
		c.clearSnooze()
		c.State = StateOpen
		ch.line(c, TLState, "", "woken by hand", nil)
	case "resolve", "dismiss":
		if c.State.Closed() {
			return errSkip{"already " + string(c.State)}
		}
		st := StateResolved
		if op.Name == "dismiss" {
			st = StateDismissed
		}
		c.clearSnooze()
		c.State = st
		c.ClosedAt = &now
		c.CloseReason, c.CloseNote = op.Reason, op.Note
		ttr := now.Sub(c.OpenedAt).Seconds()
		sev, reason := string(c.Severity), op.Reason
		ch.after = append(ch.after, func() {
			mCasesClosed.WithLabelValues(string(st), reason).Inc()
			if st == StateResolved {
				mTTR.WithLabelValues(sev).Observe(ttr)
			}
		})
		ch.line(c, TLState, "", fmt.Sprintf("%s (%s)", st, op.Reason), map[string]any{"reason": op.Reason, "note": op.Note})
	case "reopen":
		if !c.State.Closed() {
			return errSkip{"the case is not closed"}
		}
		ch.reopen(c, "reopened by hand")
	case "update":
		var parts []string
		if op.Severity != nil && *op.Severity != c.Severity {
			parts = append(parts, fmt.Sprintf("severity %s → %s", c.Severity, *op.Severity))
			raise := op.Severity.Rank() > c.Severity.Rank()
			c.Severity = *op.Severity
			if raise {
				s.tightenClocks(c, s.policy.SLA[c.Severity])
			}
		}
		if op.Queue != nil && *op.Queue != c.Queue {
			parts = append(parts, fmt.Sprintf("queue %s → %s", orDash(c.Queue), orDash(*op.Queue)))
			c.Queue = *op.Queue
		}
		if op.Team != nil && *op.Team != c.Team {
			parts = append(parts, fmt.Sprintf("team %s → %s", orDash(c.Team), orDash(*op.Team)))
			c.Team = *op.Team
		}
		if op.Title != nil && strings.TrimSpace(*op.Title) != c.Title {
			parts = append(parts, "title changed")
			c.Title = strings.TrimSpace(*op.Title)
		}
		if len(parts) == 0 {
			return errSkip{"nothing to change"}
		}
		ch.line(c, TLState, "", strings.Join(parts, ", "), nil)
	default:
		return apperr.Invalid("unknown operation " + op.Name)
	}
	ch.refresh(c)
	ch.touch(c)
	action := "case." + pastTense(op.Name)
	ch.auditCase(action, before, c, op.Note)
	switch {
	case c.State.Closed() && !before.State.Closed():
		ch.notifyCase(EventCaseResolved, c, op.Name)
	default:
		ch.notifyCase(EventCaseUpdated, c, op.Name)
	}
	if op.Name == "update" || op.Name == "reopen" {
		ch.summarize[c.ID] = true
	}
	return nil
}

func pastTense(op string) string {
	switch op {
	case "acknowledge":
		return "acknowledged"
	case "assign":
		return "assigned"
	case "unassign":
		return "unassigned"
	case "snooze":
		return "snoozed"
	case "wake":
		return "woken"
	case "resolve":
		return "resolved"
	case "dismiss":
		return "dismissed"
	case "reopen":
		return "reopened"
	default:
		return "updated"
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func snoozeText(c *Case) string {
	switch {
	case c.SnoozedUntil != nil && c.SnoozeUntilEvent:
		return "until " + c.SnoozedUntil.Format(time.RFC3339) + " or the next shipment event"
	case c.SnoozedUntil != nil:
		return "until " + c.SnoozedUntil.Format(time.RFC3339)
	default:
		return "until the next shipment event"
	}
}

func (c *Case) clearSnooze() {
	c.SnoozedUntil, c.SnoozeUntilEvent, c.SnoozedAt = nil, false, nil
}

// reopen returns a closed case to the queue with fresh clocks.
func (ch *changes) reopen(c *Case, why string) {
	c.State = StateOpen
	c.ClosedAt, c.CloseReason, c.CloseNote = nil, "", ""
	c.AcknowledgedAt = nil
	c.ReopenCount++
	ch.s.startClocks(c, ch.s.policy.slaFor(c.Severity, rules.SLA{}), ch.now)
	ch.line(c, TLState, "", why, nil)
	ch.after = append(ch.after, mCasesReopened.Inc)
}

// wake returns a snoozed case to the queue (cause: time, event,
// escalation).
func (ch *changes) wake(c *Case, cause, detail string) {
	before := c.clone()
	c.clearSnooze()
	c.State = StateOpen
	ch.lineBy(c, audit.System, TLState, "", "back in the queue: "+detail, map[string]any{"cause": cause})
	ch.refresh(c)
	ch.touch(c)
	ch.auditCase("case.woken", before, c, detail)
	ch.notifyCase(EventCaseUpdated, c, "woken")
	ch.after = append(ch.after, func() { mWoken.WithLabelValues(cause).Inc() })
}

// onBreach records a clock breach and applies the policy's escalation.
func (ch *changes) onBreach(c *Case, b breach) {
	sev := string(c.Severity)
	ch.after = append(ch.after, func() { mBreaches.WithLabelValues(b.clock, sev).Inc() })
	ch.lineBy(c, audit.System, TLSLA, "", b.clock+" SLA breached", map[string]any{"clock": b.clock, "due": b.at})
	ch.auditRecord(audit.Record{Action: "case.sla_breached", SubjectType: "case", SubjectID: c.ID,
		After: map[string]any{"clock": b.clock, "due": b.at, "severity": c.Severity}})
	step := ch.s.policy.Escalation.OnRespondBreach
	if b.clock == "resolve" {
		step = ch.s.policy.Escalation.OnResolveBreach
	}
	var parts []string
	if step.RaiseSeverity {
		if up := raise(c.Severity); up != c.Severity {
			parts = append(parts, fmt.Sprintf("severity %s → %s", c.Severity, up))
			c.Severity = up
		}
	}
	if step.Team != "" && step.Team != c.Team {
		parts = append(parts, fmt.Sprintf("team %s → %s", orDash(c.Team), step.Team))
		c.Team = step.Team
	}
	if len(parts) == 0 {
		ch.notifyCase(EventCaseUpdated, c, "sla_breached")
		return
	}
	c.EscalationLevel++
	ch.lineBy(c, audit.System, TLEscalation, "", "escalated after the "+b.clock+" breach: "+strings.Join(parts, ", "), nil)
	ch.auditRecord(audit.Record{Action: "case.escalated", SubjectType: "case", SubjectID: c.ID, Detail: b.clock + " SLA breach: " + strings.Join(parts, ", ")})
	ch.after = append(ch.after, func() { mEscalations.WithLabelValues(b.clock + "_breach").Inc() })
	ch.notifyCase(EventCaseUpdated, c, "escalated")
}

// raise returns the next severity up (critical stays).
func raise(s rules.Severity) rules.Severity {
	for i, v := range rules.Severities {
		if v == s && i > 0 {
			return rules.Severities[i-1]
		}
	}
	return s
}

// Apply performs one operation on one case as the caller.
func (s *Service) Apply(ctx context.Context, caseID string, op Op) (*Case, error) {
	if err := s.prepare(ctx, s.db.Read, &op, s.now()); err != nil {
		return nil, err
	}
	var out *Case
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		c, err := lockCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if err := s.checkCaseAccess(ctx, tx, c); err != nil {
			return err
		}
		if err := ch.apply(c, &op); err != nil {
			if sk, ok := err.(errSkip); ok {
				return apperr.Conflict("cannot " + op.Name + " case " + c.ID + ": " + sk.why)
			}
			return err
		}
		if op.ApplyToChildren && c.Kind == KindDisruption {
			if _, err := s.applyToChildren(ctx, tx, ch, c, op); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) applyToChildren(ctx context.Context, tx bun.IDB, ch *changes, parent *Case, op Op) (int, error) {
	var childIDs []string
	if err := tx.NewSelect().Model((*Case)(nil)).Column("id").Where("parent_id = ?", parent.ID).
		Where("bucket <> ?", BucketClosed).OrderExpr("id").Scan(ctx, &childIDs); err != nil {
		return 0, fmt.Errorf("load child cases: %w", err)
	}
	m, err := lockCases(ctx, tx, childIDs)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range childIDs {
		c := m[id]
		if c == nil {
			continue
		}
		cop := op
		if cop.Name == "resolve" && cop.Reason == "" {
			cop.Reason = "parent_resolved"
		}
		if err := ch.apply(c, &cop); err != nil {
			if _, ok := err.(errSkip); ok {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// BulkInput selects cases (ids, or a filter) and the operation.
type BulkInput struct {
	Op
	IDs    []string    `json:"ids,omitempty"`
	Filter *ListFilter `json:"filter,omitempty"`
}

// BulkResult reports a bulk operation per case.
type BulkResult struct {
	Op      string       `json:"op"`
	Matched int          `json:"matched"`
	Changed int          `json:"changed"`
	Skipped []BulkSkip   `json:"skipped"`
	Cases   []BulkChange `json:"changed_cases,omitempty"`
}

// BulkSkip is a case the operation did not apply to, and why.
type BulkSkip struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

// BulkChange is a case the operation changed.
type BulkChange struct {
	ID       string `json:"id"`
	State    State  `json:"state"`
	Priority int    `json:"priority"`
}

// MaxBulk is the most cases one bulk request may touch.
const MaxBulk = 10000

// Bulk applies one operation to many cases in one transaction, with one
// audit entry, timeline line and outbound event per changed case, written
// set-wise.
func (s *Service) Bulk(ctx context.Context, in BulkInput) (*BulkResult, error) {
	op := in.Op
	if op.ApplyToChildren {
		return nil, apperr.Invalid("apply_to_children is for single disruption cases", apperr.FieldError{Field: "apply_to_children", Message: "not allowed in bulk"})
	}
	if (len(in.IDs) == 0) == (in.Filter == nil) {
		return nil, apperr.Invalid("select cases by ids or by filter", apperr.FieldError{Field: "ids", Message: "give ids or filter (not both)"})
	}
	if len(in.IDs) > MaxBulk {
		return nil, apperr.Invalid("too many cases", apperr.FieldError{Field: "ids", Message: fmt.Sprintf("at most %d", MaxBulk)})
	}
	for i, id := range in.IDs {
		if !ids.Valid(id) {
			return nil, apperr.Invalid("invalid case id", apperr.FieldError{Field: fmt.Sprintf("ids[%d]", i), Message: "not a case id"})
		}
	}
	if err := s.prepare(ctx, s.db.Read, &op, s.now()); err != nil {
		return nil, err
	}
	res := &BulkResult{Op: op.Name, Skipped: []BulkSkip{}}
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		res.Changed, res.Matched, res.Skipped, res.Cases = 0, 0, []BulkSkip{}, nil
		caseIDs := dedupe(in.IDs)
		if in.Filter != nil {
			f := *in.Filter
			f.Cursor = ""
			var err error
			caseIDs, err = s.matchIDs(ctx, tx, f, MaxBulk+1)
			if err != nil {
				return err
			}
			if len(caseIDs) > MaxBulk {
				return apperr.Invalid(fmt.Sprintf("the filter matches more than %d cases; narrow it", MaxBulk))
			}
		}
		m, err := lockCases(ctx, tx, caseIDs)
		if err != nil {
			return err
		}
		scope, err := s.scopeOf(ctx, tx)
		if err != nil {
			return err
		}
		for _, id := range caseIDs {
			c := m[id]
			if c == nil || !scope.allows(c) {
				res.Skipped = append(res.Skipped, BulkSkip{ID: id, Why: "not found"})
				continue
			}
			res.Matched++
			cop := op
			if err := ch.apply(c, &cop); err != nil {
				if sk, ok := err.(errSkip); ok {
					res.Skipped = append(res.Skipped, BulkSkip{ID: id, Why: sk.why})
					continue
				}
				return err
			}
			res.Changed++
			res.Cases = append(res.Cases, BulkChange{ID: c.ID, State: c.State, Priority: c.Priority})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// CommentInput is a new comment.
type CommentInput struct {
	Body string `json:"body"`
	// ApplyToChildren copies a comment on a disruption to its live
	// children.
	ApplyToChildren bool `json:"apply_to_children,omitempty"`
}

var reMention = regexp.MustCompile(`(?:^|[^\w@.])@([a-z0-9][a-z0-9._@-]{1,63})`)

// AddComment adds a comment; @username mentions are resolved to users.
func (s *Service) AddComment(ctx context.Context, caseID string, in CommentInput) (*Comment, error) {
	body := strings.TrimSpace(in.Body)
	if body == "" || utf8.RuneCountInString(body) > 10000 || !utf8.ValidString(body) {
		return nil, apperr.Invalid("invalid comment", apperr.FieldError{Field: "body", Message: "1-10000 characters of text"})
	}
	var out *Comment
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		c, err := lockCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if err := s.checkCaseAccess(ctx, tx, c); err != nil {
			return err
		}
		mentions, err := resolveMentions(ctx, tx, body)
		if err != nil {
			return err
		}
		targets := []*Case{c}
		if in.ApplyToChildren && c.Kind == KindDisruption {
			var childIDs []string
			if err := tx.NewSelect().Model((*Case)(nil)).Column("id").Where("parent_id = ?", c.ID).
				Where("bucket <> ?", BucketClosed).OrderExpr("id").Scan(ctx, &childIDs); err != nil {
				return fmt.Errorf("load child cases: %w", err)
			}
			m, err := lockCases(ctx, tx, childIDs)
			if err != nil {
				return err
			}
			for _, id := range childIDs {
				if m[id] != nil {
					targets = append(targets, m[id])
				}
			}
		}
		for i, t := range targets {
			b := body
			if i > 0 {
				b = "On disruption " + c.ID + ": " + body
			}
			cm := &Comment{ID: ids.At(ch.now), CaseID: t.ID, AuthorType: ch.actor.Type, AuthorID: ch.actor.ID, AuthorName: ch.actor.Name,
				Body: b, Mentions: mentions, CreatedAt: ch.now}
			ch.comments = append(ch.comments, cm)
			ch.line(t, TLComment, "", truncateRunes(b, 140), map[string]any{"comment_id": cm.ID, "mentions": mentions})
			ch.auditRecord(audit.Record{Action: "case.commented", SubjectType: "case", SubjectID: t.ID, After: cm})
			t.UpdatedAt = ch.now
			ch.touch(t)
			ch.notifyCase(EventCaseUpdated, t, "commented")
			ch.summarize[t.ID] = true
			if i == 0 {
				out = cm
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func resolveMentions(ctx context.Context, idb bun.IDB, body string) (StringSet, error) {
	var names []string
	seen := map[string]bool{}
	for _, m := range reMention.FindAllStringSubmatch(body, 20) {
		n := strings.TrimRight(strings.ToLower(m[1]), ".")
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return StringSet{}, nil
	}
	var users []auth.User
	if err := idb.NewSelect().Model(&users).Where("username IN (?)", bun.In(names)).Where("disabled = ?", false).
		OrderExpr("username").Scan(ctx); err != nil {
		return nil, fmt.Errorf("resolve mentions: %w", err)
	}
	out := StringSet{}
	for _, u := range users {
		out = append(out, u.ID)
	}
	return out, nil
}

// Comments returns a case's comments, oldest first.
func (s *Service) Comments(ctx context.Context, caseID string) ([]*Comment, error) {
	var out []*Comment
	if err := s.db.Read.NewSelect().Model(&out).Where("case_id = ?", caseID).OrderExpr("id").Limit(1000).Scan(ctx); err != nil {
		return nil, fmt.Errorf("comments of case %s: %w", caseID, err)
	}
	return out, nil
}
