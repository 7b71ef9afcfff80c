package triage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/rules"
)

// Stage is the intake pipeline stage of triage. It runs after the rules
// stage in the batch transaction and, set-wise over the batch:
//
//   - wakes cases snoozed until the shipment's next event (carrier events
//     only, not sweeps);
//   - resolves a shipment's live cases when it is delivered (unless the
//     policy or the rule keeps them open);
//   - upserts the case of each classified event by fingerprint (shipment +
//     category, or the rule's grouping keys): a new case opens (after
//     min_count matches within the window when the rule asks for it), a
//     live case records the event and its evaluation and escalates
//     severity, a resolved case reopens;
//   - proposes the rule's suggested actions, schedules summaries, ETA
//     scoring and outbound events through the outbox, and groups cases into
//     disruptions;
//   - sets Processed.CaseID.
func (s *Service) Stage() intake.Stage { return &stage{s: s} }

// AfterRules is the rules.NextStage of triage: the same work as Stage,
// given the records the rules stage just made (in batch order), with the
// Odoo context each was evaluated with. Nothing is read back from the
// evaluation table, which the rules stage may write only at commit.
// Wire Committer() into the pipeline as well, for the after-commit work.
func (s *Service) AfterRules(ctx context.Context, tx bun.IDB, batch []*intake.Processed, recs []*rules.Record) error {
	evals := make(map[string]*Evaluation, len(batch))
	for i, p := range batch {
		if i >= len(recs) || recs[i] == nil {
			continue
		}
		e := &Evaluation{Record: recs[i]}
		if c := recs[i].Context; c != nil {
			e.Order, e.Customer = c.Order, c.Customer
		}
		evals[p.Event.ID] = e
	}
	return s.runBatch(ctx, tx, batch, evals)
}

// Committer is a pipeline stage that does nothing in the transaction and,
// after commit, kicks the outbox and records the metrics of the batch that
// AfterRules processed.
func (s *Service) Committer() intake.Stage { return committer{s} }

type committer struct{ s *Service }

func (committer) Process(context.Context, bun.IDB, []*intake.Processed) error { return nil }

func (c committer) AfterCommit(_ context.Context, batch []*intake.Processed) { c.s.afterBatch(batch) }

type stage struct{ s *Service }

// Process reads the batch's evaluations and runs the triage work.
func (st *stage) Process(ctx context.Context, tx bun.IDB, batch []*intake.Processed) error {
	ids := make([]string, 0, len(batch))
	for _, p := range batch {
		ids = append(ids, p.Event.ID)
	}
	evals, err := st.s.evals.Evaluations(ctx, tx, ids)
	if err != nil {
		return err
	}
	return st.s.runBatch(ctx, tx, batch, evals)
}

// AfterCommit kicks the outbox and records the batch's metrics.
func (st *stage) AfterCommit(_ context.Context, batch []*intake.Processed) { st.s.afterBatch(batch) }

type pendingAfter struct {
	ch *changes
	at time.Time
}

func (s *Service) runBatch(ctx context.Context, tx bun.IDB, batch []*intake.Processed, evals map[string]*Evaluation) error {
	if len(batch) == 0 {
		return nil
	}
	ctx = audit.WithActor(ctx, audit.System)
	ch := s.newChanges(ctx, s.now())
	ctx = withTracker(ctx, ch)
	if err := s.process(ctx, tx, ch, batch, evals); err != nil {
		return err
	}
	if err := ch.flush(ctx, tx); err != nil {
		return err
	}
	s.pendingMu.Lock()
	for k, v := range s.pending { // batches that failed after this stage
		if time.Since(v.at) > time.Minute {
			delete(s.pending, k)
		}
	}
	s.pending[batch[0]] = pendingAfter{ch: ch, at: time.Now()}
	s.pendingMu.Unlock()
	return nil
}

func (s *Service) afterBatch(batch []*intake.Processed) {
	if len(batch) == 0 {
		return
	}
	s.pendingMu.Lock()
	p, ok := s.pending[batch[0]]
	delete(s.pending, batch[0])
	s.pendingMu.Unlock()
	if ok {
		p.ch.committed()
	}
}

// item is one processed event with its classification.
type item struct {
	p    *intake.Processed
	ev   *Evaluation
	out  *rules.Outcome
	fp   string
	kind string
}

