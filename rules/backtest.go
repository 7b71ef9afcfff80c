package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Unclassified names "no primary rule" in backtest transitions.
const Unclassified = "(unclassified)"

// RulesetRef names one side of a backtest.
type RulesetRef struct {
	Version int64  `json:"version,omitempty"`
	Label   string `json:"label"`
	Hash    string `json:"hash"`
	Rules   int    `json:"rules"`
}

// BacktestReport is what changes when the candidate replaces the baseline
// on the replayed events.
type BacktestReport struct {
	Baseline  RulesetRef `json:"baseline"`
	Candidate RulesetRef `json:"candidate"`
	From      *time.Time `json:"from,omitempty"`
	To        *time.Time `json:"to,omitempty"`
	Events    int64      `json:"events"`
	// Changed counts events whose classification (category or severity,
	// or classified vs not) differs; PrimaryChanged those whose primary
	// rule differs (with the same classification or not).
	Changed        int64             `json:"changed"`
	PrimaryChanged int64             `json:"primary_changed"`
	Before         []CategoryCount   `json:"before"`
	After          []CategoryCount   `json:"after"`
	Transitions    []Transition      `json:"transitions"`
	Examples       []BacktestExample `json:"examples"`
	Rules          []BacktestRule    `json:"rules"`
	NeverWin       []NeverWin        `json:"never_win"`
	Overlaps       []Overlap         `json:"overlaps"`
	Cancelled      bool              `json:"cancelled,omitempty"`
	ElapsedMS      int64             `json:"elapsed_ms"`
}

// CategoryCount is the number of events with a primary category.
type CategoryCount struct {
	Category string `json:"category"`
	Count    int64  `json:"count"`
}

// Transition counts events whose category moved From → To.
type Transition struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int64  `json:"count"`
}

// Classification is one side's primary result for an event.
type Classification struct {
	Rule     string   `json:"rule,omitempty"`
	Category string   `json:"category,omitempty"`
	Severity Severity `json:"severity,omitempty"`
}

// BacktestExample is one event whose classification changes.
type BacktestExample struct {
	EventID    string         `json:"event_id"`
	ShipmentID string         `json:"shipment_id,omitempty"`
	At         time.Time      `json:"at"`
	Before     Classification `json:"before"`
	After      Classification `json:"after"`
}

// RuleCounts are one rule's results on one side.
type RuleCounts struct {
	Matched    int64 `json:"matched"`
	Primary    int64 `json:"primary"`
	Suppressed int64 `json:"suppressed"`
	Shadow     int64 `json:"shadow"`
	Errors     int64 `json:"errors"`
}

// BacktestRule compares a rule's counts on both sides (nil: the rule is
// not in that ruleset).
type BacktestRule struct {
	RuleID    string      `json:"rule_id"`
	Baseline  *RuleCounts `json:"baseline,omitempty"`
	Candidate *RuleCounts `json:"candidate,omitempty"`
}

// NeverWin is an active classify rule of the candidate that was never the
// primary classification: it never matched, or higher-priority rules
// always matched too (it is masked).
type NeverWin struct {
	RuleID  string `json:"rule_id"`
	Matched int64  `json:"matched"`
	Reason  string `json:"reason"`
}

// Overlap counts events where Winner was primary while Loser, a lower
// priority classify rule of another category, matched as well.
type Overlap struct {
	Winner         string `json:"winner"`
	WinnerCategory string `json:"winner_category"`
	Loser          string `json:"loser"`
	LoserCategory  string `json:"loser_category"`
	Count          int64  `json:"count"`
}

// Backtester replays inputs through a baseline and a candidate ruleset and
// accumulates the comparison in memory bounded by the rule counts, not by
// the number of events.
type Backtester struct {
	base, cand     *Compiled
	mapping        []int32
	pair           *evalPair
	maxExamples    int
	rep            *BacktestReport
	before, after  map[string]int64
	trans          map[[2]string]int64
	statsB, statsC map[string]*RuleCounts
	overlaps       map[[2]string]int64
	start          time.Time
	clock          func() time.Time
}

// NewBacktester compares base (the published ruleset) with cand.
func NewBacktester(base, cand *Compiled, maxExamples int, clock func() time.Time) *Backtester {
	if maxExamples <= 0 {
		maxExamples = 20
	}
	if clock == nil {
		clock = time.Now
	}
	b := &Backtester{
		// Replays must give what live evaluation gave: no wall-clock
		// deadline (it would depend on machine load).
		base: base, cand: cand, mapping: identicalRules(base, cand),
		maxExamples: maxExamples, before: map[string]int64{}, after: map[string]int64{}, trans: map[[2]string]int64{},
		statsB: map[string]*RuleCounts{}, statsC: map[string]*RuleCounts{}, overlaps: map[[2]string]int64{},
		clock: clock, start: clock(),
	}
	b.pair = b.newPair()
	b.rep = &BacktestReport{
		Baseline:  RulesetRef{Version: base.Version, Hash: base.Hash, Rules: len(base.Ruleset.Rules)},
		Candidate: RulesetRef{Version: cand.Version, Hash: cand.Hash, Rules: len(cand.Ruleset.Rules)},
		Examples:  []BacktestExample{},
	}
	return b
}

