package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/odoo/odootest"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// scenarioRules adds an analyst's rule to the starter ruleset: carrier
// issues reported through the carrier hub become one case per shipment
// whose severity follows the worst report, with a chatter note on the
// order suggested.
const scenarioRules = `format: yardmaster.rules/v1
rules:
  - id: carrier_issue_note
    name: Carrier issue, note the order
    owner: exceptions-team
    priority: 190
    event_types: [reason:delayed, reason:damaged]
    when: event.source == "carrier-hub" && event.exceptionCategory == "carrier"
    category: carrier_issue
    severity: medium
    severity_expr: 'event.reason == "damaged" ? "critical" : "medium"'
    queue: carrier-claims
    sla: {respond_by: 4h, resolve_by: 2d}
    actions:
      - type: post_note
        params:
          body: "Yardmaster: carrier {{ event.carrier }} reports a problem with {{ event.trackingNumber }}."
    tests:
      - name: delay
        input:
          event: {id: ev-t1, source: carrier-hub, carrier: ups, tracking_number: 1ZT1, status: in_transit, exception: {reason: delayed, category: carrier, severity: warning, action_required: false}, occurred_at: "2026-03-04T10:00:00Z", received_at: "2026-03-04T10:05:00Z", tz_known: true, physical: true}
        expect: {match: true, category: carrier_issue, severity: medium}
      - name: damage
        input:
          event: {id: ev-t2, source: carrier-hub, carrier: ups, tracking_number: 1ZT2, status: in_transit, exception: {reason: damaged, category: carrier, severity: critical, action_required: true}, occurred_at: "2026-03-04T10:00:00Z", received_at: "2026-03-04T10:05:00Z", tz_known: true, physical: true}
        expect: {match: true, severity: critical}
      - name: customs is someone else's
        input:
          event: {id: ev-t3, source: carrier-hub, carrier: ups, tracking_number: 1ZT3, status: in_transit, exception: {reason: customs_hold, category: customs, severity: warning, action_required: false}, occurred_at: "2026-03-04T10:00:00Z", received_at: "2026-03-04T10:05:00Z", tz_known: true, physical: true}
        expect: {match: false}
`

// trClient talks to a running app over HTTP as one principal.
type trClient struct {
	t     *testing.T
	base  string
	token string
}

