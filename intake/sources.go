package intake

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/secretbox"
)

// Source statuses.
const (
	SourceActive   = "active"
	SourceDisabled = "disabled"
)

// SyntheticSource is the source name of events the sweeps emit.
const SyntheticSource = "yardmaster"

// AttrShipmentID is the attribute by which a synthetic event names the
// shipment it is about (PickShipment joins it to that one).
const AttrShipmentID = "shipment_id"

// Source is a registered sender of events.
type Source struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Kind        Kind           `json:"kind"`
	Status      string         `json:"status"`
	RateLimit   float64        `json:"rate_limit,omitempty"` // requests/s; 0 = the configured default
	Settings    SourceSettings `json:"settings"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	DisabledAt  *time.Time     `json:"disabled_at,omitempty"`
	Credentials []Credential   `json:"credentials"`
	// WebhookPath is where the source posts (for the canonical kind the
	// events API is the usual entry).
	WebhookPath string `json:"webhook_path"`
}

// SourceSettings are a source's optional behaviours.
type SourceSettings struct {
	// Mappings are the source's own code tables, consulted before the
	// built-in ones (e.g. a partner whose X12 X1 means delivered).
	Mappings map[string]map[string]Entry `json:"mappings,omitempty"`
}

// Credential describes one secret or token of a source, never its value.
type Credential struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type sourceRow struct {
	bun.BaseModel `bun:"table:intake_sources"`

	ID         string     `bun:"id,pk"`
	Name       string     `bun:"name"`
	Kind       string     `bun:"kind"`
	Status     string     `bun:"status"`
	RateLimit  float64    `bun:"rate_limit"`
	Settings   string     `bun:"settings"`
	CreatedAt  time.Time  `bun:"created_at"`
	UpdatedAt  time.Time  `bun:"updated_at"`
	DisabledAt *time.Time `bun:"disabled_at"`
}

type credentialRow struct {
	bun.BaseModel `bun:"table:intake_source_credentials"`

	ID        string     `bun:"id,pk"`
	SourceID  string     `bun:"source_id"`
	Sealed    string     `bun:"sealed"`
	TokenHash *string    `bun:"token_hash"`
	CreatedAt time.Time  `bun:"created_at"`
	ExpiresAt *time.Time `bun:"expires_at"`
}

var sourceNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,62}$`)

// Registry keeps sources and their credentials: secrets sealed with the
// installation key (secretbox), canonical tokens as SHA-256 hashes. During
// a rotation the old credential stays valid until its expiry.
type Registry struct {
	db  *db.DB
	box *secretbox.Box
	now func() time.Time
	// CacheTTL bounds how long a verifier is reused without re-reading the
	// source (disable and rotation reach other processes within it).
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]*cachedSource
}

type cachedSource struct {
	src      *Source
	verifier Verifier
	overlay  *Mappings
	until    time.Time
}

// NewRegistry returns a registry over d sealing secrets with box.
func NewRegistry(d *db.DB, box *secretbox.Box, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{db: d, box: box, now: now, CacheTTL: 5 * time.Second, cache: map[string]*cachedSource{}}
}

// AddSource is the input of Add.
type AddSource struct {
	Name      string         `json:"name"`
	Kind      Kind           `json:"kind"`
	Secret    string         `json:"secret,omitempty"` // use this secret (e.g. AfterShip's); default: generate one
	RateLimit float64        `json:"rate_limit,omitempty"`
	Settings  SourceSettings `json:"settings,omitempty"`
}

