package triage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/rules"
)

// A disruption is a parent case over many cases with one root cause: one
// carrier, one lane (origin>destination, or "*" for carrier-wide) and one
// reason (or "*"). While it is live, its children's outbound events are
// suppressed (subscribers hear about the disruption instead), and
// operations and comments on it can be applied to all children at once.
//
// Disruptions open two ways: the stage opens one when policy
// disruption.min_cases live cases of one carrier, lane and reason opened
// within disruption.window; the anomaly detector (triage/ai/anomaly)
// opens one for an exception-rate spike through OpenDisruption.

// DisruptionKey names the cases a disruption groups.
type DisruptionKey struct {
	Carrier string `json:"carrier"`
	Lane    string `json:"lane"`   // "CN>DE", or "*" for every lane
	Reason  string `json:"reason"` // exception reason or category, or "*"
}

func (k DisruptionKey) String() string { return k.Carrier + "|" + k.Lane + "|" + k.Reason }

func (k DisruptionKey) fingerprint() string { return "d:" + k.String() }

func keyOf(c *Case) DisruptionKey {
	lane := c.Lane
	if lane == "" {
		lane = "*"
	}
	return DisruptionKey{Carrier: c.Carrier, Lane: lane, Reason: c.Reason}
}

// groupDisruptions attaches newly opened cases to live disruptions of
// their key, and opens a disruption when a key reaches the threshold.
func (s *Service) groupDisruptions(ctx context.Context, tx bun.IDB, ch *changes, opened []*Case) error {
	pol := s.policy.Disruption
	byKey := map[DisruptionKey][]*Case{}
	var keys []DisruptionKey
	for _, c := range opened {
		if c.Kind == KindDisruption || c.Carrier == "" || c.ParentID != "" {
			continue
		}
		k := keyOf(c)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], c)
	}
	if len(keys) == 0 {
		return nil
	}
	fps := make([]string, 0, len(keys)*3)
	for _, k := range keys {
		// A carrier-wide or any-reason disruption covers the key too.
		fps = append(fps, k.fingerprint(), DisruptionKey{k.Carrier, "*", k.Reason}.fingerprint(),
			DisruptionKey{k.Carrier, k.Lane, "*"}.fingerprint(), DisruptionKey{k.Carrier, "*", "*"}.fingerprint())
	}
	// Read, not locked: the children are counted at the end of the
	// changeset (changes.countGrouped).
	live, err := casesByFingerprint(ctx, tx, fps, ch.now, false)
	if err != nil {
		return err
	}
	for _, k := range keys {
		var parent *Case
		for _, fp := range []string{k.fingerprint(), DisruptionKey{k.Carrier, k.Lane, "*"}.fingerprint(),
			DisruptionKey{k.Carrier, "*", k.Reason}.fingerprint(), DisruptionKey{k.Carrier, "*", "*"}.fingerprint()} {
			if d := live[fp]; d != nil && d.Live() {
				parent = d
				break
			}
		}
		if parent != nil {
			cur, inChanges := ch.cases[parent.ID]
			for _, c := range byKey[k] {
				if inChanges { // locked or new in this changeset: written whole
					ch.attach(cur, c)
				} else {
					ch.attachCounted(parent, c)
				}
			}
			if inChanges {
				ch.touch(cur)
			}
			continue
		}
		since := ch.now.Add(-pol.Window.D())
		existing, err := s.keyCases(ctx, tx, k, since)
		if err != nil {
			return err
		}
		members := byKey[k]
		for _, c := range existing {
			if cur, ok := ch.cases[c.ID]; ok {
				c = cur
			}
			if c.ParentID == "" && !containsCase(members, c) {
				members = append(members, c)
			}
		}
		if len(members) < pol.MinCases {
			continue
		}
		d := s.newDisruption(ch, k, "rules", fmt.Sprintf("%d cases of %s on %s with %s opened within %s", len(members),
			strings.ToUpper(k.Carrier), k.Lane, k.Reason, pol.Window))
		for _, c := range members {
			ch.attach(d, c)
		}
		ch.refresh(d)
		ch.touch(d)
	}
	return nil
}

func containsCase(cs []*Case, c *Case) bool {
	for _, x := range cs {
		if x.ID == c.ID {
			return true
		}
	}
	return false
}

