package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"gopkg.in/yaml.v3"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/rules"
)

// The rules pages: the list with hits, the editor with live validation
// marking line and column, the environment reference, test cases, publish
// (with four-eyes approval), version history with diffs and rollback, and
// backtests. Static paths start with "_" (rules/_new, rules/_validate):
// rule ids start with a letter, so no rule can shadow them. Ruleset-wide
// pages live under /ruleset.

func (cn *Console) rulesRoutes() {
	if cn.svc.Rules == nil {
		return
	}
	cn.route(fiber.MethodGet, "/rules", auth.PermRulesRead, cn.rulesPage)
	cn.route(fiber.MethodGet, "/rules/_new", auth.PermRulesWrite, cn.ruleNew)
	cn.route(fiber.MethodPost, "/rules/_new", auth.PermRulesWrite, cn.ruleCreate)
	cn.route(fiber.MethodPost, "/rules/_validate", auth.PermRulesRead, cn.ruleValidate)
	cn.route(fiber.MethodGet, "/rules/_env", auth.PermRulesRead, cn.rulesEnv)
	cn.route(fiber.MethodGet, "/rules/:id", auth.PermRulesRead, cn.ruleEdit)
	cn.route(fiber.MethodPost, "/rules/:id", auth.PermRulesWrite, cn.ruleSave)
	cn.route(fiber.MethodPost, "/rules/:id/delete", auth.PermRulesWrite, cn.ruleDelete)
	cn.route(fiber.MethodGet, "/rules/:id/tests", auth.PermRulesRead, cn.ruleRunTests)
	cn.route(fiber.MethodPost, "/rules/:id/tests", auth.PermRulesWrite, cn.ruleAddTest)
	cn.route(fiber.MethodPost, "/rules/:id/tests/:n/delete", auth.PermRulesWrite, cn.ruleDeleteTest)
	cn.route(fiber.MethodPost, "/ruleset/publish", auth.PermRulesPublish, cn.rulesetPublish)
	cn.route(fiber.MethodGet, "/ruleset/versions", auth.PermRulesRead, cn.versionsPage)
	cn.route(fiber.MethodGet, "/ruleset/versions/:v", auth.PermRulesRead, cn.versionPage)
	cn.route(fiber.MethodPost, "/ruleset/versions/:v/approve", auth.PermRulesPublish, cn.versionDecide(true))
	cn.route(fiber.MethodPost, "/ruleset/versions/:v/reject", auth.PermRulesPublish, cn.versionDecide(false))
	cn.route(fiber.MethodPost, "/ruleset/versions/:v/rollback", auth.PermRulesPublish, cn.versionRollback)
	cn.route(fiber.MethodGet, "/ruleset/backtests", auth.PermRulesRead, cn.backtestsPage)
	cn.route(fiber.MethodPost, "/ruleset/backtests", auth.PermRulesWrite, cn.backtestStart)
	cn.route(fiber.MethodGet, "/ruleset/backtests/:id", auth.PermRulesRead, cn.backtestPage)
	cn.route(fiber.MethodPost, "/ruleset/backtests/:id/cancel", auth.PermRulesWrite, cn.backtestCancel)
}

// rulesModel is the rules list.
type rulesModel struct {
	Rules    []ruleRow
	Active   *rules.Version
	Pending  []*rules.Version
	FourEyes bool
	Drafts   int // rules whose draft differs from the published version
	Report   *rules.Report
}

type ruleRow struct {
	*rules.RuleView
	Spark   any
	Changed bool
}

const sparkDays = 14

