package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// digestInbox is an in-process SMTP server (emersion/go-smtp).
type digestInbox struct {
	mu   sync.Mutex
	msgs []string
	addr string
}

func (b *digestInbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{b: b}, nil }

type inboxSession struct{ b *digestInbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Reset()                               {}
func (s *inboxSession) Logout() error                        { return nil }
func (s *inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.mu.Unlock()
	return err
}

func (b *digestInbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func startInbox(t *testing.T) *digestInbox {
	t.Helper()
	b := &digestInbox{}
	srv := smtp.NewServer(b)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close(); _ = srv.Close() })
	return b
}

type digestRes struct {
	status int
	ct     string
	raw    string
	body   map[string]any
}

func digestCall(t *testing.T, method, url, token string, body any) digestRes {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := digestRes{status: resp.StatusCode, ct: resp.Header.Get("Content-Type"), raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// TestDigestEndToEnd drives the shipped process: the Odoo mirror links the
// account user (by e-mail) to the demo customer, a carrier event opens a
// critical case for that customer through rules and triage, the account
// user subscribes over the API (bad input gets problem+json), previews the
// digest, sends it now; the real queue delivers it to an SMTP server and
// the history shows it.
func TestDigestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole process with Odoo")
	}
	ctx := context.Background()
	osrv := odootest.New(t)
	inbox := startInbox(t)
	cfg := apptest.TestConfig(t)
	cfg.OdooURL, cfg.OdooDB, cfg.OdooUser, cfg.OdooAPIKey, cfg.OdooProtocol = osrv.URL(), osrv.DB(), osrv.Login(), osrv.APIKey(), "xmlrpc"
	cfg.OdooRateLimit = 100
	cfg.SMTPURL, cfg.SMTPFrom = "smtp://"+inbox.addr+"?starttls=false", "Yardmaster <ym@example.com>"
	cfg.PublicURL = "https://ym.example"
	r := apptest.Start(t, cfg)
	if _, err := r.Odoo.Mirror.Sync(ctx, odoo.SyncOptions{}); err != nil {
		t.Fatalf("mirror sync: %v", err)
	}
	demo := osrv.Demo()
	users, _ := osrv.Records("res.users", []any{[]any{"id", "=", demo.SalespersonID}}, "email", "login")
	email, _ := users[0]["email"].(string)
	if email == "" {
		email, _ = users[0]["login"].(string)
	}

	admin, _, err := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "admin", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	u, err := auth.CreateUser(ctx, r.DB, time.Now(), auth.UserSpec{Username: "sales1", DisplayName: "Sam Sales", Email: email,
		Role: auth.RoleAccount, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	acct, _, err := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "sam", Role: auth.RoleAccount, UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, _ := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "v", Role: auth.RoleViewer})

	// A carrier event for the demo order's parcel: returning to sender.
	res := digestCall(t, "POST", r.URL+"/api/v1/sources", admin, map[string]any{"name": "shop", "kind": "canonical"})
	if res.status != 201 {
		t.Fatalf("create source: %d %s", res.status, res.raw)
	}
	srcTok := res.body["token"].(string)
	ev := map[string]any{"source_event_id": "ev-1", "carrier": "dhl", "tracking_number": demo.TrackingRef, "status": "returning",
		"raw_text": "Returning to sender", "occurred_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	res = digestCall(t, "POST", r.URL+"/api/v1/events", srcTok, ev)
	if res.status != 202 {
		t.Fatalf("event: %d %s", res.status, res.raw)
	}

	base := r.URL + "/api/v1/digests/subscriptions"
	// Bad input: every problem named, nothing stored.
	res = digestCall(t, "POST", base, acct, map[string]any{"name": "", "timezone": "Mars/Base", "schedule": "* * * * *",
		"customers": map[string]any{}, "channels": map[string]any{"webhook": map[string]any{"url": "http://hooks.example.com/x"}}})
	if res.status != 422 || !strings.HasPrefix(res.ct, "application/problem+json") {
		t.Fatalf("bad subscription: %d %s %s", res.status, res.ct, res.raw)
	}
	var fields []string
	for _, e := range res.body["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	if got := strings.Join(fields, ","); got != "name,timezone,customers,channels.webhook.url" {
		t.Fatalf("error fields = %s", got)
	}
	res = digestCall(t, "POST", base, acct, `{"name":"x","surprise":1}`)
	if res.status != 422 || !strings.Contains(res.raw, "surprise") {
		t.Fatalf("unknown field: %d %s", res.status, res.raw)
	}
	res = digestCall(t, "GET", base, viewer, nil)
	if res.status != 403 {
		t.Fatalf("viewer lists subscriptions: %d", res.status)
	}

	res = digestCall(t, "POST", base, acct, map[string]any{"name": "My customers", "timezone": "Europe/Berlin", "schedule": "0 8 * * 1-5",
		"min_severity": "medium", "customers": map[string]any{"auto": true}, "channels": map[string]any{"email": map[string]any{}}})
	if res.status != 201 {
		t.Fatalf("create subscription: %d %s", res.status, res.raw)
	}
	subID := res.body["id"].(string)

	// The case opens asynchronously after the event's commit: wait for it
	// to show in the preview.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res = digestCall(t, "GET", base+"/"+subID+"/preview?format=text", acct, nil)
		if res.status == 200 && strings.Contains(res.raw, demo.TrackingRef) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("preview never listed the case: %d\n%s", res.status, res.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(res.ct, "text/plain") || !strings.Contains(res.raw, "[critical]") || !strings.Contains(res.raw, "https://ym.example/console/cases/") {
		t.Fatalf("preview:\n%s", res.raw)
	}
	res = digestCall(t, "GET", base+"/"+subID+"/preview?format=html", acct, nil)
	if res.status != 200 || !strings.HasPrefix(res.ct, "text/html") || !strings.Contains(res.raw, "<html") {
		t.Fatalf("html preview: %d %s", res.status, res.ct)
	}

	res = digestCall(t, "POST", base+"/"+subID+"/send", acct, nil)
	if res.status != 202 {
		t.Fatalf("send now: %d %s", res.status, res.raw)
	}
	runID := res.body["id"].(string)
	deadline = time.Now().Add(30 * time.Second)
	for {
		res = digestCall(t, "GET", r.URL+"/api/v1/digests/runs/"+runID, acct, nil)
		if res.body["status"] == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not sent: %s", res.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msgs := inbox.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "multipart/alternative") || !strings.Contains(msgs[0], "To: <"+email+">") {
		t.Fatalf("inbox: %d messages\n%s", len(msgs), strings.Join(msgs, "\n---\n"))
	}
	atts := res.body["attempts"].([]any)
	if len(atts) != 1 || atts[0].(map[string]any)["outcome"] != "sent" {
		t.Fatalf("attempts: %v", atts)
	}
	res = digestCall(t, "GET", r.URL+"/api/v1/digests/runs?subscription_id="+subID, acct, nil)
	if res.status != 200 || len(res.body["runs"].([]any)) != 1 {
		t.Fatalf("history: %d %s", res.status, res.raw)
	}
	res = digestCall(t, "GET", r.URL+"/api/v1/digests/runs?limit=0", acct, nil)
	if res.status != 422 {
		t.Fatalf("bad limit: %d", res.status)
	}
	// Another account user sees none of it.
	other, _ := auth.CreateUser(ctx, r.DB, time.Now(), auth.UserSpec{Username: "other", Email: "o@example.com", Role: auth.RoleAccount, Password: "a long enough password"})
	otherTok, _, _ := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "o", Role: auth.RoleAccount, UserID: other.ID})
	for _, path := range []string{"/api/v1/digests/subscriptions/" + subID, "/api/v1/digests/runs/" + runID} {
		if res := digestCall(t, "GET", r.URL+path, otherTok, nil); res.status != 404 {
			t.Errorf("other user GET %s: %d", path, res.status)
		}
	}
	if res := digestCall(t, "DELETE", base+"/"+subID, acct, nil); res.status != 204 {
		t.Fatalf("delete: %d %s", res.status, res.raw)
	}
}
