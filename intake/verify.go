package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Kind is a source kind: how a source signs and shapes its payloads.
type Kind string

// Source kinds.
const (
	KindAfterShip Kind = "aftership" // AfterShip tracking webhooks, base64 HMAC in aftership-hmac-sha256
	KindEasyPost  Kind = "easypost"  // EasyPost Event webhooks, hex HMAC with an NFKD secret in X-Hmac-Signature
	KindStandard  Kind = "standard"  // Standard Webhooks (any partner); body is our canonical JSON
	KindCanonical Kind = "canonical" // our canonical JSON with a bearer token
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindAfterShip, KindEasyPost, KindStandard, KindCanonical:
		return true
	}
	return false
}

// Signed reports whether the kind authenticates with an HMAC secret (as
// opposed to a bearer token).
func (k Kind) Signed() bool { return k == KindAfterShip || k == KindEasyPost || k == KindStandard }

// DefaultTolerance is the Standard Webhooks timestamp tolerance, as in both
// reference libraries.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is a missing, malformed or wrong signature or token. The
// response never says which; VerifyError.Why does, for logs and metrics.
var ErrSignature = errors.New("signature verification failed")

// ErrTimestamp is a Standard Webhooks timestamp outside the tolerance: a
// replay or a badly skewed clock (answered 409).
var ErrTimestamp = errors.New("webhook timestamp outside tolerance")

// VerifyError says why verification failed. Is matches ErrSignature or
// ErrTimestamp.
type VerifyError struct {
	Err error
	Why string // "missing_header", "bad_format", "mismatch", "stale", "future"
}

func (e *VerifyError) Error() string { return e.Err.Error() + " (" + e.Why + ")" }
func (e *VerifyError) Unwrap() error { return e.Err }

func sigErr(why string) error { return &VerifyError{Err: ErrSignature, Why: why} }

// Headers reads request headers case-insensitively (http.Header satisfies it
// through Get; web adapts fiber's request headers).
type Headers interface {
	Get(name string) string
}

// Verifier checks one delivery on its raw bytes. It returns the provider's
// delivery id when the scheme carries one in headers (webhook-id).
type Verifier interface {
	Verify(h Headers, body []byte, now time.Time) (deliveryID string, err error)
}

// NewVerifier builds the verifier of a kind for the source's currently
// valid secrets (one, or two during a rotation overlap). For the canonical
// kind the "secrets" are SHA-256 hashes of the valid tokens.
func NewVerifier(kind Kind, secrets []string) (Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("verifier: no valid secret")
	}
	switch kind {
	case KindAfterShip:
		return &hmacBodyVerifier{keys: rawKeys(secrets), header: "aftership-hmac-sha256", enc: encBase64}, nil
	case KindEasyPost:
		keys := make([][]byte, len(secrets))
		for i, s := range secrets {
			keys[i] = []byte(norm.NFKD.String(s))
		}
		return &hmacBodyVerifier{keys: keys, header: "X-Hmac-Signature", prefix: "hmac-sha256-hex=", enc: encHex}, nil
	case KindStandard:
		keys := make([][]byte, 0, len(secrets))
		for _, s := range secrets {
			k, err := DecodeStandardSecret(s)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		return &StandardVerifier{keys: keys, Tolerance: DefaultTolerance}, nil
	case KindCanonical:
		hashes := make([][]byte, 0, len(secrets))
		for _, s := range secrets {
			b, err := hex.DecodeString(s)
			if err != nil || len(b) != sha256.Size {
				return nil, errors.New("verifier: canonical token hash must be hex SHA-256")
			}
			hashes = append(hashes, b)
		}
		return &tokenVerifier{hashes: hashes}, nil
	}
	return nil, fmt.Errorf("verifier: unknown kind %q", kind)
}

func rawKeys(secrets []string) [][]byte {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return keys
}

type encoding int

const (
	encBase64 encoding = iota
	encHex
)

// hmacBodyVerifier checks an HMAC-SHA256 of the raw body carried in one
// header (AfterShip base64, EasyPost hex with a prefix).
type hmacBodyVerifier struct {
	keys   [][]byte
	header string
	prefix string
	enc    encoding
}

