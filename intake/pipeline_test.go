package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	d   *db.DB
	clk *clock
	svc *intake.Service
}

func newEnv(t *testing.T, d *db.DB, start time.Time) *env {
	t.Helper()
	box, err := secretbox.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: start}
	reg := intake.NewRegistry(d, box, clk.Now)
	reg.CacheTTL = 0
	svc := intake.NewService(d, reg, intake.ServiceOptions{Now: clk.Now, DefaultRate: 1e9,
		Pipeline: intake.PipelineOptions{MaxBatch: 64, MaxWait: 2 * time.Millisecond}})
	t.Cleanup(svc.Close)
	return &env{d: d, clk: clk, svc: svc}
}

func (e *env) addSource(t *testing.T, name string, kind intake.Kind, secret string) *intake.SourceCreated {
	t.Helper()
	sc, err := e.svc.Registry.Add(context.Background(), intake.AddSource{Name: name, Kind: kind, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func count(t *testing.T, d *db.DB, table string) int {
	t.Helper()
	n, err := d.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/payloads/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func aftershipHeaders(secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("aftership-hmac-sha256", intake.SignAfterShip(secret, body))
	return h
}

func TestWebhookPersistsAndDeduplicates(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
		sc := e.addSource(t, "aftership-eu", intake.KindAfterShip, "")
		body := payload(t, "aftership_tracking_update.json")
		ctx := context.Background()
		rec, err := e.svc.Webhook(ctx, "aftership-eu", aftershipHeaders(sc.Secret, body), body)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Duplicate || len(rec.Events) != 5 || rec.Events[0].Duplicate {
			t.Fatalf("first delivery: %+v", rec)
		}
		again, err := e.svc.Webhook(ctx, "aftership-eu", aftershipHeaders(sc.Secret, body), body)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || len(again.Events) != 5 || !again.Events[2].Duplicate || again.Events[2].ID != rec.Events[2].ID {
			t.Fatalf("replay: %+v", again)
		}
		if n := count(t, d, "intake_events"); n != 5 {
			t.Fatalf("events stored %d", n)
		}
		if n := count(t, d, "intake_payloads"); n != 1 {
			t.Fatalf("payloads stored %d", n)
		}
		// The same history re-sent under a new event id merges per
		// checkpoint: nothing new.
		var w map[string]any
		_ = json.Unmarshal(body, &w)
		w["event_id"] = "second-delivery"
		body2, _ := json.Marshal(w)
		third, err := e.svc.Webhook(ctx, "aftership-eu", aftershipHeaders(sc.Secret, body2), body2)
		if err != nil {
			t.Fatal(err)
		}
		if third.Duplicate || !third.Events[0].Duplicate || !third.Events[4].Duplicate {
			t.Fatalf("merged history: %+v", third)
		}
		if n := count(t, d, "intake_events"); n != 5 {
			t.Fatalf("events after merge %d", n)
		}
		// Read back: event with payload reference, shipment with state.
		se, err := e.svc.Store.GetEvent(ctx, d.Read, rec.Events[3].ID)
		if err != nil {
			t.Fatal(err)
		}
		if se.Event.PayloadID == "" || se.Event.Exception == nil || se.Event.Exception.Reason != "customs_hold" {
			t.Fatalf("stored event %+v", se.Event)
		}
		sh, err := e.svc.Store.GetShipment(ctx, d.Read, se.Event.ShipmentID)
		if err != nil || sh.Status != intake.StatusInTransit || len(sh.OpenExceptions) != 1 {
			t.Fatalf("shipment %+v %v", sh, err)
		}
		evs, err := e.svc.Store.ShipmentEvents(ctx, d.Read, sh.ID, 0)
		if err != nil || len(evs) != 5 {
			t.Fatalf("shipment events %d %v", len(evs), err)
		}
		if _, err := e.svc.Store.GetEvent(ctx, d.Read, "01HNOPE"); apperr.KindOf(err) != apperr.KindNotFound {
			t.Fatalf("missing event: %v", err)
		}
	})
}

func TestConcurrentReplayStoresOnce(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
		sc := e.addSource(t, "as", intake.KindAfterShip, "")
		body := payload(t, "aftership_tracking_update.json")
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		ids := make(chan string, 100)
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec, err := e.svc.Webhook(context.Background(), "as", aftershipHeaders(sc.Secret, body), body)
				if err != nil {
					errs <- err
					return
				}
				ids <- rec.Events[0].ID
			}()
		}
		wg.Wait()
		close(errs)
		close(ids)
		for err := range errs {
			t.Fatal(err)
		}
		first := ""
		for id := range ids {
			if first == "" {
				first = id
			}
			if id != first {
				t.Fatalf("different event ids %s and %s", first, id)
			}
		}
		if n := count(t, d, "intake_events"); n != 5 {
			t.Fatalf("events %d, want 5", n)
		}
		if n := count(t, d, "intake_payloads"); n != 1 {
			t.Fatalf("payloads %d, want 1", n)
		}
		if n := count(t, d, "intake_shipments"); n != 1 {
			t.Fatalf("shipments %d, want 1", n)
		}
	})
}

