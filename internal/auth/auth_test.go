package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func TestTokens(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		exp := now.Add(time.Hour)
		plain, tok, err := auth.CreateToken(ctx, d, now, auth.TokenSpec{Name: "ci", Role: auth.RoleManager, Scopes: []string{"cases:read"}, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, auth.TokenPrefix) || strings.Contains(tok.Hash, plain) {
			t.Fatalf("token %q / stored hash %q", plain, tok.Hash)
		}
		p, _, err := auth.AuthenticateToken(ctx, d, now, plain)
		if err != nil {
			t.Fatal(err)
		}
		if p.Role != auth.RoleManager || !p.Can(auth.PermCasesRead) || p.Can(auth.PermCasesWrite) {
			t.Fatalf("principal %+v: scoped token must only read cases", p)
		}
		// The last character changed (to one it is not: tokens are random,
		// and one in 62 ends in "A").
		last := "A"
		if strings.HasSuffix(plain, last) {
			last = "B"
		}
		bad := []string{"", "ym_", plain + "x", plain[:len(plain)-1] + last, strings.Replace(plain, "ym_", "xx_", 1)}
		for _, b := range bad {
			if _, _, err := auth.AuthenticateToken(ctx, d, now, b); !errors.Is(err, apperr.ErrUnauthorized) {
				t.Errorf("token %q: err = %v, want unauthorized", b, err)
			}
		}
		if _, _, err := auth.AuthenticateToken(ctx, d, exp, plain); !errors.Is(err, apperr.ErrUnauthorized) {
			t.Errorf("expired token accepted: %v", err)
		}
		if err := auth.RevokeToken(ctx, d, now, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := auth.AuthenticateToken(ctx, d, now, plain); !errors.Is(err, apperr.ErrUnauthorized) {
			t.Errorf("revoked token accepted: %v", err)
		}
		if _, _, err := auth.CreateToken(ctx, d, now, auth.TokenSpec{Role: "root"}); !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("unknown role accepted: %v", err)
		}
	})
}

func TestUsersAndPasswords(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		u, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "Ana", Role: auth.RoleAnalyst, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "ana" || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Fatalf("user %+v", u)
		}
		if _, err := auth.Login(ctx, d, "ANA", "correct horse battery"); err != nil {
			t.Fatalf("login: %v", err)
		}
		for _, c := range [][2]string{{"ana", "wrong password!!"}, {"bob", "correct horse battery"}} {
			if _, err := auth.Login(ctx, d, c[0], c[1]); !errors.Is(err, apperr.ErrUnauthorized) {
				t.Errorf("login %v: %v", c, err)
			}
		}
		if _, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "ana", Role: auth.RoleViewer, Password: "another long one"}); !errors.Is(err, apperr.ErrConflict) {
			t.Errorf("duplicate username: %v", err)
		}
		_, err = auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "x", Role: "boss", Password: "short"})
		e, ok := apperr.As(err)
		if !ok || len(e.Fields) != 3 {
			t.Fatalf("invalid user: %v", err)
		}
	})
}

func TestRolePermissions(t *testing.T) {
	cases := []struct {
		role auth.Role
		perm auth.Permission
		want bool
	}{
		{auth.RoleViewer, auth.PermCasesRead, true},
		{auth.RoleViewer, auth.PermCasesWrite, false},
		{auth.RoleViewer, auth.PermActionsApprove, false},
		{auth.RoleManager, auth.PermActionsApprove, true},
		{auth.RoleAnalyst, auth.PermActionsApprove, false},
		{auth.RoleAnalyst, auth.PermRulesPublish, true},
		{auth.RoleManager, auth.PermRulesWrite, false},
		{auth.RoleAccount, auth.PermCasesReadAll, false},
		{auth.RoleAccount, auth.PermCasesRead, true},
		{auth.RoleAdmin, auth.PermSourcesAdmin, true},
		{auth.RoleManager, auth.PermSourcesAdmin, false},
	}
	for _, c := range cases {
		if got := (auth.Principal{Role: c.role}).Can(c.perm); got != c.want {
			t.Errorf("%s can %s = %v, want %v", c.role, c.perm, got, c.want)
		}
	}
	p := auth.Principal{Role: auth.RoleAdmin, Scopes: []string{"events:write:source=s1", "events:write:source=s2"}}
	if !p.Can(auth.PermEventsWrite) || p.Can(auth.PermCasesRead) {
		t.Fatal("scoped admin token")
	}
	vals, unrestricted := p.ScopeValues(auth.PermEventsWrite, "source")
	if unrestricted || len(vals) != 2 || vals[0] != "s1" {
		t.Fatalf("scope values %v %v", vals, unrestricted)
	}
}
