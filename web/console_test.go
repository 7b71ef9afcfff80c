package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/web"
)

// consoleApp is a running process with one signed-in browser per role.
type consoleApp struct {
	*apptest.Running
	t *testing.T
}

const testPassword = "a test password for everyone"

func startConsole(t *testing.T, mutate ...func(*config.Config)) *consoleApp {
	t.Helper()
	cfg := apptest.TestConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	r := apptest.Start(t, cfg)
	return &consoleApp{Running: r, t: t}
}

// addUser creates a user with the test password (not one-time).
func (a *consoleApp) addUser(name string, role auth.Role) auth.User {
	a.t.Helper()
	u, err := auth.CreateUser(context.Background(), a.DB, time.Now(), auth.UserSpec{Username: name, Role: role, Password: testPassword})
	if err != nil {
		a.t.Fatal(err)
	}
	return u
}

// browser is a cookie-carrying HTTP client that does not follow redirects.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
	csrf   string
}

func (a *consoleApp) browser() *browser { return newBrowserClient(a.t, a.URL) }

func newBrowserClient(tb testing.TB, base string) *browser {
	return &browser{t: tb, base: base, client: &http.Client{Jar: newJar(), Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	Status int
	Header http.Header
	Body   string
}

// HeaderGet returns a response header.
func (r resp) HeaderGet(k string) string { return r.Header.Get(k) }

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) resp {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if m := csrfMetaRE.FindStringSubmatch(string(raw)); m != nil {
		b.csrf = m[1]
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

var (
	csrfMetaRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	loginCSRFRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
)

func (b *browser) get(path string) resp { b.t.Helper(); return b.do("GET", path, nil, nil) }

// post sends a form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) resp {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", b.csrf)
	return b.do("POST", path, form, nil)
}

// login signs in through the form, as a person would.
func (b *browser) login(user, password string) resp {
	b.t.Helper()
	page := b.get("/login")
	m := loginCSRFRE.FindStringSubmatch(page.Body)
	if m == nil {
		b.t.Fatalf("no CSRF field on the sign-in page:\n%s", page.Body)
	}
	r := b.do("POST", "/login", url.Values{"_csrf": {m[1]}, "username": {user}, "password": {password}, "next": {"/"}}, nil)
	if r.Status == http.StatusSeeOther {
		b.get("/account/password") // picks up the session's CSRF token
	}
	return r
}

func TestConsoleSignIn(t *testing.T) {
	a := startConsole(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	a.addUser("mia", auth.RoleManager)

	t.Run("pages need a session", func(t *testing.T) {
		b := a.browser()
		r := b.get("/audit?action=x")
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/login?next=%2Faudit%3Faction%3Dx" {
			t.Fatalf("anonymous /audit = %d → %q", r.Status, r.Header.Get("Location"))
		}
		if r := b.do("POST", "/audit/verify", url.Values{}, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous POST = %d", r.Status)
		}
	})

	t.Run("sign-in form rejects a missing CSRF token", func(t *testing.T) {
		b := a.browser()
		b.get("/login")
		r := b.do("POST", "/login", url.Values{"username": {"mia"}, "password": {testPassword}}, nil)
		if r.Status != http.StatusForbidden || r.Header.Get("Set-Cookie") != "" && strings.Contains(r.Header.Get("Set-Cookie"), web.SessionCookie+"=") {
			t.Fatalf("sign-in without CSRF = %d, cookies %q", r.Status, r.Header.Values("Set-Cookie"))
		}
	})

	t.Run("wrong password, then throttled", func(t *testing.T) {
		b := a.browser()
		for i := 1; i <= 2; i++ {
			if r := b.login("mia", "wrong password"); r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong username or password") {
				t.Fatalf("attempt %d = %d", i, r.Status)
			}
		}
		r := b.login("mia", "wrong password")
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Too many failed sign-ins") {
			t.Fatalf("third failure = %d retry-after %q", r.Status, r.Header.Get("Retry-After"))
		}
		// Locked even with the right password: the lock comes first.
		if r := b.login("mia", testPassword); r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password while locked = %d", r.Status)
		}
	})

	t.Run("unknown user looks like a wrong password", func(t *testing.T) {
		b := a.browser()
		if r := b.login("nobody", "whatever password"); r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong username or password") {
			t.Fatalf("unknown user = %d", r.Status)
		}
	})

	t.Run("sign in, cookie flags, sign out", func(t *testing.T) {
		a.addUser("ola", auth.RoleViewer)
		b := a.browser()
		r := b.login("ola", testPassword)
		if r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in = %d %s", r.Status, r.Body)
		}
		var cookie string
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, web.SessionCookie+"=") {
				cookie = c
			}
		}
		for _, flag := range []string{"HttpOnly", "SameSite=Lax", "path=/"} {
			if !strings.Contains(strings.ToLower(cookie), strings.ToLower(flag)) {
				t.Errorf("session cookie %q lacks %s", cookie, flag)
			}
		}
		if r := b.get("/audit"); r.Status != 200 {
			t.Fatalf("signed-in /audit = %d", r.Status)
		}
		if r := b.post("/logout", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-out = %d", r.Status)
		}
		if r := b.get("/audit"); r.Status != http.StatusSeeOther {
			t.Fatalf("after sign-out /audit = %d", r.Status)
		}
	})
}

