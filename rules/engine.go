package rules

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// DefaultDeadline is the per-event evaluation deadline. The VM cannot be
// interrupted inside an expression, so the deadline is checked between
// rules; memory budgets bound what one expression can do. Engine time is
// ~35 µs per event at 1,000 rules and a few ms at 5,000, so 50 ms is only
// reached by pathological rulesets. It is a wall-clock guard, so a record
// cut short by it is the one kind of record that is not reproducible (it
// says so: deadline_exceeded and skipped); 5 ms, as first proposed, was
// hit by ordinary events on a loaded 2-core machine (a GC pause or a
// descheduled thread), which made records differ from their replay.
const DefaultDeadline = 50 * time.Millisecond

// ErrDeadline marks records whose evaluation stopped at the deadline.
var ErrDeadline = errors.New("rules: evaluation deadline exceeded")

// EvalOptions tune an Evaluator.
type EvalOptions struct {
	// Deadline per event; 0 means DefaultDeadline, negative means none.
	Deadline time.Duration
	// Clock is read for the deadline only (never for rule results);
	// default time.Now.
	Clock func() time.Time
}

// Evaluator evaluates events against compiled rulesets. It owns one expr
// VM, one Env and scratch buffers, so it must not be used by two
// goroutines at once; compiled rulesets are shared freely.
type Evaluator struct {
	vm      vm.VM
	env     Env
	cand    []int32
	matched []*compiledRule
	matches []Match // scratch, copied into the record at the end
	shadow  []Match
	// Backtests: memo records this evaluator's per-rule results for the
	// current event (gen), link reuses another evaluator's.
	memo     []ruleMemo
	gen      uint64
	link     *memoLink
	deadline time.Duration
	clock    func() time.Time
}

