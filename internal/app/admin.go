package app

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// wireFirstAdmin creates the first admin user on a database without users
// and prints its password once (YARDMASTER_ADMIN_PASSWORD, or a generated
// one-time password that must be changed at first login). The password goes
// to the banner output, never to the logs.
func (a *App) wireFirstAdmin(ctx context.Context) error {
	if !a.RunsAPI() {
		return nil
	}
	n, err := auth.CountUsers(ctx, a.DB.Read)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	pw, generated := a.Config.AdminPassword, false
	if pw == "" {
		pw, generated = auth.NewPassword(), true
	}
	var u auth.User
	err = a.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if n, err := auth.CountUsers(ctx, tx); err != nil || n > 0 {
			return err // another process won the race
		}
		var err error
		u, err = auth.CreateUser(ctx, tx, a.Now(), auth.UserSpec{Username: "admin", DisplayName: "Administrator",
			Role: auth.RoleAdmin, Password: pw, MustChangePassword: generated})
		if err != nil {
			return fmt.Errorf("create first admin (YARDMASTER_ADMIN_PASSWORD): %w", err)
		}
		_, err = audit.Append(ctx, tx, a.Now(), audit.Record{Action: "user.created", SubjectType: "user", SubjectID: u.ID,
			After: map[string]any{"username": u.Username, "role": u.Role}, Detail: "first start"})
		return err
	})
	if err != nil || u.ID == "" {
		return err
	}
	if generated {
		fmt.Fprintf(a.Out, "\nFirst start: created user \"admin\" with one-time password: %s\n(change it at first login; it is not shown again)\n\n", pw)
	} else {
		fmt.Fprintf(a.Out, "\nFirst start: created user \"admin\" with the password from YARDMASTER_ADMIN_PASSWORD\n\n")
	}
	a.Log.Info("created first admin user", "username", "admin")
	return nil
}