func TestConsoleForcedPasswordChange(t *testing.T) {
	a := startConsole(t)
	u, err := auth.CreateUser(context.Background(), a.DB, time.Now(), auth.UserSpec{Username: "new", Role: auth.RoleManager,
		Password: "one-time password x", MustChangePassword: true})
	if err != nil {
		t.Fatal(err)
	}
	b := a.browser()
	if r := b.login("new", "one-time password x"); r.Header.Get("Location") != "/account/password" {
		t.Fatalf("first sign-in goes to %q", r.Header.Get("Location"))
	}
	if r := b.get("/audit"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account/password" {
		t.Fatalf("other page before the change = %d → %q", r.Status, r.Header.Get("Location"))
	}
	// The API refuses the session too.
	if r := b.do("GET", "/api/v1/audit", nil, map[string]string{"Accept": "application/json"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("API with a one-time password session = %d", r.Status)
	}
	tests := []struct {
		name                 string
		current, pw, confirm string
		want                 int
	}{
		{"wrong current", "nope", "a brand new password", "a brand new password", 422},
		{"mismatch", "one-time password x", "a brand new password", "another new password", 422},
		{"too short", "one-time password x", "short", "short", 422},
		{"same as before", "one-time password x", "one-time password x", "one-time password x", 422},
		{"ok", "one-time password x", "a brand new password", "a brand new password", http.StatusSeeOther},
	}
	for _, tc := range tests {
		r := b.post("/account/password", url.Values{"current": {tc.current}, "password": {tc.pw}, "confirm": {tc.confirm}})
		if r.Status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.Status, tc.want)
		}
	}
	got, err := auth.GetUser(context.Background(), a.DB, u.ID)
	if err != nil || got.MustChangePassword {
		t.Fatalf("after change: %+v %v", got, err)
	}
	if r := b.get("/audit"); r.Status != 200 {
		t.Fatalf("after change /audit = %d", r.Status)
	}
}

func TestConsoleSessionExpiry(t *testing.T) {
	clock := &testClock{t: time.Now()}
	cfg := apptest.TestConfig(t)
	cfg.SessionIdleTimeout = time.Hour
	a := &consoleApp{t: t, Running: apptest.StartWith(t, cfg, app.Options{Now: clock.now})}
	a.addUser("mia", auth.RoleManager)
	b := a.browser()
	b.login("mia", testPassword)
	if r := b.get("/audit"); r.Status != 200 {
		t.Fatalf("fresh session = %d", r.Status)
	}
	clock.advance(2 * time.Hour)
	r := b.get("/audit")
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "expired=1") {
		t.Fatalf("idle session = %d → %q", r.Status, r.Header.Get("Location"))
	}
	if page := b.get(r.Header.Get("Location")); !strings.Contains(page.Body, "Your session expired") {
		t.Errorf("login page does not say the session expired")
	}
}