func (c trClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// must calls and decodes, failing unless the status is want.
func (c trClient) must(method, path string, body any, want int, out any) {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

func trUser(t *testing.T, r *apptest.Running, name string, role auth.Role) (auth.User, trClient) {
	t.Helper()
	ctx := context.Background()
	u, err := auth.CreateUser(ctx, r.DB, time.Now(), auth.UserSpec{Username: name, Role: role, Password: "a long test password"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: name, Role: role, UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	return u, trClient{t: t, base: r.URL, token: tok}
}

// carrierHook posts signed Standard Webhooks to a source.
type carrierHook struct {
	t              *testing.T
	url, secret, n string
	seq            int
}

func (h *carrierHook) send(ev map[string]any) intake.Receipt {
	h.t.Helper()
	h.seq++
	ev["source_event_id"] = fmt.Sprintf("%s-%d", h.n, h.seq)
	body, _ := json.Marshal(ev)
	id := fmt.Sprintf("msg_%s_%d", h.n, h.seq)
	now := time.Now()
	sig, err := triage.SignWebhook(h.secret, id, now, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", h.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		h.t.Fatalf("webhook = %d: %s", resp.StatusCode, b)
	}
	var rec intake.Receipt
	if err := json.Unmarshal(b, &rec); err != nil {
		h.t.Fatal(err)
	}
	return rec
}

// setupScenario publishes the scenario rule and registers a carrier source.
func setupScenario(t *testing.T, a *app.App, baseURL string) *carrierHook {
	t.Helper()
	ctx := audit.WithActor(context.Background(), audit.Actor{Type: "user", ID: "analyst", Name: "analyst"})
	rs, err := rules.ParseYAML([]byte(scenarioRules))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rules.Import(ctx, rs, false); err != nil {
		t.Fatalf("import rule: %v", err)
	}
	if _, err := a.Rules.Publish(ctx, "carrier issue rule"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := a.Rules.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	src, err := a.Intake.Registry.Add(ctx, intake.AddSource{Name: "carrier-hub", Kind: intake.KindStandard})
	if err != nil {
		t.Fatal(err)
	}
	return &carrierHook{t: t, url: baseURL + "/v1/webhooks/carrier-hub", secret: src.Secret, n: fmt.Sprint(time.Now().UnixNano())}
}

func waitMirror(t *testing.T, r *apptest.Running) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		last, err := r.Odoo.LastSync(context.Background())
		if err == nil && !last.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Odoo mirror never synced (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitAction(t *testing.T, c trClient, id string, state triage.ActionState) triage.Action {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var a triage.Action
		c.must("GET", "/api/v1/actions/"+id, nil, 200, &a)
		if a.State == state {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s is %s (last error %q), want %s", id, a.State, a.LastError, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func odooConfig(cfg config.Config, odooURL string, srv *odootest.Server) config.Config {
	cfg.OdooURL, cfg.OdooDB, cfg.OdooUser, cfg.OdooAPIKey = odooURL, srv.DB(), srv.Login(), srv.APIKey()
	cfg.OdooSyncInterval, cfg.OdooTicketProjectID, cfg.OdooRateLimit = time.Second, 2, 100
	return cfg
}

// TestTriageScenario is the acceptance scenario over real HTTP on both
// backends: carrier events open a case, a second one escalates it, a
// manager acknowledges, four-eyes and roles hold, a rule-suggested action
// is approved and executed by the worker against the Odoo emulator,
// delivery resolves the case, the audit trail shows every step and
// verifies — and editing one audit row makes verification name it.
func TestTriageScenario(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		srv := odootest.New(t)
		demo := srv.Demo()
		r := apptest.Start(t, odooConfig(cfg, srv.URL(), srv))
		waitMirror(t, r)
		hook := setupScenario(t, r.App, r.URL)
		_, admin := trUser(t, r, "root", auth.RoleAdmin)
		_, mia := trUser(t, r, "mia", auth.RoleManager)
		_, max := trUser(t, r, "max", auth.RoleManager)
		_, vic := trUser(t, r, "vic", auth.RoleViewer)
		acc, accC := trUser(t, r, "acc", auth.RoleAccount)

		ev := func(reason, status string) map[string]any {
			m := map[string]any{"carrier": "ups", "tracking_number": demo.TrackingRef, "status": status,
				"occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), "picking_ref": demo.PickingName}
			if reason != "" {
				m["reason"] = reason
			}
			return m
		}
		// 1. A carrier delay opens a case.
		rec := hook.send(ev("delayed", "in_transit"))
		caseID := rec.Events[0].CaseID
		if caseID == "" {
			t.Fatalf("no case in the receipt: %+v", rec)
		}
		var det triage.Detail
		mia.must("GET", "/api/v1/cases/"+caseID, nil, 200, &det)
		if det.Case.Category != "carrier_issue" || det.Case.Severity != rules.SeverityMedium || det.Case.OrderRef != demo.OrderName ||
			det.Case.CustomerID != fmt.Sprint(demo.CustomerID) {
			t.Fatalf("opened case = %s %s order %q customer %q", det.Case.Category, det.Case.Severity, det.Case.OrderRef, det.Case.CustomerID)
		}
		// 2. A second event escalates it.
		rec = hook.send(ev("damaged", "in_transit"))
		if rec.Events[0].CaseID != caseID {
			t.Fatalf("second event went to %q", rec.Events[0].CaseID)
		}
		mia.must("GET", "/api/v1/cases/"+caseID, nil, 200, &det)
		if det.Case.Severity != rules.SeverityCritical || len(det.Evaluations) != 2 {
			t.Fatalf("after escalation: %s, %d evaluations", det.Case.Severity, len(det.Evaluations))
		}
		var page triage.Page
		vic.must("GET", "/api/v1/cases?severity=critical&q="+url.QueryEscape(demo.TrackingRef[len(demo.TrackingRef)-4:]), nil, 200, &page)
		if len(page.Cases) != 1 || page.Cases[0].ID != caseID {
			t.Fatalf("viewer's filtered search found %d cases", len(page.Cases))
		}
		// Account users read only their customers' cases.
		if code, _ := accC.do("GET", "/api/v1/cases/"+caseID, nil); code != 404 {
			t.Fatalf("unmapped account user read the case: %d", code)
		}
		admin.must("PUT", "/api/v1/users/"+acc.ID+"/customers", map[string]any{"customer_ids": []string{fmt.Sprint(demo.CustomerID)}}, 200, nil)
		accC.must("GET", "/api/v1/cases/"+caseID, nil, 200, nil)
		if code, _ := accC.do("POST", "/api/v1/cases/"+caseID+"/acknowledge", nil); code != 403 {
			t.Fatalf("account user changed a case: %d", code)
		}
		// 3. A manager acknowledges.
		var c triage.Case
		mia.must("POST", "/api/v1/cases/"+caseID+"/acknowledge", nil, 200, &c)
		if c.State != triage.StateAcknowledged {
			t.Fatalf("state %s", c.State)
		}
		// 4. Four-eyes on a reschedule: the proposer cannot approve, a
		// viewer cannot, another manager can.
		var resched triage.Action
		mia.must("POST", "/api/v1/cases/"+caseID+"/actions", map[string]any{"type": "reschedule_picking",
			"params": map[string]string{"scheduled_date": time.Now().UTC().Add(72 * time.Hour).Truncate(time.Second).Format(time.RFC3339), "reason": "replacement parcel"}}, 201, &resched)
		if code, b := mia.do("POST", "/api/v1/actions/"+resched.ID+"/approve", map[string]string{}); code != 403 {
			t.Fatalf("proposer approved: %d %s", code, b)
		}
		if code, _ := vic.do("POST", "/api/v1/actions/"+resched.ID+"/approve", nil); code != 403 {
			t.Fatalf("viewer approved: %d", code)
		}
		var pv triage.Action
		max.must("POST", "/api/v1/actions/"+resched.ID+"/preview", nil, 200, &pv)
		max.must("POST", "/api/v1/actions/"+resched.ID+"/approve", map[string]string{"note": "ok"}, 200, nil)
		// 5. The rule's suggested note, approved by a manager, runs in the worker.
		mia.must("GET", "/api/v1/cases/"+caseID, nil, 200, &det)
		var note *triage.Action
		for _, a := range det.Actions {
			if a.Type == "post_note" && a.Origin == triage.OriginRule {
				note = a
			}
		}
		if note == nil {
			t.Fatalf("the rule proposed no note: %+v", det.Actions)
		}
		mia.must("POST", "/api/v1/actions/"+note.ID+"/approve", nil, 200, nil)
		done := waitAction(t, mia, note.ID, triage.ActionSucceeded)
		waitAction(t, mia, resched.ID, triage.ActionSucceeded)
		msgs, err := srv.Records("mail.message", []any{[]any{"body", "ilike", done.IdempotencyKey}}, "body", "model", "res_id")
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Odoo has %d notes with the marker (%v)", len(msgs), err)
		}
		if !strings.Contains(fmt.Sprint(msgs[0]["body"]), "reports a problem with "+demo.TrackingRef) {
			t.Errorf("note body = %v", msgs[0]["body"])
		}
		picks, _ := srv.Records("stock.picking", []any{[]any{"id", "=", demo.PickingID}}, "scheduled_date")
		if len(picks) != 1 || !strings.HasPrefix(fmt.Sprint(picks[0]["scheduled_date"]), time.Now().UTC().Add(72*time.Hour).Format("2006-01-02")) {
			t.Errorf("picking after reschedule = %v", picks)
		}
		// 6. Delivery resolves the case.
		hook.send(ev("", "delivered"))
		mia.must("GET", "/api/v1/cases/"+caseID, nil, 200, &det)
		if det.Case.State != triage.StateResolved || det.Case.CloseReason != "delivered" {
			t.Fatalf("after delivery: %s %s", det.Case.State, det.Case.CloseReason)
		}
		// 7. The audit trail shows every step and verifies.
		var steps []string
		for _, e := range det.Audit {
			steps = append(steps, e.Action)
		}
		for _, want := range []string{"case.opened", "case.escalated", "case.acknowledged", "action.proposed", "action.approved",
			"action.executing", "odoo.call", "action.succeeded", "odoo.preview", "case.resolved"} {
			if !contains(steps, want) {
				t.Errorf("audit lacks %s: %v", want, steps)
			}
		}
		var vr audit.VerifyResult
		admin.must("POST", "/api/v1/audit/verify", nil, 200, &vr)
		if !vr.OK {
			t.Fatalf("audit verify: %+v", vr)
		}
		// 8. Someone with database access edits one entry: verify names it.
		target := det.Audit[len(det.Audit)/2]
		tamper(t, r.App, target.Seq)
		admin.must("POST", "/api/v1/audit/verify", nil, 200, &vr)
		if vr.OK || vr.Broken == nil || vr.Broken.Seq != target.Seq || vr.Broken.ID != target.ID {
			t.Fatalf("verify after tampering with %d: %+v", target.Seq, vr)
		}
	})
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// tamper changes one audit entry the way an attacker with database access
// would: past the append-only triggers.
func tamper(t *testing.T, a *app.App, seq int64) {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	if a.DB.IsPostgres() {
		stmts = []string{"ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
			fmt.Sprintf("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = %d", seq),
			"ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"}
	} else {
		stmts = []string{"DROP TRIGGER audit_log_no_update", fmt.Sprintf("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = %d", seq)}
	}
	for _, s := range stmts {
		if _, err := a.DB.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// holdProxy forwards to Odoo and, when armed, holds the answer to the
// first message_post after Odoo has executed it, so a test can kill the
// worker between Odoo's commit and the worker's.
type holdProxy struct {
	mu       sync.Mutex
	armed    bool
	executed chan struct{}
	release  chan struct{}
}

func newHoldProxy(t *testing.T, target string) (*httptest.Server, *holdProxy) {
	t.Helper()
	u, _ := url.Parse(target)
	h := &holdProxy{executed: make(chan struct{}), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.mu.Lock()
		hold := h.armed && bytes.Contains(body, []byte("message_post"))
		if hold {
			h.armed = false
		}
		h.mu.Unlock()
		if !hold {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r) // Odoo executes and answers
		close(h.executed)
		select { // the worker never gets the answer
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		srv.Close()
	})
	return srv, h
}

// childEnv is the environment of the worker child process.
const childEnv = "YARDMASTER_TRIAGE_CHILD"

// TestTriageWorkerChild is the worker process of
// TestActionExactlyOnceAcrossWorkerKill; it does nothing unless started
// by it.
func TestTriageWorkerChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as the child of TestActionExactlyOnceAcrossWorkerKill")
	}
	cfg, err := config.Load(os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), app.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	go func() { fmt.Println("CHILD READY", (<-ready).String()) }()
	if err := a.Run(context.Background(), ready); err != nil {
		t.Fatal(err)
	}
}

// TestActionExactlyOnceAcrossWorkerKill approves an action, lets a worker
// process start it, and kills that process (SIGKILL) after Odoo has made
// the change but before the worker recorded it. A new process finishes
// the action through the same idempotency key: Odoo has the note once.
func TestActionExactlyOnceAcrossWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	srv := odootest.New(t)
	demo := srv.Demo()
	proxy, hold := newHoldProxy(t, srv.URL())
	cfg := odooConfig(apptest.TestConfig(t), proxy.URL, srv)
	dataDir := cfg.DataDir

	// An API-only process: the case, the rule's proposal, the approval.
	cfgAPI := cfg
	cfgAPI.Role = "api"
	r := apptest.Start(t, cfgAPI)
	hook := setupScenario(t, r.App, r.URL)
	_, mia := trUser(t, r, "mia", auth.RoleManager)
	rec := hook.send(map[string]any{"carrier": "ups", "tracking_number": demo.TrackingRef, "status": "in_transit", "reason": "delayed",
		"occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})
	var det triage.Detail
	mia.must("GET", "/api/v1/cases/"+rec.Events[0].CaseID, nil, 200, &det)
	if len(det.Actions) != 1 {
		t.Fatalf("proposals: %+v", det.Actions)
	}
	note := det.Actions[0]
	mia.must("POST", "/api/v1/actions/"+note.ID+"/approve", nil, 200, nil)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	// A worker process picks the job up; Odoo executes; kill it.
	hold.mu.Lock()
	hold.armed = true
	hold.mu.Unlock()
	child := exec.Command(os.Args[0], "-test.run=^TestTriageWorkerChild$", "-test.v")
	child.Env = append(os.Environ(), childEnv+"=1", "YARDMASTER_ROLE=worker", "YARDMASTER_ADDR=127.0.0.1:0",
		"YARDMASTER_DATA_DIR="+dataDir, "YARDMASTER_ODOO_URL="+proxy.URL, "YARDMASTER_ODOO_DB="+srv.DB(),
		"YARDMASTER_ODOO_USER="+srv.Login(), "YARDMASTER_ODOO_API_KEY="+srv.APIKey(), "YARDMASTER_ODOO_RATE_LIMIT=100",
		"YARDMASTER_ODOO_SYNC_INTERVAL=1h", "YARDMASTER_ADMIN_PASSWORD=admin password for tests")
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.executed:
	case <-time.After(90 * time.Second):
		_ = child.Process.Kill()
		t.Fatalf("the worker never executed the action; output:\n%s", out.String())
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	marker := note.IdempotencyKey
	msgs, _ := srv.Records("mail.message", []any{[]any{"body", "ilike", marker}}, "id")
	if len(msgs) != 1 {
		t.Fatalf("after the kill Odoo has %d notes, want 1 (executed before the kill)", len(msgs))
	}

	// A new process (workers on) finishes the action without a second note.
	r2 := apptest.Start(t, cfg)
	_, mia2 := trUser(t, r2, "mia2", auth.RoleManager)
	a := waitAction(t, mia2, note.ID, triage.ActionSucceeded)
	msgs, _ = srv.Records("mail.message", []any{[]any{"body", "ilike", marker}}, "id")
	if len(msgs) != 1 {
		t.Fatalf("Odoo has %d notes with the marker after the restart, want exactly 1", len(msgs))
	}
	var res triage.Result
	_ = json.Unmarshal(a.Result, &res)
	if !res.Replayed || a.Attempts != 2 {
		t.Errorf("second run: replayed %v attempts %d (%s)", res.Replayed, a.Attempts, a.Result)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "yardmaster.db")); err != nil {
		t.Errorf("data dir: %v", err)
	}
}

// Bad requests to the triage API get problem documents naming the field,
// and change nothing.
func TestTriageAPIRejectsBadInput(t *testing.T) {
	r := apptest.Start(t, apptest.TestConfig(t))
	hook := setupScenario(t, r.App, r.URL)
	_, mia := trUser(t, r, "mia", auth.RoleManager)
	rec := hook.send(map[string]any{"carrier": "ups", "tracking_number": "1ZBAD0001", "status": "in_transit", "reason": "delayed",
		"occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})
	id := rec.Events[0].CaseID
	count := func() int {
		n, err := r.DB.NewSelect().Table("audit_log").Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	before := count()
	for _, tc := range []struct {
		method, path string
		body         any
		raw          string
		status       int
		field        string
	}{
		{"GET", "/api/v1/cases?state=lost", nil, "", 422, "state"},
		{"GET", "/api/v1/cases?sort=random", nil, "", 422, "sort"},
		{"GET", "/api/v1/cases?limit=9999", nil, "", 422, "limit"},
		{"GET", "/api/v1/cases?cursor=zzz", nil, "", 422, "cursor"},
		{"GET", "/api/v1/cases/stats?window=forever", nil, "", 422, "window"},
		{"POST", "/api/v1/cases/" + id + "/snooze", map[string]any{}, "", 422, "until"},
		{"POST", "/api/v1/cases/" + id + "/snooze", map[string]any{"until": "2020-01-01T00:00:00Z"}, "", 422, "until"},
		{"POST", "/api/v1/cases/" + id + "/snooze", map[string]any{"until_next_event": true, "colour": "red"}, "", 422, "colour"},
		{"POST", "/api/v1/cases/" + id + "/dismiss", map[string]any{"reason": "bored"}, "", 422, "reason"},
		{"POST", "/api/v1/cases/" + id + "/assign", map[string]any{"assignee_id": "nobody"}, "", 422, "assignee_id"},
		{"PATCH", "/api/v1/cases/" + id, map[string]any{"severity": "apocalyptic"}, "", 422, "severity"},
		{"POST", "/api/v1/cases/" + id + "/comments", map[string]any{"body": ""}, "", 422, "body"},
		{"POST", "/api/v1/cases/" + id + "/actions", map[string]any{"type": "reschedule_picking", "params": map[string]string{"date": "tomorrow"}}, "", 422, "params.date"},
		{"POST", "/api/v1/cases/" + id + "/actions", map[string]any{"type": "launch_rocket"}, "", 422, "type"},
		{"POST", "/api/v1/cases/bulk", nil, `{"op": "acknowledge", "ids": [`, 400, ""},
		{"POST", "/api/v1/cases/bulk", map[string]any{"op": "acknowledge"}, "", 422, "ids"},
		{"POST", "/api/v1/cases/bulk", map[string]any{"op": "acknowledge", "ids": []string{"not-an-id"}}, "", 422, "ids[0]"},
		{"POST", "/api/v1/webhook-subscriptions", map[string]any{"url": "https://example.com", "events": []string{"*"}}, "", 403, ""},
		{"GET", "/api/v1/cases/01JNOSUCHCASE0000000000000", nil, "", 404, ""},
	} {
		var code int
		var b []byte
		if tc.raw != "" {
			req, _ := http.NewRequest(tc.method, r.URL+tc.path, strings.NewReader(tc.raw))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+mia.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		} else {
			code, b = mia.do(tc.method, tc.path, tc.body)
		}
		if code != tc.status {
			t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.path, code, tc.status, b)
			continue
		}
		var p struct {
			Type   string                   `json:"type"`
			Errors []struct{ Field string } `json:"errors"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Type == "" {
			t.Errorf("%s %s: not a problem document: %s", tc.method, tc.path, b)
			continue
		}
		if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
			t.Errorf("%s %s: errors %+v, want field %s", tc.method, tc.path, p.Errors, tc.field)
		}
	}
	if code, _ := (trClient{t: t, base: r.URL}).do("GET", "/api/v1/cases", nil); code != 401 {
		t.Errorf("anonymous list = %d", code)
	}
	if after := count(); after != before {
		t.Errorf("rejected requests wrote %d audit entries", after-before)
	}
	var c triage.Case
	mia.must("GET", "/api/v1/cases/"+id, nil, 200, &struct{ Case *triage.Case }{&c})
	if c.State != triage.StateOpen || c.Version != 1 {
		t.Errorf("the case changed: %s v%d", c.State, c.Version)
	}
}

// TestAuditVerifyCommandNamesTamperedEntry runs the shipped `yardmaster
// audit verify` over a database that triage wrote: it passes, and after
// one entry is edited in the database it fails naming that entry.
func TestAuditVerifyCommandNamesTamperedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cfg := apptest.TestConfig(t)
	r := apptest.Start(t, cfg)
	hook := setupScenario(t, r.App, r.URL)
	_, mia := trUser(t, r, "mia", auth.RoleManager)
	rec := hook.send(map[string]any{"carrier": "ups", "tracking_number": "1ZCLI0001", "status": "in_transit", "reason": "delayed",
		"occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})
	mia.must("POST", "/api/v1/cases/"+rec.Events[0].CaseID+"/acknowledge", nil, 200, nil)
	entries, err := audit.ForSubject(context.Background(), r.DB, "case", rec.Events[0].CaseID)
	if err != nil || len(entries) < 2 {
		t.Fatalf("case audit: %d entries, %v", len(entries), err)
	}
	target := entries[len(entries)-1]
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "yardmaster")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/yardmaster").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	verify := func() (string, error) {
		cmd := exec.Command(bin, "audit", "verify")
		cmd.Env = append(os.Environ(), "YARDMASTER_DATA_DIR="+cfg.DataDir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("verify before tampering: %v\n%s", err, out)
	}
	d, err := app.OpenDB(context.Background(), cfg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER audit_log_no_update",
		fmt.Sprintf("UPDATE audit_log SET actor_name = 'someone else' WHERE seq = %d", target.Seq)} {
		if _, err := d.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	d.Close()
	out, err := verify()
	if err == nil || !strings.Contains(out, fmt.Sprintf("seq %d (id %s)", target.Seq, target.ID)) {
		t.Fatalf("verify after tampering with seq %d: %v\n%s", target.Seq, err, out)
	}
}

// A bad triage policy stops start-up with a line naming the variable and
// the field; a good one is used.
func TestTriagePolicyFile(t *testing.T) {
	cfg := apptest.TestConfig(t)
	path := filepath.Join(t.TempDir(), "triage.yaml")
	if err := os.WriteFile(path, []byte("four_eyes: [launch_rocket]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TriagePolicy = path
	_, err := app.Open(context.Background(), app.Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "YARDMASTER_TRIAGE_POLICY") || !strings.Contains(err.Error(), "four_eyes") {
		t.Fatalf("bad policy: %v", err)
	}
	if err := os.WriteFile(path, []byte("four_eyes: [reschedule_picking, create_ticket]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	r := apptest.Start(t, cfg)
	if got := r.Triage.Policy().FourEyes; len(got) != 2 {
		t.Errorf("policy four_eyes = %v", got)
	}
}
