package web

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/console"
)

func (cn *Console) adminRoutes() {
	cn.route(fiber.MethodGet, "/admin/users", auth.PermUsersAdmin, cn.usersPage)
	cn.route(fiber.MethodPost, "/admin/users", auth.PermUsersAdmin, cn.userCreate)
	cn.route(fiber.MethodPost, "/admin/users/:id", auth.PermUsersAdmin, cn.userUpdate)
	cn.route(fiber.MethodPost, "/admin/users/:id/reset-password", auth.PermUsersAdmin, cn.userResetPassword)
	if cn.svc.Triage != nil {
		cn.route(fiber.MethodPost, "/admin/users/:id/customers", auth.PermUsersAdmin, cn.userCustomers)
	}
	cn.route(fiber.MethodGet, "/admin/tokens", auth.PermTokensAdmin, cn.tokensPage)
	cn.route(fiber.MethodPost, "/admin/tokens", auth.PermTokensAdmin, cn.tokenCreate)
	cn.route(fiber.MethodPost, "/admin/tokens/:id/revoke", auth.PermTokensAdmin, cn.tokenRevoke)
}

// usersModel is the users page.
type usersModel struct {
	Users  []auth.User
	Roles  []auth.Role
	Form   map[string]string
	Errors map[string]string
	// Created is set right after a create or reset: the one-time password
	// is shown once, on this response only.
	Created      *auth.User
	OneTimeReset bool
	Password     string
	// Customers maps account users to the Odoo customers whose cases
	// they read (nil when triage is not wired).
	Customers map[string]string
}

func (cn *Console) renderUsers(c *fiber.Ctx, status int, m usersModel) error {
	us, err := auth.ListUsers(c.UserContext(), cn.db.Read)
	if err != nil {
		return err
	}
	m.Users, m.Roles = us, auth.Roles
	if m.Form == nil {
		m.Form = map[string]string{"role": string(auth.RoleViewer)}
	}
	if cn.svc.Triage != nil {
		m.Customers = map[string]string{}
		for _, u := range us {
			if u.Role != auth.RoleAccount {
				continue
			}
			ids, err := cn.svc.Triage.AccountCustomers(c.UserContext(), u.ID)
			if err != nil {
				return err
			}
			m.Customers[u.ID] = strings.Join(ids, ", ")
		}
	}
	return cn.render(c, status, "users", cn.page(c, "Users", "users", m))
}

func (cn *Console) usersPage(c *fiber.Ctx) error {
	return cn.renderUsers(c, fiber.StatusOK, usersModel{})
}

// formValues copies the named form fields (trimmed) out of the request.
func formValues(c *fiber.Ctx, names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = strings.TrimSpace(utils.CopyString(c.FormValue(n)))
	}
	return m
}

// fieldErrors turns a validation error into per-field messages for a form;
// other errors are returned for the error page.
func fieldErrors(err error) (map[string]string, error) {
	e, ok := apperr.As(err)
	if !ok || (e.Kind != apperr.KindInvalid && e.Kind != apperr.KindConflict) {
		return nil, err
	}
	m := map[string]string{}
	for _, fe := range e.Fields {
		m[fe.Field] = fe.Message
	}
	if len(m) == 0 {
		m["_"] = e.Detail
	}
	return m, nil
}

func (cn *Console) userCreate(c *fiber.Ctx) error {
	f := formValues(c, "username", "display_name", "email", "role", "team")
	password := c.FormValue("password")
	generated := password == ""
	if generated {
		password = auth.NewPassword()
	}
	var u auth.User
	err := cn.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		var err error
		u, err = auth.CreateUser(ctx, tx, cn.now(), auth.UserSpec{Username: f["username"], DisplayName: f["display_name"], Email: f["email"],
			Team: f["team"], Role: auth.Role(f["role"]), Password: password, MustChangePassword: true})
		if err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.created", SubjectType: "user", SubjectID: u.ID,
			After: map[string]any{"username": u.Username, "role": u.Role, "email": u.Email, "team": u.Team}})
		return err
	})
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		return cn.renderUsers(c, fiber.StatusUnprocessableEntity, usersModel{Form: f, Errors: fe})
	}
	m := usersModel{Created: &u}
	if generated {
		m.Password = password
	}
	return cn.renderUsers(c, fiber.StatusCreated, m)
}

// userUpdate changes role, team, contact fields or the disabled flag. The
// last enabled admin cannot be demoted or disabled, and nobody disables
// themselves. Disabling or changing a role ends the user's sessions, so
// the change takes effect at once.
func (cn *Console) userUpdate(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	me := sessionOf(c)
	f := formValues(c, "display_name", "email", "role", "team", "disabled")
	var up auth.UserUpdate
	posted := c.Request().PostArgs()
	for name, dst := range map[string]**string{"display_name": &up.DisplayName, "email": &up.Email, "team": &up.Team} {
		if posted.Has(name) {
			v := f[name]
			*dst = &v
		}
	}
	if posted.Has("role") {
		r := auth.Role(f["role"])
		up.Role = &r
	}
	if posted.Has("disabled") {
		d := f["disabled"] == "true"
		up.Disabled = &d
	}
	if id == me.User.ID && up.Disabled != nil && *up.Disabled {
		return apperr.Invalid("invalid change", apperr.FieldError{Field: "disabled", Message: "you cannot disable yourself"})
	}
	err := cn.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		before, after, err := auth.UpdateUser(ctx, tx, cn.now(), id, up)
		if err != nil {
			return err
		}
		if before.Role == auth.RoleAdmin && !before.Disabled && (after.Role != auth.RoleAdmin || after.Disabled) {
			n, err := auth.CountActiveAdmins(ctx, tx)
			if err != nil {
				return err
			}
			if n == 0 {
				return apperr.Conflict("this is the last enabled admin; make another admin first")
			}
		}
		if before.Role != after.Role || after.Disabled {
			if _, err := console.DeleteForUser(ctx, tx, id, ""); err != nil {
				return err
			}
		}
		_, err = audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.updated", SubjectType: "user", SubjectID: id,
			Before: userAudit(before), After: userAudit(after)})
		return err
	})
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "User updated.")
	return redirectTo(c, "/admin/users")
}