func canonicalHeaders(token string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+token)
	return h
}

func item(id, status, reason, at string) string {
	s := fmt.Sprintf(`{"source_event_id":%q,"carrier":"ups","tracking_number":"1ZOOO1","occurred_at":%q`, id, at)
	if status != "" {
		s += fmt.Sprintf(`,"status":%q`, status)
	}
	if reason != "" {
		s += fmt.Sprintf(`,"reason":%q`, reason)
	}
	return s + "}"
}

func TestOutOfOrderNeverRegresses(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
		sc := e.addSource(t, "tpl", intake.KindCanonical, "")
		ctx := context.Background()
		// Delivered in reverse order, one request each.
		evs := []string{
			item("e5", "delivered", "", "2026-03-05T10:00:00Z"),
			item("e4", "out_for_delivery", "", "2026-03-05T07:00:00Z"),
			item("e3", "in_transit", "", "2026-03-03T10:00:00Z"),
			item("e2", "picked_up", "", "2026-03-02T10:00:00Z"),
			item("e1", "info_received", "", "2026-03-01T10:00:00Z"),
		}
		var shipID string
		for i, body := range evs {
			rec, err := e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			se, err := e.svc.Store.GetEvent(ctx, d.Read, rec.Events[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			shipID = se.Event.ShipmentID
			if se.Shipment.Status != intake.StatusDelivered {
				t.Fatalf("after delivery %d the milestone moved back to %q", i, se.Shipment.Status)
			}
		}
		// A later physical "returned" reopens the terminal delivered (§6).
		if _, err := e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(item("e6", "returned", "return_to_sender", "2026-03-06T10:00:00Z"))); err != nil {
			t.Fatal(err)
		}
		sh, _ := e.svc.Store.GetShipment(ctx, d.Read, shipID)
		if sh.Status != intake.StatusReturned || sh.Reopened != 1 {
			t.Fatalf("later returned after delivered: %q reopened %d", sh.Status, sh.Reopened)
		}
	})
}

func TestLateDeliveredAfterReturned(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
		sc := e.addSource(t, "tpl", intake.KindCanonical, "")
		ctx := context.Background()
		post := func(body string) *intake.StoredEvent {
			t.Helper()
			rec, err := e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			se, err := e.svc.Store.GetEvent(ctx, d.Read, rec.Events[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			return se
		}
		post(item("a1", "in_transit", "", "2026-03-01T10:00:00Z"))
		post(item("a2", "returned", "return_to_sender", "2026-03-04T10:00:00Z"))
		// A delivered scan that happened before the return arrives late:
		// the shipment stays returned.
		se := post(item("a3", "delivered", "", "2026-03-03T10:00:00Z"))
		if se.Shipment.Status != intake.StatusReturned || se.Change.StatusChanged {
			t.Fatalf("late older delivered: %q %+v", se.Shipment.Status, se.Change)
		}
		// A delivered scan after the return reopens the terminal state.
		se = post(item("a4", "delivered", "", "2026-03-06T10:00:00Z"))
		if se.Shipment.Status != intake.StatusDelivered || !se.Change.Reopened || se.Change.PrevStatus != intake.StatusReturned {
			t.Fatalf("later delivered: %q %+v", se.Shipment.Status, se.Change)
		}
	})
}