// Fingerprint returns the case fingerprint of a classification: the
// shipment and category by default, or the category and the rule's
// grouping key values.
func Fingerprint(shipmentID string, o *rules.Outcome) (fp, kind string) {
	if o.Group != nil && len(o.Group.Keys) > 0 {
		raw := "g:" + o.Category + ":" + strings.Join(o.Group.Keys, "\x1f")
		if len(raw) > 200 {
			sum := sha256.Sum256([]byte(raw))
			raw = "g:" + o.Category + ":#" + hex.EncodeToString(sum[:16])
		}
		return raw, KindGroup
	}
	return "s:" + shipmentID + ":" + o.Category, KindShipment
}

func (s *Service) process(ctx context.Context, tx bun.IDB, ch *changes, batch []*intake.Processed, evals map[string]*Evaluation) error {
	now := ch.now
	items := make([]*item, 0, len(batch))
	var fps, shipIDs []string
	seenFP, seenShip := map[string]bool{}, map[string]bool{}
	for _, p := range batch {
		it := &item{p: p, ev: evals[p.Event.ID]}
		if it.ev != nil && it.ev.Record != nil && it.ev.Record.Outcome != nil && it.ev.Record.EventID == p.Event.ID {
			it.out = it.ev.Record.Outcome
			it.fp, it.kind = Fingerprint(p.Shipment.ID, it.out)
			if !seenFP[it.fp] {
				seenFP[it.fp] = true
				fps = append(fps, it.fp)
			}
		}
		if !seenShip[p.Shipment.ID] {
			seenShip[p.Shipment.ID] = true
			shipIDs = append(shipIDs, p.Shipment.ID)
		}
		items = append(items, it)
	}
	linked, links, err := casesOfShipments(ctx, tx, shipIDs, BucketQueue, BucketSnoozed)
	if err != nil {
		return err
	}
	byFP, err := casesByFingerprint(ctx, tx, fps, now.Add(-s.policy.ReopenWindow.D()), true)
	if err != nil {
		return err
	}
	// One instance per case, whichever way it was loaded.
	byID := map[string]*Case{}
	for _, c := range linked {
		byID[c.ID] = c
	}
	for fp, c := range byFP {
		if cur, ok := byID[c.ID]; ok {
			byFP[fp] = cur
		} else {
			byID[c.ID] = c
		}
	}
	caseIDs := make([]string, 0, len(byID))
	for id := range byID {
		caseIDs = append(caseIDs, id)
	}
	pending, err := pendingActionKeys(ctx, tx, caseIDs)
	if err != nil {
		return err
	}
	cands, err := s.loadCandidates(ctx, tx, items, byFP)
	if err != nil {
		return err
	}
	var opened []*Case
	for _, it := range items {
		p := it.p
		// Cases linked to this shipment (loaded, or opened earlier in the batch).
		var shipCases []*Case
		for _, id := range links[p.Shipment.ID] {
			if c := byID[id]; c != nil {
				shipCases = append(shipCases, c)
			}
		}
		if !p.Event.Synthetic {
			for _, c := range shipCases {
				if c.State == StateSnoozed && c.SnoozeUntilEvent {
					ch.wake(c, "event", "new shipment event "+eventText(p.Event))
				}
			}
		}
		if s.policy.AutoResolveOnDelivered && p.Change.StatusChanged && p.Shipment.Status == intake.StatusDelivered {
			for _, c := range shipCases {
				if !c.Live() || !c.AutoResolve || c.Kind != KindShipment || c.Fingerprint == it.fp {
					continue
				}
				op := &Op{Name: "resolve", Reason: "delivered", Note: "delivered: event " + p.Event.ID}
				if err := ch.apply(c, op); err != nil {
					if _, skip := err.(errSkip); !skip {
						return err
					}
				}
			}
		}
		if it.out == nil {
			continue
		}
		c := byFP[it.fp]
		switch {
		case c != nil && c.Live():
			s.match(ch, c, it, pending, matchNormal)
		case c != nil && c.State == StateResolved:
			before := c.clone()
			ch.reopen(c, fmt.Sprintf("reopened: new %s match after it was resolved", it.out.Category))
			ch.auditCase("case.reopened", before, c, "event "+p.Event.ID)
			ch.notifyCase(EventCaseUpdated, c, "reopened")
			s.match(ch, c, it, pending, matchNormal)
		case c != nil && c.State == StateDismissed:
			if it.out.Severity.Rank() > c.Severity.Rank() {
				before := c.clone()
				ch.reopen(c, fmt.Sprintf("reopened: %s match above the severity it was dismissed at", it.out.Severity))
				ch.auditCase("case.reopened", before, c, "event "+p.Event.ID)
				ch.notifyCase(EventCaseUpdated, c, "reopened")
				s.match(ch, c, it, pending, matchNormal)
			} else {
				s.match(ch, c, it, pending, matchAbsorb)
			}
		default:
			g := it.out.Group
			var earlier []candidate
			if g != nil && g.MinCount > 1 {
				window := g.Window.D()
				at := p.Event.OccurredAt.UTC()
				if at.After(now) {
					at = now
				}
				list := append(cands[it.fp], candidate{Fingerprint: it.fp, EventID: p.Event.ID, ShipmentID: p.Shipment.ID, At: at})
				var inWindow []candidate
				for _, cd := range list {
					if window <= 0 || !cd.At.Before(at.Add(-window)) {
						inWindow = append(inWindow, cd)
					}
				}
				if len(inWindow) < g.MinCount {
					cands[it.fp] = list
					ch.candIns = append(ch.candIns, candidate{Fingerprint: it.fp, EventID: p.Event.ID, ShipmentID: p.Shipment.ID, At: at})
					continue
				}
				earlier = inWindow[:len(inWindow)-1]
				delete(cands, it.fp)
				ch.candDel = append(ch.candDel, it.fp)
			}
			c = s.open(ch, it, earlier)
			byFP[it.fp] = c
			byID[c.ID] = c
			links[p.Shipment.ID] = append(links[p.Shipment.ID], c.ID)
			pending[c.ID] = map[string]bool{}
			s.match(ch, c, it, pending, matchOpening)
			opened = append(opened, c)
		}
		if c != nil {
			if !hasLink(ch.links, c.ID, p.Shipment.ID) && (c.Kind == KindGroup || ch.isNew[c.ID]) {
				ch.links = append(ch.links, caseShipment{ShipmentID: p.Shipment.ID, CaseID: c.ID})
				if !containsStr(links[p.Shipment.ID], c.ID) {
					links[p.Shipment.ID] = append(links[p.Shipment.ID], c.ID)
				}
			}
			p.CaseID = c.ID
		}
	}
	if s.policy.Disruption.Enabled && len(opened) > 0 {
		if err := s.groupDisruptions(ctx, tx, ch, opened); err != nil {
			return err
		}
	}
	return nil
}

