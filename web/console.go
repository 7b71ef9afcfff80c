package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/console"
	"github.com/yardmaster/yardmaster/internal/db"
)

// The console is Yardmaster's browser UI: server-rendered html/template
// pages with htmx for partial updates, embedded in the binary. Every page
// and form is registered through Console.route with the one permission it
// needs, so a table test can check each route against each role, and every
// state-changing request carries the session's CSRF token.

// Console cookie and form names.
const (
	csrfField      = "_csrf"
	csrfHeader     = "X-CSRF-Token"
	loginCSRFName  = "ym_login_csrf"
	flashCookie    = "ym_flash"
	localsSession  = "ym.console.session"
	consoleDefault = "/"
)

// ConsoleOptions configure the console. Service fields are optional: a nil
// service hides its pages (e.g. an API process built without triage).
type ConsoleOptions struct {
	Sessions *console.Sessions
	Throttle *console.Throttle
	Views    *console.Views
	// SecureCookies marks cookies Secure (HTTPS deployments).
	SecureCookies bool
	// Services whose pages the console shows.
	Services ConsoleServices
}

// ConsoleRoute is one registered console route and the permission it
// needs ("" = any signed-in user).
type ConsoleRoute struct {
	Method, Path string
	Perm         auth.Permission
	// Public routes (login, static files) need no session.
	Public bool
}

// Console serves the browser UI.
type Console struct {
	srv      *Server
	db       *db.DB
	log      *slog.Logger
	now      func() time.Time
	sessions *console.Sessions
	throttle *console.Throttle
	views    *console.Views
	secure   bool
	svc      ConsoleServices
	tmpl     *templates
	assets   *assets
	routes   []ConsoleRoute
}

// session is the signed-in user of a console request.
type session struct {
	console.Session
	User      auth.User
	Principal auth.Principal
}

// NewConsole parses every template (failing fast on any error), installs
// the session resolver and HTML error pages on the server, and registers
// the console's routes.
func NewConsole(s *Server, opts ConsoleOptions) (*Console, error) {
	if opts.Sessions == nil || opts.Throttle == nil || opts.Views == nil {
		return nil, errors.New("console: sessions, throttle and views are required")
	}
	cn := &Console{srv: s, db: s.db, log: s.log, now: s.now, sessions: opts.Sessions, throttle: opts.Throttle,
		views: opts.Views, secure: opts.SecureCookies, svc: opts.Services}
	var err error
	if cn.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if cn.tmpl, err = parseTemplates(cn.funcs()); err != nil {
		return nil, err
	}
	s.SetSession(cn.apiSession)
	s.SetHTMLErrors(cn.htmlError)
	cn.registerRoutes()
	return cn, nil
}

// Routes lists the registered console routes.
func (cn *Console) Routes() []ConsoleRoute { return append([]ConsoleRoute(nil), cn.routes...) }

// route registers a console handler behind security headers, the session,
// the permission check and (for state-changing methods) the CSRF check.
func (cn *Console) route(method, path string, perm auth.Permission, h fiber.Handler) {
	cn.routes = append(cn.routes, ConsoleRoute{Method: method, Path: path, Perm: perm})
	handlers := []fiber.Handler{cn.headers, cn.authn, cn.authz(perm)}
	if method != fiber.MethodGet && method != fiber.MethodHead {
		handlers = append(handlers, cn.checkCSRF)
	}
	cn.srv.App.Add(method, path, append(handlers, h)...)
}

// public registers a handler that needs no session.
func (cn *Console) public(method, path string, h ...fiber.Handler) {
	cn.routes = append(cn.routes, ConsoleRoute{Method: method, Path: path, Public: true})
	cn.srv.App.Add(method, path, append([]fiber.Handler{cn.headers}, h...)...)
}

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script anywhere, so an injected string cannot run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (cn *Console) headers(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if cn.secure {
		c.Set("Strict-Transport-Security", "max-age=31536000")
	}
	return c.Next()
}

// lookup resolves the session cookie; the error is console.ErrNoSession,
// console.ErrSessionExpired or a storage failure.
func (cn *Console) lookup(c *fiber.Ctx) (*session, error) {
	if v, ok := c.Locals(localsSession).(*session); ok {
		return v, nil
	}
	tok := c.Cookies(SessionCookie)
	if tok == "" {
		return nil, console.ErrNoSession
	}
	sess, u, err := cn.sessions.Lookup(c.UserContext(), utils.CopyString(tok))
	if err != nil {
		return nil, err
	}
	s := &session{Session: sess, User: u, Principal: u.Principal()}
	c.Locals(localsSession, s)
	return s, nil
}