// TestConsoleCSRF: every state-changing console route refuses a request
// without the token (and with a wrong one), for the most privileged role,
// and the API refuses cookie-authenticated writes without the header.
func TestConsoleCSRF(t *testing.T) {
	a := startConsole(t)
	a.addUser("root", auth.RoleAdmin)
	b := a.browser()
	b.login("root", testPassword)
	posts := 0
	for _, rt := range a.Console.Routes() {
		if rt.Public || rt.Method == "GET" {
			continue
		}
		posts++
		path := fillParams(rt.Path)
		for _, tok := range []string{"", "wrong-token"} {
			form := url.Values{}
			if tok != "" {
				form.Set("_csrf", tok)
			}
			r := b.do(rt.Method, path, form, nil)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "CSRF") {
				t.Errorf("%s %s with csrf %q = %d, want 403 naming CSRF", rt.Method, path, tok, r.Status)
			}
		}
		// A cross-site browser request is refused even with the token.
		form := url.Values{"_csrf": {b.csrf}}
		if r := b.do(rt.Method, path, form, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.Status != http.StatusForbidden {
			t.Errorf("%s %s cross-site = %d", rt.Method, path, r.Status)
		}
	}
	if posts < 10 {
		t.Fatalf("only %d state-changing routes checked", posts)
	}
	// The JSON API with the session cookie: reads work, writes need the header.
	if r := b.do("GET", "/api/v1/audit", nil, map[string]string{"Accept": "application/json"}); r.Status != 200 {
		t.Errorf("API read with session = %d", r.Status)
	}
	if r := b.do("POST", "/api/v1/audit/verify", nil, map[string]string{"Accept": "application/json"}); r.Status != http.StatusUnauthorized {
		t.Errorf("API write with session, no CSRF header = %d", r.Status)
	}
	if r := b.do("POST", "/api/v1/audit/verify", nil, map[string]string{"Accept": "application/json", "X-CSRF-Token": b.csrf}); r.Status != 200 {
		t.Errorf("API write with session and CSRF header = %d %s", r.Status, r.Body)
	}
}

// fillParams replaces path parameters with a placeholder id.
func fillParams(p string) string {
	return regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(p, "01TESTPLACEHOLDER000000000")
}

// TestConsoleRoles checks every registered console route against every
// role: a role without the route's permission gets 403, a role with it
// never does.
func TestConsoleRoles(t *testing.T) {
	a := startConsole(t)
	browsers := map[auth.Role]*browser{}
	for _, role := range auth.Roles {
		a.addUser("u-"+string(role), role)
		b := a.browser()
		if r := b.login("u-"+string(role), testPassword); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in as %s = %d", role, r.Status)
		}
		browsers[role] = b
	}
	checked := 0
	for _, rt := range a.Console.Routes() {
		if rt.Public || rt.Path == "/logout" {
			continue
		}
		for _, role := range auth.Roles {
			b := browsers[role]
			path := fillParams(rt.Path)
			var r resp
			if rt.Method == "GET" {
				r = b.get(path)
			} else {
				r = b.post(path, url.Values{})
			}
			allowed := rt.Perm == "" || (auth.Principal{Role: role}).Can(rt.Perm)
			switch {
			case allowed && (r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized || r.Status >= 500):
				t.Errorf("%s %s as %s (has %q) = %d: %.300s", rt.Method, path, role, rt.Perm, r.Status, r.Body)
			case !allowed && r.Status != http.StatusForbidden:
				t.Errorf("%s %s as %s (lacks %q) = %d, want 403", rt.Method, path, role, rt.Perm, r.Status)
			}
			checked++
		}
	}
	t.Logf("checked %d route×role pairs", checked)
}