// keyCases returns live cases without a parent that match a key and opened
// since, locked for update.
func (s *Service) keyCases(ctx context.Context, tx bun.IDB, k DisruptionKey, since time.Time) ([]*Case, error) {
	var idsOut []string
	q := tx.NewSelect().Model((*Case)(nil)).Column("id").Where("carrier = ?", k.Carrier).Where("opened_at > ?", since.UTC()).
		Where("bucket <> ?", BucketClosed).Where("parent_id = ''").Where("kind <> ?", KindDisruption).OrderExpr("id").Limit(MaxBulk)
	if k.Reason != "*" {
		q = q.Where("reason = ?", k.Reason)
	}
	if k.Lane != "*" {
		q = q.Where("lane = ?", k.Lane)
	}
	if err := q.Scan(ctx, &idsOut); err != nil {
		return nil, fmt.Errorf("find cases of disruption %s: %w", k, err)
	}
	m, err := lockCases(ctx, tx, idsOut)
	if err != nil {
		return nil, err
	}
	out := make([]*Case, 0, len(m))
	for _, id := range idsOut {
		if c := m[id]; c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Service) newDisruption(ch *changes, k DisruptionKey, source, detail string) *Case {
	pol := s.policy.Disruption
	now := ch.now
	sev := pol.Severity
	if sev == "" {
		sev = rules.SeverityHigh
	}
	d := &Case{ID: ids.At(now), Kind: KindDisruption, Fingerprint: k.fingerprint(), State: StateOpen, Category: "disruption",
		Reason: k.Reason, Severity: sev, InitialSeverity: sev, Team: pol.Team, Carrier: k.Carrier, Lane: strings.TrimPrefix(k.Lane, "*"),
		OpenedAt: now, Source: source, Detail: detail, Version: 1, CreatedAt: now, UpdatedAt: now, SLAState: SLANone, Tags: StringSet{"disruption"}}
	if k.Lane == "*" {
		d.Lane = ""
	}
	d.Title = fmt.Sprintf("Disruption: %s %s %s", strings.ToUpper(k.Carrier), laneText(k.Lane), reasonText(k.Reason))
	s.startClocks(d, s.policy.slaFor(sev, rules.SLA{}), now)
	ch.add(d)
	ch.line(d, TLDisruption, "", "disruption opened: "+detail, map[string]any{"key": k, "source": source})
	ch.refresh(d)
	ch.auditCase("case.opened", nil, d, "disruption "+k.String()+" ("+source+"): "+detail)
	ch.notifyCase(EventCaseOpened, d, "opened")
	ch.summarize[d.ID] = true
	ch.after = append(ch.after, func() { mCasesOpened.WithLabelValues(KindDisruption, string(sev)).Inc() })
	return d
}

func laneText(l string) string {
	if l == "*" || l == "" {
		return "(all lanes)"
	}
	return l
}

func reasonText(r string) string {
	if r == "*" || r == "" {
		return "(several reasons)"
	}
	return strings.ReplaceAll(r, "_", " ")
}

// attach makes c a child of the disruption d, which this changeset
// writes.
func (ch *changes) attach(d, c *Case) {
	if ch.adopt(d, c) {
		d.ChildCount++
	}
}

// attachCounted makes c a child of the disruption d, which this changeset
// read without a lock: d's child count is added at the end of the flush.
func (ch *changes) attachCounted(d, c *Case) {
	if ch.adopt(d, c) {
		ch.grouped[d.ID]++
	}
}

// adopt is the child's side of grouping c under d, and d's timeline line.
func (ch *changes) adopt(d, c *Case) bool {
	if c.ParentID == d.ID || c.ID == d.ID {
		return false
	}
	before := c.clone()
	c.ParentID = d.ID
	ch.line(c, TLDisruption, "", "grouped under disruption "+d.ID+": "+d.Title, map[string]any{"parent_id": d.ID})
	ch.line(d, TLDisruption, "", "grouped "+c.Title, map[string]any{"case_id": c.ID})
	ch.refresh(c)
	ch.touch(c)
	ch.auditCase("case.grouped", before, c, "disruption "+d.ID)
	return true
}

// DisruptionInput is a disruption reported from outside the stage (the
// anomaly detector): the key, why, and the window its evidence covers.
type DisruptionInput struct {
	Key         DisruptionKey
	Source      string // e.g. "anomaly"
	Detail      string // human explanation (observed vs expected rate)
	WindowStart time.Time
	Evidence    any // kept in the timeline
}

// OpenDisruption opens (or, when one is live for the key, updates) a
// disruption case inside the caller's transaction, and groups the live
// cases of the key opened since the window start. It returns the case id.
func (s *Service) OpenDisruption(ctx context.Context, tx bun.IDB, in DisruptionInput) (string, error) {
	k := in.Key
	k.Carrier = strings.ToLower(strings.TrimSpace(k.Carrier))
	if k.Carrier == "" {
		return "", apperr.Invalid("a disruption needs a carrier", apperr.FieldError{Field: "carrier", Message: "required"})
	}
	if k.Lane == "" {
		k.Lane = "*"
	}
	if k.Reason == "" {
		k.Reason = "*"
	}
	if in.Source == "" {
		in.Source = "anomaly"
	}
	ch := s.newChanges(audit.WithActor(ctx, audit.System), s.now())
	ctx = withTracker(ctx, ch)
	live, err := casesByFingerprint(ctx, tx, []string{k.fingerprint()}, ch.now, true)
	if err != nil {
		return "", err
	}
	d := live[k.fingerprint()]
	if d != nil && d.Live() {
		ch.line(d, TLDisruption, "", "still ongoing: "+in.Detail, map[string]any{"source": in.Source, "evidence": in.Evidence})
		d.Detail = in.Detail
		ch.refresh(d)
		ch.touch(d)
		ch.auditCase("case.disruption_updated", nil, d, in.Source+": "+in.Detail)
	} else {
		d = s.newDisruption(ch, k, in.Source, in.Detail)
		if in.Evidence != nil {
			ch.line(d, TLDisruption, "", "evidence", in.Evidence)
		}
	}
	since := in.WindowStart
	if since.IsZero() {
		since = ch.now.Add(-s.policy.Disruption.Window.D())
	}
	members, err := s.keyCases(ctx, tx, k, since)
	if err != nil {
		return "", err
	}
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	for _, c := range members {
		ch.attach(d, c)
	}
	ch.refresh(d)
	ch.touch(d)
	if err := ch.flush(ctx, tx); err != nil {
		return "", err
	}
	return d.ID, nil
}
