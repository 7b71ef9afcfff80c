package odootest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure an emulated Odoo server.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0 (a free port).
	Addr string
	// Version is the Odoo major version profile: 16, 17 (default), 18 or 19.
	// 19 also serves JSON-2 and /web/version.
	Version int
	// Enterprise adds "+e" to the version strings.
	Enterprise bool
	// DB, Login, Password and APIKey of the integration user (uid 2).
	// Defaults: "demo", "admin", "admin" and a random 40-hex key.
	DB, Login, Password, APIKey string
	// Helpdesk installs the Enterprise helpdesk.ticket model.
	Helpdesk bool
	// Seed sizes the demo data; nil means DefaultSeed.
	Seed *Seed
	// Now is the server clock (write_date, cooldown, activity states).
	Now func() time.Time
	// CooldownAfter failed logins from one address trigger a refusal for
	// CooldownDuration (Odoo's base.login_cooldown_after/_duration:
	// 10 and 60s in a new database). A negative CooldownAfter disables it.
	CooldownAfter    int
	CooldownDuration time.Duration
	// MaxBodyBytes caps request bodies (default 64 MiB).
	MaxBodyBytes int64
	// Logger receives one debug line per request (default: discard).
	Logger *slog.Logger
}

// Email is a notification the emulated server would have sent.
type Email struct {
	To        int64 // res.partner id
	Subject   string
	Model     string
	ResID     int64
	Kind      string // "message" (follower notification) or "activity_assigned"
	MessageID int64
}

// InjectKind is a fault the emulator can inject.
type InjectKind int

const (
	// Latency delays the answer by Injection.Latency.
	Latency InjectKind = iota + 1
	// HTTP502 answers 502 Bad Gateway (a proxy in front of a dead Odoo).
	HTTP502
	// HTTP503 answers 503 Service Unavailable (maintenance).
	HTTP503
	// Reset closes the connection without answering, before the call runs.
	Reset
	// Serialization answers a Fault 1 ending in
	// psycopg2.errors.SerializationFailure (409 ConcurrencyError on
	// JSON-2); nothing is committed.
	Serialization
	// CommitThenFault runs the call, then answers Fault 1 (a marshalling
	// TypeError): the effect is committed but the client sees a failure.
	CommitThenFault
	// CommitThenReset runs the call, then drops the connection.
	CommitThenReset
	// AccessErr answers the model's Fault 4 ACL error (403 on JSON-2).
	AccessErr
)

// Injection describes when to inject a fault. Model and Method ("" matches
// any) select calls; Times is how many matching calls are hit (0: until
// ClearInjections). Injections matching any model and method apply to every
// request, including version() and authenticate.
type Injection struct {
	Model, Method string
	Kind          InjectKind
	Times         int
	Latency       time.Duration
}

// Stats counts what clients asked for.
type Stats struct {
	// Calls per "model.method" (object service and JSON-2) or
	// "common.method".
	Calls map[string]int
	// Records returned by search_read and read, per model.
	Records map[string]int
	// Requests is the number of HTTP requests served.
	Requests int
}

type statsData struct {
	calls    map[string]int
	records  map[string]int
	requests int
}

type failure struct {
	count int
	last  time.Time
}

// Server is a running emulated Odoo.
type Server struct {
	opts        Options
	mu          sync.Mutex
	models      map[string]*model
	modelOrder  []string
	methodTable map[string]*method
	denied      map[string]map[string]bool
	hidden      map[string]map[int64]bool
	injections  []*Injection
	stats       statsData
	emails      []Email
	failures    map[string]failure
	authCache   map[string]bool
	adminUID    int64
	demo        Demo
	ln          net.Listener
	srv         *http.Server
	url         string
	log         *slog.Logger
}

