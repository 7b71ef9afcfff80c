package console_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/console"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newUser(t *testing.T, d *db.DB, name string) auth.User {
	t.Helper()
	u, err := auth.CreateUser(context.Background(), d, t0, auth.UserSpec{Username: name, Role: auth.RoleManager, Password: "long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSessionLifetime(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		u := newUser(t, d, "mia")
		tests := []struct {
			name  string
			steps []time.Duration // time passing between lookups, each lookup must succeed
			last  time.Duration   // then this passes
			want  error
		}{
			{"fresh", nil, 0, nil},
			{"active within idle timeout", []time.Duration{50 * time.Minute, 50 * time.Minute}, 50 * time.Minute, nil},
			{"idle too long", nil, time.Hour, console.ErrSessionExpired},
			{"absolute lifetime", []time.Duration{55 * time.Minute, 55 * time.Minute, 55 * time.Minute, 55 * time.Minute}, 55 * time.Minute, console.ErrSessionExpired},
		}
		for _, tc := range tests {
			clk := &clock{t0}
			s := console.NewSessions(d, clk.now, time.Hour, 4*time.Hour+30*time.Minute)
			tok, sess, err := s.Create(ctx, d, u.ID, "192.0.2.1", "test")
			if err != nil {
				t.Fatal(err)
			}
			if sess.ID == tok || sess.ID != console.HashToken(tok) || sess.CSRF == "" {
				t.Fatalf("%s: session stored as %+v", tc.name, sess)
			}
			for i, step := range tc.steps {
				clk.advance(step)
				if _, _, err := s.Lookup(ctx, tok); err != nil {
					t.Fatalf("%s: step %d: %v", tc.name, i, err)
				}
			}
			clk.advance(tc.last)
			got, gotUser, err := s.Lookup(ctx, tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
			if tc.want == nil && (got.UserID != u.ID || gotUser.ID != u.ID) {
				t.Errorf("%s: session %+v user %+v", tc.name, got, gotUser)
			}
			if tc.want != nil {
				// An expired session is gone, not merely refused.
				if _, _, err := s.Lookup(ctx, tok); !errors.Is(err, console.ErrNoSession) {
					t.Errorf("%s: second lookup of expired session: %v", tc.name, err)
				}
			}
		}
	})
}

func TestSessionEnds(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		u := newUser(t, d, "ola")
		clk := &clock{t0}
		s := console.NewSessions(d, clk.now, time.Hour, 24*time.Hour)
		for _, bad := range []string{"", "x", string(make([]byte, 300))} {
			if _, _, err := s.Lookup(ctx, bad); !errors.Is(err, console.ErrNoSession) {
				t.Errorf("lookup %q: %v", bad, err)
			}
		}
		a, sa, _ := s.Create(ctx, d, u.ID, "", "")
		b, _, _ := s.Create(ctx, d, u.ID, "", "")
		c, _, _ := s.Create(ctx, d, u.ID, "", "")
		if err := s.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Lookup(ctx, c); !errors.Is(err, console.ErrNoSession) {
			t.Errorf("logged-out session: %v", err)
		}
		if n, err := console.DeleteForUser(ctx, d, u.ID, sa.ID); err != nil || n != 1 {
			t.Fatalf("end other sessions: %d, %v", n, err)
		}
		if _, _, err := s.Lookup(ctx, a); err != nil {
			t.Errorf("kept session ended: %v", err)
		}
		if _, _, err := s.Lookup(ctx, b); !errors.Is(err, console.ErrNoSession) {
			t.Errorf("other session survived: %v", err)
		}
		yes := true
		if _, _, err := auth.UpdateUser(ctx, d, t0, u.ID, auth.UserUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Lookup(ctx, a); !errors.Is(err, console.ErrNoSession) {
			t.Errorf("disabled user's session: %v", err)
		}
		old, _ := console.RotateCSRF(ctx, d, sa.ID)
		if old == sa.CSRF {
			t.Error("csrf not rotated")
		}
		// Prune removes what lookups have not.
		x, _, _ := s.Create(ctx, d, newUser(t, d, "pru").ID, "", "")
		clk.advance(2 * time.Hour)
		if n, err := s.Prune(ctx, clk.now()); err != nil || n != 1 {
			t.Errorf("prune: %d, %v", n, err)
		}
		_ = x
	})
}

