// Package web is Yardmaster's HTTP surface on fiber: the JSON API under
// /api/v1, signed webhook intake under /v1/webhooks, the console, health,
// readiness and metrics. Handlers stay thin — parse, authorize, call a
// service, respond — and every error becomes an RFC 9457 problem document in
// one place (problem.go). API routes are registered with their OpenAPI
// operation (Router.Op), so /api/openapi.json always matches the routes.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/metrics"
)

// Check is one readiness check. Informational checks are reported but do
// not make the process unready (e.g. Odoo's circuit breaker: Odoo being down
// must not take the API out of the load balancer).
type Check struct {
	Name          string
	Informational bool
	Fn            func(ctx context.Context) (detail any, err error)
}

// Options configure the server.
type Options struct {
	DB           *db.DB
	Logger       *slog.Logger
	Now          func() time.Time
	Version      string
	MaxBodyBytes int
	// Checks are run by /readyz, in order.
	Checks []Check
}

// SessionFunc resolves a console session cookie to a principal; the console
// installs it. ok=false means no valid session.
type SessionFunc func(c *fiber.Ctx) (auth.Principal, bool)

// Server is the HTTP server.
type Server struct {
	App     *fiber.App
	API     *Router
	db      *db.DB
	log     *slog.Logger
	now     func() time.Time
	version string
	checks  []Check

	mu         sync.RWMutex
	session    SessionFunc
	htmlErrors func(c *fiber.Ctx, p Problem) error
}

var (
	httpRequests = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
	}, []string{"method", "route", "status"})
	httpDuration = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"method", "route"})
)

// New builds the server with the foundation routes (health, readiness,
// metrics, OpenAPI, tokens, audit). Features add their routes with s.API.Op.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = logx.Discard()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	s := &Server{db: opts.DB, log: opts.Logger, now: opts.Now, version: opts.Version, checks: opts.Checks}
	s.App = fiber.New(fiber.Config{
		AppName:               "yardmaster",
		BodyLimit:             opts.MaxBodyBytes,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		ReadBufferSize:        16 * 1024,
	})
	s.API = &Router{app: s.App, srv: s}
	s.App.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.ErrorContext(c.UserContext(), "panic in handler", "panic", fmt.Sprint(e), "path", c.Path())
	}}))
	s.App.Use(s.requestContext)
	s.routes()
	return s
}

// SetSession installs the console's session resolver.
func (s *Server) SetSession(fn SessionFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = fn
}

// SetHTMLErrors installs the console's HTML error page for browser routes.
func (s *Server) SetHTMLErrors(fn func(c *fiber.Ctx, p Problem) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.htmlErrors = fn
}

// AddCheck adds a readiness check.
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

// Now returns the server's clock reading.
func (s *Server) Now() time.Time { return s.now() }

// DB returns the database.
func (s *Server) DB() *db.DB { return s.db }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestContext gives each request a request id (the caller's X-Request-ID
// when well-formed), logs it, and records metrics by route pattern.
func (s *Server) requestContext(c *fiber.Ctx) error {
	start := time.Now()
	rid := c.Get(fiber.HeaderXRequestID)
	if !requestIDRE.MatchString(rid) {
		rid = ids.New()
	} else {
		rid = strings.Clone(rid)
	}
	c.Set(fiber.HeaderXRequestID, rid)
	c.SetUserContext(logx.WithRequestID(c.UserContext(), rid))
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		status = StatusOf(err)
		if herr := s.errorHandler(c, err); herr != nil {
			status = 500
		}
		err = nil
	}
	route := c.Route().Path
	if route == "" || route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	httpRequests.WithLabelValues(c.Method(), route, strconv.Itoa(status)).Inc()
	httpDuration.WithLabelValues(c.Method(), route).Observe(d.Seconds())
	if route != "/healthz" && route != "/metrics" {
		lvl := slog.LevelInfo
		if status >= 500 {
			lvl = slog.LevelError
		}
		s.log.Log(c.UserContext(), lvl, "http request", "method", c.Method(), "path", c.Path(), "route", route,
			"status", status, "duration_ms", float64(d.Microseconds())/1000, "remote", c.IP())
	}
	return err
}

// requireAuth authenticates the caller (bearer token, else console session)
// and checks perm.
func (s *Server) requireAuth(perm auth.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := s.Authenticate(c)
		if err != nil {
			return err
		}
		if perm != "" && !p.Can(perm) {
			return apperr.Forbidden(fmt.Sprintf("your role (%s) does not allow %s", p.Role, perm))
		}
		return c.Next()
	}
}