// SourceCreated is a source with its secret or token, shown exactly once.
type SourceCreated struct {
	*Source
	Secret string `json:"secret,omitempty"`
	Token  string `json:"token,omitempty"`
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newSecret makes a fresh credential for a kind.
func newSecret(kind Kind) string {
	switch kind {
	case KindStandard:
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		return "whsec_" + base64.StdEncoding.EncodeToString(b)
	case KindCanonical:
		return SourceTokenPrefix + randomB64(32)
	}
	return randomB64(32)
}

func checkSecret(kind Kind, secret string) error {
	switch {
	case kind == KindStandard:
		k, err := DecodeStandardSecret(secret)
		if err != nil {
			return err
		}
		if len(k) < 16 {
			return errors.New("a standard webhooks secret must hold at least 16 bytes")
		}
	case len(secret) < 16:
		return errors.New("a secret must be at least 16 characters")
	}
	return nil
}

// credential builds the row of a new secret or token.
func (r *Registry) credential(src *sourceRow, secret string, now time.Time) *credentialRow {
	c := &credentialRow{ID: ids.At(now), SourceID: src.ID, CreatedAt: now}
	if Kind(src.Kind) == KindCanonical {
		h := HashToken(secret)
		c.TokenHash = &h
	} else {
		c.Sealed = r.box.Seal(secret, "intake_source:"+src.ID)
	}
	return c
}

// Add registers a source and returns its secret or token once.
func (r *Registry) Add(ctx context.Context, in AddSource) (*SourceCreated, error) {
	in.Name = strings.TrimSpace(in.Name)
	var errs []apperr.FieldError
	if !sourceNameRe.MatchString(in.Name) {
		errs = append(errs, fieldErr("name", "must be 2-63 lower-case letters, digits, - or _ (it appears in the webhook URL)"))
	} else if in.Name == SyntheticSource {
		errs = append(errs, fieldErr("name", "%q is reserved for Yardmaster's own events", SyntheticSource))
	}
	if !in.Kind.Valid() {
		errs = append(errs, fieldErr("kind", "must be aftership, easypost, standard or canonical"))
	}
	if in.RateLimit < 0 {
		errs = append(errs, fieldErr("rate_limit", "must not be negative"))
	}
	if in.Secret != "" && in.Kind.Valid() {
		if err := checkSecret(in.Kind, in.Secret); err != nil {
			errs = append(errs, fieldErr("secret", "%v", err))
		}
	}
	if len(in.Settings.Mappings) > 0 {
		if _, err := NewOverlay(DefaultMappings(), in.Settings.Mappings); err != nil {
			errs = append(errs, fieldErr("settings.mappings", "%v", err))
		}
	}
	if len(errs) > 0 {
		return nil, apperr.Invalid("invalid source", errs...)
	}
	secret := in.Secret
	if secret == "" {
		secret = newSecret(in.Kind)
	}
	now := r.now().UTC()
	settings, _ := json.Marshal(in.Settings)
	row := &sourceRow{ID: ids.At(now), Name: in.Name, Kind: string(in.Kind), Status: SourceActive, RateLimit: in.RateLimit,
		Settings: string(settings), CreatedAt: now, UpdatedAt: now}
	cred := r.credential(row, secret, now)
	err := r.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Conflict(fmt.Sprintf("a source named %q exists", in.Name))
			}
			return fmt.Errorf("insert source: %w", err)
		}
		if _, err := tx.NewInsert().Model(cred).Exec(ctx); err != nil {
			return fmt.Errorf("insert source credential: %w", err)
		}
		_, err := audit.Append(ctx, tx, now, audit.Record{Action: "source.created", SubjectType: "source", SubjectID: row.ID,
			After: map[string]any{"name": row.Name, "kind": row.Kind, "rate_limit": row.RateLimit}})
		return err
	})
	if err != nil {
		return nil, err
	}
	src, err := r.Get(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	out := &SourceCreated{Source: src}
	if in.Kind == KindCanonical {
		out.Token = secret
	} else {
		out.Secret = secret
	}
	return out, nil
}

func (r *Registry) loadRow(ctx context.Context, idb bun.IDB, idOrName string) (*sourceRow, error) {
	var row sourceRow
	err := idb.NewSelect().Model(&row).Where("id = ? OR name = ?", idOrName, idOrName).Limit(1).Scan(ctx)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("source "+idOrName, err)
		}
		return nil, fmt.Errorf("load source %s: %w", idOrName, err)
	}
	return &row, nil
}

func (r *Registry) credentials(ctx context.Context, idb bun.IDB, sourceID string) ([]credentialRow, error) {
	var creds []credentialRow
	if err := idb.NewSelect().Model(&creds).Where("source_id = ?", sourceID).OrderExpr("created_at DESC, id DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load source credentials: %w", err)
	}
	return creds, nil
}

func (r *Registry) toSource(row *sourceRow, creds []credentialRow, now time.Time) *Source {
	s := &Source{ID: row.ID, Name: row.Name, Kind: Kind(row.Kind), Status: row.Status, RateLimit: row.RateLimit,
		CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, DisabledAt: row.DisabledAt, Credentials: []Credential{},
		WebhookPath: "/v1/webhooks/" + row.Name}
	_ = json.Unmarshal([]byte(row.Settings), &s.Settings)
	for _, c := range creds {
		if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
			continue
		}
		s.Credentials = append(s.Credentials, Credential{ID: c.ID, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt})
	}
	return s
}