// TestConsoleViewerSeesNoActions: a viewer's pages hold no form that
// changes anything (only sign-out), and the navigation hides what the
// role cannot open.
func TestConsoleViewerSeesNoActions(t *testing.T) {
	a := startConsole(t)
	a.addUser("vic", auth.RoleViewer)
	b := a.browser()
	b.login("vic", testPassword)
	formRE := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)
	hxRE := regexp.MustCompile(`hx-(post|put|patch|delete)="([^"]+)"`)
	for _, rt := range a.Console.Routes() {
		if rt.Method != "GET" || rt.Public || strings.Contains(rt.Path, ":") || rt.Path == "/" {
			continue
		}
		if rt.Perm != "" && !(auth.Principal{Role: auth.RoleViewer}).Can(rt.Perm) {
			continue
		}
		r := b.get(rt.Path)
		if r.Status != 200 {
			t.Errorf("viewer GET %s = %d", rt.Path, r.Status)
			continue
		}
		for _, m := range formRE.FindAllStringSubmatch(r.Body, -1) {
			// Signing out, changing one's own password, verifying the audit
			// chain (read-only) and saving personal views of the queue
			// change no product data.
			if m[1] != "/logout" && m[1] != "/audit/verify" && m[1] != "/account/password" && !strings.HasPrefix(m[1], "/queue/views") {
				t.Errorf("viewer sees a form posting to %s on %s", m[1], rt.Path)
			}
		}
		for _, m := range hxRE.FindAllStringSubmatch(r.Body, -1) {
			if m[2] != "/audit/verify" {
				t.Errorf("viewer sees an htmx %s to %s on %s", m[1], m[2], rt.Path)
			}
		}
		for _, hidden := range []string{`href="/admin/users"`, `href="/admin/tokens"`, `href="/ops"`} {
			if strings.Contains(r.Body, hidden) {
				t.Errorf("viewer's %s links to %s", rt.Path, hidden)
			}
		}
	}
}

// firstAdminPassword is the first admin's password in apptest configs.
const firstAdminPassword = "admin password for tests"

func TestConsoleAdminFlows(t *testing.T) {
	a := startConsole(t)
	b := a.browser()
	b.login("admin", firstAdminPassword)

	// Create a user with a generated one-time password, shown once.
	r := b.post("/admin/users", url.Values{"username": {"kim"}, "role": {"manager"}, "email": {"kim@example.com"}})
	if r.Status != http.StatusCreated || !strings.Contains(r.Body, "one-time-password") {
		t.Fatalf("create user = %d", r.Status)
	}
	pw := regexp.MustCompile(`id="one-time-password">([^<]+)<`).FindStringSubmatch(r.Body)
	if pw == nil {
		t.Fatal("no one-time password shown")
	}
	if again := b.get("/admin/users"); strings.Contains(again.Body, pw[1]) {
		t.Fatal("one-time password shown twice")
	}
	if r := b.post("/admin/users", url.Values{"username": {"kim"}, "role": {"manager"}}); r.Status != 422 || !strings.Contains(r.Body, "taken") {
		t.Errorf("duplicate user = %d", r.Status)
	}
	if r := b.post("/admin/users", url.Values{"username": {"x"}, "role": {"root"}}); r.Status != 422 || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Errorf("invalid user = %d", r.Status)
	}
	kim := a.browser()
	if r := kim.login("kim", pw[1]); r.Header.Get("Location") != "/account/password" {
		t.Fatalf("kim's first sign-in → %q", r.Header.Get("Location"))
	}
	us, _ := auth.ListUsers(context.Background(), a.DB)
	var kimID, rootID string
	for _, u := range us {
		switch u.Username {
		case "kim":
			kimID = u.ID
		case "admin":
			rootID = u.ID
		}
	}
	// Disabling kim ends kim's session at once.
	if r := b.post("/admin/users/"+kimID, url.Values{"disabled": {"true"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("disable = %d %s", r.Status, r.Body)
	}
	if r := kim.get("/account/password"); r.Status != http.StatusSeeOther {
		t.Errorf("disabled user's session still works: %d", r.Status)
	}
	// The last admin can be neither demoted nor disabled.
	if r := b.post("/admin/users/"+rootID, url.Values{"role": {"viewer"}}); r.Status != http.StatusConflict {
		t.Errorf("demote last admin = %d", r.Status)
	}
	if r := b.post("/admin/users/"+rootID, url.Values{"disabled": {"true"}}); r.Status != 422 {
		t.Errorf("disable yourself = %d", r.Status)
	}

	// Tokens: created (shown once) and revoked.
	r = b.post("/admin/tokens", url.Values{"name": {"ci"}, "role": {"viewer"}, "expires_days": {"30"}})
	tok := regexp.MustCompile(`id="new-token">([^<]+)<`).FindStringSubmatch(r.Body)
	if r.Status != http.StatusCreated || tok == nil {
		t.Fatalf("create token = %d", r.Status)
	}
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("new token on the API: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	if r := b.post("/admin/tokens", url.Values{"name": {""}, "role": {"viewer"}, "expires_days": {"x"}}); r.Status != 422 {
		t.Errorf("invalid token form = %d", r.Status)
	}
	ts, _ := auth.ListTokens(context.Background(), a.DB)
	if r := b.post("/admin/tokens/"+ts[0].ID+"/revoke", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke = %d", r.Status)
	}
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 401 {
		t.Errorf("revoked token still works: %d", res.StatusCode)
	}
	res.Body.Close()

	// The audit page finds these changes, verifies and exports.
	if r := b.get("/audit?subject_type=token"); !strings.Contains(r.Body, "token.revoked") || !strings.Contains(r.Body, "token.created") {
		t.Errorf("audit search misses the token entries")
	}
	if r := b.get("/audit?from=not-a-time"); r.Status != 422 || !strings.Contains(r.Body, "from-error") {
		t.Errorf("bad audit filter = %d", r.Status)
	}
	if r := b.post("/audit/verify", nil); !strings.Contains(r.Body, "Audit chain intact") {
		t.Errorf("verify: %d", r.Status)
	}
	if r := b.get("/audit/export?format=csv&action=user.created"); r.Status != 200 || !strings.HasPrefix(r.Body, "seq,id,at") || !strings.Contains(r.Body, "user.created") {
		t.Errorf("export = %d %.200s", r.Status, r.Body)
	}
}

// testClock is a clock the test moves; the server reads it concurrently.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newJar() http.CookieJar {
	j, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	return j
}

