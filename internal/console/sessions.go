package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
)

// Session is one signed-in browser. ID is the SHA-256 of the cookie value:
// a database leak does not hand out live sessions.
type Session struct {
	bun.BaseModel `bun:"table:console_sessions"`

	ID         string    `bun:"id,pk"`
	UserID     string    `bun:"user_id"`
	CSRF       string    `bun:"csrf"`
	CreatedAt  time.Time `bun:"created_at"`
	LastSeenAt time.Time `bun:"last_seen_at"`
	ExpiresAt  time.Time `bun:"expires_at"`
	IP         string    `bun:"ip"`
	UserAgent  string    `bun:"user_agent"`
}

// Why a cookie does not name a usable session. Callers branch on these to
// tell "your session expired" from "please sign in".
var (
	ErrNoSession      = errors.New("console: no such session")
	ErrSessionExpired = errors.New("console: session expired")
)

// Sessions stores sessions. Idle is the inactivity timeout, MaxAge the
// absolute lifetime from sign-in; both are enforced on every lookup.
type Sessions struct {
	DB     *db.DB
	Now    func() time.Time
	Idle   time.Duration
	MaxAge time.Duration
	// TouchEvery bounds how often last_seen_at is written (a write per
	// request would serialize every page view on SQLite's one writer).
	TouchEvery time.Duration
}

// NewSessions returns a store with the given timeouts (defaults: 8h idle,
// 72h absolute).
func NewSessions(d *db.DB, now func() time.Time, idle, maxAge time.Duration) *Sessions {
	if now == nil {
		now = time.Now
	}
	if idle <= 0 {
		idle = 8 * time.Hour
	}
	if maxAge <= 0 {
		maxAge = 72 * time.Hour
	}
	return &Sessions{DB: d, Now: now, Idle: idle, MaxAge: maxAge, TouchEvery: time.Minute}
}

// HashToken is the stored id of a cookie value.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: session entropy: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Create starts a session for a user and returns the cookie value, which
// is never stored.
func (s *Sessions) Create(ctx context.Context, idb bun.IDB, userID, ip, userAgent string) (string, Session, error) {
	token, err := randomToken()
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", Session{}, err
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	now := s.Now().UTC()
	sess := Session{ID: HashToken(token), UserID: userID, CSRF: csrf, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.MaxAge), IP: ip, UserAgent: userAgent}
	if _, err := idb.NewInsert().Model(&sess).Exec(ctx); err != nil {
		return "", Session{}, fmt.Errorf("console: store session: %w", err)
	}
	return token, sess, nil
}

// Lookup returns the live session of a cookie value and its user. A session
// past its idle timeout or absolute lifetime, or of a disabled or deleted
// user, is removed and reported as ErrSessionExpired or ErrNoSession.
func (s *Sessions) Lookup(ctx context.Context, token string) (Session, auth.User, error) {
	if token == "" || len(token) > 200 {
		return Session{}, auth.User{}, ErrNoSession
	}
	var sess Session
	err := s.DB.Read.NewSelect().Model(&sess).Where("id = ?", HashToken(token)).Scan(ctx)
	if err != nil {
		if db.IsNoRows(err) {
			return Session{}, auth.User{}, ErrNoSession
		}
		return Session{}, auth.User{}, fmt.Errorf("console: load session: %w", err)
	}
	now := s.Now().UTC()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.Idle {
		_ = s.delete(ctx, sess.ID)
		return Session{}, auth.User{}, ErrSessionExpired
	}
	u, err := auth.GetUser(ctx, s.DB.Read, sess.UserID)
	if err != nil || u.Disabled {
		if err == nil || errors.Is(err, apperr.ErrNotFound) {
			_ = s.delete(ctx, sess.ID)
			return Session{}, auth.User{}, ErrNoSession
		}
		return Session{}, auth.User{}, err
	}
	if now.Sub(sess.LastSeenAt) >= s.TouchEvery {
		if _, err := s.DB.NewUpdate().Model((*Session)(nil)).Set("last_seen_at = ?", now).Where("id = ?", sess.ID).Exec(ctx); err != nil {
			return Session{}, auth.User{}, fmt.Errorf("console: touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, u, nil
}

func (s *Sessions) delete(ctx context.Context, id string) error {
	_, err := s.DB.NewDelete().Model((*Session)(nil)).Where("id = ?", id).Exec(ctx)
	return err
}

// Delete ends the session of a cookie value (logout). Ending a session that
// does not exist is not an error.
func (s *Sessions) Delete(ctx context.Context, token string) error {
	if err := s.delete(ctx, HashToken(token)); err != nil {
		return fmt.Errorf("console: delete session: %w", err)
	}
	return nil
}

// DeleteForUser ends every session of a user except keepID (the session
// that changed the password stays signed in). Used when a password changes
// or a user is disabled or loses a role.
func DeleteForUser(ctx context.Context, idb bun.IDB, userID, keepID string) (int, error) {
	q := idb.NewDelete().Model((*Session)(nil)).Where("user_id = ?", userID)
	if keepID != "" {
		q = q.Where("id <> ?", keepID)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("console: end sessions of %s: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RotateCSRF gives a session a fresh CSRF token (after a privilege change
// such as a password change) and returns it.
func RotateCSRF(ctx context.Context, idb bun.IDB, sessionID string) (string, error) {
	csrf, err := randomToken()
	if err != nil {
		return "", err
	}
	if _, err := idb.NewUpdate().Model((*Session)(nil)).Set("csrf = ?", csrf).Where("id = ?", sessionID).Exec(ctx); err != nil {
		return "", fmt.Errorf("console: rotate csrf: %w", err)
	}
	return csrf, nil
}

// Prune deletes sessions past their absolute lifetime or idle timeout.
func (s *Sessions) Prune(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	res, err := s.DB.NewDelete().Model((*Session)(nil)).
		Where("expires_at <= ? OR last_seen_at <= ?", now, now.Add(-s.Idle)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("console: prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteByID ends one session by its stored id inside the caller's
// transaction (sign-out with its audit entry).
func DeleteByID(ctx context.Context, idb bun.IDB, id string) error {
	if _, err := idb.NewDelete().Model((*Session)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("console: delete session: %w", err)
	}
	return nil
}
