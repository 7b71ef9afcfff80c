package intake

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestStandardWebhooksSpecVector is the published test vector of the
// Standard Webhooks / Svix libraries.
func TestStandardWebhooksSpecVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		sig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	body := []byte(`{"test": 2432232314}`)
	ts := time.Unix(1614265330, 0)
	v, err := NewVerifier(KindStandard, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	got, err := SignStandard(secret, id, ts, body)
	if err != nil || got != sig {
		t.Fatalf("SignStandard = %q, %v; want %q", got, err, sig)
	}
	h := hdr("webhook-id", id, "webhook-timestamp", "1614265330", "webhook-signature", "v1,bogus= "+sig)
	if did, err := v.Verify(h, body, ts.Add(time.Minute)); err != nil || did != id {
		t.Fatalf("vector with rotation list: %q %v", did, err)
	}
	// The same message an hour later is a replay: 409, not 401.
	if _, err := v.Verify(h, body, ts.Add(time.Hour)); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("stale: %v", err)
	}
}

func TestVerifiers(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"tracking_update","msg":{}}`)
	tampered := []byte(`{"event":"tracking_update","msg":{"x":1}}`)
	const (
		asOld, asNew = "old-aftership-secret", "new-aftership-secret"
		epSecret     = "ｓｅｃｒｅｔ-ﬁ" // NFKD: "secret-fi"
		swOld, swNew = "whsec_c2VjcmV0LW9sZC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==", "whsec_bmV3LXNlY3JldC1rZXktZm9yLXN0YW5kYXJkLXdo"
	)
	swSig := func(secret, id string, ts time.Time, b []byte) string {
		s, err := SignStandard(secret, id, ts, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name    string
		kind    Kind
		secrets []string
		h       http.Header
		body    []byte
		want    error
	}{
		{"aftership valid", KindAfterShip, []string{asNew}, hdr("aftership-hmac-sha256", SignAfterShip(asNew, body)), body, nil},
		{"aftership tampered", KindAfterShip, []string{asNew}, hdr("aftership-hmac-sha256", SignAfterShip(asNew, body)), tampered, ErrSignature},
		{"aftership wrong secret", KindAfterShip, []string{asNew}, hdr("aftership-hmac-sha256", SignAfterShip("nope", body)), body, ErrSignature},
		{"aftership missing header", KindAfterShip, []string{asNew}, hdr(), body, ErrSignature},
		{"aftership garbage header", KindAfterShip, []string{asNew}, hdr("aftership-hmac-sha256", "%%%"), body, ErrSignature},
		{"aftership old secret during overlap", KindAfterShip, []string{asNew, asOld}, hdr("aftership-hmac-sha256", SignAfterShip(asOld, body)), body, nil},
		{"aftership old secret after overlap", KindAfterShip, []string{asNew}, hdr("aftership-hmac-sha256", SignAfterShip(asOld, body)), body, ErrSignature},
		{"easypost valid NFKD", KindEasyPost, []string{epSecret}, hdr("X-Hmac-Signature", SignEasyPost("secret-fi", body)), body, nil},
		{"easypost upper-case hex", KindEasyPost, []string{epSecret}, hdr("X-Hmac-Signature", "HMAC-SHA256-HEX="+upper(SignEasyPost("secret-fi", body)[len("hmac-sha256-hex="):])), body, nil},
		{"easypost tampered", KindEasyPost, []string{epSecret}, hdr("X-Hmac-Signature", SignEasyPost("secret-fi", body)), tampered, ErrSignature},
		{"easypost no prefix", KindEasyPost, []string{epSecret}, hdr("X-Hmac-Signature", SignEasyPost("secret-fi", body)[len("hmac-sha256-hex="):]), body, ErrSignature},
		{"easypost ascii secret", KindEasyPost, []string{"secret-fi"}, hdr("X-Hmac-Signature", SignEasyPost("secret-fi", body)), body, nil},
		{"standard valid", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swNew, "msg_1", now, body)), body, nil},
		{"standard multi-signature, old first", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swOld, "msg_1", now, body)+" "+swSig(swNew, "msg_1", now, body)), body, nil},
		{"standard old secret during overlap", KindStandard, []string{swNew, swOld}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swOld, "msg_1", now, body)), body, nil},
		{"standard old secret after overlap", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swOld, "msg_1", now, body)), body, ErrSignature},
		{"standard tampered", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swNew, "msg_1", now, body)), tampered, ErrSignature},
		{"standard id swapped", KindStandard, []string{swNew}, hdr("webhook-id", "msg_2", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swNew, "msg_1", now, body)), body, ErrSignature},
		{"standard too old", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Add(-6*time.Minute).Unix()), "webhook-signature", swSig(swNew, "msg_1", now.Add(-6*time.Minute), body)), body, ErrTimestamp},
		{"standard too new", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Add(6*time.Minute).Unix()), "webhook-signature", swSig(swNew, "msg_1", now.Add(6*time.Minute), body)), body, ErrTimestamp},
		{"standard within tolerance", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Add(-4*time.Minute).Unix()), "webhook-signature", swSig(swNew, "msg_1", now.Add(-4*time.Minute), body)), body, nil},
		{"standard stale with bad signature is 401", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Add(-time.Hour).Unix()), "webhook-signature", "v1,AAAA"), body, ErrSignature},
		{"standard v1a ignored", KindStandard, []string{swNew}, hdr("webhook-id", "msg_1", "webhook-timestamp", itoa(now.Unix()), "webhook-signature", "v1a,"+swSig(swNew, "msg_1", now, body)[3:]), body, ErrSignature},
		{"standard missing id", KindStandard, []string{swNew}, hdr("webhook-timestamp", itoa(now.Unix()), "webhook-signature", swSig(swNew, "msg_1", now, body)), body, ErrSignature},
		{"standard svix headers", KindStandard, []string{swNew}, hdr("svix-id", "msg_1", "svix-timestamp", itoa(now.Unix()), "svix-signature", swSig(swNew, "msg_1", now, body)), body, nil},
		{"canonical token", KindCanonical, []string{HashToken("ym_tok_abc")}, hdr("Authorization", "Bearer ym_tok_abc"), body, nil},
		{"canonical old token during overlap", KindCanonical, []string{HashToken("ym_tok_new"), HashToken("ym_tok_abc")}, hdr("Authorization", "bearer ym_tok_abc"), body, nil},
		{"canonical wrong token", KindCanonical, []string{HashToken("ym_tok_abc")}, hdr("Authorization", "Bearer ym_tok_abd"), body, ErrSignature},
		{"canonical basic auth", KindCanonical, []string{HashToken("ym_tok_abc")}, hdr("Authorization", "Basic eW06dG9r"), body, ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(c.kind, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(c.h, c.body, now)
			if c.want == nil && err != nil {
				t.Fatalf("want ok, got %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("want %v, got %v", c.want, err)
			}
		})
	}
	if _, err := NewVerifier(KindStandard, []string{"whsec_!!notbase64"}); err == nil {
		t.Fatal("bad standard secret accepted")
	}
	if _, err := NewVerifier(KindAfterShip, nil); err == nil {
		t.Fatal("no secret accepted")
	}
}

func itoa(n int64) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