func TestCanonicalBatchAndErrors(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
		sc := e.addSource(t, "tpl", intake.KindCanonical, "")
		ctx := context.Background()
		body := "[" + item("b1", "picked_up", "", "2026-03-01T10:00:00Z") + `,{"carrier":"ups","tracking_number":"1ZOOO1","occurred_at":"2026-03-01T11:00:00Z","status":"warp"},` +
			item("b1", "picked_up", "", "2026-03-01T10:00:00Z") + `,{"carrier":"ups","tracking_number":"1ZOOO1","occurred_at":"2026-03-01T12:00:00Z","raw_code_table":"ups.status_code","raw_code":"999"}]`
		rec, err := e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Events) != 3 || len(rec.Rejected) != 1 || rec.Rejected[0].Index != 1 || !rec.Events[1].Duplicate || rec.Events[0].Duplicate {
			t.Fatalf("batch receipt %+v", rec)
		}
		un, err := e.svc.Store.ListUnmapped(ctx, d.Read, "", 0)
		if err != nil || len(un) != 1 || un[0].Code != "999" || un[0].Unmapped != 1 {
			t.Fatalf("unmapped %+v %v", un, err)
		}
		// Every item invalid: 422, nothing stored.
		before := count(t, d, "intake_events")
		_, err = e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(`[{"carrier":"ups"}]`))
		if apperr.KindOf(err) != apperr.KindInvalid || count(t, d, "intake_events") != before {
			t.Fatalf("all invalid: %v", err)
		}
		// Wrong token, wrong content type.
		if _, err := e.svc.Events(ctx, canonicalHeaders("ymsrc_nope"), []byte(body)); apperr.KindOf(err) != apperr.KindUnauthorized {
			t.Fatalf("bad token: %v", err)
		}
		h := canonicalHeaders(sc.Token)
		h.Set("Content-Type", "text/plain")
		if _, err := e.svc.Events(ctx, h, []byte(body)); apperr.KindOf(err) != apperr.KindUnsupported {
			t.Fatalf("content type: %v", err)
		}
		// NDJSON.
		h.Set("Content-Type", "application/x-ndjson")
		rec, err = e.svc.Events(ctx, h, []byte(item("n1", "in_transit", "", "2026-03-02T10:00:00Z")+"\n"+item("n2", "", "weather", "2026-03-02T12:00:00Z")+"\n"))
		if err != nil || len(rec.Events) != 2 {
			t.Fatalf("ndjson %+v %v", rec, err)
		}
	})
}

func TestRotationAndDisable(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
		old := e.addSource(t, "as", intake.KindAfterShip, "")
		ctx := context.Background()
		body := payload(t, "aftership_tracking_update.json")
		rot, err := e.svc.Registry.Rotate(ctx, "as", time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		if rot.Secret == "" || rot.Secret == old.Secret || len(rot.Credentials) != 2 {
			t.Fatalf("rotation %+v", rot)
		}
		if _, err := e.svc.Webhook(ctx, "as", aftershipHeaders(old.Secret, body), body); err != nil {
			t.Fatalf("old secret during overlap: %v", err)
		}
		if _, err := e.svc.Webhook(ctx, "as", aftershipHeaders(rot.Secret, body), body); err != nil {
			t.Fatalf("new secret: %v", err)
		}
		e.clk.Add(61 * time.Minute)
		if _, err := e.svc.Webhook(ctx, "as", aftershipHeaders(old.Secret, body), body); apperr.KindOf(err) != apperr.KindUnauthorized {
			t.Fatalf("old secret after overlap: %v", err)
		}
		if _, err := e.svc.Registry.SetStatus(ctx, "as", intake.SourceDisabled); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Webhook(ctx, "as", aftershipHeaders(rot.Secret, body), body); apperr.KindOf(err) != apperr.KindUnauthorized {
			t.Fatalf("disabled source: %v", err)
		}
		if _, err := e.svc.Webhook(ctx, "nosuch", aftershipHeaders(rot.Secret, body), body); apperr.KindOf(err) != apperr.KindUnauthorized {
			t.Fatalf("unknown source: %v", err)
		}
		if _, err := e.svc.Registry.Add(ctx, intake.AddSource{Name: "as", Kind: intake.KindAfterShip}); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("duplicate name: %v", err)
		}
	})
}