func (v *hmacBodyVerifier) Verify(h Headers, body []byte, _ time.Time) (string, error) {
	val := strings.TrimSpace(h.Get(v.header))
	if val == "" {
		return "", sigErr("missing_header")
	}
	if v.prefix != "" {
		if len(val) < len(v.prefix) || !strings.EqualFold(val[:len(v.prefix)], v.prefix) {
			return "", sigErr("bad_format")
		}
		val = val[len(v.prefix):]
	}
	var got []byte
	var err error
	switch v.enc {
	case encHex:
		got, err = hex.DecodeString(strings.ToLower(val))
	default:
		got, err = base64.StdEncoding.DecodeString(val)
	}
	if err != nil || len(got) != sha256.Size {
		return "", sigErr("bad_format")
	}
	ok := 0
	for _, k := range v.keys {
		m := hmac.New(sha256.New, k)
		m.Write(body)
		ok |= subtle.ConstantTimeCompare(m.Sum(nil), got)
	}
	if ok != 1 {
		return "", sigErr("mismatch")
	}
	return "", nil
}

// StandardVerifier implements Standard Webhooks v1 (symmetric): HMAC-SHA256
// over "{webhook-id}.{webhook-timestamp}.{body}", base64, in a
// space-separated "v1,<sig>" list. Svix's svix-* header names are accepted
// too.
type StandardVerifier struct {
	keys      [][]byte
	Tolerance time.Duration
}

// DecodeStandardSecret decodes a "whsec_<base64>" secret (the prefix is
// optional) into the HMAC key.
func DecodeStandardSecret(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "whsec_")
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if k, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("standard webhooks secret must be whsec_ followed by base64")
		}
	}
	if len(k) == 0 {
		return nil, errors.New("standard webhooks secret is empty")
	}
	return k, nil
}

func firstHeader(h Headers, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// Verify checks the signature, then the timestamp, so a replay with a bad
// signature is a 401 and a correctly signed stale message is a 409.
func (v *StandardVerifier) Verify(h Headers, body []byte, now time.Time) (string, error) {
	id := strings.TrimSpace(firstHeader(h, "webhook-id", "svix-id"))
	tsRaw := strings.TrimSpace(firstHeader(h, "webhook-timestamp", "svix-timestamp"))
	sigs := firstHeader(h, "webhook-signature", "svix-signature")
	if id == "" || tsRaw == "" || sigs == "" {
		return "", sigErr("missing_header")
	}
	if strings.Contains(id, ".") || len(id) > 256 {
		return "", sigErr("bad_format")
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return "", sigErr("bad_format")
	}
	ok := 0
	for _, k := range v.keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(tsRaw))
		m.Write([]byte{'.'})
		m.Write(body)
		want := m.Sum(nil)
		for _, part := range strings.Fields(sigs) {
			ver, sig, found := strings.Cut(part, ",")
			if !found || ver != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err != nil {
				continue
			}
			ok |= subtle.ConstantTimeCompare(want, got)
		}
	}
	if ok != 1 {
		return "", sigErr("mismatch")
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-tol)) {
		return "", &VerifyError{Err: ErrTimestamp, Why: "stale"}
	}
	if at.After(now.Add(tol)) {
		return "", &VerifyError{Err: ErrTimestamp, Why: "future"}
	}
	return id, nil
}

// SignStandard signs a Standard Webhooks message (used by tests, the
// loadtest and partners' examples in docs).
func SignStandard(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := DecodeStandardSecret(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	fmt.Fprintf(m, "%s.%d.", id, ts.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// SignAfterShip returns the aftership-hmac-sha256 header value for body.
func SignAfterShip(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignEasyPost returns the X-Hmac-Signature header value for body.
func SignEasyPost(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(norm.NFKD.String(secret)))
	m.Write(body)
	return "hmac-sha256-hex=" + hex.EncodeToString(m.Sum(nil))
}

// tokenVerifier checks "Authorization: Bearer <token>" against the hashes of
// the source's valid tokens.
type tokenVerifier struct{ hashes [][]byte }

func (v *tokenVerifier) Verify(h Headers, _ []byte, _ time.Time) (string, error) {
	auth := strings.TrimSpace(h.Get("Authorization"))
	scheme, tok, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return "", sigErr("missing_header")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	ok := 0
	for _, hh := range v.hashes {
		ok |= subtle.ConstantTimeCompare(sum[:], hh)
	}
	if ok != 1 {
		return "", sigErr("mismatch")
	}
	return "", nil
}

// HashToken is how canonical tokens are stored: hex SHA-256. Tokens are
// random and long, so a fast hash is enough and allows lookup by hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return hex.EncodeToString(sum[:])
}