func hasLink(links []caseShipment, caseID, shipmentID string) bool {
	for _, l := range links {
		if l.CaseID == caseID && l.ShipmentID == shipmentID {
			return true
		}
	}
	return false
}

// loadCandidates reads the stored min_count candidates of fingerprints
// that have no live case.
func (s *Service) loadCandidates(ctx context.Context, tx bun.IDB, items []*item, byFP map[string]*Case) (map[string][]candidate, error) {
	var fps []string
	seen := map[string]bool{}
	for _, it := range items {
		if it.out == nil || it.out.Group == nil || it.out.Group.MinCount <= 1 || seen[it.fp] {
			continue
		}
		if c := byFP[it.fp]; c != nil && c.Live() {
			continue
		}
		seen[it.fp] = true
		fps = append(fps, it.fp)
	}
	out := map[string][]candidate{}
	for _, part := range chunkStrings(fps, 500) {
		var rows []candidate
		if err := tx.NewSelect().Model(&rows).Where("fingerprint IN (?)", bun.In(part)).OrderExpr("fingerprint, at, event_id").
			Scan(ctx); err != nil {
			return nil, fmt.Errorf("load case candidates: %w", err)
		}
		for _, r := range rows {
			out[r.Fingerprint] = append(out[r.Fingerprint], r)
		}
	}
	return out, nil
}