// Start builds, seeds and serves an emulator until Close.
func Start(opts Options) (*Server, error) {
	s, err := build(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("odootest: listen %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// New starts an emulator with default options (version 17, demo data) for
// a test and closes it when the test ends. Pass options to change them.
func New(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := Start(o)
	if err != nil {
		t.Fatalf("start odoo emulator: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func build(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Version == 0 {
		opts.Version = 17
	}
	if opts.Version < 16 || opts.Version > 19 {
		return nil, fmt.Errorf("odootest: unsupported version %d (want 16, 17, 18 or 19)", opts.Version)
	}
	if opts.DB == "" {
		opts.DB = "demo"
	}
	if opts.Login == "" {
		opts.Login = "admin"
	}
	if opts.Password == "" {
		opts.Password = "admin"
	}
	if opts.APIKey == "" {
		b := make([]byte, 20)
		_, _ = rand.Read(b)
		opts.APIKey = hex.EncodeToString(b)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CooldownAfter == 0 {
		opts.CooldownAfter = 10
	}
	if opts.CooldownDuration == 0 {
		opts.CooldownDuration = 60 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 20
	}
	s := &Server{opts: opts, denied: map[string]map[string]bool{}, hidden: map[string]map[int64]bool{},
		failures: map[string]failure{}, authCache: map[string]bool{}, adminUID: 2}
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stats = statsData{calls: map[string]int{}, records: map[string]int{}}
	s.defineModels()
	s.methodTable = s.methods()
	seed := DefaultSeed
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	if err := s.seed(seed); err != nil {
		return nil, err
	}
	s.setHelpdesk(opts.Helpdesk)
	return s, nil
}

// Close stops serving.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// URL is the base URL (http://host:port).
func (s *Server) URL() string { return s.url }

// DB is the database name.
func (s *Server) DB() string { return s.opts.DB }

// Login is the integration user's login.
func (s *Server) Login() string { return s.opts.Login }

// Password is the integration user's password.
func (s *Server) Password() string { return s.opts.Password }

// APIKey is the integration user's API key.
func (s *Server) APIKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.APIKey
}

// RotateAPIKey replaces the integration user's API key (revocation or
// expiry): calls still using the old key get Fault 3 / HTTP 401.
func (s *Server) RotateAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.APIKey = key
	s.authCache = map[string]bool{}
}

// Version is the emulated major version.
func (s *Server) Version() int { return s.opts.Version }

// UID is the integration user's id.
func (s *Server) UID() int64 { return s.adminUID }

func (s *Server) now() time.Time { return s.opts.Now() }

// Inject adds a fault injection.
func (s *Server) Inject(in Injection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := in
	s.injections = append(s.injections, &cp)
}

// ClearInjections removes every injection (and ends downtime).
func (s *Server) ClearInjections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injections = nil
}

// SetDown makes every request fail with 502 Bad Gateway (true) or clears
// all injections (false).
func (s *Server) SetDown(down bool) {
	if down {
		s.Inject(Injection{Kind: HTTP502})
		return
	}
	s.ClearInjections()
}

// Deny makes the model's operations ("read", "write", "create", "unlink")
// fail with Odoo's ACL AccessError (Fault 4).
func (s *Server) Deny(model string, ops ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[model] == nil {
		s.denied[model] = map[string]bool{}
	}
	for _, op := range ops {
		s.denied[model][op] = true
	}
}

// Allow lifts every Deny on the model.
func (s *Server) Allow(model string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, model)
}

// Hide puts records behind a record rule: searches skip them, reads and
// writes fail with the "Uh-oh!" AccessError.
func (s *Server) Hide(model string, ids ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hidden[model] == nil {
		s.hidden[model] = map[int64]bool{}
	}
	for _, id := range ids {
		s.hidden[model][id] = true
	}
}

// SetHelpdesk installs or uninstalls the helpdesk.ticket model.
func (s *Server) SetHelpdesk(installed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHelpdesk(installed)
}

func (s *Server) setHelpdesk(installed bool) {
	for _, name := range []string{"helpdesk.ticket", "helpdesk.team"} {
		s.models[name].installed = installed
		id := s.modelID(name)
		im := s.models["ir.model"]
		switch {
		case installed && id == 0:
			s.rawCreate(im, map[string]any{"model": name, "name": s.models[name].desc})
		case !installed && id != 0:
			im.remove(id)
		}
	}
	if installed && len(s.models["helpdesk.team"].ids) == 0 {
		s.rawCreate(s.models["helpdesk.team"], map[string]any{"name": "Customer Care", "sequence": int64(1)})
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Calls: map[string]int{}, Records: map[string]int{}, Requests: s.stats.requests}
	for k, v := range s.stats.calls {
		st.Calls[k] = v
	}
	for k, v := range s.stats.records {
		st.Records[k] = v
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = statsData{calls: map[string]int{}, records: map[string]int{}}
}

// Emails returns the notifications the server would have sent.
func (s *Server) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.emails)
}