// authn requires a session: a browser is sent to the login page (and back
// afterwards), htmx and form posts get 401. A user with a one-time
// password can only change it or sign out.
func (cn *Console) authn(c *fiber.Ctx) error {
	s, err := cn.lookup(c)
	if err != nil {
		if !errors.Is(err, console.ErrNoSession) && !errors.Is(err, console.ErrSessionExpired) {
			return err
		}
		if errors.Is(err, console.ErrSessionExpired) || c.Cookies(SessionCookie) != "" {
			cn.clearCookie(c, SessionCookie)
		}
		target := "/login?next=" + url.QueryEscape(c.OriginalURL())
		if errors.Is(err, console.ErrSessionExpired) {
			target += "&expired=1"
		}
		if isHTMX(c) {
			c.Set("HX-Redirect", target)
			return apperr.Unauthorized("your session has ended; sign in again")
		}
		if c.Method() == fiber.MethodGet {
			return c.Redirect(target, fiber.StatusSeeOther)
		}
		return apperr.Unauthorized("your session has ended; sign in again")
	}
	ctx := auth.WithPrincipal(c.UserContext(), s.Principal)
	ctx = audit.WithActor(ctx, audit.Actor{Type: s.Principal.Kind, ID: s.Principal.ID, Name: s.Principal.Name})
	c.SetUserContext(ctx)
	if s.User.MustChangePassword && c.Path() != "/account/password" && c.Path() != "/logout" {
		if c.Method() == fiber.MethodGet && !isHTMX(c) {
			return c.Redirect("/account/password", fiber.StatusSeeOther)
		}
		return apperr.Forbidden("choose a new password first")
	}
	return c.Next()
}

func (cn *Console) authz(perm auth.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if perm != "" && !sessionOf(c).Principal.Can(perm) {
			return apperr.Forbidden(fmt.Sprintf("your role (%s) does not allow %s", sessionOf(c).Principal.Role, perm))
		}
		return c.Next()
	}
}

// checkCSRF compares the form field or header with the session's token in
// constant time, and refuses cross-site requests outright.
func (cn *Console) checkCSRF(c *fiber.Ctx) error {
	s := sessionOf(c)
	if !sameOrigin(c) {
		return apperr.Forbidden("cross-site request refused")
	}
	tok := c.Get(csrfHeader)
	if tok == "" {
		tok = c.FormValue(csrfField)
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
		return &apperr.Error{Kind: apperr.KindForbidden, Type: "csrf", Detail: "missing or wrong CSRF token; reload the page and try again"}
	}
	return c.Next()
}

// sameOrigin rejects requests a browser marks as coming from another site
// (Sec-Fetch-Site) or whose Origin names another host.
func sameOrigin(c *fiber.Ctx) bool {
	if site := c.Get("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != string(c.Request().Host()) {
			return false
		}
	}
	return true
}

// apiSession lets the JSON API accept the console's cookie (the console's
// own scripts call it). State-changing API calls made with the cookie need
// the CSRF header like any console form; a user with a one-time password
// gets no API access until it is changed.
func (cn *Console) apiSession(c *fiber.Ctx) (auth.Principal, bool) {
	s, err := cn.lookup(c)
	if err != nil || s.User.MustChangePassword {
		return auth.Principal{}, false
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
	default:
		tok := c.Get(csrfHeader)
		if !sameOrigin(c) || tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
			return auth.Principal{}, false
		}
	}
	return s.Principal, true
}

func sessionOf(c *fiber.Ctx) *session {
	s, _ := c.Locals(localsSession).(*session)
	if s == nil {
		return &session{}
	}
	return s
}

func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }

func (cn *Console) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration, sameSite string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: value, Path: "/", HTTPOnly: true, Secure: cn.secure, SameSite: sameSite,
		MaxAge: int(maxAge.Seconds())})
}

func (cn *Console) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", HTTPOnly: true, Secure: cn.secure, SameSite: fiber.CookieSameSiteLaxMode,
		MaxAge: -1, Expires: time.Unix(1, 0)})
}

// flash stores a one-shot message shown by the next page.
func (cn *Console) flash(c *fiber.Ctx, kind, msg string) {
	cn.setCookie(c, flashCookie, url.QueryEscape(kind+"|"+msg), time.Minute, fiber.CookieSameSiteLaxMode)
}