func classOf(r *Record) Classification {
	if r.Outcome == nil {
		return Classification{}
	}
	return Classification{Rule: r.Outcome.RuleID, Category: r.Outcome.Category, Severity: r.Outcome.Severity}
}

func countRecord(stats map[string]*RuleCounts, r *Record) {
	get := func(id string) *RuleCounts {
		c := stats[id]
		if c == nil {
			c = &RuleCounts{}
			stats[id] = c
		}
		return c
	}
	for _, m := range r.Matches {
		c := get(m.RuleID)
		c.Matched++
		if m.Suppressed {
			c.Suppressed++
		}
	}
	if r.Outcome != nil {
		get(r.Outcome.RuleID).Primary++
	}
	for _, m := range r.Shadow {
		get(m.RuleID).Shadow++
	}
	for _, e := range r.Errors {
		get(e.RuleID).Errors++
	}
}

// evalPair evaluates one input with the baseline and then the candidate;
// the candidate reuses the baseline's results for identical rules.
type evalPair struct{ eb, ec *Evaluator }

// newPair returns an evaluator pair for one goroutine.
func (b *Backtester) newPair() *evalPair {
	eb := NewEvaluator(EvalOptions{Deadline: -1})
	ec := NewEvaluator(EvalOptions{Deadline: -1})
	eb.memo = make([]ruleMemo, len(b.base.rules))
	ec.link = &memoLink{src: eb, mapping: b.mapping}
	return &evalPair{eb: eb, ec: ec}
}

// identicalRules maps each candidate rule position to the baseline rule
// with the same condition and severity expression (same results on any
// input), or -1. Rules reading reference lists only map when both sides
// have the same lists.
func identicalRules(base, cand *Compiled) []int32 {
	sameLists := listsEqual(base.Ruleset.Lists, cand.Ruleset.Lists)
	byKey := map[string]int32{}
	for _, cr := range base.rules {
		k := cr.rule.When + "\x00" + cr.rule.SeverityExpr
		if _, ok := byKey[k]; !ok {
			byKey[k] = cr.pos
		}
	}
	out := make([]int32, len(cand.rules))
	for i, cr := range cand.rules {
		out[i] = -1
		if !sameLists && (strings.Contains(cr.rule.When, "inList") || strings.Contains(cr.rule.SeverityExpr, "inList")) {
			continue
		}
		if bp, ok := byKey[cr.rule.When+"\x00"+cr.rule.SeverityExpr]; ok {
			out[i] = bp
		}
	}
	return out
}

func listsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(va) != len(vb) {
			return false
		}
		for i := range va {
			if va[i] != vb[i] {
				return false
			}
		}
	}
	return true
}

func (p *evalPair) eval(b *Backtester, in *Input) (*Record, *Record, error) {
	rb, err := p.eb.Evaluate(b.base, in)
	if err != nil {
		return nil, nil, fmt.Errorf("event %s: %w", in.Event.ID, err)
	}
	rc, err := p.ec.Evaluate(b.cand, in)
	if err != nil {
		return nil, nil, fmt.Errorf("event %s: %w", in.Event.ID, err)
	}
	return rb, rc, nil
}

// evalChunk evaluates a chunk of inputs with one pair.
func (b *Backtester) evalChunk(p *evalPair, ins []*Input) ([]*Record, []*Record, error) {
	rbs, rcs := make([]*Record, len(ins)), make([]*Record, len(ins))
	for i, in := range ins {
		rb, rc, err := p.eval(b, in)
		if err != nil {
			return nil, nil, err
		}
		rbs[i], rcs[i] = rb, rc
	}
	return rbs, rcs, nil
}

// Add replays one input through both rulesets.
func (b *Backtester) Add(in *Input) error {
	rb, rc, err := b.pair.eval(b, in)
	if err != nil {
		return err
	}
	b.AddPair(rb, rc)
	return nil
}

// AddChunk replays inputs in order.
func (b *Backtester) AddChunk(ins []*Input) error {
	rbs, rcs, err := b.evalChunk(b.pair, ins)
	if err != nil {
		return err
	}
	for i := range ins {
		b.AddPair(rbs[i], rcs[i])
	}
	return nil
}