func (cn *Console) rulesModel(c *fiber.Ctx) (rulesModel, error) {
	ctx := c.UserContext()
	svc := cn.svc.Rules
	views, err := svc.ListRules(ctx)
	if err != nil {
		return rulesModel{}, err
	}
	m := rulesModel{FourEyes: svc.FourEyes()}
	for _, v := range views {
		r := ruleRow{RuleView: v, Changed: v.Published != v.Rule.Version}
		if r.Changed {
			m.Drafts++
		}
		hs, err := svc.Hits(ctx, v.Rule.ID, sparkDays)
		if err != nil {
			return m, err
		}
		counts := make([]int, 0, len(hs))
		for _, h := range hs {
			counts = append(counts, int(h.Matched))
		}
		r.Spark = Sparkline(counts, v.Rule.ID+" matches per day")
		m.Rules = append(m.Rules, r)
	}
	vs, err := svc.Versions(ctx, 20)
	if err != nil {
		return m, err
	}
	for _, v := range vs {
		if v.Active {
			m.Active = v
		}
		if v.Status == rules.StatusPending {
			m.Pending = append(m.Pending, v)
		}
	}
	return m, nil
}

func (cn *Console) rulesPage(c *fiber.Ctx) error {
	m, err := cn.rulesModel(c)
	if err != nil {
		return err
	}
	return cn.render(c, fiber.StatusOK, "rules", cn.page(c, "Rules", "rules", m))
}

// ruleForm is the editor's model.
type ruleForm struct {
	New       bool
	Rule      rules.Rule
	View      *rules.RuleView
	Errors    map[string]string
	Warnings  []rules.Diagnostic
	Check     *whenCheck
	Kinds     []rules.Kind
	Modes     []rules.Mode
	Sevs      []rules.Severity
	Actions   string // JSON of the action templates
	Group     string // JSON of the grouping
	History   []rules.RuleVersion
	TestInput string
	TestErrs  map[string]string
	TestForm  map[string]string
	Results   []rules.TestResult
}

// whenCheck is the live validation of a condition: its lines with the
// diagnostics placed under the line and column they point at.
type whenCheck struct {
	OK       bool
	Lines    []exprLine
	Errors   []rules.Diagnostic
	Warnings []rules.Diagnostic
}

type exprLine struct {
	N     int
	Text  string
	Marks []exprMark
}

type exprMark struct {
	Pad       string // spaces up to the column
	Message   string
	Warning   bool
	Line, Col int
}

// checkWhen validates a condition and lays the diagnostics out by line.
func (cn *Console) checkWhen(c *fiber.Ctx, when string, eventTypes []string) (*whenCheck, error) {
	lists, err := cn.svc.Rules.Lists(c.UserContext())
	if err != nil {
		return nil, err
	}
	res := rules.ValidateCondition(when, eventTypes, lists)
	wc := &whenCheck{OK: res.OK, Errors: res.Errors, Warnings: res.Warnings}
	for i, l := range strings.Split(when, "\n") {
		wc.Lines = append(wc.Lines, exprLine{N: i + 1, Text: l})
	}
	place := func(d rules.Diagnostic, warning bool) {
		ln := d.Line
		if ln < 1 || ln > len(wc.Lines) {
			ln = len(wc.Lines)
		}
		col := max(d.Column, 1)
		wc.Lines[ln-1].Marks = append(wc.Lines[ln-1].Marks, exprMark{Pad: strings.Repeat(" ", col-1), Message: d.Message, Warning: warning, Line: ln, Col: col})
	}
	for _, d := range res.Errors {
		place(d, false)
	}
	for _, d := range res.Warnings {
		place(d, true)
	}
	return wc, nil
}

func (cn *Console) newRuleForm() ruleForm {
	return ruleForm{Kinds: []rules.Kind{rules.KindClassify, rules.KindSuppress}, Modes: []rules.Mode{rules.ModeActive, rules.ModeShadow, rules.ModeDisabled},
		Sevs: rules.Severities, Errors: map[string]string{}, TestErrs: map[string]string{}, TestForm: map[string]string{}, TestInput: testInputTemplate}
}

