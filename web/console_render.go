package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/url"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/triage"
)

// The templates and static files are compiled into the binary.
//
//go:embed templates static
var consoleFiles embed.FS

// templates holds one parsed set per page: the layout and shared partials
// plus the page's own file, so pages may define blocks with the same names.
type templates struct {
	pages map[string]*template.Template
}

// parseTemplates parses every page at start-up; any error stops the
// process before it serves a request.
func parseTemplates(funcs template.FuncMap) (*templates, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(consoleFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	files, err := fs.Glob(consoleFiles, "templates/pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		clone, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		p, err := clone.ParseFS(consoleFiles, f)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		if p.Lookup("content") == nil {
			return nil, fmt.Errorf("console template %s: no \"content\" block", name)
		}
		t.pages[name] = p
	}
	if len(t.pages) == 0 {
		return nil, fmt.Errorf("console templates: no pages found")
	}
	return t, nil
}

// pageData is what every page template receives.
type pageData struct {
	Title     string
	Active    string
	Bare      bool // no navigation (sign-in, errors before sign-in)
	User      auth.User
	Principal auth.Principal
	CSRF      string
	Nav       []navItem
	FlashKind string
	Flash     string
	Query     url.Values
	Path      string
	Now       time.Time
	Version   string
	Data      any
}

// Can reports whether the signed-in principal has a permission; templates
// use it to hide what the role may not do.
func (p pageData) Can(perm string) bool { return p.Principal.Can(auth.Permission(perm)) }

// page builds the page data of a request.
func (cn *Console) page(c *fiber.Ctx, title, active string, data any) pageData {
	s := sessionOf(c)
	kind, msg := cn.takeFlash(c)
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	return pageData{Title: title, Active: active, User: s.User, Principal: s.Principal, CSRF: s.CSRF,
		Nav: cn.nav(s.Principal), FlashKind: kind, Flash: msg, Query: q, Path: c.Path(), Now: cn.now(),
		Version: cn.srv.version, Data: data}
}

// render executes a page (block "" is the whole layout) into the response.
func (cn *Console) render(c *fiber.Ctx, status int, page string, data pageData, block ...string) error {
	t, ok := cn.tmpl.pages[page]
	if !ok {
		return fmt.Errorf("console: no template %q", page)
	}
	name := "layout"
	if len(block) > 0 && block[0] != "" {
		name = block[0]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("console: render %s/%s: %w", page, name, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderVary, "HX-Request")
	return c.Status(status).Send(buf.Bytes())
}

// assets are the static files with a content hash each, for cache busting:
// /static/x.css?v=<hash> may be cached for a year.
type assets struct {
	hash map[string]string
}

func loadAssets() (*assets, error) {
	a := &assets{hash: map[string]string{}}
	err := fs.WalkDir(consoleFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hash[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	return a, nil
}

// url returns the cache-busting URL of a static file; an unknown name is a
// template bug and fails the render.
func (a *assets) url(name string) (string, error) {
	h, ok := a.hash[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + h, nil
}

func (cn *Console) static(c *fiber.Ctx) error {
	name := path.Clean(c.Params("*"))
	h, ok := cn.assets.hash[name]
	if !ok || strings.HasPrefix(name, ".") {
		return fiber.ErrNotFound
	}
	b, err := consoleFiles.ReadFile("static/" + name)
	if err != nil {
		return fiber.ErrNotFound
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	etag := `"` + h + `"`
	c.Set(fiber.HeaderETag, etag)
	if c.Query("v") == h {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, ct)
	return c.Send(b)
}

// funcs are the template helpers.
func (cn *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) (string, error) { return cn.assets.url(name) },
		"ts": func(t any) string {
			tm, ok := asTime(t)
			if !ok {
				return "—"
			}
			return tm.UTC().Format("2006-01-02 15:04 UTC")
		},
		"iso": func(t any) string {
			tm, ok := asTime(t)
			if !ok {
				return ""
			}
			return tm.UTC().Format(time.RFC3339)
		},
		"ago": func(t any) string {
			tm, ok := asTime(t)
			if !ok {
				return "—"
			}
			return relTime(cn.now(), tm)
		},
		"dur":   humanDuration,
		"pct":   func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
		"num":   groupDigits,
		"fixed": func(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) },
		"add":   func(a, b int) int { return a + b },
		"sub":   func(a, b int) int { return a - b },
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"title": func(s string) string {
			s = strings.ReplaceAll(s, "_", " ")
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"join":      strings.Join,
		"hasPrefix": strings.HasPrefix,
		"trunc":     truncate,
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		// qs returns the query string of q with each key set to its value
		// (an empty value removes the key); a page cursor is dropped unless
		// set here.
		"qs": func(q url.Values, kv ...string) string {
			n := url.Values{}
			for k, v := range q {
				n[k] = append([]string(nil), v...)
			}
			n.Del("cursor")
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == "" {
					n.Del(kv[i])
				} else {
					n.Set(kv[i], kv[i+1])
				}
			}
			if len(n) == 0 {
				return ""
			}
			return "?" + n.Encode()
		},
		"prettyjson": prettyJSON,
		// lane shows "US>DE" as "US → DE" ("?" for an unknown end).
		"lane": func(l string) string {
			o, d, _ := strings.Cut(l, ">")
			if o == "" {
				o = "?"
			}
			if d == "" {
				d = "?"
			}
			return o + " → " + d
		},
		// preview and result decode an action's stored preview and outcome
		// (nil when they do not decode, and the template shows nothing).
		"preview": func(raw []byte) *triage.Preview {
			var p triage.Preview
			if json.Unmarshal(raw, &p) != nil {
				return nil
			}
			return &p
		},
		"result": func(raw []byte) *triage.Result {
			var r triage.Result
			if json.Unmarshal(raw, &r) != nil {
				return nil
			}
			return &r
		},
		// strs turns a slice of string-kinded values (states, severities)
		// into strings for has.
		"strs": func(v any) []string {
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Slice {
				return nil
			}
			out := make([]string, rv.Len())
			for i := range out {
				out[i] = fmt.Sprint(rv.Index(i).Interface())
			}
			return out
		},
		"subjectTypes": func() []string {
			return []string{"action", "case", "job", "odoo", "rule", "ruleset", "source", "token", "user"}
		},
		"tojson": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
}

func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil || t.IsZero() {
			return time.Time{}, false
		}
		return *t, true
	}
	return time.Time{}, false
}

// relTime says how long ago (or in how long) t is, in the largest unit.
func relTime(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 6*time.Hour:
		s = fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// humanDuration prints a duration the way people read SLAs: 2d 3h, 45m, 12s.
func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		s = fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd %dh", int(d.Hours()/24), int(d.Hours())%24)
	}
	if neg {
		return "-" + s
	}
	return s
}

func groupDigits(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "—"
		}
		n = int64(math.Round(x))
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case string:
		raw = []byte(x)
	case []byte:
		raw = x
	case json.RawMessage:
		raw = x
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
	if len(raw) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}
