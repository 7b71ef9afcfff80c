package odoo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	mCalls = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_odoo_calls_total",
		Help: "Odoo call attempts by model, method and outcome (ok, user_error, access_denied, access_error, server_error, serialization_failure, unavailable, circuit_open, protocol_error).",
	}, []string{"model", "method", "outcome"})
	mDuration = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_odoo_call_duration_seconds", Help: "Latency of one Odoo call attempt.", Buckets: metrics.LatencyBuckets,
	}, []string{"method"})
	mRetries = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_odoo_retries_total", Help: "Odoo calls retried by the client, by reason.",
	}, []string{"reason"})
	mBreaker = promauto.With(metrics.Registry).NewGauge(prometheus.GaugeOpts{
		Name: "yardmaster_odoo_circuit_state", Help: "Odoo circuit breaker: 0 closed, 1 half-open, 2 open.",
	})
	mRateWait = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_odoo_rate_limit_wait_seconds", Help: "Time calls waited for the Odoo rate limit.", Buckets: metrics.LatencyBuckets,
	})
)

// Options configure a Client. URL, DB, Login and APIKey are required.
type Options struct {
	URL, DB, Login string
	// APIKey is the integration user's API key (or password on XML-RPC;
	// JSON-2 accepts API keys only).
	APIKey string
	// Protocol: "xmlrpc" (Odoo 16-18), "json2" (19+) or "auto" (default):
	// version() over XML-RPC, JSON-2 from 19 on or when /xmlrpc is gone.
	Protocol string
	// Timeout bounds one attempt (default 15s).
	Timeout time.Duration
	// RateLimit is the most calls per second (default 10); Limiter, when
	// set, is used instead so several clients of a process share it.
	RateLimit float64
	Limiter   *rate.Limiter
	// MaxAttempts per call, including the first (default 4).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the jittered exponential backoff
	// (defaults 500ms and 15s).
	BackoffBase, BackoffMax time.Duration
	// BreakerFailures consecutive infrastructure failures open the circuit
	// (default 5) for BreakerOpenFor (default 30s).
	BreakerFailures uint32
	BreakerOpenFor  time.Duration
	// HTTPClient overrides the default client (keep-alive transport without
	// an overall timeout; Timeout applies per attempt).
	HTTPClient *http.Client
	// MaxResponseBytes caps one answer (default 256 MiB).
	MaxResponseBytes int64
	UserAgent        string
	Logger           *slog.Logger
	// Sleep waits between retries (tests inject an instant one); Jitter
	// returns a number in [0,1).
	Sleep  func(ctx context.Context, d time.Duration) error
	Jitter func() float64
	// Now stamps Health's last success (default time.Now).
	Now func() time.Time
}

// Client talks to one Odoo database. It is safe for concurrent use and
// meant to be shared by every worker of a process (one rate limit, one
// circuit breaker).
type Client struct {
	opts    Options
	log     *slog.Logger
	limiter *rate.Limiter
	breaker *gobreaker.CircuitBreaker[any]
	base    httpBase

	connMu    sync.Mutex // serializes connecting
	mu        sync.Mutex // guards the fields below
	tr        transport
	uid       int64
	ver       VersionInfo
	lastErr   error
	lastOK    time.Time
	connected bool

	locks keyedMutex
}