// Get returns a source by id or name, with its valid credentials.
func (r *Registry) Get(ctx context.Context, idOrName string) (*Source, error) {
	row, err := r.loadRow(ctx, r.db.Read, idOrName)
	if err != nil {
		return nil, err
	}
	creds, err := r.credentials(ctx, r.db.Read, row.ID)
	if err != nil {
		return nil, err
	}
	return r.toSource(row, creds, r.now()), nil
}

// List returns every source by name.
func (r *Registry) List(ctx context.Context) ([]*Source, error) {
	var rows []sourceRow
	if err := r.db.Read.NewSelect().Model(&rows).OrderExpr("name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	now := r.now()
	out := make([]*Source, 0, len(rows))
	for i := range rows {
		creds, err := r.credentials(ctx, r.db.Read, rows[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, r.toSource(&rows[i], creds, now))
	}
	return out, nil
}

// Rotate issues a new secret (or token) and keeps the current one valid for
// overlap (0: revoked at once). Credentials older than the current one are
// revoked now, so at most two are ever valid. secret, when given, is used
// instead of a generated one.
func (r *Registry) Rotate(ctx context.Context, idOrName string, overlap time.Duration, secret string) (*SourceCreated, error) {
	if overlap < 0 {
		return nil, apperr.Invalid("invalid rotation", fieldErr("overlap", "must not be negative"))
	}
	now := r.now().UTC()
	var row *sourceRow
	err := r.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if row, err = r.loadRow(ctx, tx, idOrName); err != nil {
			return err
		}
		kind := Kind(row.Kind)
		if secret != "" {
			if err := checkSecret(kind, secret); err != nil {
				return apperr.Invalid("invalid secret", fieldErr("secret", "%v", err))
			}
		} else {
			secret = newSecret(kind)
		}
		creds, err := r.credentials(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		expiry := now.Add(overlap)
		for i, c := range creds {
			if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
				continue
			}
			until := now
			if i == 0 && overlap > 0 {
				until = expiry
			}
			if c.ExpiresAt != nil && c.ExpiresAt.Before(until) {
				continue
			}
			if _, err := tx.NewUpdate().Model((*credentialRow)(nil)).Set("expires_at = ?", until).Where("id = ?", c.ID).Exec(ctx); err != nil {
				return fmt.Errorf("expire credential: %w", err)
			}
		}
		cred := r.credential(row, secret, now)
		if _, err := tx.NewInsert().Model(cred).Exec(ctx); err != nil {
			return fmt.Errorf("insert credential: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*sourceRow)(nil)).Set("updated_at = ?", now).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("touch source: %w", err)
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "source.rotated", SubjectType: "source", SubjectID: row.ID,
			After: map[string]any{"credential_id": cred.ID, "previous_valid_until": expiry}})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.forget(row.Name)
	src, err := r.Get(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	out := &SourceCreated{Source: src}
	if src.Kind == KindCanonical {
		out.Token = secret
	} else {
		out.Secret = secret
	}
	return out, nil
}

// SetStatus disables or re-enables a source. A disabled source's requests
// are refused as unauthenticated.
func (r *Registry) SetStatus(ctx context.Context, idOrName, status string) (*Source, error) {
	if status != SourceActive && status != SourceDisabled {
		return nil, apperr.Invalid("invalid status", fieldErr("status", "must be active or disabled"))
	}
	now := r.now().UTC()
	var row *sourceRow
	err := r.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if row, err = r.loadRow(ctx, tx, idOrName); err != nil {
			return err
		}
		if row.Status == status {
			return nil
		}
		var disabledAt *time.Time
		if status == SourceDisabled {
			disabledAt = &now
		}
		if _, err := tx.NewUpdate().Model((*sourceRow)(nil)).Set("status = ?", status).Set("disabled_at = ?", disabledAt).
			Set("updated_at = ?", now).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return fmt.Errorf("update source status: %w", err)
		}
		action := "source.disabled"
		if status == SourceActive {
			action = "source.enabled"
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: action, SubjectType: "source", SubjectID: row.ID,
			Before: map[string]any{"status": row.Status}, After: map[string]any{"status": status}})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.forget(row.Name)
	return r.Get(ctx, row.ID)
}

func (r *Registry) forget(name string) {
	r.mu.Lock()
	delete(r.cache, name)
	r.mu.Unlock()
}

// errNoSource is answered like a bad signature: a caller must not learn
// which source names exist.
func errNoSource(why string) error { return &VerifyError{Err: ErrSignature, Why: why} }

// Resolve returns an active source by name with its verifier and mapping
// overlay, from a short-lived cache. Unknown and disabled sources are
// ErrSignature (401), like a bad signature.
func (r *Registry) Resolve(ctx context.Context, name string) (*Source, Verifier, *Mappings, error) {
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && now.Before(c.until) {
		if c.src == nil {
			return nil, nil, nil, errNoSource("unknown_source")
		}
		if c.src.Status != SourceActive {
			return nil, nil, nil, errNoSource("source_disabled")
		}
		return c.src, c.verifier, c.overlay, nil
	}
	c, err := r.load(ctx, name, now)
	if err != nil {
		return nil, nil, nil, err
	}
	r.mu.Lock()
	if len(r.cache) > 10000 {
		r.cache = map[string]*cachedSource{}
	}
	r.cache[name] = c
	r.mu.Unlock()
	if c.src == nil {
		return nil, nil, nil, errNoSource("unknown_source")
	}
	if c.src.Status != SourceActive {
		return nil, nil, nil, errNoSource("source_disabled")
	}
	return c.src, c.verifier, c.overlay, nil
}

func (r *Registry) load(ctx context.Context, name string, now time.Time) (*cachedSource, error) {
	c := &cachedSource{until: now.Add(r.CacheTTL)}
	if !sourceNameRe.MatchString(name) {
		return c, nil
	}
	var row sourceRow
	err := r.db.Read.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load source %s: %w", name, err)
	}
	creds, err := r.credentials(ctx, r.db.Read, row.ID)
	if err != nil {
		return nil, err
	}
	var secrets []string
	for _, cr := range creds {
		if cr.ExpiresAt != nil {
			if !cr.ExpiresAt.After(now) {
				continue
			}
			if cr.ExpiresAt.Before(c.until) {
				c.until = *cr.ExpiresAt // re-read when a credential lapses
			}
		}
		if Kind(row.Kind) == KindCanonical {
			if cr.TokenHash != nil {
				secrets = append(secrets, *cr.TokenHash)
			}
			continue
		}
		s, err := r.box.Open(cr.Sealed, "intake_source:"+row.ID)
		if err != nil {
			return nil, fmt.Errorf("open secret of source %s: %w", name, err)
		}
		secrets = append(secrets, s)
	}
	c.src = r.toSource(&row, creds, now)
	if len(secrets) > 0 {
		if c.verifier, err = NewVerifier(c.src.Kind, secrets); err != nil {
			return nil, fmt.Errorf("source %s: %w", name, err)
		}
	} else {
		c.verifier = denyVerifier{}
	}
	if len(c.src.Settings.Mappings) > 0 {
		if c.overlay, err = NewOverlay(DefaultMappings(), c.src.Settings.Mappings); err != nil {
			return nil, fmt.Errorf("source %s mappings: %w", name, err)
		}
	}
	return c, nil
}

// SourceForToken finds the active canonical source a bearer token belongs
// to (POST /api/v1/events). Unknown tokens are ErrSignature.
func (r *Registry) SourceForToken(ctx context.Context, token string) (*Source, *Mappings, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil, errNoSource("missing_token")
	}
	var cred credentialRow
	err := r.db.Read.NewSelect().Model(&cred).Where("token_hash = ?", HashToken(token)).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNoSource("unknown_token")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up token: %w", err)
	}
	now := r.now()
	if cred.ExpiresAt != nil && !cred.ExpiresAt.After(now) {
		return nil, nil, errNoSource("token_expired")
	}
	var row sourceRow
	if err := r.db.Read.NewSelect().Model(&row).Where("id = ?", cred.SourceID).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("load source of token: %w", err)
	}
	src, _, overlay, err := r.Resolve(ctx, row.Name)
	if err != nil {
		return nil, nil, err
	}
	return src, overlay, nil
}

// denyVerifier refuses everything: a source whose credentials all lapsed.
type denyVerifier struct{}

func (denyVerifier) Verify(Headers, []byte, time.Time) (string, error) {
	return "", sigErr("no_valid_secret")
}
