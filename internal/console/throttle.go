package console

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
)

// Throttle limits password guessing. Failures are counted per key in a
// window; a key that reaches its limit is locked for a time that doubles
// with every further failure (capped). Three keys per attempt make both
// kinds of attack slow without letting a stranger lock a user out cheaply:
// the (user, address) pair locks quickly, the address alone a little later
// (one machine guessing many users), the user alone only after many
// failures from many addresses (a distributed guess).
type Throttle struct {
	DB  *db.DB
	Now func() time.Time
	// Window is how long failures are remembered.
	Window time.Duration
	// BaseLock is the first lock; each further failure doubles it, up to MaxLock.
	BaseLock, MaxLock time.Duration
	// Limits per key kind.
	PairMax, IPMax, UserMax int
}

// NewThrottle returns a throttle whose (user, address) pair locks after
// pairMax failures in 15 minutes, for one minute doubling up to an hour.
func NewThrottle(d *db.DB, now func() time.Time, pairMax int) *Throttle {
	if now == nil {
		now = time.Now
	}
	if pairMax <= 0 {
		pairMax = 5
	}
	return &Throttle{DB: d, Now: now, Window: 15 * time.Minute, BaseLock: time.Minute, MaxLock: time.Hour,
		PairMax: pairMax, IPMax: pairMax * 6, UserMax: pairMax * 4}
}

type failureRow struct {
	bun.BaseModel `bun:"table:console_login_failures"`

	Key         string     `bun:"key,pk"`
	Failures    int        `bun:"failures"`
	WindowStart time.Time  `bun:"window_start"`
	LockedUntil *time.Time `bun:"locked_until"`
}

type throttleKey struct {
	key string
	max int
}

func (t *Throttle) keys(username, ip string) []throttleKey {
	u := strings.ToLower(strings.TrimSpace(username))
	if len(u) > 100 {
		u = u[:100]
	}
	return []throttleKey{
		{"pair:" + u + "|" + ip, t.PairMax},
		{"ip:" + ip, t.IPMax},
		{"user:" + u, t.UserMax},
	}
}

// Check returns how long the caller must wait before trying again; zero
// means an attempt is allowed now.
func (t *Throttle) Check(ctx context.Context, username, ip string) (time.Duration, error) {
	ks := t.keys(username, ip)
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.key
	}
	var rows []failureRow
	if err := t.DB.Read.NewSelect().Model(&rows).Where("key IN (?)", bun.In(names)).Scan(ctx); err != nil {
		return 0, fmt.Errorf("console: read login throttle: %w", err)
	}
	now := t.Now().UTC()
	var wait time.Duration
	for _, r := range rows {
		if r.LockedUntil != nil && r.LockedUntil.After(now) {
			wait = max(wait, r.LockedUntil.Sub(now))
		}
	}
	return wait, nil
}

// Fail records a failed attempt and returns the lock it caused (zero when
// the caller may still try).
func (t *Throttle) Fail(ctx context.Context, username, ip string) (time.Duration, error) {
	now := t.Now().UTC()
	var wait time.Duration
	err := t.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, k := range t.keys(username, ip) {
			var r failureRow
			err := tx.NewSelect().Model(&r).Where("key = ?", k.key).Scan(ctx)
			exists := err == nil
			if err != nil && !db.IsNoRows(err) {
				return fmt.Errorf("console: read login failures: %w", err)
			}
			if !exists || t.quiet(r, now) {
				r = failureRow{Key: k.key, WindowStart: now}
			}
			r.Failures++
			if r.Failures >= k.max {
				lock := t.BaseLock << min(r.Failures-k.max, 16)
				if lock > t.MaxLock || lock <= 0 {
					lock = t.MaxLock
				}
				until := now.Add(lock)
				r.LockedUntil = &until
				wait = max(wait, lock)
			}
			if exists {
				_, err = tx.NewUpdate().Model(&r).WherePK().Exec(ctx)
			} else {
				_, err = tx.NewInsert().Model(&r).Exec(ctx)
			}
			if err != nil {
				return fmt.Errorf("console: record login failure: %w", err)
			}
		}
		return nil
	})
	return wait, err
}

// quiet reports whether a counter has seen no failure and no lock for a
// whole window, so it starts over. A lock extends the memory: after a lock
// ends the next failures keep doubling it until the caller stays quiet.
func (t *Throttle) quiet(r failureRow, now time.Time) bool {
	if r.LockedUntil != nil {
		return now.Sub(*r.LockedUntil) >= t.Window
	}
	return now.Sub(r.WindowStart) >= t.Window
}

// Succeed clears the counters of a user after a correct password: the pair
// and the user key. The address key stays, so an address that guessed many
// users does not get a fresh budget by knowing one password.
func (t *Throttle) Succeed(ctx context.Context, username, ip string) error {
	ks := t.keys(username, ip)
	_, err := t.DB.NewDelete().Model((*failureRow)(nil)).Where("key IN (?)", bun.In([]string{ks[0].key, ks[2].key})).Exec(ctx)
	if err != nil {
		return fmt.Errorf("console: clear login failures: %w", err)
	}
	return nil
}

// Prune forgets counters that have been quiet for a whole window.
func (t *Throttle) Prune(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	res, err := t.DB.NewDelete().Model((*failureRow)(nil)).
		Where("window_start <= ? AND (locked_until IS NULL OR locked_until <= ?)", now.Add(-t.Window), now.Add(-t.Window)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("console: prune login failures: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