func userAudit(u auth.User) map[string]any {
	return map[string]any{"role": u.Role, "disabled": u.Disabled, "team": u.Team, "email": u.Email, "display_name": u.DisplayName}
}

// userResetPassword gives a user a new one-time password (shown once) and
// ends their sessions.
func (cn *Console) userResetPassword(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	password := auth.NewPassword()
	var u auth.User
	err := cn.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		if err := auth.SetPassword(ctx, tx, cn.now(), id, password, true); err != nil {
			return err
		}
		var err error
		if u, err = auth.GetUser(ctx, tx, id); err != nil {
			return err
		}
		if _, err := console.DeleteForUser(ctx, tx, id, ""); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.password_reset", SubjectType: "user", SubjectID: id})
		return err
	})
	if err != nil {
		return err
	}
	return cn.renderUsers(c, fiber.StatusOK, usersModel{Created: &u, OneTimeReset: true, Password: password})
}

// userCustomers sets the Odoo customers an account user reads cases of.
func (cn *Console) userCustomers(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	ids := strings.FieldsFunc(utils.CopyString(c.FormValue("customer_ids")), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
	before, err := cn.svc.Triage.AccountCustomers(c.UserContext(), id)
	if err != nil {
		return err
	}
	after, err := cn.svc.Triage.SetAccountCustomers(c.UserContext(), id, ids)
	if err != nil {
		return err
	}
	if _, err := audit.Append(c.UserContext(), cn.db, cn.now(), audit.Record{Action: "user.customers_set", SubjectType: "user", SubjectID: id,
		Before: map[string]any{"customer_ids": before}, After: map[string]any{"customer_ids": after}}); err != nil {
		return err
	}
	cn.flash(c, "ok", fmt.Sprintf("The account user now reads the cases of %d customers.", len(after)))
	return redirectTo(c, "/admin/users")
}

// tokensModel is the tokens page.
type tokensModel struct {
	Tokens  []auth.Token
	Roles   []auth.Role
	Form    map[string]string
	Errors  map[string]string
	Created *TokenCreated
}

func (cn *Console) renderTokens(c *fiber.Ctx, status int, m tokensModel) error {
	ts, err := auth.ListTokens(c.UserContext(), cn.db.Read)
	if err != nil {
		return err
	}
	m.Tokens, m.Roles = ts, auth.Roles
	if m.Form == nil {
		m.Form = map[string]string{"role": string(auth.RoleViewer), "expires_days": "90"}
	}
	return cn.render(c, status, "tokens", cn.page(c, "API tokens", "tokens", m))
}

func (cn *Console) tokensPage(c *fiber.Ctx) error {
	return cn.renderTokens(c, fiber.StatusOK, tokensModel{})
}

func (cn *Console) tokenCreate(c *fiber.Ctx) error {
	f := formValues(c, "name", "role", "scopes", "expires_days")
	errs := map[string]string{}
	if f["name"] == "" || len(f["name"]) > 100 {
		errs["name"] = "1-100 characters"
	}
	var expires *time.Time
	if f["expires_days"] != "" {
		n, err := strconv.Atoi(f["expires_days"])
		if err != nil || n < 1 || n > 3650 {
			errs["expires_days"] = "a whole number of days from 1 to 3650, or empty for no expiry"
		} else {
			t := cn.now().Add(time.Duration(n) * 24 * time.Hour).UTC()
			expires = &t
		}
	}
	scopes := strings.FieldsFunc(f["scopes"], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(errs) > 0 {
		return cn.renderTokens(c, fiber.StatusUnprocessableEntity, tokensModel{Form: f, Errors: errs})
	}
	plain, tok, err := auth.IssueToken(c.UserContext(), cn.db, cn.now(), auth.TokenSpec{Name: f["name"], Role: auth.Role(f["role"]),
		Scopes: scopes, ExpiresAt: expires, CreatedBy: sessionOf(c).User.ID})
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		return cn.renderTokens(c, fiber.StatusUnprocessableEntity, tokensModel{Form: f, Errors: fe})
	}
	created := NewTokenCreated(plain, tok)
	return cn.renderTokens(c, fiber.StatusCreated, tokensModel{Created: &created})
}

func (cn *Console) tokenRevoke(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	err := cn.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		if err := auth.RevokeToken(ctx, tx, cn.now(), id); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, cn.now(), audit.Record{Action: "token.revoked", SubjectType: "token", SubjectID: id})
		return err
	})
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Token revoked.")
	return redirectTo(c, "/admin/tokens")
}