func TestThrottle(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clk := &clock{t0}
		th := console.NewThrottle(d, clk.now, 3)
		mustWait := func(user, ip string, want time.Duration) {
			t.Helper()
			got, err := th.Check(ctx, user, ip)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("wait for %s from %s = %v, want %v", user, ip, got, want)
			}
		}
		fail := func(user, ip string) time.Duration {
			t.Helper()
			w, err := th.Fail(ctx, user, ip)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		// Two failures are free, the third locks the pair for a minute.
		fail("mia", "192.0.2.1")
		fail("Mia", "192.0.2.1")
		mustWait("mia", "192.0.2.1", 0)
		if w := fail("mia", "192.0.2.1"); w != time.Minute {
			t.Errorf("third failure locks for %v, want 1m", w)
		}
		mustWait("mia", "192.0.2.1", time.Minute)
		// Another address may still try the same user.
		mustWait("mia", "198.51.100.7", 0)
		// After the lock, one more failure doubles it.
		clk.advance(time.Minute)
		mustWait("mia", "192.0.2.1", 0)
		if w := fail("mia", "192.0.2.1"); w != 2*time.Minute {
			t.Errorf("fourth failure locks for %v, want 2m", w)
		}
		// Success clears the user's counters.
		clk.advance(2 * time.Minute)
		if err := th.Succeed(ctx, "mia", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		mustWait("mia", "192.0.2.1", 0)
		if w := fail("mia", "192.0.2.1"); w != 0 {
			t.Errorf("first failure after success locks for %v", w)
		}
		// One address guessing many users is locked by the address key
		// (3*6 = 18 failures), whatever the user name.
		for i := range 17 {
			fail(string(rune('a'+i))+"user", "203.0.113.9")
		}
		if w := fail("zuser", "203.0.113.9"); w != time.Minute {
			t.Errorf("address lock = %v, want 1m", w)
		}
		mustWait("someone-else", "203.0.113.9", time.Minute)
		// Quiet for a window after the lock: counters are pruned.
		clk.advance(time.Hour)
		if n, err := th.Prune(ctx, clk.now()); err != nil || n == 0 {
			t.Errorf("prune: %d, %v", n, err)
		}
		mustWait("someone-else", "203.0.113.9", 0)
	})
}

func TestViews(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		v := &console.Views{DB: d, Now: func() time.Time { return t0 }}
		a, b := newUser(t, d, "va"), newUser(t, d, "vb")
		mine, err := v.Save(ctx, a.ID, "queue", " EU critical ", "?severity=critical&queue=eu&cursor=abc&_csrf=x", false)
		if err != nil {
			t.Fatal(err)
		}
		if mine.Name != "EU critical" || mine.Query != "queue=eu&severity=critical" {
			t.Errorf("saved %+v", mine)
		}
		if _, err := v.Save(ctx, b.ID, "queue", "Team breaches", "sla=breached", true); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct{ name, q string }{{"", "a=1"}, {"EU critical", "a=2"}, {"bad query", "%zz"}} {
			if _, err := v.Save(ctx, a.ID, "queue", bad.name, bad.q, false); !errors.Is(err, apperr.ErrInvalid) {
				t.Errorf("save %q %q: %v", bad.name, bad.q, err)
			}
		}
		list, err := v.List(ctx, a.ID, "queue")
		if err != nil || len(list) != 2 {
			t.Fatalf("a sees %+v, %v", list, err)
		}
		list, _ = v.List(ctx, b.ID, "queue")
		if len(list) != 1 || list[0].Name != "Team breaches" {
			t.Errorf("b sees %+v (a's private view must not show)", list)
		}
		if err := v.Delete(ctx, b.ID, mine.ID); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("b deleted a's view: %v", err)
		}
		if err := v.Delete(ctx, a.ID, mine.ID); err != nil {
			t.Error(err)
		}
	})
}