func TestStandardWebhookAndReplayWindow(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		e := newEnv(t, d, start)
		sc := e.addSource(t, "partner", intake.KindStandard, "")
		ctx := context.Background()
		body := []byte(item("s1", "in_transit", "", "2026-03-09T10:00:00Z"))
		sign := func(id string, ts time.Time) http.Header {
			sig, err := intake.SignStandard(sc.Secret, id, ts, body)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set("Content-Type", "application/json")
			h.Set("webhook-id", id)
			h.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
			h.Set("webhook-signature", sig)
			return h
		}
		if _, err := e.svc.Webhook(ctx, "partner", sign("msg_1", start), body); err != nil {
			t.Fatal(err)
		}
		// A retry hours later has a fresh timestamp and the same id: a
		// duplicate by webhook-id.
		e.clk.Add(5 * time.Hour)
		rec, err := e.svc.Webhook(ctx, "partner", sign("msg_1", e.clk.Now()), body)
		if err != nil || !rec.Duplicate {
			t.Fatalf("retry: %+v %v", rec, err)
		}
		// The old signed message replayed: outside the tolerance.
		if _, err := e.svc.Webhook(ctx, "partner", sign("msg_1", start), body); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("replay: %v", err)
		}
		if n := count(t, d, "intake_events"); n != 1 {
			t.Fatalf("events %d", n)
		}
	})
}

func TestRateLimit(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
	e.svc.DefaultRate = 1 // burst 2
	sc := e.addSource(t, "as", intake.KindAfterShip, "")
	body := payload(t, "aftership_tracking_update.json")
	ctx := context.Background()
	var last error
	for i := 0; i < 3; i++ {
		_, last = e.svc.Webhook(ctx, "as", aftershipHeaders(sc.Secret, body), body)
	}
	ae, ok := apperr.As(last)
	if !ok || ae.Kind != apperr.KindRateLimited || ae.RetryAfter <= 0 {
		t.Fatalf("third request: %v", last)
	}
}

// A stage error fails only the delivery that caused it.
func TestBadItemFailsAlone(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	sc := e.addSource(t, "tpl", intake.KindCanonical, "")
	e.svc.Pipeline.AddStage(intake.StageFunc(func(ctx context.Context, tx bun.IDB, batch []*intake.Processed) error {
		for _, p := range batch {
			if p.Event.TrackingNumber == "POISON" {
				return errors.New("poisoned")
			}
			p.CaseID = "case-" + p.Event.SourceEventID
		}
		return nil
	}))
	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tn := fmt.Sprintf("1ZOK%03d", i)
			if i == 7 {
				tn = "POISON"
			}
			body := fmt.Sprintf(`{"source_event_id":"p%d","carrier":"ups","tracking_number":%q,"occurred_at":"2026-03-01T10:00:00Z","status":"in_transit"}`, i, tn)
			rec, err := e.svc.Events(context.Background(), canonicalHeaders(sc.Token), []byte(body))
			if err == nil && rec.Events[0].CaseID != fmt.Sprintf("case-p%d", i) {
				err = fmt.Errorf("case id %q", rec.Events[0].CaseID)
			}
			results[i] = err
		}(i)
	}
	wg.Wait()
	for i, err := range results {
		if (i == 7) != (err != nil) {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if n := count(t, d, "intake_events"); n != 19 {
		t.Fatalf("events %d, want 19", n)
	}
}

func TestStreamAndSynthetic(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	sc := e.addSource(t, "tpl", intake.KindCanonical, "")
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		body := item(fmt.Sprintf("x%d", i), "in_transit", "", fmt.Sprintf("2026-03-0%dT10:00:00Z", i+1))
		if _, err := e.svc.Events(ctx, canonicalHeaders(sc.Token), []byte(body)); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(time.Second)
	}
	res, err := e.svc.Pipeline.SubmitEvents(ctx, intake.SyntheticSource, []*intake.Event{{Carrier: "ups", TrackingNumber: "1ZOOO1",
		OccurredAt: e.clk.Now(), TZKnown: true, Exception: &intake.Exception{Reason: "no_updates"}}})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("synthetic: %+v %v", res, err)
	}
	var seen []string
	err = e.svc.Store.StreamEvents(ctx, d.Read, intake.StreamFilter{}, func(se *intake.StoredEvent) error {
		seen = append(seen, se.Event.ID)
		return nil
	})
	if err != nil || len(seen) != 8 {
		t.Fatalf("stream %d %v", len(seen), err)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatal("stream not in order")
		}
	}
	se, _ := e.svc.Store.GetEvent(ctx, d.Read, seen[7])
	if !se.Event.Synthetic || len(se.Shipment.OpenExceptions) != 1 {
		t.Fatalf("synthetic event %+v", se)
	}
	var sub int
	_ = e.svc.Store.StreamEvents(ctx, d.Read, intake.StreamFilter{Sources: []string{"tpl"}, From: time.Date(2026, 3, 10, 0, 0, 3, 0, time.UTC)}, func(*intake.StoredEvent) error {
		sub++
		return nil
	})
	if sub != 4 {
		t.Fatalf("filtered stream %d, want 4", sub)
	}
	if !strings.HasPrefix(se.Event.DedupKey, "h:") {
		t.Fatalf("dedup key %q", se.Event.DedupKey)
	}
}