// testInputTemplate is the starting point of a new test case: an event and
// its shipment in the canonical JSON field names.
const testInputTemplate = `event:
  id: ev-test-1
  source: aftership
  carrier: ups
  tracking_number: 1ZTEST0001
  status: in_transit
  exception: {reason: damaged, category: carrier, severity: critical, action_required: true}
  occurred_at: "2026-03-04T10:00:00Z"
  received_at: "2026-03-04T10:05:00Z"
  tz_known: true
  physical: true
shipment:
  id: sh-test-1
  carrier: ups
  tracking_number: 1ZTEST0001
  status: in_transit
  status_at: "2026-03-02T08:00:00Z"
  first_seen_at: "2026-03-01T08:00:00Z"
  last_event_at: "2026-03-04T10:00:00Z"
  last_physical_scan_at: "2026-03-04T10:00:00Z"
  event_count: 4
  updated_at: "2026-03-04T10:05:00Z"
`

func (cn *Console) renderRule(c *fiber.Ctx, status int, f ruleForm) error {
	title := "New rule"
	if !f.New {
		title = "Rule " + f.Rule.ID
	}
	if f.Rule.Actions != nil && f.Actions == "" {
		b, _ := json.MarshalIndent(f.Rule.Actions, "", "  ")
		f.Actions = string(b)
	}
	if f.Rule.Group != nil && f.Group == "" {
		b, _ := json.MarshalIndent(f.Rule.Group, "", "  ")
		f.Group = string(b)
	}
	if f.Check == nil && f.Rule.When != "" {
		wc, err := cn.checkWhen(c, f.Rule.When, f.Rule.EventTypes)
		if err != nil {
			return err
		}
		f.Check = wc
	}
	return cn.render(c, status, "rule", cn.page(c, title, "rules", f))
}

func (cn *Console) ruleNew(c *fiber.Ctx) error {
	f := cn.newRuleForm()
	f.New = true
	f.Rule = rules.Rule{Kind: rules.KindClassify, Mode: rules.ModeShadow, Priority: 500, Severity: rules.SeverityMedium,
		Owner: sessionOf(c).User.Username}
	return cn.renderRule(c, fiber.StatusOK, f)
}

func (cn *Console) loadRuleForm(c *fiber.Ctx, id string) (ruleForm, error) {
	v, err := cn.svc.Rules.GetRule(c.UserContext(), id)
	if err != nil {
		return ruleForm{}, err
	}
	f := cn.newRuleForm()
	f.View, f.Rule = v, v.Rule
	if f.History, err = cn.svc.Rules.RuleHistory(c.UserContext(), id); err != nil {
		return f, err
	}
	return f, nil
}