// AddPair accumulates one event's baseline and candidate records.
func (b *Backtester) AddPair(rb, rc *Record) {
	b.rep.Events++
	cb, cc := classOf(rb), classOf(rc)
	catB, catC := cb.Category, cc.Category
	if catB == "" {
		catB = Unclassified
	}
	if catC == "" {
		catC = Unclassified
	}
	b.before[catB]++
	b.after[catC]++
	if cb.Rule != cc.Rule {
		b.rep.PrimaryChanged++
	}
	if cb.Category != cc.Category || cb.Severity != cc.Severity {
		b.rep.Changed++
		if catB != catC {
			b.trans[[2]string{catB, catC}]++
		}
		if len(b.rep.Examples) < b.maxExamples {
			b.rep.Examples = append(b.rep.Examples, BacktestExample{EventID: rb.EventID, ShipmentID: rb.ShipmentID, At: rb.EvaluatedAt, Before: cb, After: cc})
		}
	}
	countRecord(b.statsB, rb)
	countRecord(b.statsC, rc)
	if o := rc.Outcome; o != nil {
		for _, m := range rc.Matches {
			if m.Kind == KindClassify && !m.Suppressed && m.RuleID != o.RuleID && m.Category != o.Category {
				b.overlaps[[2]string{o.RuleID, m.RuleID}]++
			}
		}
	}
}

// Report returns the comparison so far.
func (b *Backtester) Report() *BacktestReport {
	rep := *b.rep
	rep.ElapsedMS = b.clock().Sub(b.start).Milliseconds()
	rep.Before = categoryCounts(b.before)
	rep.After = categoryCounts(b.after)
	rep.Transitions = []Transition{}
	for k, n := range b.trans {
		rep.Transitions = append(rep.Transitions, Transition{From: k[0], To: k[1], Count: n})
	}
	sort.Slice(rep.Transitions, func(i, j int) bool {
		a, c := rep.Transitions[i], rep.Transitions[j]
		if a.Count != c.Count {
			return a.Count > c.Count
		}
		return a.From+"\x00"+a.To < c.From+"\x00"+c.To
	})
	ids := map[string]bool{}
	for _, r := range b.base.Ruleset.Rules {
		ids[r.ID] = true
	}
	for _, r := range b.cand.Ruleset.Rules {
		ids[r.ID] = true
	}
	rep.Rules = []BacktestRule{}
	for _, id := range sortedIDs(ids) {
		br := BacktestRule{RuleID: id}
		if _, ok := b.base.byID[id]; ok {
			br.Baseline = zeroIfNil(b.statsB[id])
		}
		if _, ok := b.cand.byID[id]; ok {
			br.Candidate = zeroIfNil(b.statsC[id])
		}
		rep.Rules = append(rep.Rules, br)
	}
	rep.NeverWin = []NeverWin{}
	for _, cr := range b.cand.rules {
		if rep.Events == 0 {
			break
		}
		r := cr.rule
		if r.Kind != KindClassify || r.Mode != ModeActive {
			continue
		}
		st := zeroIfNil(b.statsC[r.ID])
		if st.Primary > 0 {
			continue
		}
		reason := "never matched"
		if st.Matched > 0 {
			reason = "always masked by higher-priority rules or suppressed"
		}
		rep.NeverWin = append(rep.NeverWin, NeverWin{RuleID: r.ID, Matched: st.Matched, Reason: reason})
	}
	rep.Overlaps = []Overlap{}
	for k, n := range b.overlaps {
		w, l := b.cand.byID[k[0]], b.cand.byID[k[1]]
		rep.Overlaps = append(rep.Overlaps, Overlap{Winner: k[0], WinnerCategory: w.rule.Category, Loser: k[1], LoserCategory: l.rule.Category, Count: n})
	}
	sort.Slice(rep.Overlaps, func(i, j int) bool {
		a, c := rep.Overlaps[i], rep.Overlaps[j]
		if a.Count != c.Count {
			return a.Count > c.Count
		}
		return a.Winner+"\x00"+a.Loser < c.Winner+"\x00"+c.Loser
	})
	if len(rep.Overlaps) > 50 {
		rep.Overlaps = rep.Overlaps[:50]
	}
	return &rep
}

func zeroIfNil(c *RuleCounts) *RuleCounts {
	if c == nil {
		return &RuleCounts{}
	}
	cp := *c
	return &cp
}

func categoryCounts(m map[string]int64) []CategoryCount {
	out := make([]CategoryCount, 0, len(m))
	for k, n := range m {
		out = append(out, CategoryCount{Category: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Category < out[j].Category
	})
	return out
}