func (s *Server) adminEnv() *env {
	return &env{uid: s.adminUID, now: s.now().UTC().Format(dtMicro)}
}

// Records searches a model directly (archived records included), for test
// assertions. domain uses the RPC shapes: []any{[]any{"state", "=", "done"}}.
func (s *Server) Records(model string, domain []any, fields ...string) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.models[model]
	if m == nil {
		return nil, fmt.Errorf("odootest: no model %s", model)
	}
	e := s.adminEnv()
	e.ctx = NewDict(1)
	e.ctx.Set("active_test", false)
	recs, err := s.search(e, m, toPy(domain), nil, nil, "id")
	if err != nil {
		return nil, err
	}
	fl, err := s.resolveFields(m, toPy(fields))
	if err != nil {
		return nil, err
	}
	rows := s.readRecords(m, recs, fl, true)
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		out[i] = r.(*Dict).Map()
	}
	return out, nil
}

// Create creates a record as the integration user, for test setup.
func (s *Server) Create(model string, vals map[string]any) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.call(s.adminEnv(), model, "create", []any{toPy(vals)}, nil, nil)
	if err != nil {
		return 0, err
	}
	return res.(int64), nil
}

// Write updates records as the integration user (bumping write_date), for
// test setup.
func (s *Server) Write(model string, ids []int64, vals map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.call(s.adminEnv(), model, "write", []any{toPy(ids), toPy(vals)}, nil, nil)
	return err
}

// Unlink deletes records, for test setup.
func (s *Server) Unlink(model string, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.call(s.adminEnv(), model, "unlink", []any{toPy(ids)}, nil, nil)
	return err
}

// toPy converts Go test values to the emulator's Python-like values.
func toPy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		d := NewDict(len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			d.Set(k, toPy(x[k]))
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toPy(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []int64:
		return idList(x)
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

// rawCreate inserts seed data without RPC validation (ids ascending).
func (s *Server) rawCreate(m *model, vals map[string]any) *record {
	e := s.adminEnv()
	r := &record{id: m.nextID, vals: make([]any, m.nstored)}
	for _, f := range m.fields {
		if f.idx < 0 {
			continue
		}
		switch f.typ {
		case tMany2one, tInteger, tManyRef:
			r.vals[f.idx] = int64(0)
		case tFloat, tMonetary:
			r.vals[f.idx] = 0.0
		case tBoolean:
			r.vals[f.idx] = false
		}
		if f.dflt != nil {
			r.vals[f.idx] = f.dflt(s, e)
		}
	}
	for k, v := range vals {
		f := m.byName[k]
		if f == nil || f.idx < 0 {
			panic("odootest: seed sets unknown field " + m.name + "." + k)
		}
		r.vals[f.idx] = v
	}
	if _, ok := vals["create_date"]; !ok {
		r.vals[m.byName["create_date"].idx] = e.now
	}
	if _, ok := vals["write_date"]; !ok {
		r.vals[m.byName["write_date"].idx] = r.vals[m.byName["create_date"].idx]
	}
	r.vals[m.byName["create_uid"].idx] = int64(1)
	r.vals[m.byName["write_uid"].idx] = int64(1)
	m.insert(r)
	return r
}

// ServeHTTP routes like Odoo's werkzeug application for the endpoints the
// connector uses; anything else is a werkzeug 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.requests++
	s.mu.Unlock()
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/xmlrpc/2/"):
		s.serveXMLRPC(w, r, strings.TrimPrefix(path, "/xmlrpc/2/"))
	case strings.HasPrefix(path, "/json/2/") && s.opts.Version >= 19:
		s.serveJSON2(w, r, strings.TrimPrefix(path, "/json/2/"))
	case (path == "/web/version" || path == "/json/version") && s.opts.Version >= 19:
		if s.preInject(w, r) {
			return
		}
		d := NewDict(2)
		d.Set("version_info", s.versionInfo())
		d.Set("version", s.serverVersion())
		body, _ := pyJSON(d)
		writeBody(w, http.StatusOK, "application/json; charset=utf-8", body)
	default:
		notFound(w)
	}
}

