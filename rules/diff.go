package rules

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// Diff is what changed between two rulesets.
type Diff struct {
	From     string       `json:"from"`
	To       string       `json:"to"`
	FromHash string       `json:"from_hash"`
	ToHash   string       `json:"to_hash"`
	Added    []Rule       `json:"added"`
	Removed  []Rule       `json:"removed"`
	Changed  []RuleDiff   `json:"changed"`
	Same     int          `json:"unchanged"`
	Lists    []ListChange `json:"lists"`
}

// RuleDiff is one rule present on both sides with different content.
type RuleDiff struct {
	ID          string        `json:"id"`
	FromVersion int           `json:"from_version"`
	ToVersion   int           `json:"to_version"`
	Fields      []FieldChange `json:"fields"`
}

// FieldChange is one changed field. Lines is a line diff for text fields
// (when, severity_expr, description): "+ " added, "- " removed, "  " kept.
type FieldChange struct {
	Field string   `json:"field"`
	From  any      `json:"from,omitempty"`
	To    any      `json:"to,omitempty"`
	Lines []string `json:"lines,omitempty"`
}

// ListChange is a reference list whose values changed.
type ListChange struct {
	Name    string   `json:"name"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// DiffRulesets compares a (old) with b (new).
func DiffRulesets(a, b *Ruleset) *Diff {
	a, b = a.Clone(), b.Clone()
	a.Normalize()
	b.Normalize()
	d := &Diff{FromHash: a.Hash(), ToHash: b.Hash(), Added: []Rule{}, Removed: []Rule{}, Changed: []RuleDiff{}, Lists: []ListChange{}}
	ar, br := map[string]*Rule{}, map[string]*Rule{}
	for i := range a.Rules {
		ar[a.Rules[i].ID] = &a.Rules[i]
	}
	for i := range b.Rules {
		br[b.Rules[i].ID] = &b.Rules[i]
	}
	for _, id := range sortedIDs(br) {
		if ar[id] == nil {
			d.Added = append(d.Added, *br[id])
		}
	}
	for _, id := range sortedIDs(ar) {
		rb := br[id]
		if rb == nil {
			d.Removed = append(d.Removed, *ar[id])
			continue
		}
		fields := diffRule(ar[id], rb)
		if len(fields) == 0 {
			d.Same++
			continue
		}
		d.Changed = append(d.Changed, RuleDiff{ID: id, FromVersion: ar[id].Version, ToVersion: rb.Version, Fields: fields})
	}
	names := map[string]bool{}
	for n := range a.Lists {
		names[n] = true
	}
	for n := range b.Lists {
		names[n] = true
	}
	for _, n := range sortedIDs(names) {
		added, removed := setDiff(a.Lists[n], b.Lists[n])
		if len(added)+len(removed) > 0 {
			d.Lists = append(d.Lists, ListChange{Name: n, Added: added, Removed: removed})
		}
	}
	return d
}

// setDiff returns the values only in b and only in a (both sorted).
func setDiff(a, b []string) (added, removed []string) {
	in := func(xs []string, x string) bool {
		i := sort.SearchStrings(xs, x)
		return i < len(xs) && xs[i] == x
	}
	added, removed = []string{}, []string{}
	for _, x := range b {
		if !in(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !in(b, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

var textFields = map[string]bool{"when": true, "severity_expr": true, "description": true}

func diffRule(a, b *Rule) []FieldChange {
	fa, fb := fieldsOf(a), fieldsOf(b)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	delete(keys, "version")
	var out []FieldChange
	for _, k := range sortedIDs(keys) {
		if bytes.Equal(fa[k], fb[k]) {
			continue
		}
		fc := FieldChange{Field: k}
		if fa[k] != nil {
			_ = json.Unmarshal(fa[k], &fc.From)
		}
		if fb[k] != nil {
			_ = json.Unmarshal(fb[k], &fc.To)
		}
		if textFields[k] {
			sa, _ := fc.From.(string)
			sb, _ := fc.To.(string)
			fc.Lines = lineDiff(sa, sb)
		}
		out = append(out, fc)
	}
	return out
}

func fieldsOf(r *Rule) map[string]json.RawMessage {
	b, _ := json.Marshal(r)
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(b, &m)
	return m
}

// lineDiff is a longest-common-subsequence line diff.
func lineDiff(a, b string) []string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if a == "" {
		x = nil
	}
	if b == "" {
		y = nil
	}
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, "  "+x[i])
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "- "+x[i])
			i++
		default:
			out = append(out, "+ "+y[j])
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, "- "+x[i])
	}
	for ; j < m; j++ {
		out = append(out, "+ "+y[j])
	}
	return out
}