func (cn *Console) ruleEdit(c *fiber.Ctx) error {
	f, err := cn.loadRuleForm(c, utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return cn.renderRule(c, fiber.StatusOK, f)
}

// splitList reads a comma- or newline-separated form field.
func splitFormList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ruleFromForm reads the editor. Tests are kept from base (they are
// edited one by one); actions and grouping come as JSON.
func ruleFromForm(c *fiber.Ctx, base rules.Rule) (rules.Rule, map[string]string, string, string) {
	errs := map[string]string{}
	f := formValues(c, "id", "name", "description", "owner", "kind", "mode", "priority", "event_types", "category", "severity",
		"severity_expr", "queue", "team", "respond_by", "resolve_by", "tags", "suppresses", "actions", "group")
	r := base
	if base.ID == "" {
		r.ID = f["id"]
	}
	r.Name, r.Description, r.Owner = f["name"], f["description"], f["owner"]
	r.Kind, r.Mode, r.Severity = rules.Kind(f["kind"]), rules.Mode(f["mode"]), rules.Severity(f["severity"])
	r.When = strings.TrimRight(strings.ReplaceAll(utils.CopyString(c.FormValue("when")), "\r\n", "\n"), "\n ")
	r.EventTypes, r.Tags, r.Suppresses = splitFormList(f["event_types"]), splitFormList(f["tags"]), splitFormList(f["suppresses"])
	r.Category, r.SeverityExpr, r.Queue, r.Team = f["category"], f["severity_expr"], f["queue"], f["team"]
	if n, err := strconv.Atoi(f["priority"]); err == nil {
		r.Priority = n
	} else {
		errs["priority"] = "a whole number (lower runs first)"
	}
	r.SLA = rules.SLA{}
	for _, k := range []string{"respond_by", "resolve_by"} {
		if f[k] == "" {
			continue
		}
		d, err := rules.ParseDuration(f[k])
		if err != nil {
			errs[k] = "a duration such as 4h, 2d or 90m"
			continue
		}
		if k == "respond_by" {
			r.SLA.RespondBy = d
		} else {
			r.SLA.ResolveBy = d
		}
	}
	r.Actions, r.Group = nil, nil
	if f["actions"] != "" {
		if err := json.Unmarshal([]byte(f["actions"]), &r.Actions); err != nil {
			errs["actions"] = "JSON list of {\"type\": ..., \"params\": {...}}: " + err.Error()
		}
	}
	if f["group"] != "" {
		r.Group = &rules.Grouping{}
		if err := json.Unmarshal([]byte(f["group"]), r.Group); err != nil {
			errs["group"] = "JSON object {\"keys\": [...], \"min_count\": 3, \"window\": \"2h\"}: " + err.Error()
		}
	}
	return r, errs, f["actions"], f["group"]
}

// saveErrors puts a save's validation errors on their fields. Errors on
// the condition carry "line:column: message".
func saveErrors(err error) (map[string]string, error) {
	fe, err := fieldErrors(err)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range fe {
		if i := strings.Index(k, "]."); strings.HasPrefix(k, "rules[") && i > 0 {
			k = k[i+2:]
		}
		if cur, ok := out[k]; ok {
			v = cur + "; " + v
		}
		out[k] = v
	}
	return out, nil
}

func (cn *Console) ruleCreate(c *fiber.Ctx) error {
	r, errs, actions, group := ruleFromForm(c, rules.Rule{})
	f := cn.newRuleForm()
	f.New, f.Rule, f.Actions, f.Group = true, r, actions, group
	if len(errs) > 0 {
		f.Errors = errs
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	res, err := cn.svc.Rules.CreateRule(c.UserContext(), r)
	if err != nil {
		if f.Errors, err = saveErrors(err); err != nil {
			return err
		}
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	msg := "Rule saved as a draft. Add test cases, then publish the ruleset."
	if len(res.Warnings) > 0 {
		msg += fmt.Sprintf(" %d lint warnings.", len(res.Warnings))
	}
	cn.flash(c, "ok", msg)
	return redirectTo(c, "/rules/"+res.Rule.Rule.ID)
}

func (cn *Console) ruleSave(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	f, err := cn.loadRuleForm(c, id)
	if err != nil {
		return err
	}
	expect, err := strconv.Atoi(c.FormValue("version"))
	if err != nil {
		return apperr.Invalid("invalid form", apperr.FieldError{Field: "version", Message: "reload the page and try again"})
	}
	r, errs, actions, group := ruleFromForm(c, f.Rule)
	f.Rule, f.Actions, f.Group = r, actions, group
	if len(errs) > 0 {
		f.Errors = errs
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	res, err := cn.svc.Rules.UpdateRule(c.UserContext(), id, expect, r)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindConflict {
			return err
		}
		if f.Errors, err = saveErrors(err); err != nil {
			return err
		}
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	msg := "Draft saved."
	if len(res.Warnings) > 0 {
		msg += fmt.Sprintf(" %d lint warnings.", len(res.Warnings))
	}
	cn.flash(c, "ok", msg)
	return redirectTo(c, "/rules/"+id)
}

func (cn *Console) ruleDelete(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	expect, _ := strconv.Atoi(c.FormValue("version"))
	if err := cn.svc.Rules.DeleteRule(c.UserContext(), id, expect); err != nil {
		return err
	}
	cn.flash(c, "ok", "Rule "+id+" deleted from the draft; publish to remove it from the live ruleset.")
	return redirectTo(c, "/rules")
}

// ruleValidate answers the editor's live validation (htmx, on typing).
func (cn *Console) ruleValidate(c *fiber.Ctx) error {
	when := strings.ReplaceAll(utils.CopyString(c.FormValue("when")), "\r\n", "\n")
	if len(when) > 20000 {
		return apperr.TooLarge(20000)
	}
	wc, err := cn.checkWhen(c, when, splitFormList(c.FormValue("event_types")))
	if err != nil {
		return err
	}
	f := cn.newRuleForm()
	f.Check = wc
	return cn.render(c, fiber.StatusOK, "rule", cn.page(c, "Rule", "rules", f), "check")
}

func (cn *Console) rulesEnv(c *fiber.Ctx) error {
	data := cn.page(c, "Rule reference", "rules", rules.DescribeEnv())
	if isHTMX(c) {
		return cn.render(c, fiber.StatusOK, "env", data, "reference")
	}
	return cn.render(c, fiber.StatusOK, "env", data)
}

// ruleRunTests runs one rule's test cases against the draft ruleset and
// shows the results (an htmx fragment on the editor).
func (cn *Console) ruleRunTests(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	rep, err := cn.svc.Rules.TestDrafts(c.UserContext(), id)
	if err != nil {
		return err
	}
	f, err := cn.loadRuleForm(c, id)
	if err != nil {
		return err
	}
	f.Results = rep.Tests
	for _, d := range rep.Errors {
		if d.Rule == id || d.Rule == "" {
			f.Errors["tests"] = d.Message
		}
	}
	if isHTMX(c) {
		return cn.render(c, fiber.StatusOK, "rule", cn.page(c, "Rule "+id, "rules", f), "results")
	}
	return cn.renderRule(c, fiber.StatusOK, f)
}

// ruleAddTest adds a test case to a draft rule: a name, the expectation
// and an input (YAML or JSON with the canonical field names).
func (cn *Console) ruleAddTest(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	f, err := cn.loadRuleForm(c, id)
	if err != nil {
		return err
	}
	tf := formValues(c, "test_name", "expect_match", "expect_category", "expect_severity", "expect_primary")
	input := utils.CopyString(c.FormValue("test_input"))
	f.TestForm, f.TestInput = tf, input
	tc := rules.TestCase{Name: tf["test_name"], Expect: rules.Expectation{Category: tf["expect_category"], Severity: rules.Severity(tf["expect_severity"])}}
	switch tf["expect_match"] {
	case "true", "false":
		m := tf["expect_match"] == "true"
		tc.Expect.Match = &m
	default:
		f.TestErrs["expect_match"] = "say whether the rule should match"
	}
	if p, ok := c.Request().PostArgs().Peek("expect_primary"), c.Request().PostArgs().Has("expect_primary"); ok && len(p) > 0 {
		v := tf["expect_primary"]
		if v == "(none)" {
			v = ""
		}
		tc.Expect.Primary = &v
	}
	if len(input) > 64<<10 {
		f.TestErrs["test_input"] = "at most 64 KiB"
	} else if err := yaml.Unmarshal([]byte(input), &tc.Input); err != nil {
		f.TestErrs["test_input"] = "not a valid input: " + err.Error()
	} else if tc.Input.Event == nil {
		f.TestErrs["test_input"] = "needs an event"
	}
	if len(f.TestErrs) > 0 {
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	r := f.Rule
	r.Tests = append(append([]rules.TestCase(nil), r.Tests...), tc)
	if _, err := cn.svc.Rules.UpdateRule(c.UserContext(), id, f.Rule.Version, r); err != nil {
		es, err := saveErrors(err)
		if err != nil {
			return err
		}
		for k, v := range es {
			f.TestErrs["test_input"] += k + ": " + v + " "
		}
		return cn.renderRule(c, fiber.StatusUnprocessableEntity, f)
	}
	cn.flash(c, "ok", "Test case added.")
	return redirectTo(c, "/rules/"+id+"#tests")
}

func (cn *Console) ruleDeleteTest(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	f, err := cn.loadRuleForm(c, id)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 0 || n >= len(f.Rule.Tests) {
		return apperr.NotFound(fmt.Sprintf("test case %s of rule %s", c.Params("n"), id), nil)
	}
	r := f.Rule
	r.Tests = append(append([]rules.TestCase(nil), r.Tests[:n]...), r.Tests[n+1:]...)
	if _, err := cn.svc.Rules.UpdateRule(c.UserContext(), id, f.Rule.Version, r); err != nil {
		return err
	}
	cn.flash(c, "ok", "Test case removed.")
	return redirectTo(c, "/rules/"+id+"#tests")
}

// rulesetPublish publishes the drafts as a new version (pending approval
// when four-eyes is on). A failing test or an error blocks it; the list
// page then shows why.
func (cn *Console) rulesetPublish(c *fiber.Ctx) error {
	note := strings.TrimSpace(utils.CopyString(c.FormValue("note")))
	res, err := cn.svc.Rules.Publish(c.UserContext(), note)
	if err != nil {
		var pe *rules.PublishError
		if errors.As(err, &pe) {
			m, lerr := cn.rulesModel(c)
			if lerr != nil {
				return lerr
			}
			m.Report = pe.Report
			return cn.render(c, fiber.StatusUnprocessableEntity, "rules", cn.page(c, "Rules", "rules", m))
		}
		return err
	}
	v := res.Version
	if v.Status == rules.StatusPending {
		cn.flash(c, "ok", fmt.Sprintf("Version %d is waiting for approval by another publisher.", v.Version))
	} else {
		cn.flash(c, "ok", fmt.Sprintf("Published version %d; every process switches to it within seconds.", v.Version))
	}
	return redirectTo(c, "/ruleset/versions")
}

// versionsModel is the version history.
type versionsModel struct {
	Versions []*rules.Version
	FourEyes bool
}

func (cn *Console) versionsPage(c *fiber.Ctx) error {
	vs, err := cn.svc.Rules.Versions(c.UserContext(), 100)
	if err != nil {
		return err
	}
	return cn.render(c, fiber.StatusOK, "versions", cn.page(c, "Ruleset versions", "rules", versionsModel{Versions: vs, FourEyes: cn.svc.Rules.FourEyes()}))
}

// versionModel is one version with its diff against another.
type versionModel struct {
	Version *rules.Version
	Diff    *rules.Diff
	Against string
}

func (cn *Console) versionPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	which := utils.CopyString(c.Params("v"))
	v, err := cn.svc.Rules.GetVersion(ctx, which)
	if err != nil {
		return err
	}
	against := c.Query("against")
	if against == "" {
		against = strconv.FormatInt(v.BaseVersion, 10)
		if v.BaseVersion == 0 {
			against = ""
		}
	}
	m := versionModel{Version: v, Against: against}
	if against != "" {
		if m.Diff, err = cn.svc.Rules.Diff(ctx, against, strconv.FormatInt(v.Version, 10)); err != nil {
			return err
		}
	}
	return cn.render(c, fiber.StatusOK, "version", cn.page(c, fmt.Sprintf("Ruleset version %d", v.Version), "rules", m))
}

func parseVersion(c *fiber.Ctx) (int64, error) {
	n, err := strconv.ParseInt(c.Params("v"), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.NotFound("ruleset version "+c.Params("v"), nil)
	}
	return n, nil
}

func (cn *Console) versionDecide(approve bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		n, err := parseVersion(c)
		if err != nil {
			return err
		}
		note := strings.TrimSpace(utils.CopyString(c.FormValue("note")))
		if approve {
			_, err = cn.svc.Rules.Approve(c.UserContext(), n, note)
		} else {
			_, err = cn.svc.Rules.Reject(c.UserContext(), n, note)
		}
		if err != nil {
			return err
		}
		if approve {
			cn.flash(c, "ok", fmt.Sprintf("Version %d approved and published.", n))
		} else {
			cn.flash(c, "ok", fmt.Sprintf("Version %d rejected.", n))
		}
		return redirectTo(c, "/ruleset/versions")
	}
}

func (cn *Console) versionRollback(c *fiber.Ctx) error {
	n, err := parseVersion(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(utils.CopyString(c.FormValue("note")))
	v, err := cn.svc.Rules.Rollback(c.UserContext(), n, note, c.FormValue("reset_drafts") == "true")
	if err != nil {
		return err
	}
	cn.flash(c, "ok", fmt.Sprintf("Version %d republished as version %d.", n, v.Version))
	return redirectTo(c, "/ruleset/versions")
}

// backtestsModel is the backtest list and start form.
type backtestsModel struct {
	Runs   []*rules.BacktestRun
	Form   map[string]string
	Errors map[string]string
}

func (cn *Console) renderBacktests(c *fiber.Ctx, status int, m backtestsModel) error {
	runs, err := cn.svc.Rules.ListBacktests(c.UserContext(), 50)
	if err != nil {
		return err
	}
	m.Runs = runs
	if m.Form == nil {
		now := cn.now().UTC()
		m.Form = map[string]string{"from": now.Add(-7 * 24 * time.Hour).Format("2006-01-02T15:04"), "to": now.Add(time.Hour).Truncate(time.Hour).Format("2006-01-02T15:04"),
			"baseline": "active", "candidate": "draft"}
	}
	return cn.render(c, status, "backtests", cn.page(c, "Backtests", "rules", m))
}

func (cn *Console) backtestsPage(c *fiber.Ctx) error {
	return cn.renderBacktests(c, fiber.StatusOK, backtestsModel{})
}

func (cn *Console) backtestStart(c *fiber.Ctx) error {
	f := formValues(c, "from", "to", "baseline", "candidate")
	errs := map[string]string{}
	req := rules.BacktestRequest{Baseline: f["baseline"], Candidate: f["candidate"], MaxExamples: 200}
	for _, k := range []string{"from", "to"} {
		if f[k] == "" {
			continue
		}
		t, err := parseFormTime(f[k])
		if err != nil {
			errs[k] = "a date and time such as 2026-11-20T00:00"
			continue
		}
		if k == "from" {
			req.From = t
		} else {
			req.To = t
		}
	}
	if len(errs) > 0 {
		return cn.renderBacktests(c, fiber.StatusUnprocessableEntity, backtestsModel{Form: f, Errors: errs})
	}
	run, err := cn.svc.Rules.StartBacktest(c.UserContext(), cn.svc.Queue, req)
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		return cn.renderBacktests(c, fiber.StatusUnprocessableEntity, backtestsModel{Form: f, Errors: fe})
	}
	return redirectTo(c, "/ruleset/backtests/"+run.ID)
}

func (cn *Console) backtestPage(c *fiber.Ctx) error {
	run, err := cn.svc.Rules.GetBacktest(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	data := cn.page(c, "Backtest "+run.ID, "rules", run)
	if isHTMX(c) && c.Get("HX-Target") == "backtest" {
		return cn.render(c, fiber.StatusOK, "backtest", data, "poll")
	}
	return cn.render(c, fiber.StatusOK, "backtest", data)
}

func (cn *Console) backtestCancel(c *fiber.Ctx) error {
	run, err := cn.svc.Rules.CancelBacktest(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Cancelling the backtest.")
	return redirectTo(c, "/ruleset/backtests/"+run.ID)
}