// NewEvaluator returns an Evaluator.
func NewEvaluator(opts EvalOptions) *Evaluator {
	e := &Evaluator{deadline: opts.Deadline, clock: opts.Clock}
	if e.deadline == 0 {
		e.deadline = DefaultDeadline
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	return e
}

// candidates returns the positions of the rules whose event_types select
// the current env's event, in priority order.
func (e *Evaluator) candidates(c *Compiled) []int32 {
	ev := &e.env.Event
	cand := append(e.cand[:0], c.idx.all...)
	lists := 0
	if len(c.idx.all) > 0 {
		lists++
	}
	for di, v := range [...]string{ev.Status, ev.Reason, ev.Source, ev.Activity, ev.Carrier} {
		if v == "" {
			continue
		}
		if l := c.idx.dims[di][v]; len(l) > 0 {
			cand = append(cand, l...)
			lists++
		}
	}
	if lists > 1 {
		slices.Sort(cand)
		cand = slices.Compact(cand)
	}
	e.cand = cand
	return cand
}

// run evaluates one program with the memory budget.
func (e *Evaluator) run(p *vm.Program) (any, error) {
	e.vm.MemoryBudget = MemoryBudget
	return e.vm.Run(p, &e.env)
}

// ruleMemo is one rule's results for the current event, kept by a
// recording evaluator so a second evaluator can reuse them.
type ruleMemo struct {
	gen     uint64
	when    bool
	whenErr error
	sevRan  bool
	sev     any
	sevErr  error
}

// memoLink lets an evaluator reuse the results of identical rules that
// another evaluator just computed on the same input (backtests: most rules
// of a candidate are unchanged from the baseline).
type memoLink struct {
	src     *Evaluator
	mapping []int32 // this ruleset's rule position → source rule position, or -1
}

func (e *Evaluator) memoFor(cr *compiledRule) *ruleMemo {
	if e.link == nil {
		return nil
	}
	bp := e.link.mapping[cr.pos]
	if bp < 0 {
		return nil
	}
	if m := &e.link.src.memo[bp]; m.gen == e.link.src.gen {
		return m
	}
	return nil
}

func (e *Evaluator) record(cr *compiledRule) *ruleMemo {
	if e.memo == nil {
		return nil
	}
	m := &e.memo[cr.pos]
	if m.gen != e.gen {
		*m = ruleMemo{gen: e.gen}
	}
	return m
}

// runWhen evaluates a rule's condition (or reuses a linked result).
func (e *Evaluator) runWhen(cr *compiledRule) (bool, error) {
	if m := e.memoFor(cr); m != nil {
		return m.when, m.whenErr
	}
	out, err := e.run(cr.when)
	ok, _ := out.(bool)
	if m := e.record(cr); m != nil {
		m.when, m.whenErr = ok && err == nil, err
	}
	return ok && err == nil, err
}

// runSeverity evaluates a rule's severity expression (or reuses it).
func (e *Evaluator) runSeverity(cr *compiledRule) (any, error) {
	if m := e.memoFor(cr); m != nil && m.sevRan {
		return m.sev, m.sevErr
	}
	out, err := e.run(cr.severity)
	if m := e.record(cr); m != nil {
		m.sevRan, m.sev, m.sevErr = true, out, err
	}
	return out, err
}

func ruleError(r *Rule, field string, err error) RuleError {
	re := RuleError{RuleID: r.ID, RuleVersion: r.Version, Field: field, Line: 1, Column: 1, Message: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		re.Message = friendlyTypes(fe.Message)
		if fe.Line > 0 {
			re.Line, re.Column = fe.Line, fe.Column+1
		}
	}
	return re
}

// Evaluate classifies one input with c. The record depends only on the
// input and c (unless the deadline is hit, which the record says).
func (e *Evaluator) Evaluate(c *Compiled, in *Input) (*Record, error) {
	if err := e.env.Fill(in); err != nil {
		return nil, err
	}
	return e.evaluate(c), nil
}

func (e *Evaluator) evaluate(c *Compiled) *Record {
	e.gen++
	env := &e.env
	rec := &Record{
		EventID:        env.Event.ID,
		ShipmentID:     env.Shipment.ID,
		RulesetVersion: c.Version,
		RulesetHash:    c.Hash,
		Engine:         EngineVersion,
		EvaluatedAt:    env.Now,
	}
	cands := e.candidates(c)
	rec.Candidates = len(cands)
	var start time.Time
	if e.deadline > 0 {
		start = e.clock()
	}
	matched, matches, shadow := e.matched[:0], e.matches[:0], e.shadow[:0]
	for i, pos := range cands {
		if e.deadline > 0 && i > 0 && i%8 == 0 && e.clock().Sub(start) > e.deadline {
			rec.DeadlineExceeded = true
			for _, p := range cands[i:] {
				rec.Skipped = append(rec.Skipped, c.rules[p].rule.ID)
			}
			break
		}
		cr := c.rules[pos]
		r := cr.rule
		out, err := e.runWhen(cr)
		if err != nil {
			rec.Errors = append(rec.Errors, ruleError(r, "when", err))
			continue
		}
		if !out {
			continue
		}
		m := Match{RuleID: r.ID, RuleVersion: r.Version, Priority: r.Priority, Kind: r.Kind}
		if r.Kind == KindClassify {
			m.Category, m.Severity = r.Category, r.Severity
			if cr.severity != nil {
				sv, err := e.runSeverity(cr)
				switch s, _ := sv.(string); {
				case err != nil:
					rec.Errors = append(rec.Errors, ruleError(r, "severity_expr", err))
				case Severity(s).Rank() == 0:
					rec.Errors = append(rec.Errors, RuleError{RuleID: r.ID, RuleVersion: r.Version, Field: "severity_expr", Line: 1, Column: 1,
						Message: fmt.Sprintf("severity_expr gave %q, which is not a severity; used %s", s, r.Severity)})
				default:
					m.Severity = Severity(s)
				}
			}
		}
		if r.Mode == ModeShadow {
			shadow = append(shadow, m)
			continue
		}
		matches = append(matches, m)
		matched = append(matched, cr)
	}
	if len(matches) > 0 {
		rec.Matches = slices.Clone(matches)
	}
	if len(shadow) > 0 {
		rec.Shadow = slices.Clone(shadow)
	}
	e.matched, e.matches, e.shadow = matched[:0], matches[:0], shadow[:0]
	e.resolve(rec, matched)
	return rec
}

// resolve applies suppression, picks the primary classification and
// collects tags and outputs.
func (e *Evaluator) resolve(rec *Record, matched []*compiledRule) {
	var suppressors []*compiledRule
	for _, cr := range matched {
		if cr.rule.Kind == KindSuppress {
			suppressors = append(suppressors, cr)
		}
	}
	var primary *compiledRule
	var primaryMatch *Match
	var tags []string
	for i, cr := range matched {
		m := &rec.Matches[i]
		if cr.rule.Kind == KindClassify && len(suppressors) > 0 {
			var by []string
			for _, s := range suppressors {
				if s.suppressAll || s.suppress[m.Category] {
					by = append(by, s.rule.ID)
				}
			}
			if len(by) > 0 {
				m.Suppressed = true
				addSuppression(rec, m.Category, cr.rule.ID, by)
				continue
			}
		}
		tags = append(tags, cr.rule.Tags...)
		if primary == nil && cr.rule.Kind == KindClassify {
			primary, primaryMatch = cr, m
		}
	}
	if primary == nil {
		return
	}
	r := primary.rule
	o := &Outcome{
		RuleID:      r.ID,
		RuleVersion: r.Version,
		Category:    primaryMatch.Category,
		Severity:    primaryMatch.Severity,
		Queue:       r.Queue,
		Team:        r.Team,
		SLA:         r.SLA,
		Tags:        sortedUnique(tags),
		Actions:     []Action{},
	}
	for i, a := range primary.actions {
		act := Action{Type: a.typ, Params: make(map[string]string, len(a.params))}
		ok := true
		for _, p := range a.params {
			v, err := p.tmpl.render(&e.vm, &e.env)
			if err != nil {
				rec.Errors = append(rec.Errors, ruleError(r, fmt.Sprintf("actions[%d].params.%s", i, p.name), err))
				ok = false
				break
			}
			act.Params[p.name] = v
		}
		if ok {
			o.Actions = append(o.Actions, act)
		}
	}
	if g := r.Group; g != nil {
		gOut := &GroupOutcome{Keys: make([]string, len(primary.groupKeys)), MinCount: max(g.MinCount, 1), Window: g.Window}
		for i, p := range primary.groupKeys {
			v, err := e.run(p)
			if err != nil {
				rec.Errors = append(rec.Errors, ruleError(r, fmt.Sprintf("group.keys[%d]", i), err))
				continue
			}
			gOut.Keys[i] = formatValue(v)
		}
		o.Group = gOut
	}
	rec.Outcome = o
}

func addSuppression(rec *Record, category, ruleID string, by []string) {
	for i := range rec.Suppressed {
		s := &rec.Suppressed[i]
		if s.Category == category {
			s.Rules = append(s.Rules, ruleID)
			return
		}
	}
	rec.Suppressed = append(rec.Suppressed, Suppression{Category: category, Rules: []string{ruleID}, By: by})
}