const werkzeug404 = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n"
const werkzeug405 = "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n"

func notFound(w http.ResponseWriter) {
	writeBody(w, http.StatusNotFound, "text/html; charset=utf-8", []byte(werkzeug404))
}

func writeBody(w http.ResponseWriter, status int, ctype string, body []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func gatewayBody(code int, text string) []byte {
	return []byte(fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", code, text, code, text))
}

// take consumes one use of every injection matching model/method (pre:
// only injections matching everything, applied before the body is read).
func (s *Server) take(model, meth string, pre bool) []Injection {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Injection
	kept := s.injections[:0]
	for _, in := range s.injections {
		anyCall := in.Model == "" && in.Method == ""
		preKind := in.Kind == HTTP502 || in.Kind == HTTP503 || in.Kind == Reset || in.Kind == Latency
		match := pre == (anyCall && preKind)
		if match && !pre && ((in.Model != "" && in.Model != model) || (in.Method != "" && in.Method != meth)) {
			match = false
		}
		if match {
			out = append(out, *in)
			if in.Times > 0 {
				in.Times--
				if in.Times == 0 {
					continue
				}
			}
		}
		kept = append(kept, in)
	}
	s.injections = kept
	return out
}

// applyTransport performs transport-level faults (latency, gateway errors,
// resets); it reports whether the request was answered or dropped.
func (s *Server) applyTransport(w http.ResponseWriter, r *http.Request, ins []Injection) bool {
	for _, in := range ins {
		switch in.Kind {
		case Latency:
			select {
			case <-time.After(in.Latency):
			case <-r.Context().Done():
				return true
			}
		case HTTP502:
			writeBody(w, http.StatusBadGateway, "text/html", gatewayBody(502, "Bad Gateway"))
			return true
		case HTTP503:
			writeBody(w, http.StatusServiceUnavailable, "text/html", gatewayBody(503, "Service Temporarily Unavailable"))
			return true
		case Reset:
			dropConnection(w)
			return true
		}
	}
	return false
}

func (s *Server) preInject(w http.ResponseWriter, r *http.Request) bool {
	return s.applyTransport(w, r, s.take("", "", true))
}

func hasKind(ins []Injection, k InjectKind) bool {
	for _, in := range ins {
		if in.Kind == k {
			return true
		}
	}
	return false
}

// injectedError is the call-level fault of an injection, if any.
func (s *Server) injectedError(ins []Injection, model string, json bool) *pyErr {
	for _, in := range ins {
		switch in.Kind {
		case Serialization:
			if json {
				return &pyErr{Class: excConcurrency, Msg: "could not serialize access due to concurrent update"}
			}
			return &pyErr{Class: excSerialization, Msg: "could not serialize access due to concurrent update\n"}
		case AccessErr:
			s.mu.Lock()
			defer s.mu.Unlock()
			if m := s.models[model]; m != nil {
				return s.aclError(m, "write")
			}
			return accessDenied("Access Denied")
		}
	}
	return nil
}

func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeBody(w, http.StatusRequestEntityTooLarge, "text/html; charset=utf-8", []byte("<!doctype html>\n<html lang=en>\n<title>413 Request Entity Too Large</title>\n<h1>Request Entity Too Large</h1>\n<p>The data value transmitted exceeds the capacity limit.</p>\n"))
			return nil, false
		}
		return nil, false
	}
	return body, true
}