func (cn *Console) takeFlash(c *fiber.Ctx) (kind, msg string) {
	v := c.Cookies(flashCookie)
	if v == "" {
		return "", ""
	}
	cn.clearCookie(c, flashCookie)
	raw, err := url.QueryUnescape(v)
	if err != nil {
		return "", ""
	}
	kind, msg, _ = strings.Cut(raw, "|")
	if kind != "ok" && kind != "error" && kind != "warn" {
		kind = "ok"
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return kind, msg
}

// redirectBack answers a form post: htmx follows HX-Redirect, a plain form
// a 303.
func redirectTo(c *fiber.Ctx, target string) error {
	if isHTMX(c) {
		c.Set("HX-Redirect", target)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// safeNext accepts only same-site absolute paths as a post-login target.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return consoleDefault
	}
	return next
}

// navItem is one entry of the top navigation.
type navItem struct {
	Key, Label, Href string
	Perm             auth.Permission
}

// nav returns the sections the principal may open, in menu order.
func (cn *Console) nav(p auth.Principal) []navItem {
	all := []navItem{
		{"queue", "Queue", "/queue", auth.PermCasesRead},
		{"rules", "Rules", "/rules", auth.PermRulesRead},
		{"sources", "Sources", "/sources", auth.PermSourcesRead},
		{"ops", "Operations", "/ops", auth.PermOpsRead},
		{"scorecards", "Scorecards", "/scorecards", auth.PermEventsRead},
		{"audit", "Audit", "/audit", auth.PermAuditRead},
		{"digests", "Digests", "/digests", auth.PermDigestsSelf},
		{"users", "Users", "/admin/users", auth.PermUsersAdmin},
		{"tokens", "Tokens", "/admin/tokens", auth.PermTokensAdmin},
	}
	registered := map[string]bool{}
	for _, r := range cn.routes {
		if r.Method == fiber.MethodGet {
			registered[r.Path] = true
		}
	}
	var out []navItem
	for _, n := range all {
		if registered[n.Href] && p.Can(n.Perm) {
			out = append(out, n)
		}
	}
	return out
}

// home sends a signed-in user to the first section their role opens.
func (cn *Console) home(c *fiber.Ctx) error {
	items := cn.nav(sessionOf(c).Principal)
	if len(items) == 0 {
		return c.Redirect("/account/password", fiber.StatusSeeOther)
	}
	return c.Redirect(items[0].Href, fiber.StatusSeeOther)
}

// htmlError renders problems on console routes as a page (or, for htmx, a
// fragment the client shows as a message).
func (cn *Console) htmlError(c *fiber.Ctx, p Problem) error {
	if p.Status == fiber.StatusUnauthorized && c.Method() == fiber.MethodGet && !isHTMX(c) {
		return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
	}
	c.Status(p.Status)
	if isHTMX(c) {
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		msg := p.Title
		if p.Detail != "" {
			msg = p.Detail
		}
		for _, fe := range p.Errors {
			msg += "; " + fe.Field + ": " + fe.Message
		}
		return c.SendString(msg)
	}
	s, _ := c.Locals(localsSession).(*session)
	data := cn.page(c, "Error", "", map[string]any{"Problem": p})
	if s == nil {
		data.Bare = true
	}
	return cn.render(c, p.Status, "error", data)
}

// registerRoutes wires every console page present in this process.
func (cn *Console) registerRoutes() {
	app := cn.srv.App
	app.Get("/static/*", cn.headers, cn.static)
	cn.public(fiber.MethodGet, "/login", cn.loginPage)
	cn.public(fiber.MethodPost, "/login", cn.loginSubmit)
	cn.route(fiber.MethodPost, "/logout", "", cn.logout)
	cn.route(fiber.MethodGet, "/account/password", "", cn.passwordPage)
	cn.route(fiber.MethodPost, "/account/password", "", cn.passwordSubmit)
	cn.adminRoutes()
	cn.auditRoutes()
	cn.opsRoutes()
	cn.sourceRoutes()
	cn.triageRoutes()
	cn.rulesRoutes()
	cn.digestRoutes()
	cn.route(fiber.MethodGet, "/", "", cn.home)
	sort.SliceStable(cn.routes, func(i, j int) bool { return cn.routes[i].Path < cn.routes[j].Path })
}

// requestCtx is the request context for service calls.
func requestCtx(c *fiber.Ctx) context.Context { return c.UserContext() }