// open creates the case of a classification; earlier are the min_count
// matches that came before.
func (s *Service) open(ch *changes, it *item, earlier []candidate) *Case {
	now := ch.now
	p, o := it.p, it.out
	sh := p.Shipment
	c := &Case{ID: ids.At(now), Kind: it.kind, Fingerprint: it.fp, State: StateOpen, Category: o.Category,
		Severity: o.Severity, InitialSeverity: o.Severity, Queue: o.Queue, Team: o.Team, ShipmentID: sh.ID,
		Carrier: sh.Carrier, TrackingNumber: sh.TrackingNumber, OrderRef: sh.OrderRef, PickingRef: sh.PickingRef,
		RuleID: o.RuleID, RuleVersion: o.RuleVersion, RulesetVersion: it.ev.Record.RulesetVersion,
		Tags: append(StringSet{}, o.Tags...), OpenedAt: now, Source: "rules", Version: 1, CreatedAt: now, UpdatedAt: now,
		SLAState: SLANone}
	c.Reason = caseReason(p, o)
	if sh.OriginCountry != "" || sh.DestinationCountry != "" {
		c.Lane = sh.OriginCountry + ">" + sh.DestinationCountry
	}
	c.AutoResolve = !s.policy.keepOpen(o.Category, o.Tags)
	s.enrich(c, it.ev)
	c.Title = caseTitle(c)
	s.startClocks(c, s.policy.slaFor(c.Severity, o.SLA), now)
	ch.add(c)
	ch.line(c, TLState, "", fmt.Sprintf("opened by rule %s (v%d): %s, %s", o.RuleID, o.RuleVersion, o.Category, o.Severity),
		map[string]any{"rule_id": o.RuleID, "ruleset_version": it.ev.Record.RulesetVersion, "fingerprint": c.Fingerprint})
	for _, cd := range earlier {
		ch.line(c, TLEvent, cd.EventID, "earlier match counted toward min_count", map[string]any{"at": cd.At, "shipment_id": cd.ShipmentID})
		if cd.ShipmentID != "" && cd.ShipmentID != sh.ID {
			ch.links = append(ch.links, caseShipment{ShipmentID: cd.ShipmentID, CaseID: c.ID})
		}
	}
	c.EventCount += len(earlier)
	ch.refresh(c)
	ch.auditCase("case.opened", nil, c, "event "+p.Event.ID+" rule "+o.RuleID)
	ch.notifyCase(EventCaseOpened, c, "opened")
	ch.summarize[c.ID] = true
	if c.Kind == KindShipment {
		ch.scoreETA[c.ID] = true
	}
	kind, sev := c.Kind, string(c.Severity)
	ch.after = append(ch.after, func() { mCasesOpened.WithLabelValues(kind, sev).Inc() })
	return c
}

// enrich copies the Odoo context of the evaluation onto the case where it
// adds something.
func (s *Service) enrich(c *Case, ev *Evaluation) bool {
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	if o := ev.Order; o != nil && o.Known {
		set(&c.OrderRef, o.Ref)
		set(&c.SalesTeam, o.Team)
		set(&c.Salesperson, o.Salesperson)
		set(&c.Currency, o.Currency)
		if o.Amount > 0 && o.Amount != c.OrderValue {
			c.OrderValue, changed = o.Amount, true
		}
	}
	if cu := ev.Customer; cu != nil && cu.Known {
		if cu.ID != 0 {
			set(&c.CustomerID, strconv.FormatInt(cu.ID, 10))
		}
		set(&c.CustomerName, cu.Name)
		set(&c.CustomerTier, cu.Tier)
		if c.SalesTeam == "" {
			set(&c.SalesTeam, cu.Team)
		}
		if c.Salesperson == "" {
			set(&c.Salesperson, cu.Salesperson)
		}
	}
	return changed
}

func caseReason(p *intake.Processed, o *rules.Outcome) string {
	if p.Event.Exception != nil && p.Event.Exception.Reason != "" {
		return string(p.Event.Exception.Reason)
	}
	if n := len(p.Shipment.OpenExceptions); n > 0 {
		return string(p.Shipment.OpenExceptions[n-1].Reason)
	}
	return o.Category
}

func caseTitle(c *Case) string {
	cat := strings.ReplaceAll(c.Category, "_", " ")
	if cat != "" {
		cat = strings.ToUpper(cat[:1]) + cat[1:]
	}
	if c.TrackingNumber == "" {
		return cat
	}
	return fmt.Sprintf("%s: %s %s", cat, strings.ToUpper(c.Carrier), c.TrackingNumber)
}

func eventText(ev *intake.Event) string {
	var parts []string
	if ev.Status != "" {
		parts = append(parts, string(ev.Status))
	}
	if ev.Exception != nil {
		parts = append(parts, string(ev.Exception.Reason))
	}
	if ev.Activity != "" && ev.Status == "" {
		parts = append(parts, ev.Activity)
	}
	if len(parts) == 0 {
		parts = append(parts, "update")
	}
	s := strings.Join(parts, " / ")
	if ev.RawText != "" {
		s += ": " + truncateRunes(ev.RawText, 80)
	}
	return s
}

// How match treats the case.
const (
	matchNormal  = iota
	matchOpening // the event that opened the case
	matchAbsorb  // a dismissed case records the event and stays dismissed
)