func (s *Server) serveXMLRPC(w http.ResponseWriter, r *http.Request, service string) {
	if r.Method != http.MethodPost {
		writeBody(w, http.StatusMethodNotAllowed, "text/html; charset=utf-8", []byte(werkzeug405))
		return
	}
	// Read the body first: only then does net/http notice a client that
	// hangs up, so injected latency ends with the client's timeout.
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if s.preInject(w, r) {
		return
	}
	methodName, params, perr := ParseMethodCall(body)
	if perr != nil {
		var pe *parseError
		errors.As(perr, &pe)
		s.writeFault(w, &pyErr{Class: pe.class, Msg: pe.msg})
		return
	}
	model, meth := "", methodName
	if service == "object" && (methodName == "execute_kw" || methodName == "execute") && len(params) >= 5 {
		model, _ = params[3].(string)
		meth, _ = params[4].(string)
	}
	ins := s.take(model, meth, false)
	if s.applyTransport(w, r, ins) {
		return
	}
	if ie := s.injectedError(ins, model, false); ie != nil {
		s.writeFault(w, ie)
		return
	}
	start := time.Now()
	res, err := s.dispatchXMLRPC(remoteHost(r), service, methodName, params)
	s.log.Debug("xmlrpc", "service", service, "method", methodName, "model", model, "call", meth, "duration", time.Since(start), "err", err)
	if hasKind(ins, CommitThenReset) {
		dropConnection(w)
		return
	}
	if hasKind(ins, CommitThenFault) && err == nil {
		err = &pyErr{Class: "TypeError", Msg: "cannot marshal None unless allow_none is enabled", Committed: true}
	}
	if err != nil {
		var pe *pyErr
		if !errors.As(err, &pe) {
			pe = &pyErr{Class: "Exception", Msg: err.Error()}
		}
		s.writeFault(w, pe)
		return
	}
	out, merr := s.encodeResult(res)
	if merr != nil {
		me := merr.(*marshalError)
		s.writeFault(w, &pyErr{Class: me.class, Msg: me.msg, Committed: true})
		return
	}
	writeBody(w, http.StatusOK, "text/xml; charset=utf-8", out)
}

func (s *Server) writeFault(w http.ResponseWriter, e *pyErr) {
	body := s.encodeFault(faultCode(e), s.faultString(e))
	writeBody(w, http.StatusOK, "text/xml; charset=utf-8", body)
}

func (s *Server) serverVersion() string {
	v := strconv.Itoa(s.opts.Version) + ".0"
	if s.opts.Enterprise {
		v += "+e"
	}
	return v
}

func (s *Server) versionInfo() []any {
	ed := ""
	if s.opts.Enterprise {
		ed = "e"
	}
	return []any{int64(s.opts.Version), int64(0), int64(0), "final", int64(0), ed}
}

func (s *Server) unknownDB(db any) *pyErr {
	return &pyErr{Class: "psycopg2.OperationalError", Msg: fmt.Sprintf("connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"%v\" does not exist\n", db)}
}

// dispatchXMLRPC runs one call of the common, object or db service.
func (s *Server) dispatchXMLRPC(src, service, methodName string, params []any) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch service {
	case "common":
		s.stats.calls["common."+methodName]++
		return s.commonService(src, methodName, params)
	case "object":
		return s.objectService(src, methodName, params)
	case "db":
		s.stats.calls["db."+methodName]++
		switch methodName {
		case "list":
			return []any{s.opts.DB}, nil
		case "server_version":
			return s.serverVersion(), nil
		}
		return nil, &pyErr{Class: "KeyError", Msg: pyStrRepr("exp_" + methodName)}
	}
	return nil, &pyErr{Class: "KeyError", Msg: pyStrRepr(service)}
}

