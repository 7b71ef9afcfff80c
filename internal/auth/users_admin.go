package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// SetPassword replaces a user's password. mustChange marks it one-time (an
// admin reset); a user choosing their own password passes false. The new
// password must differ from the current one, so a one-time password cannot
// be "changed" to itself.
func SetPassword(ctx context.Context, idb bun.IDB, now time.Time, userID, password string, mustChange bool) error {
	if len(password) < MinPasswordLen {
		return apperr.Invalid("invalid password", apperr.FieldError{Field: "password", Message: fmt.Sprintf("at least %d characters", MinPasswordLen)})
	}
	if len(password) > 1024 {
		return apperr.Invalid("invalid password", apperr.FieldError{Field: "password", Message: "at most 1024 characters"})
	}
	u, err := GetUser(ctx, idb, userID)
	if err != nil {
		return err
	}
	if CheckPassword(u.PasswordHash, password) {
		return apperr.Invalid("invalid password", apperr.FieldError{Field: "password", Message: "must differ from the current password"})
	}
	_, err = idb.NewUpdate().Model((*User)(nil)).Set("password_hash = ?", HashPassword(password)).
		Set("must_change_password = ?", mustChange).Set("updated_at = ?", now.UTC()).Where("id = ?", userID).Exec(ctx)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// UserUpdate names the fields to change; nil leaves a field as it is.
type UserUpdate struct {
	DisplayName, Email, Team *string
	Role                     *Role
	Disabled                 *bool
}

// UpdateUser validates and applies an update and returns the user before
// and after (for the audit entry).
func UpdateUser(ctx context.Context, idb bun.IDB, now time.Time, id string, up UserUpdate) (before, after User, err error) {
	before, err = GetUser(ctx, idb, id)
	if err != nil {
		return before, after, err
	}
	after = before
	var fe []apperr.FieldError
	if up.Role != nil {
		if !up.Role.Valid() {
			fe = append(fe, apperr.FieldError{Field: "role", Message: fmt.Sprintf("%q is not one of admin, analyst, manager, account, viewer", *up.Role)})
		}
		after.Role = *up.Role
	}
	for _, f := range []struct {
		name string
		in   *string
		out  *string
		max  int
	}{{"display_name", up.DisplayName, &after.DisplayName, 100}, {"email", up.Email, &after.Email, 254}, {"team", up.Team, &after.Team, 64}} {
		if f.in == nil {
			continue
		}
		v := strings.TrimSpace(*f.in)
		if len(v) > f.max {
			fe = append(fe, apperr.FieldError{Field: f.name, Message: fmt.Sprintf("at most %d characters", f.max)})
		}
		if f.name == "email" && v != "" && (!strings.Contains(v, "@") || strings.ContainsAny(v, " <>\r\n")) {
			fe = append(fe, apperr.FieldError{Field: "email", Message: "not an email address"})
		}
		*f.out = v
	}
	if up.Disabled != nil {
		after.Disabled = *up.Disabled
	}
	if len(fe) > 0 {
		return before, before, apperr.Invalid("invalid user", fe...)
	}
	after.UpdatedAt = now.UTC()
	_, err = idb.NewUpdate().Model(&after).Column("display_name", "email", "team", "role", "disabled", "updated_at").WherePK().Exec(ctx)
	if err != nil {
		return before, before, fmt.Errorf("update user: %w", err)
	}
	return before, after, nil
}

// CountActiveAdmins counts enabled admins, so the last one cannot be
// disabled or demoted.
func CountActiveAdmins(ctx context.Context, idb bun.IDB) (int, error) {
	n, err := idb.NewSelect().Model((*User)(nil)).Where("role = ? AND disabled = ?", RoleAdmin, false).Count(ctx)
	return int(n), err
}
