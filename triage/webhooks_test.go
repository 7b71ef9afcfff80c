package triage_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage"
)

// subscriber is a real HTTP endpoint that verifies Standard Webhooks
// signatures with the secret it was given, and can be told to fail.
type subscriber struct {
	mu       sync.Mutex
	secret   string
	now      func() time.Time
	failing  bool
	received []triage.WebhookEvent
	ids      []string
	bad      []string
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if err := triage.VerifyWebhook(s.secret, r.Header, body, s.now(), 5*time.Minute); err != nil {
		s.bad = append(s.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if s.failing {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var ev triage.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.received = append(s.received, ev)
	s.ids = append(s.ids, r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

// deliverAll runs the pending delivery jobs once, as attempt n.
func (e *env) deliverAll(attempt, maxRetry int) (errs int) {
	e.t.Helper()
	for _, k := range e.jobs(triage.TaskWebhookDeliver) {
		if err := e.svc.HandleDeliver(e.ctx, e.delivery(k, attempt, maxRetry)); err != nil {
			errs++
		}
	}
	return errs
}

// Case events reach a subscriber signed; a failing subscriber's deliveries
// are retried, end as dead letters, and a person's replay delivers them
// with the same message id.
func TestOutboundWebhooks(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		_, mia := e.user("mia", auth.RoleManager, "")
		sub := &subscriber{now: e.clk.Now}
		srv := httptest.NewServer(sub)
		defer srv.Close()
		if _, err := e.svc.CreateSubscription(e.ctx, triage.SubscriptionInput{URL: "ftp://x", Events: []string{"case.exploded"}}); apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("bad subscription: %v", err)
		}
		created, err := e.svc.CreateSubscription(e.ctx, triage.SubscriptionInput{URL: srv.URL + "/hook", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		sub.secret = created.Secret
		r := e.send("1ZHOOK1", withReason("delayed"))
		if n := e.deliverAll(0, 11); n != 0 {
			t.Fatalf("%d deliveries failed; subscriber saw %v", n, sub.bad)
		}
		if len(sub.received) != 1 || sub.received[0].Type != triage.EventCaseOpened {
			t.Fatalf("received %+v", sub.received)
		}
		if _, err := e.svc.Apply(mia, r.CaseID, triage.Op{Name: "resolve", Reason: "carrier_resolved"}); err != nil {
			t.Fatal(err)
		}
		sub.failing = true
		for attempt := 0; attempt < 11; attempt++ {
			if n := e.deliverAll(attempt, 11); n != 1 {
				t.Fatalf("attempt %d: %d failures", attempt, n)
			}
		}
		if n := e.deliverAll(11, 11); n != 1 {
			t.Fatalf("last attempt: %d failures", n)
		}
		dead, err := e.svc.ListDeliveries(e.ctx, triage.DeliveryFilter{State: triage.DeliveryDead})
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters = %d (%v)", len(dead), err)
		}
		if dead[0].EventType != triage.EventCaseResolved || dead[0].Attempts != 12 || dead[0].LastStatus != 503 {
			t.Fatalf("dead letter = %+v", dead[0])
		}
		sub.failing = false
		// Rotation: the old secret still verifies during the overlap.
		if _, err := e.svc.RotateSecret(e.ctx, created.Subscription.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.ReplayDeliveries(e.ctx, []string{dead[0].ID}); err != nil || n != 1 {
			t.Fatalf("replay: %d %v", n, err)
		}
		if n := e.deliverAll(0, 11); n != 0 {
			t.Fatalf("replayed delivery failed: %v", sub.bad)
		}
		if len(sub.received) != 2 || sub.received[1].Type != triage.EventCaseResolved || sub.ids[1] != dead[0].MessageID {
			t.Fatalf("after replay: %d events, id %s vs %s", len(sub.received), sub.ids, dead[0].MessageID)
		}
		got, _ := e.svc.GetDelivery(e.ctx, dead[0].ID)
		if got.State != triage.DeliveryDelivered || got.Replays != 1 {
			t.Fatalf("replayed delivery = %+v", got)
		}
		if _, err := e.svc.ReplayDeliveries(e.ctx, []string{"01JNODELIVERY0000000000000"}); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("replaying an unknown delivery: %v", err)
		}
		if acts := auditActions(t, d, "webhook_delivery", dead[0].ID); len(acts) < 13 {
			t.Errorf("delivery audit = %d entries, want one per attempt and the replay", len(acts))
		}
	})
}

func TestSignVerify(t *testing.T) {
	secret := triage.NewWebhookSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"ping"}`)
	sig, err := triage.SignWebhook(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1800000000")
	h.Set("webhook-signature", "v1,bm90IGl0 "+sig)
	if err := triage.VerifyWebhook(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("valid signature rejected: %v", err)
	}
	for name, mutate := range map[string]func(http.Header) []byte{
		"body changed": func(http.Header) []byte { return []byte(`{"type":"pong"}`) },
		"id changed":   func(h http.Header) []byte { h.Set("webhook-id", "msg_2"); return body },
		"too old":      func(h http.Header) []byte { h.Set("webhook-timestamp", "1799999000"); return body },
		"no signature": func(h http.Header) []byte { h.Del("webhook-signature"); return body },
		"other secret": func(h http.Header) []byte {
			s, _ := triage.SignWebhook(triage.NewWebhookSecret(), "msg_1", now, body)
			h.Set("webhook-signature", s)
			return body
		},
		"bad timestamp": func(h http.Header) []byte { h.Set("webhook-timestamp", "soon"); return body },
	} {
		hh := h.Clone()
		b := mutate(hh)
		if err := triage.VerifyWebhook(secret, hh, b, now.Add(time.Minute), 5*time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