func (s *Server) commonService(src, methodName string, params []any) (any, error) {
	switch methodName {
	case "version":
		d := NewDict(4)
		d.Set("server_version", s.serverVersion())
		d.Set("server_version_info", s.versionInfo())
		d.Set("server_serie", strconv.Itoa(s.opts.Version)+".0")
		d.Set("protocol_version", int64(1))
		return d, nil
	case "login", "authenticate":
		want := []string{"db", "login", "password"}
		if methodName == "authenticate" {
			want = append(want, "user_agent_env")
		}
		if len(params) < len(want) {
			missing := want[len(params):]
			q := make([]string, len(missing))
			for i, m := range missing {
				q[i] = pyStrRepr(m)
			}
			plural := ""
			if len(missing) > 1 {
				plural = "s"
			}
			return nil, typeError("exp_%s() missing %d required positional argument%s: %s", methodName, len(missing), plural, strings.Join(q, " and "))
		}
		if len(params) > len(want) {
			return nil, typeError("exp_%s() takes %d positional arguments but %d were given", methodName, len(want), len(params))
		}
		if db, _ := params[0].(string); db != s.opts.DB {
			return nil, s.unknownDB(params[0])
		}
		if s.onCooldown(src) {
			return false, nil
		}
		login, _ := params[1].(string)
		pw, _ := params[2].(string)
		if login == s.opts.Login && (pw == s.opts.Password || pw == s.opts.APIKey) {
			delete(s.failures, src)
			return s.adminUID, nil
		}
		s.fail(src)
		return false, nil
	}
	return nil, &pyErr{Class: "Exception", Msg: "Method not found: " + methodName}
}

func (s *Server) onCooldown(src string) bool {
	if s.opts.CooldownAfter < 0 {
		return false
	}
	f, ok := s.failures[src]
	return ok && f.count >= s.opts.CooldownAfter && s.now().Sub(f.last) < s.opts.CooldownDuration
}

func (s *Server) fail(src string) {
	f := s.failures[src]
	s.failures[src] = failure{count: f.count + 1, last: s.now()}
}

// checkCredentials is res.users.check: cached on success (so a cooldown
// does not lock out working credentials), else guarded by the cooldown and
// counted as a failure.
func (s *Server) checkCredentials(src string, db, uid, pw any) error {
	if d, _ := db.(string); d != s.opts.DB {
		return s.unknownDB(db)
	}
	key := fmt.Sprintf("%v\x00%v", uid, pw)
	if s.authCache[key] {
		return nil
	}
	if s.onCooldown(src) {
		return accessDenied("Too many login failures, please wait a bit before trying again.")
	}
	p, _ := pw.(string)
	if u, ok := uid.(int64); ok && u == s.adminUID && p != "" && (p == s.opts.Password || p == s.opts.APIKey) {
		s.authCache[key] = true
		delete(s.failures, src)
		return nil
	}
	s.fail(src)
	return accessDenied("Access Denied")
}

func (s *Server) objectService(src, methodName string, params []any) (any, error) {
	var model, meth string
	var pos []any
	var kw *Dict
	switch methodName {
	case "execute_kw":
		if len(params) < 6 {
			names := []string{"db", "uid", "passwd", "model", "method", "args"}
			return nil, typeError("execute_kw() missing %d required positional argument(s): %s", 6-len(params), strings.Join(names[len(params):], ", "))
		}
		if len(params) > 7 {
			return nil, typeError("execute_kw() takes from 6 to 7 positional arguments but %d were given", len(params))
		}
		if err := s.checkCredentials(src, params[0], params[1], params[2]); err != nil {
			return nil, err
		}
		model, _ = params[3].(string)
		meth, _ = params[4].(string)
		a, ok := params[5].([]any)
		if !ok {
			return nil, typeError("odoo.service.model.execute_kw() argument after * must be an iterable, not %s", pyTypeName(params[5]))
		}
		pos = a
		if len(params) == 7 && params[6] != nil {
			d, ok := params[6].(*Dict)
			if !ok {
				return nil, typeError("odoo.service.model.execute_kw() argument after ** must be a mapping, not %s", pyTypeName(params[6]))
			}
			kw = d
		}
	case "execute":
		if len(params) < 5 {
			return nil, typeError("execute() missing required positional arguments")
		}
		if err := s.checkCredentials(src, params[0], params[1], params[2]); err != nil {
			return nil, err
		}
		model, _ = params[3].(string)
		meth, _ = params[4].(string)
		pos = params[5:]
	default:
		return nil, &pyErr{Class: "NameError", Msg: "Method not available " + methodName}
	}
	s.stats.calls[model+"."+meth]++
	e := &env{uid: s.adminUID, now: s.now().UTC().Format(dtMicro)}
	return s.call(e, model, meth, pos, kw, nil)
}

