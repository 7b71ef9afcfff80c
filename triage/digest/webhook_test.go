package digest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSignVector checks Sign against the published Standard Webhooks /
// Svix test vector (reference intake-eta-llm.md §A1).
func TestSignVector(t *testing.T) {
	key, err := DecodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// receiver is a webhook endpoint that verifies Standard Webhooks
// signatures the way a subscriber would.
type receiver struct {
	mu     sync.Mutex
	key    []byte
	status []int // answers to give, in order; then 200
	got    []received
}

type received struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Valid                    bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	valid := false
	for _, s := range strings.Fields(sig) {
		if s == Sign(rc.key, id, time.Unix(sec, 0), body) {
			valid = true
		}
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{ID: id, Timestamp: ts, Signature: sig, Body: body, Valid: valid})
	status := http.StatusOK
	if len(rc.status) > 0 {
		status, rc.status = rc.status[0], rc.status[1:]
	}
	rc.mu.Unlock()
	if !valid {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("answer"))
}

func (rc *receiver) Received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func TestWebhookPost(t *testing.T) {
	key, _ := DecodeSecret(NewSecret())
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name      string
		status    int
		wantErr   bool
		permanent bool
	}{
		{"ok", 204, false, false},
		{"server error retries", 503, true, false},
		{"rate limited retries", 429, true, false},
		{"timeout retries", 408, true, false},
		{"gone is permanent", 410, true, true},
		{"redirect is a failure", 301, true, true},
		{"bad request is permanent", 400, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{key: key, status: []int{tt.status}}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w := New(Options{}).webhooks
			_, err := w.Post(context.Background(), srv.URL+"/hook", key, "digest_01ABC", now, []byte(`{"text":"hi"}`))
			if (err != nil) != tt.wantErr || IsPermanent(err) != tt.permanent {
				t.Fatalf("err = %v (permanent %v)", err, IsPermanent(err))
			}
			got := rc.Received()
			if len(got) != 1 || !got[0].Valid || got[0].ID != "digest_01ABC" || got[0].Timestamp != "1800000000" {
				t.Fatalf("received %+v", got)
			}
		})
	}
	if _, err := (&WebhookSender{}).Post(context.Background(), "http://127.0.0.1:1", key, "a.b", now, nil); !IsPermanent(err) {
		t.Fatalf("id with a dot: %v", err)
	}
}