// Two pipelines on one PostgreSQL database behave like two `serve --role api`
// processes: concurrent identical deliveries still store one event.
func TestTwoProcessesOnPostgres(t *testing.T) {
	d := testenv.Postgres(t)
	e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
	other := intake.NewService(d, e.svc.Registry, intake.ServiceOptions{Now: e.clk.Now, DefaultRate: 1e9,
		Pipeline: intake.PipelineOptions{MaxBatch: 64, MaxWait: 2 * time.Millisecond}})
	t.Cleanup(other.Close)
	sc := e.addSource(t, "as", intake.KindAfterShip, "")
	body := payload(t, "aftership_tracking_update.json")
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for i := 0; i < 80; i++ {
		wg.Add(1)
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		go func() {
			defer wg.Done()
			if _, err := svc.Webhook(context.Background(), "as", aftershipHeaders(sc.Secret, body), body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := count(t, d, "intake_events"); n != 5 {
		t.Fatalf("events %d, want 5", n)
	}
	if n := count(t, d, "intake_shipments"); n != 1 {
		t.Fatalf("shipments %d, want 1", n)
	}
}

// Past the retention, delivery ids and raw bodies are pruned; a replay is
// then recognised per event (its checkpoints are stored) and stores nothing.
func TestPruneRetention(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC))
	sc := e.addSource(t, "as", intake.KindAfterShip, "")
	body := payload(t, "aftership_tracking_update.json")
	ctx := context.Background()
	rec, err := e.svc.Webhook(ctx, "as", aftershipHeaders(sc.Secret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(80 * time.Hour)
	n, err := e.svc.Store.Prune(ctx, d, e.clk.Now(), 72*time.Hour, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d rows, %v", n, err)
	}
	pl, err := e.svc.Store.GetPayload(ctx, d.Read, rec.PayloadID)
	if err != nil || pl.Retained || pl.BodyHash == "" {
		t.Fatalf("payload after prune %+v %v", pl, err)
	}
	again, err := e.svc.Webhook(ctx, "as", aftershipHeaders(sc.Secret, body), body)
	if err != nil {
		t.Fatal(err)
	}
	if again.Duplicate {
		t.Fatal("delivery id remembered past its retention")
	}
	for i, ev := range again.Events {
		if !ev.Duplicate || ev.ID != rec.Events[i].ID {
			t.Fatalf("event %d after prune: %+v", i, ev)
		}
	}
	if c := count(t, d, "intake_events"); c != 5 {
		t.Fatalf("events %d", c)
	}
}

// A canonical source may also post to its webhook URL with its token.
func TestCanonicalSourceWebhookRoute(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	sc := e.addSource(t, "tpl", intake.KindCanonical, "")
	ctx := context.Background()
	body := []byte(item("w1", "in_transit", "", "2026-03-01T10:00:00Z"))
	rec, err := e.svc.Webhook(ctx, "tpl", canonicalHeaders(sc.Token), body)
	if err != nil || len(rec.Events) != 1 {
		t.Fatalf("canonical webhook: %+v %v", rec, err)
	}
	other := e.addSource(t, "other", intake.KindCanonical, "")
	if _, err := e.svc.Webhook(ctx, "tpl", canonicalHeaders(other.Token), body); apperr.KindOf(err) != apperr.KindUnauthorized {
		t.Fatalf("another source's token: %v", err)
	}
}