// Authenticate resolves the caller and stores the principal and the audit
// actor in the request context.
func (s *Server) Authenticate(c *fiber.Ctx) (auth.Principal, error) {
	if p, ok := auth.From(c.UserContext()); ok {
		return p, nil
	}
	var p auth.Principal
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return p, apperr.Unauthorized("invalid or missing credentials")
		}
		now := s.now()
		var t auth.Token
		var err error
		p, t, err = auth.AuthenticateToken(c.UserContext(), s.db.Read, now, strings.TrimSpace(tok))
		if err != nil {
			return p, err
		}
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
			go func() { _ = auth.TouchToken(context.Background(), s.db, now, t) }()
		}
	} else {
		s.mu.RLock()
		fn := s.session
		s.mu.RUnlock()
		ok := false
		if fn != nil {
			p, ok = fn(c)
		}
		if !ok {
			return p, apperr.Unauthorized("invalid or missing credentials")
		}
	}
	ctx := auth.WithPrincipal(c.UserContext(), p)
	ctx = audit.WithActor(ctx, audit.Actor{Type: p.Kind, ID: p.ID, Name: p.Name})
	c.SetUserContext(ctx)
	return p, nil
}

// Principal returns the authenticated principal of the request.
func Principal(c *fiber.Ctx) auth.Principal {
	p, _ := auth.From(c.UserContext())
	return p
}

func (s *Server) routes() {
	s.API.Op(Op{Method: "GET", Path: "/healthz", Summary: "Liveness: the process is up", Tags: []string{"operations"}, Auth: AuthNone,
		Responses: map[int]Resp{200: {Doc: "Up", Body: map[string]string{}}}}, func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.API.Op(Op{Method: "GET", Path: "/readyz", Summary: "Readiness: database, Redis and schema", Tags: []string{"operations"}, Auth: AuthNone,
		Doc:       "200 when every non-informational check passes, else 503 naming the failing dependency.",
		Responses: map[int]Resp{200: {Doc: "Ready", Body: Readiness{}}, 503: {Doc: "Not ready", Body: Readiness{}}}}, s.readyz)
	metricsHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	s.API.Op(Op{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Tags: []string{"operations"}, Auth: AuthNone,
		Responses: map[int]Resp{200: {Doc: "Prometheus text format"}}}, func(c *fiber.Ctx) error {
		metricsHandler(c.Context())
		return nil
	})
	s.API.Op(Op{Method: "GET", Path: "/api/openapi.json", Summary: "This OpenAPI 3.1 document", Tags: []string{"operations"}, Auth: AuthNone,
		Responses: map[int]Resp{200: {Doc: "OpenAPI document"}}}, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(s.API.Spec())
	})
	s.tokenRoutes()
	s.auditRoutes()
}

// Readiness is the /readyz body.
type Readiness struct {
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// CheckResult is one readiness check's outcome.
type CheckResult struct {
	OK            bool   `json:"ok"`
	Informational bool   `json:"informational,omitempty"`
	Error         string `json:"error,omitempty"`
	Detail        any    `json:"detail,omitempty"`
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	s.mu.RLock()
	checks := append([]Check(nil), s.checks...)
	s.mu.RUnlock()
	res := Readiness{Status: "ready", Checks: map[string]CheckResult{}}
	var failing []string
	for _, ch := range checks {
		detail, err := ch.Fn(ctx)
		r := CheckResult{OK: err == nil, Informational: ch.Informational, Detail: detail}
		if err != nil {
			r.Error = err.Error()
			if !ch.Informational {
				failing = append(failing, ch.Name)
			}
		}
		res.Checks[ch.Name] = r
	}
	if len(failing) > 0 {
		res.Status = "unavailable: " + strings.Join(failing, ", ")
		return c.Status(fiber.StatusServiceUnavailable).JSON(res)
	}
	return c.JSON(res)
}

// Listen serves on addr until Shutdown. It returns the bound address on ready
// (useful with port 0) through the ready channel.
func (s *Server) Listen(addr string, ready chan<- net.Addr) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready <- ln.Addr()
	}
	return s.App.Listener(lingerListener{ln})
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.App.ShutdownWithContext(ctx)
}