// TestConsoleFormControlsAreLabelled: on every page an admin can open,
// every visible input, select and textarea has a label (label[for], an
// enclosing label, aria-label or aria-labelledby), and every page has one
// h1 and a main landmark.
func TestConsoleFormControlsAreLabelled(t *testing.T) {
	a := startConsole(t)
	b := a.browser()
	b.login("admin", firstAdminPassword)
	controlRE := regexp.MustCompile(`(?s)<(input|select|textarea)\b([^>]*)>`)
	attr := func(attrs, name string) (string, bool) {
		m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindStringSubmatch(attrs)
		if m == nil {
			return "", strings.Contains(attrs, " "+name+" ") || strings.HasSuffix(attrs, " "+name)
		}
		return m[1], true
	}
	pages := 0
	for _, rt := range a.Console.Routes() {
		if rt.Method != "GET" || strings.Contains(rt.Path, ":") || rt.Path == "/" || strings.HasPrefix(rt.Path, "/audit/export") {
			continue
		}
		who := b
		if rt.Public {
			who = a.browser() // the sign-in page, as a stranger sees it
		}
		r := who.get(rt.Path)
		if r.Status != 200 {
			t.Errorf("GET %s = %d", rt.Path, r.Status)
			continue
		}
		if !strings.Contains(r.HeaderGet("Content-Type"), "text/html") {
			continue
		}
		pages++
		if strings.Count(r.Body, "<h1") != 1 {
			t.Errorf("%s has %d h1 headings, want 1", rt.Path, strings.Count(r.Body, "<h1"))
		}
		if !strings.Contains(r.Body, `<main id="main"`) {
			t.Errorf("%s has no main landmark", rt.Path)
		}
		for _, m := range controlRE.FindAllStringSubmatch(r.Body, -1) {
			attrs := m[2]
			if typ, _ := attr(attrs, "type"); typ == "hidden" || typ == "submit" || typ == "button" {
				continue
			}
			if _, hidden := attr(attrs, "hidden"); hidden {
				continue
			}
			if _, ok := attr(attrs, "aria-label"); ok {
				continue
			}
			if _, ok := attr(attrs, "aria-labelledby"); ok {
				continue
			}
			id, _ := attr(attrs, "id")
			if id != "" && strings.Contains(r.Body, `for="`+id+`"`) {
				continue
			}
			// An enclosing <label>: the nearest "<label" before the control
			// is not closed before it.
			i := strings.Index(r.Body, m[0])
			before := r.Body[:i]
			if open, closed := strings.LastIndex(before, "<label"), strings.LastIndex(before, "</label>"); open > closed {
				continue
			}
			t.Errorf("%s: unlabelled control <%s%s>", rt.Path, m[1], attrs)
		}
	}
	if pages < 10 {
		t.Fatalf("only %d pages checked", pages)
	}
}

