package digest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
			w := New(Options{AllowPrivateWebhooks: true}).webhooks
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

// TestWebhookRefusesPrivateAddresses: by default a subscriber's webhook
// cannot reach this host or the internal network.
func TestWebhookRefusesPrivateAddresses(t *testing.T) {
	rc := &receiver{key: []byte("0123456789abcdef0123456789abcdef")}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := NewWebhookSender("t", false).Post(context.Background(), u, rc.key, "digest_1", time.Now(), []byte(`{}`))
		if !errors.Is(err, ErrPrivateAddress) || !IsPermanent(err) {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if len(rc.Received()) != 0 {
		t.Fatal("the private endpoint was reached")
	}
	if _, err := NewWebhookSender("t", true).Post(context.Background(), srv.URL, rc.key, "digest_1", time.Now(), []byte(`{}`)); err != nil {
		t.Fatalf("allowed private: %v", err)
	}
	for ip, want := range map[string]bool{"8.8.8.8": true, "2606:4700::1111": true, "10.1.2.3": false, "192.168.0.1": false, "172.16.5.4": false,
		"127.0.0.1": false, "::1": false, "169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "0.0.0.0": false, "::ffff:10.0.0.1": false,
		"fd00::1": false, "224.0.0.1": false} {
		if got := publicIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("publicIP(%s) = %v", ip, got)
		}
	}
}
