package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math"
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

// loginForm is the sign-in page's model.
type loginForm struct {
	Username string
	Next     string
	Error    string
	Notice   string
	CSRF     string
}

func randomString() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// loginCSRF returns the pre-session CSRF token (a double-submit cookie),
// setting a fresh one when absent: the sign-in form is a form like any
// other and must not accept cross-site posts (login CSRF).
func (cn *Console) loginCSRF(c *fiber.Ctx) string {
	if v := c.Cookies(loginCSRFName); len(v) >= 32 && len(v) <= 64 {
		return utils.CopyString(v)
	}
	v := randomString()
	cn.setCookie(c, loginCSRFName, v, time.Hour, fiber.CookieSameSiteStrictMode)
	return v
}

func (cn *Console) renderLogin(c *fiber.Ctx, status int, f loginForm) error {
	f.CSRF = cn.loginCSRF(c)
	data := cn.page(c, "Sign in", "", f)
	data.Bare = true
	return cn.render(c, status, "login", data)
}

func (cn *Console) loginPage(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if s, err := cn.lookup(c); err == nil && s != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	f := loginForm{Next: next}
	if c.Query("expired") == "1" {
		f.Notice = "Your session expired. Sign in again to continue."
	}
	if c.Query("out") == "1" {
		f.Notice = "You are signed out."
	}
	return cn.renderLogin(c, fiber.StatusOK, f)
}

func (cn *Console) loginSubmit(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := loginForm{Username: strings.TrimSpace(utils.CopyString(c.FormValue("username"))), Next: safeNext(c.FormValue("next"))}
	if len(f.Username) > 100 {
		f.Username = f.Username[:100]
	}
	password := c.FormValue("password")
	cookie := c.Cookies(loginCSRFName)
	field := c.FormValue(csrfField)
	if !sameOrigin(c) || cookie == "" || field == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(field)) != 1 {
		f.Error = "The sign-in form expired or was sent from another site. Please try again."
		return cn.renderLogin(c, fiber.StatusForbidden, f)
	}
	if f.Username == "" || password == "" || len(password) > 1024 {
		f.Error = "Enter your username and password."
		return cn.renderLogin(c, fiber.StatusUnprocessableEntity, f)
	}
	ip := c.IP()
	wait, err := cn.throttle.Check(ctx, f.Username, ip)
	if err != nil {
		return err
	}
	if wait > 0 {
		return cn.throttled(c, f, wait)
	}
	u, err := auth.Login(ctx, cn.db.Read, f.Username, password)
	if err != nil {
		if apperr.KindOf(err) != apperr.KindUnauthorized {
			return err
		}
		wait, terr := cn.throttle.Fail(ctx, f.Username, ip)
		if terr != nil {
			return terr
		}
		cn.log.WarnContext(ctx, "console sign-in failed", "username", f.Username, "remote", ip, "locked_for", wait.String())
		if wait > 0 {
			return cn.throttled(c, f, wait)
		}
		f.Error = "Wrong username or password."
		return cn.renderLogin(c, fiber.StatusUnauthorized, f)
	}
	if err := cn.throttle.Succeed(ctx, f.Username, ip); err != nil {
		return err
	}
	var token string
	actx := audit.WithActor(ctx, audit.Actor{Type: "user", ID: u.ID, Name: u.Principal().Name})
	err = cn.db.InTx(actx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		token, _, err = cn.sessions.Create(ctx, tx, u.ID, ip, utils.CopyString(c.Get(fiber.HeaderUserAgent)))
		if err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.signed_in", SubjectType: "user", SubjectID: u.ID,
			After: map[string]any{"remote": ip}})
		return err
	})
	if err != nil {
		return err
	}
	cn.setCookie(c, SessionCookie, token, cn.sessions.MaxAge, fiber.CookieSameSiteLaxMode)
	cn.clearCookie(c, loginCSRFName)
	if u.MustChangePassword {
		return c.Redirect("/account/password", fiber.StatusSeeOther)
	}
	return c.Redirect(f.Next, fiber.StatusSeeOther)
}

func (cn *Console) throttled(c *fiber.Ctx, f loginForm, wait time.Duration) error {
	mins := int(math.Ceil(wait.Minutes()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	f.Error = fmt.Sprintf("Too many failed sign-ins. Try again in %d minute%s.", mins, map[bool]string{true: "", false: "s"}[mins == 1])
	return cn.renderLogin(c, fiber.StatusTooManyRequests, f)
}

func (cn *Console) logout(c *fiber.Ctx) error {
	s := sessionOf(c)
	err := cn.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		if err := console.DeleteByID(ctx, tx, s.ID); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.signed_out", SubjectType: "user", SubjectID: s.User.ID})
		return err
	})
	if err != nil {
		return err
	}
	cn.clearCookie(c, SessionCookie)
	return redirectTo(c, "/login?out=1")
}

// passwordForm is the change-password page's model.
type passwordForm struct {
	Forced bool
	Errors map[string]string
}

func (cn *Console) passwordPage(c *fiber.Ctx) error {
	s := sessionOf(c)
	return cn.render(c, fiber.StatusOK, "password", cn.page(c, "Change password", "", passwordForm{Forced: s.User.MustChangePassword}))
}

func (cn *Console) passwordSubmit(c *fiber.Ctx) error {
	s := sessionOf(c)
	ctx := c.UserContext()
	cur, pw, confirm := c.FormValue("current"), c.FormValue("password"), c.FormValue("confirm")
	f := passwordForm{Forced: s.User.MustChangePassword, Errors: map[string]string{}}
	fail := func(status int) error {
		return cn.render(c, status, "password", cn.page(c, "Change password", "", f))
	}
	wait, err := cn.throttle.Check(ctx, s.User.Username, c.IP())
	if err != nil {
		return err
	}
	if wait > 0 {
		f.Errors["current"] = fmt.Sprintf("Too many wrong passwords. Try again in %d minutes.", int(math.Ceil(wait.Minutes())))
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return fail(fiber.StatusTooManyRequests)
	}
	if !auth.CheckPassword(s.User.PasswordHash, cur) {
		if _, err := cn.throttle.Fail(ctx, s.User.Username, c.IP()); err != nil {
			return err
		}
		f.Errors["current"] = "This is not your current password."
		return fail(fiber.StatusUnprocessableEntity)
	}
	if pw != confirm {
		f.Errors["confirm"] = "The two new passwords differ."
		return fail(fiber.StatusUnprocessableEntity)
	}
	err = cn.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := auth.SetPassword(ctx, tx, cn.now(), s.User.ID, pw, false); err != nil {
			return err
		}
		ended, err := console.DeleteForUser(ctx, tx, s.User.ID, s.ID)
		if err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, cn.now(), audit.Record{Action: "user.password_changed", SubjectType: "user", SubjectID: s.User.ID,
			After: map[string]any{"other_sessions_ended": ended}})
		return err
	})
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.KindInvalid {
			for _, fe := range e.Fields {
				f.Errors[fe.Field] = fe.Message
			}
			return fail(fiber.StatusUnprocessableEntity)
		}
		return err
	}
	cn.flash(c, "ok", "Password changed. Other sessions were signed out.")
	return redirectTo(c, "/")
}