// TestConsoleAccountCustomers: an admin maps an account user to customers
// on the users page; the mapping is audited.
func TestConsoleAccountCustomers(t *testing.T) {
	a := startConsole(t)
	acc := a.addUser("kai", auth.RoleAccount)
	b := a.browser()
	b.login("admin", firstAdminPassword)
	if page := b.get("/admin/users"); !strings.Contains(page.Body, `action="/admin/users/`+acc.ID+`/customers"`) {
		t.Fatal("no customer form for the account user")
	}
	if r := b.post("/admin/users/"+acc.ID+"/customers", url.Values{"customer_ids": {"12, 40\n40"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("set customers = %d %s", r.Status, r.Body)
	}
	got, err := a.Triage.AccountCustomers(context.Background(), acc.ID)
	if err != nil || strings.Join(got, ",") != "12,40" {
		t.Fatalf("customers %v %v", got, err)
	}
	if page := b.get("/audit?action=user.customers_set"); !strings.Contains(page.Body, acc.ID) {
		t.Error("mapping not audited")
	}
}

// A backtest page refreshes itself while the run is unfinished: the answer
// to its polling request must carry the polling element again, or the page
// stops at "running" forever; once done, the answer stops polling.
func TestConsoleBacktestPagePollsUntilDone(t *testing.T) {
	a := startConsole(t)
	a.addUser("ana", auth.RoleAnalyst)
	b := a.browser()
	b.login("ana", testPassword)
	ctx := context.Background()
	run, err := a.Rules.StartBacktest(ctx, a.Queue, rules.BacktestRequest{Candidate: "active"})
	if err != nil {
		t.Fatal(err)
	}
	setStatus := func(status string) {
		t.Helper()
		if _, err := a.DB.NewUpdate().Table("rule_backtests").Set("status = ?", status).Where("id = ?", run.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	poll := func() string {
		t.Helper()
		r := b.do("GET", "/ruleset/backtests/"+run.ID, nil, map[string]string{"HX-Request": "true", "HX-Target": "backtest"})
		if r.Status != http.StatusOK {
			t.Fatalf("poll: %d %s", r.Status, r.Body)
		}
		return r.Body
	}
	// Wait for the queued run to finish so it cannot overwrite the status.
	for i := 0; ; i++ {
		got, err := a.Rules.GetBacktest(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == rules.BacktestDone {
			break
		}
		if i > 600 {
			t.Fatalf("backtest still %s", got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	setStatus(rules.BacktestRunning)
	body := poll()
	if !strings.Contains(body, `id="backtest"`) || !strings.Contains(body, `hx-trigger="every 1s"`) {
		t.Fatalf("a running backtest's poll answer does not poll again:\n%s", body)
	}
	if strings.Contains(body, "<html") {
		t.Fatalf("the poll answer is a whole page")
	}
	setStatus(rules.BacktestDone)
	body = poll()
	if !strings.Contains(body, `id="backtest"`) || strings.Contains(body, "hx-trigger") || !strings.Contains(body, `id="changed-count"`) {
		t.Fatalf("a finished backtest's poll answer: want the report and no polling:\n%s", body)
	}
}
