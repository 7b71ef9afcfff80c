package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
)

// TokenPrefix starts every API token, so secret scanners can find leaks.
const TokenPrefix = "ym_"

// Token is a stored API token (never its secret).
type Token struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID         string     `bun:"id,pk" json:"id"`
	Name       string     `bun:"name" json:"name"`
	Hash       string     `bun:"hash" json:"-"`
	Role       Role       `bun:"role" json:"role"`
	ScopesCSV  string     `bun:"scopes" json:"-"`
	UserID     string     `bun:"user_id" json:"user_id,omitempty"`
	CreatedBy  string     `bun:"created_by" json:"created_by,omitempty"`
	CreatedAt  time.Time  `bun:"created_at" json:"created_at"`
	ExpiresAt  *time.Time `bun:"expires_at" json:"expires_at,omitempty"`
	LastUsedAt *time.Time `bun:"last_used_at" json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `bun:"revoked_at" json:"revoked_at,omitempty"`
}

// Scopes returns the token's scopes.
func (t Token) Scopes() []string {
	if t.ScopesCSV == "" {
		return nil
	}
	return strings.Split(t.ScopesCSV, ",")
}

// TokenSpec describes a token to create.
type TokenSpec struct {
	Name      string
	Role      Role
	Scopes    []string
	UserID    string
	CreatedBy string
	ExpiresAt *time.Time
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken stores a new token and returns its plaintext, which is shown
// once and never stored.
func CreateToken(ctx context.Context, idb bun.IDB, now time.Time, spec TokenSpec) (string, Token, error) {
	if !spec.Role.Valid() {
		return "", Token{}, apperr.Invalid("unknown role", apperr.FieldError{Field: "role", Message: fmt.Sprintf("%q is not one of admin, analyst, manager, account, viewer", spec.Role)})
	}
	for _, s := range spec.Scopes {
		if s == "" || strings.ContainsAny(s, ", ") {
			return "", Token{}, apperr.Invalid("bad scope", apperr.FieldError{Field: "scope", Message: fmt.Sprintf("%q: scopes are non-empty and contain no comma or space", s)})
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("token entropy: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	id := strings.ToLower(ids.At(now))
	t := Token{ID: id, Name: spec.Name, Hash: hashSecret(secret), Role: spec.Role, ScopesCSV: strings.Join(spec.Scopes, ","),
		UserID: spec.UserID, CreatedBy: spec.CreatedBy, CreatedAt: now.UTC(), ExpiresAt: spec.ExpiresAt}
	if _, err := idb.NewInsert().Model(&t).Exec(ctx); err != nil {
		return "", Token{}, fmt.Errorf("store token: %w", err)
	}
	return TokenPrefix + id + "_" + secret, t, nil
}

// errBadToken is the one answer for every token failure, so a caller learns
// nothing about which part was wrong.
var errBadToken = apperr.Unauthorized("invalid or missing credentials")

// AuthenticateToken checks a bearer token and returns its principal.
func AuthenticateToken(ctx context.Context, idb bun.IDB, now time.Time, plaintext string) (Principal, Token, error) {
	rest, ok := strings.CutPrefix(plaintext, TokenPrefix)
	if !ok {
		return Principal{}, Token{}, errBadToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 26 || secret == "" {
		return Principal{}, Token{}, errBadToken
	}
	var t Token
	err := idb.NewSelect().Model(&t).Where("id = ?", id).Scan(ctx)
	if err != nil {
		if db.IsNoRows(err) {
			// Compare anyway so a miss costs the same as a hit.
			subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(hashSecret("")))
			return Principal{}, Token{}, errBadToken
		}
		return Principal{}, Token{}, fmt.Errorf("load token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(t.Hash)) != 1 {
		return Principal{}, Token{}, errBadToken
	}
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
		return Principal{}, Token{}, errBadToken
	}
	return Principal{Kind: "token", ID: t.ID, Name: t.Name, Role: t.Role, Scopes: t.Scopes(), UserID: t.UserID}, t, nil
}

// TouchToken records use, at most once a minute per token.
func TouchToken(ctx context.Context, idb bun.IDB, now time.Time, t Token) error {
	if t.LastUsedAt != nil && now.Sub(*t.LastUsedAt) < time.Minute {
		return nil
	}
	_, err := idb.NewUpdate().Model((*Token)(nil)).Set("last_used_at = ?", now.UTC()).Where("id = ?", t.ID).Exec(ctx)
	return err
}

// ListTokens returns every token, newest first.
func ListTokens(ctx context.Context, idb bun.IDB) ([]Token, error) {
	var ts []Token
	if err := idb.NewSelect().Model(&ts).Order("created_at DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken revokes a token.
func RevokeToken(ctx context.Context, idb bun.IDB, now time.Time, id string) error {
	res, err := idb.NewUpdate().Model((*Token)(nil)).Set("revoked_at = ?", now.UTC()).Where("id = ? AND revoked_at IS NULL", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFound("active token "+id, nil)
	}
	return nil
}

// IssueToken creates a token and its audit entry in one transaction.
func IssueToken(ctx context.Context, d *db.DB, now time.Time, spec TokenSpec) (string, Token, error) {
	var plain string
	var tok Token
	err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		plain, tok, err = CreateToken(ctx, tx, now, spec)
		if err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "token.created", SubjectType: "token", SubjectID: tok.ID,
			After: map[string]any{"name": tok.Name, "role": tok.Role, "scopes": tok.Scopes(), "expires_at": tok.ExpiresAt}})
		return err
	})
	return plain, tok, err
}