// serveJSON2 implements POST /json/2/<model>/<method> (Odoo 19).
func (s *Server) serveJSON2(w http.ResponseWriter, r *http.Request, rest string) {
	model, meth, ok := strings.Cut(rest, "/")
	if !ok || model == "" || meth == "" || strings.Contains(meth, "/") {
		notFound(w)
		return
	}
	if r.Method != http.MethodPost {
		writeBody(w, http.StatusMethodNotAllowed, "text/html; charset=utf-8", []byte(werkzeug405))
		return
	}
	// Read the body first: only then does net/http notice a client that
	// hangs up, so injected latency ends with the client's timeout.
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	if s.preInject(w, r) {
		return
	}
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(key) != s.APIKey() {
		s.writeJSONError(w, &pyErr{Class: "werkzeug.exceptions.Unauthorized", Msg: "Invalid apikey"}, nil)
		return
	}
	if db := r.Header.Get("X-Odoo-Database"); db != "" && db != s.opts.DB {
		s.writeJSONError(w, &pyErr{Class: "werkzeug.exceptions.NotFound", Msg: fmt.Sprintf("database %s not found", pyStrRepr(db))}, nil)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		s.writeJSONError(w, &pyErr{Class: "werkzeug.exceptions.BadRequest", Msg: "Content-Type must be application/json"}, nil)
		return
	}
	var named *Dict
	if len(bytes.TrimSpace(body)) == 0 {
		named = NewDict(0)
	} else {
		v, err := parseJSONBody(body)
		if err != nil {
			s.writeJSONError(w, &pyErr{Class: "werkzeug.exceptions.BadRequest", Msg: "Invalid JSON data: " + err.Error()}, nil)
			return
		}
		d, ok := v.(*Dict)
		if !ok {
			s.writeJSONError(w, &pyErr{Class: "werkzeug.exceptions.BadRequest", Msg: "Invalid JSON data: the body must be a JSON object"}, nil)
			return
		}
		named = d
	}
	ins := s.take(model, meth, false)
	if s.applyTransport(w, r, ins) {
		return
	}
	if ie := s.injectedError(ins, model, true); ie != nil {
		s.writeJSONError(w, ie, nil)
		return
	}
	s.mu.Lock()
	s.stats.calls[model+"."+meth]++
	e := &env{uid: s.adminUID, now: s.now().UTC().Format(dtMicro), json: true}
	res, err := s.call(e, model, meth, nil, nil, named)
	if err == nil && s.opts.Version >= 19 {
		// JSON-2 turns any returned recordset into its ids.
		if _, ok := res.(pyObject); ok {
			res = []any{}
		}
	}
	s.mu.Unlock()
	if hasKind(ins, CommitThenReset) {
		dropConnection(w)
		return
	}
	if hasKind(ins, CommitThenFault) && err == nil {
		err = &pyErr{Class: "TypeError", Msg: "Object of type NoneType is not JSON serializable", Committed: true}
	}
	if err != nil {
		var pe *pyErr
		if !errors.As(err, &pe) {
			pe = &pyErr{Class: "Exception", Msg: err.Error()}
		}
		s.writeJSONError(w, pe, e.ctx)
		return
	}
	out, merr := pyJSON(res)
	if merr != nil {
		me := merr.(*marshalError)
		s.writeJSONError(w, &pyErr{Class: me.class, Msg: me.msg, Committed: true}, e.ctx)
		return
	}
	writeBody(w, http.StatusOK, "application/json; charset=utf-8", out)
}

func (s *Server) writeJSONError(w http.ResponseWriter, e *pyErr, ctx *Dict) {
	status := jsonStatus(e)
	d := NewDict(5)
	d.Set("name", qualifiedName(e.Class))
	d.Set("message", e.Msg)
	args := []any{e.Msg}
	if strings.HasPrefix(e.Class, "werkzeug.") {
		args = append(args, int64(status))
	}
	d.Set("arguments", args)
	if ctx == nil {
		ctx = NewDict(0)
	}
	d.Set("context", ctx)
	d.Set("debug", s.traceback(e))
	body, _ := pyJSON(d)
	writeBody(w, status, "application/json; charset=utf-8", body)
}
