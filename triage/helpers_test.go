package triage_test

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a real pipeline: intake, the rules service with the starter
// ruleset (plus the test rules), and triage chained after rules.
type env struct {
	t     *testing.T
	db    *db.DB
	clk   *clock
	pipe  *intake.Pipeline
	rules *rules.Service
	svc   *triage.Service
	ctx   context.Context
}

// testRules are added to the starter ruleset.
const testRules = `format: yardmaster.rules/v1
rules:
  - id: test_damage_reschedule
    name: Damaged with a replacement picking
    priority: 50
    event_types: [reason:damaged]
    when: event.attributes.test_reschedule == true
    category: damage_reschedule
    severity: high
    queue: claims
    sla: {respond_by: 4h, resolve_by: 1d}
    actions:
      - type: reschedule_picking
        params: {date: "2026-12-01", reason: "replacement for {{ event.trackingNumber }}"}
      - type: post_note
        params: {body: "Damaged parcel {{ event.trackingNumber }}"}
  - id: test_min_count
    name: Missed connections twice
    priority: 60
    event_types: [reason:missed_connection]
    when: "true"
    category: repeated_missed_connection
    severity: low
    group: {keys: [shipment.id], min_count: 2, window: 2h}
`

var start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // a Monday

func newEnv(t *testing.T, d *db.DB, policy *triage.Policy) *env {
	t.Helper()
	clk := &clock{t: start}
	ctx := context.Background()
	pipe := intake.NewPipeline(d, intake.PipelineOptions{Now: clk.Now, MaxWait: time.Millisecond})
	t.Cleanup(pipe.Close)
	rs := rules.New(d, rules.Options{Now: clk.Now, AllowUntested: true})
	if err := rs.Init(ctx); err != nil {
		t.Fatalf("rules init: %v", err)
	}
	extra, err := rules.ParseYAML([]byte(testRules))
	if err != nil {
		t.Fatalf("parse test rules: %v", err)
	}
	if _, err := rs.Import(ctx, extra, false); err != nil {
		t.Fatalf("import test rules: %v", err)
	}
	if _, err := rs.Publish(ctx, "test rules"); err != nil {
		t.Fatalf("publish test rules: %v", err)
	}
	if err := rs.Refresh(ctx); err != nil {
		t.Fatalf("refresh rules: %v", err)
	}
	key, _ := secretbox.ParseKey(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	box, _ := secretbox.New(key)
	opts := triage.Options{DB: d, Now: clk.Now, Box: box, Events: pipe}
	if policy != nil {
		opts.Policy = *policy
	}
	svc, err := triage.New(opts)
	if err != nil {
		t.Fatalf("triage: %v", err)
	}
	rs.SetNext(svc.AfterRules)
	pipe.AddStage(rs.Stage(nil))
	pipe.AddStage(svc.Committer())
	return &env{t: t, db: d, clk: clk, pipe: pipe, rules: rs, svc: svc, ctx: ctx}
}

// ev builds a canonical event for carrier ups and tracking number tn.
type evOpt func(*intake.Event)

func withReason(r string) evOpt {
	return func(e *intake.Event) { e.Exception = &intake.Exception{Reason: intake.Reason(r)} }
}
func withStatus(s string) evOpt { return func(e *intake.Event) { e.Status = intake.Status(s) } }
func withAttr(k string, v any) evOpt {
	return func(e *intake.Event) {
		if e.Attributes == nil {
			e.Attributes = map[string]any{}
		}
		e.Attributes[k] = v
	}
}
func withOrder(o string) evOpt   { return func(e *intake.Event) { e.OrderRef = o } }
func withPicking(p string) evOpt { return func(e *intake.Event) { e.PickingRef = p } }
func withCarrier(c string) evOpt { return func(e *intake.Event) { e.Carrier = c } }
func withLane(o, d string) evOpt {
	return func(e *intake.Event) { e.OriginCountry, e.DestinationCountry = o, d }
}

// send submits one event now and returns its result.
func (e *env) send(tn string, opts ...evOpt) intake.EventResult {
	e.t.Helper()
	ev := &intake.Event{Carrier: "ups", TrackingNumber: tn, OccurredAt: e.clk.Now().Add(-time.Minute), TZKnown: true,
		Status: intake.StatusInTransit}
	for _, o := range opts {
		o(ev)
	}
	res, err := e.pipe.SubmitEvents(e.ctx, "test", []*intake.Event{ev})
	if err != nil {
		e.t.Fatalf("submit event: %v", err)
	}
	return res.Events[0]
}

// as returns a context acting as a principal.
func as(p auth.Principal) context.Context {
	ctx := auth.WithPrincipal(context.Background(), p)
	return audit.WithActor(ctx, audit.Actor{Type: p.Kind, ID: p.ID, Name: p.Name})
}

func (e *env) user(name string, role auth.Role, team string) (auth.User, context.Context) {
	e.t.Helper()
	u, err := auth.CreateUser(e.ctx, e.db, e.clk.Now(), auth.UserSpec{Username: name, Role: role, Team: team, Password: "a long test password"})
	if err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	return u, as(u.Principal())
}

func (e *env) get(id string) *triage.Case {
	e.t.Helper()
	c, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get case %s: %v", id, err)
	}
	return c
}

func (e *env) detail(id string) *triage.Detail {
	e.t.Helper()
	d, err := e.svc.GetDetail(e.ctx, id)
	if err != nil {
		e.t.Fatalf("detail of case %s: %v", id, err)
	}
	return d
}

func (e *env) verifyAudit() {
	e.t.Helper()
	res, err := audit.Verify(e.ctx, e.db.Read)
	if err != nil {
		e.t.Fatalf("audit verify: %v", err)
	}
	if !res.OK {
		e.t.Fatalf("audit chain broken: %s", res.String())
	}
}

// jobs returns the outbox jobs of a type that are not done.
func (e *env) jobs(taskType string) []string {
	e.t.Helper()
	var keys []string
	if err := e.db.NewSelect().Table("outbox").Column("id").Where("task_type = ?", taskType).Where("done_at IS NULL").
		OrderExpr("id").Scan(e.ctx, &keys); err != nil {
		e.t.Fatalf("outbox: %v", err)
	}
	return keys
}

// payload returns the payload of an outbox job.
func (e *env) payload(key string) []byte {
	e.t.Helper()
	var p []byte
	if err := e.db.NewSelect().Table("outbox").Column("payload").Where("id = ?", key).Scan(e.ctx, &p); err != nil {
		e.t.Fatalf("outbox payload: %v", err)
	}
	return p
}

// delivery builds the queue delivery of an outbox job for a direct
// handler call.
func (e *env) delivery(key string, attempt, maxRetry int) queue.Delivery {
	var row struct {
		TaskType string `bun:"task_type"`
		Payload  []byte `bun:"payload"`
	}
	if err := e.db.NewSelect().Table("outbox").Column("task_type", "payload").Where("id = ?", key).Scan(e.ctx, &row); err != nil {
		e.t.Fatalf("outbox row %s: %v", key, err)
	}
	return queue.Delivery{ID: key, Type: row.TaskType, Payload: row.Payload, Attempt: attempt, MaxRetry: maxRetry}
}

func auditActions(t *testing.T, idb bun.IDB, subjectType, id string) []string {
	t.Helper()
	es, err := audit.ForSubject(context.Background(), idb, subjectType, id)
	if err != nil {
		t.Fatalf("audit of %s %s: %v", subjectType, id, err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Action
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func hasField(err error, field string) bool {
	e, ok := apperr.As(err)
	if !ok {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}