// New validates the options and builds a client. It does no I/O; the first
// call (or Connect) picks the protocol and authenticates.
func New(opts Options) (*Client, error) {
	var probs []string
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		probs = append(probs, fmt.Sprintf("URL %q must be an http(s) URL like https://acme.odoo.com", opts.URL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		probs = append(probs, "URL must not have a query or fragment")
	}
	if opts.DB == "" {
		probs = append(probs, "database name is required")
	}
	if opts.Login == "" {
		probs = append(probs, "login is required")
	}
	if opts.APIKey == "" {
		probs = append(probs, "API key is required")
	}
	switch opts.Protocol {
	case "":
		opts.Protocol = ProtocolAuto
	case ProtocolAuto, ProtocolXMLRPC, ProtocolJSON2:
	default:
		probs = append(probs, fmt.Sprintf("protocol %q is not xmlrpc, json2 or auto", opts.Protocol))
	}
	if opts.RateLimit < 0 || opts.Timeout < 0 || opts.MaxAttempts < 0 {
		probs = append(probs, "rate limit, timeout and attempts must not be negative")
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(probs, "; "))
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 10
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 4
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 500 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 15 * time.Second
	}
	if opts.BreakerFailures == 0 {
		opts.BreakerFailures = 5
	}
	if opts.BreakerOpenFor == 0 {
		opts.BreakerOpenFor = 30 * time.Second
	}
	if opts.MaxResponseBytes == 0 {
		opts.MaxResponseBytes = 256 << 20
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "yardmaster-odoo/1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 0,
			ForceAttemptHTTP2:     true,
		}}
	}
	c := &Client{opts: opts, log: opts.Logger}
	c.base = httpBase{base: strings.TrimRight(opts.URL, "/"), db: opts.DB, login: opts.Login, secret: opts.APIKey,
		hc: hc, maxBody: opts.MaxResponseBytes, userAgent: opts.UserAgent}
	c.limiter = opts.Limiter
	if c.limiter == nil {
		burst := int(opts.RateLimit)
		if burst < 1 {
			burst = 1
		}
		c.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), burst)
	}
	c.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "odoo",
		MaxRequests: 1,
		Timeout:     opts.BreakerOpenFor,
		ReadyToTrip: func(cn gobreaker.Counts) bool { return cn.ConsecutiveFailures >= opts.BreakerFailures },
		IsSuccessful: func(err error) bool {
			// Faults prove Odoo is up; only infrastructure failures count.
			return err == nil || !isInfraFailure(err)
		},
		IsExcluded: func(err error) bool { var cg callerGone; return errors.As(err, &cg) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			mBreaker.Set(float64(to))
			c.log.Warn("odoo circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	mBreaker.Set(0)
	return c, nil
}

// callerGone marks an attempt abandoned because the caller's context ended.
type callerGone struct{ err error }

func (c callerGone) Error() string { return c.err.Error() }

func isInfraFailure(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProtocol) || errors.Is(err, context.DeadlineExceeded)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connect picks the protocol (for "auto") and authenticates. Calls do it
// lazily; Connect surfaces configuration errors early.
func (c *Client) Connect(ctx context.Context) error {
	_, _, err := c.session(ctx)
	return err
}

// session returns the transport and uid, connecting on first use.
func (c *Client) session(ctx context.Context) (transport, int64, error) {
	c.mu.Lock()
	if c.connected {
		defer c.mu.Unlock()
		return c.tr, c.uid, nil
	}
	c.mu.Unlock()
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.mu.Lock()
	if c.connected { // another goroutine connected meanwhile
		defer c.mu.Unlock()
		return c.tr, c.uid, nil
	}
	c.mu.Unlock()
	var tr transport
	var ver VersionInfo
	var uid int64
	err := c.guard(ctx, "common", "connect", true, func(ctx context.Context) error {
		var err error
		tr, ver, err = c.pickTransport(ctx)
		if err != nil {
			return err
		}
		uid, err = tr.authenticate(ctx)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	c.tr, c.ver, c.uid, c.connected = tr, ver, uid, true
	c.mu.Unlock()
	c.log.Info("odoo connected", "protocol", tr.name(), "server_version", ver.ServerVersion, "uid", uid, "db", c.opts.DB)
	return tr, uid, nil
}

func (c *Client) pickTransport(ctx context.Context) (transport, VersionInfo, error) {
	x := &xmlrpcTransport{c.base}
	j := &json2Transport{c.base}
	switch c.opts.Protocol {
	case ProtocolXMLRPC:
		v, err := x.version(ctx)
		return x, v, err
	case ProtocolJSON2:
		v, err := j.version(ctx)
		return j, v, err
	}
	v, err := x.version(ctx)
	if err == nil {
		if v.Major >= 19 {
			return j, v, nil
		}
		return x, v, nil
	}
	var te *TransportError
	if errors.As(err, &te) && te.Status == http.StatusNotFound {
		// XML-RPC removed (Odoo 22+): JSON-2 is the only way in.
		v2, err2 := j.version(ctx)
		if err2 == nil {
			return j, v2, nil
		}
	}
	return nil, VersionInfo{}, err
}

// Version returns the server version (connecting first).
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	if _, _, err := c.session(ctx); err != nil {
		return VersionInfo{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ver, nil
}

// Protocol is the protocol in use ("" before the first connection).
func (c *Client) Protocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		return ""
	}
	return c.tr.name()
}

// BreakerState is "closed", "half-open" or "open".
func (c *Client) BreakerState() string { return c.breaker.State().String() }

// Health summarises the connection for /readyz details.
type Health struct {
	Protocol      string    `json:"protocol"`
	ServerVersion string    `json:"server_version,omitempty"`
	Circuit       string    `json:"circuit"`
	Connected     bool      `json:"connected"`
	LastSuccess   time.Time `json:"last_success,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

// Health reports the protocol, server version, circuit state and the last
// outcome, without calling Odoo.
func (c *Client) Health() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := Health{Circuit: c.breaker.State().String(), Connected: c.connected, LastSuccess: c.lastOK, ServerVersion: c.ver.ServerVersion}
	if c.tr != nil {
		h.Protocol = c.tr.name()
	}
	if c.lastErr != nil {
		h.LastError = c.lastErr.Error()
	}
	return h
}

// Execute runs one call with the rate limit, per-attempt timeout, circuit
// breaker and retries. Writes are serialized per target record within the
// process (fewer serialization failures, odoo-api.md §6.1).
func (c *Client) Execute(ctx context.Context, call Call) (any, error) {
	if call.Model == "" || call.Method == "" || !validKey(call.Model) || !validKey(call.Method) {
		return nil, fmt.Errorf("%w: model %q and method %q", ErrInvalid, call.Model, call.Method)
	}
	if !call.readOnly() && call.OnRecords {
		ids := slices.Clone(call.IDs)
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) { // sorted: no lock-order deadlock
			unlock := c.locks.lock(fmt.Sprintf("%s:%d", call.Model, id))
			defer unlock()
		}
	}
	tr, uid, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	var out any
	err = c.guard(ctx, call.Model, call.Method, call.safeToRetry(), func(ctx context.Context) error {
		v, err := tr.call(ctx, uid, &call)
		out = v
		return err
	})
	return out, err
}

// guard wraps attempts of fn with rate limit, timeout, breaker, metrics and
// retries. retryAmbiguous allows retrying after failures that may have
// reached the server.
func (c *Client) guard(ctx context.Context, model, method string, retryAmbiguous bool, fn func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		if werr := c.limiter.Wait(ctx); werr != nil {
			return fmt.Errorf("odoo %s.%s: waiting for the rate limit: %w", model, method, werr)
		}
		mRateWait.Observe(time.Since(start).Seconds())
		t0 := time.Now()
		_, err = c.breaker.Execute(func() (any, error) {
			actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			defer cancel()
			err := fn(actx)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				err = callerGone{err} // the caller gave up: says nothing about Odoo
			case actx.Err() == context.DeadlineExceeded:
				err = &TransportError{Op: model + "." + method, Sent: true, Err: fmt.Errorf("no answer within %s: %w", c.opts.Timeout, context.DeadlineExceeded)}
			}
			return nil, err
		})
		var cg callerGone
		if errors.As(err, &cg) {
			err = cg.err
		}
		mDuration.WithLabelValues(method).Observe(time.Since(t0).Seconds())
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = fmt.Errorf("odoo %s.%s: %w: %w", model, method, ErrCircuitOpen, ErrUnavailable)
		}
		mCalls.WithLabelValues(model, method, outcome(err)).Inc()
		c.record(err)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= c.opts.MaxAttempts || errors.Is(err, ErrCircuitOpen) {
			return err
		}
		reason, ok := c.retryReason(err, retryAmbiguous)
		if !ok {
			return err
		}
		mRetries.WithLabelValues(reason).Inc()
		d := c.backoff(attempt, err)
		c.log.Warn("odoo call failed, retrying", "model", model, "method", method, "attempt", attempt, "wait", d, "err", err)
		if serr := c.opts.Sleep(ctx, d); serr != nil {
			return err
		}
	}
}

func (c *Client) retryReason(err error, ambiguousOK bool) (string, bool) {
	if errors.Is(err, ErrSerialization) {
		return "serialization", true // rolled back by Odoo
	}
	var te *TransportError
	if errors.As(err, &te) {
		if !te.Sent {
			return "connect", true
		}
		if te.Status == http.StatusTooManyRequests {
			return "rate_limited", true // refused before processing
		}
		if ambiguousOK && errors.Is(err, ErrUnavailable) {
			return "unavailable", true
		}
	}
	return "", false
}

// backoff is exponential with equal jitter, honouring Retry-After.
func (c *Client) backoff(attempt int, err error) time.Duration {
	var te *TransportError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return min(time.Duration(te.RetryAfter)*time.Second, c.opts.BackoffMax)
	}
	d := c.opts.BackoffBase << (attempt - 1)
	if d > c.opts.BackoffMax || d <= 0 {
		d = c.opts.BackoffMax
	}
	return d/2 + time.Duration(c.opts.Jitter()*float64(d/2))
}

func (c *Client) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || !isInfraFailure(err) {
		c.lastOK = c.opts.Now()
		if err == nil {
			c.lastErr = nil
		}
		return
	}
	c.lastErr = err
}

func outcome(err error) string {
	var oe *Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrCircuitOpen):
		return "circuit_open"
	case errors.As(err, &oe):
		return oe.Kind.String()
	case errors.Is(err, ErrProtocol):
		return "protocol_error"
	case errors.Is(err, ErrAuthentication):
		return "authentication_failed"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "unavailable"
}

// keyedMutex serializes work per key without leaking idle keys.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
