package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

func TestSetPassword(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		u, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "mia", Role: auth.RoleManager, Password: "one-time password 1", MustChangePassword: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, pw string }{{"too short", "short"}, {"same as current", "one-time password 1"}} {
			if err := auth.SetPassword(ctx, d, now, u.ID, tc.pw, false); !errors.Is(err, apperr.ErrInvalid) {
				t.Errorf("%s: err = %v, want invalid", tc.name, err)
			}
		}
		if err := auth.SetPassword(ctx, d, now, u.ID, "a new long passphrase", false); err != nil {
			t.Fatal(err)
		}
		got, err := auth.Login(ctx, d, "mia", "a new long passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if got.MustChangePassword {
			t.Error("must_change_password still set after the user chose a password")
		}
		if _, err := auth.Login(ctx, d, "mia", "one-time password 1"); err == nil {
			t.Error("old password still works")
		}
		if err := auth.SetPassword(ctx, d, now, "nope", "a new long passphrase", false); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		u, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "ola", Role: auth.RoleViewer, Password: "long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		str := func(s string) *string { return &s }
		role := func(r auth.Role) *auth.Role { return &r }
		yes := true
		tests := []struct {
			name    string
			up      auth.UserUpdate
			invalid bool
			check   func(auth.User) bool
		}{
			{"role", auth.UserUpdate{Role: role(auth.RoleManager)}, false, func(u auth.User) bool { return u.Role == auth.RoleManager }},
			{"bad role", auth.UserUpdate{Role: role("root")}, true, nil},
			{"bad email", auth.UserUpdate{Email: str("not-an-address")}, true, nil},
			{"fields", auth.UserUpdate{Email: str(" ola@example.com "), Team: str("EU"), DisplayName: str("Ola N")}, false,
				func(u auth.User) bool {
					return u.Email == "ola@example.com" && u.Team == "EU" && u.DisplayName == "Ola N"
				}},
			{"disable", auth.UserUpdate{Disabled: &yes}, false, func(u auth.User) bool { return u.Disabled }},
		}
		for _, tc := range tests {
			_, after, err := auth.UpdateUser(ctx, d, now, u.ID, tc.up)
			if tc.invalid {
				if !errors.Is(err, apperr.ErrInvalid) {
					t.Errorf("%s: err = %v, want invalid", tc.name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			stored, err := auth.GetUser(ctx, d, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(after) || !tc.check(stored) {
				t.Errorf("%s: after %+v stored %+v", tc.name, after, stored)
			}
		}
		if n, err := auth.CountActiveAdmins(ctx, d); err != nil || n != 0 {
			t.Errorf("active admins = %d, %v", n, err)
		}
	})
}