// match records a classified event on its case: timeline, counts, a
// severity escalation, enrichment, proposals.
func (s *Service) match(ch *changes, c *Case, it *item, pending map[string]map[string]bool, mode int) {
	p, o := it.p, it.out
	ev := p.Event
	before := c.clone()
	c.EventCount++
	occ := ev.OccurredAt.UTC()
	if c.FirstEventAt == nil || occ.Before(*c.FirstEventAt) {
		c.FirstEventAt = &occ
	}
	if c.LastEventAt == nil || !occ.Before(*c.LastEventAt) {
		c.LastEventAt = &occ
		c.LastEventID = ev.ID
	}
	ch.line(c, TLEvent, ev.ID, eventText(ev), map[string]any{"source": ev.Source, "status": ev.Status, "activity": ev.Activity,
		"reason": reasonOf(ev), "raw_code": ev.RawCode, "occurred_at": ev.OccurredAt, "location": ev.Location, "synthetic": ev.Synthetic,
		"shipment_id": p.Shipment.ID})
	rec := it.ev.Record
	matched := make([]string, 0, len(rec.Matches))
	for _, m := range rec.Matches {
		matched = append(matched, m.RuleID)
	}
	ch.line(c, TLEvaluation, ev.ID, fmt.Sprintf("ruleset v%d: rule %s → %s, %s", rec.RulesetVersion, o.RuleID, o.Category, o.Severity),
		map[string]any{"ruleset_version": rec.RulesetVersion, "ruleset_hash": rec.RulesetHash, "rule_id": o.RuleID,
			"rule_version": o.RuleVersion, "category": o.Category, "severity": o.Severity, "matches": matched, "tags": o.Tags})
	if s.enrich(c, it.ev) {
		ch.termsDirty[c.ID] = true
	}
	if mode == matchAbsorb {
		ch.refresh(c)
		ch.touch(c)
		ch.auditCase("case.event_matched", before, c, "event "+ev.ID+" matched while dismissed")
		return
	}
	escalated := false
	if o.Severity.Rank() > c.Severity.Rank() {
		from := c.Severity
		c.Severity = o.Severity
		s.tightenClocks(c, s.policy.slaFor(c.Severity, o.SLA))
		ch.line(c, TLEscalation, ev.ID, fmt.Sprintf("severity %s → %s by rule %s", from, c.Severity, o.RuleID), nil)
		escalated = true
		ch.after = append(ch.after, func() { mEscalations.WithLabelValues("new_match").Inc() })
	}
	for _, t := range o.Tags {
		if !containsStr(c.Tags, t) {
			c.Tags = append(c.Tags, t)
		}
	}
	for _, a := range o.Actions {
		act := s.newAction(c, a.Type, Params(a.Params), OriginRule, o.RuleID, "suggested by rule "+o.RuleID, "rule:"+o.RuleID, "rule "+o.RuleID, ch.now)
		if pending[c.ID] == nil {
			pending[c.ID] = map[string]bool{}
		}
		if pending[c.ID][act.DedupeKey] {
			continue
		}
		pending[c.ID][act.DedupeKey] = true
		ch.newActions = append(ch.newActions, act)
		ch.lineBy(c, audit.System, TLAction, "", fmt.Sprintf("%s proposed by rule %s", act.Type, o.RuleID), map[string]any{"action_id": act.ID, "params": act.Params})
		ch.auditRecord(audit.Record{Action: "action.proposed", SubjectType: "action", SubjectID: act.ID, After: act, Detail: "case " + c.ID + " by rule " + o.RuleID})
	}
	if escalated && c.State == StateSnoozed {
		ch.refresh(c)
		ch.touch(c)
		ch.auditCase("case.escalated", before, c, "event "+ev.ID+" rule "+o.RuleID)
		ch.wake(c, "escalation", "severity escalated to "+string(c.Severity))
	} else {
		ch.refresh(c)
		ch.touch(c)
		switch {
		case mode == matchOpening:
			// The opening's audit entry and event cover it.
		case escalated:
			ch.auditCase("case.escalated", before, c, "event "+ev.ID+" rule "+o.RuleID)
			ch.notifyCase(EventCaseUpdated, c, "escalated")
		default:
			ch.auditCase("case.event_matched", before, c, "event "+ev.ID+" rule "+o.RuleID)
			if !ch.isNew[c.ID] {
				ch.notifyCase(EventCaseUpdated, c, "event")
			}
		}
	}
	ch.summarize[c.ID] = true
	if c.Kind == KindShipment {
		ch.scoreETA[c.ID] = true
	}
}

func reasonOf(ev *intake.Event) string {
	if ev.Exception == nil {
		return ""
	}
	return string(ev.Exception.Reason)
}
