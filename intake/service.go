package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// Receipt answers an accepted delivery (HTTP 202): one result per event in
// the order of the payload, the items that were rejected, and whether the
// whole delivery was a replay.
type Receipt struct {
	Duplicate bool          `json:"duplicate"`
	PayloadID string        `json:"payload_id,omitempty"`
	Events    []EventResult `json:"events"`
	Rejected  []ItemError   `json:"rejected,omitempty"`
	// Ignored explains a delivery with nothing for us (e.g. an EasyPost
	// batch event); it is acknowledged so the sender does not retry.
	Ignored string `json:"ignored,omitempty"`
}

// Service is the intake front door used by the HTTP handlers and the CLI:
// resolve the source, check content type and rate, verify, parse,
// normalise, and submit to the pipeline.
type Service struct {
	DB       *db.DB
	Registry *Registry
	Pipeline *Pipeline
	Store    Store
	Now      func() time.Time
	Log      *slog.Logger
	// DefaultRate is the per-source request rate when a source sets none
	// (requests/s; burst is twice that).
	DefaultRate float64
	// KeepBodies stores raw bodies (retention is applied by Prune).
	KeepBodies bool

	limiters sync.Map // source name → *limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	rate float64
}

// ServiceOptions configure NewService.
type ServiceOptions struct {
	Now         func() time.Time
	Log         *slog.Logger
	DefaultRate float64
	Pipeline    PipelineOptions
}

// NewService wires a registry, a store and a running pipeline over d.
func NewService(d *db.DB, reg *Registry, opts ServiceOptions) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = logx.Discard()
	}
	if opts.Pipeline.Now == nil {
		opts.Pipeline.Now = opts.Now
	}
	if opts.Pipeline.Log == nil {
		opts.Pipeline.Log = opts.Log
	}
	return &Service{DB: d, Registry: reg, Pipeline: NewPipeline(d, opts.Pipeline), Now: opts.Now, Log: opts.Log,
		DefaultRate: opts.DefaultRate, KeepBodies: true}
}

// Close stops the pipeline after the queued deliveries.
func (s *Service) Close() { s.Pipeline.Close() }

// keptHeaders are stored with the raw payload (never Authorization).
var keptHeaders = []string{"Content-Type", "User-Agent", "X-Request-ID", "webhook-id", "webhook-timestamp",
	"svix-id", "X-Hmac-Signature", "aftership-hmac-sha256", "X-Forwarded-For"}

func (s *Service) allow(src *Source) (time.Duration, bool) {
	r := src.RateLimit
	if r <= 0 {
		r = s.DefaultRate
	}
	if r <= 0 || math.IsInf(r, 1) {
		return 0, true
	}
	v, _ := s.limiters.Load(src.Name)
	e, _ := v.(*limiterEntry)
	if e == nil || e.rate != r {
		burst := int(math.Max(1, math.Ceil(2*r)))
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(r), burst), rate: r}
		s.limiters.Store(src.Name, e)
	}
	res := e.lim.ReserveN(s.Now(), 1)
	if d := res.DelayFrom(s.Now()); d > 0 {
		res.CancelAt(s.Now())
		return d, false
	}
	return 0, true
}

// authError maps verification failures to client errors without saying
// which part failed.
func authError(err error) error {
	if errors.Is(err, ErrTimestamp) {
		return &apperr.Error{Kind: apperr.KindConflict, Detail: "webhook timestamp is outside the tolerance of ±5 minutes (replayed or clock skew)", Type: "webhook_timestamp", Err: err}
	}
	if errors.Is(err, ErrSignature) {
		return &apperr.Error{Kind: apperr.KindUnauthorized, Detail: "missing or invalid signature or credentials", Err: err}
	}
	return err
}

func reject(source, reason string, err error) error {
	rejected.WithLabelValues(source, reason).Inc()
	return err
}

func reasonOf(err error) string {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Why
	}
	return apperr.KindOf(err).String()
}

// Webhook handles POST /v1/webhooks/{source}.
func (s *Service) Webhook(ctx context.Context, sourceName string, h Headers, body []byte) (*Receipt, error) {
	now := s.Now().UTC()
	src, verifier, overlay, err := s.Registry.Resolve(ctx, sourceName)
	if err != nil {
		metricSource := "unknown"
		return nil, reject(metricSource, reasonOf(err), authError(err))
	}
	received.WithLabelValues(src.Name).Inc()
	ct := h.Get("Content-Type")
	ndjson := IsNDJSON(ct)
	if !IsJSON(ct) && !(ndjson && (src.Kind == KindCanonical || src.Kind == KindStandard)) {
		want := "application/json"
		if src.Kind == KindCanonical || src.Kind == KindStandard {
			want += " or application/x-ndjson"
		}
		return nil, reject(src.Name, "content_type", apperr.Unsupported("content type must be "+want))
	}
	if d, ok := s.allow(src); !ok {
		return nil, reject(src.Name, "rate_limited", apperr.RateLimited(d))
	}
	start := time.Now()
	deliveryID, err := verifier.Verify(h, body, now)
	verifySeconds.WithLabelValues(string(src.Kind)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.Log.InfoContext(ctx, "webhook rejected", "source", src.Name, "why", reasonOf(err))
		return nil, reject(src.Name, reasonOf(err), authError(err))
	}
	return s.accept(ctx, src, overlay, deliveryID, h, body, ndjson, now)
}

// Events handles POST /api/v1/events: a canonical source's bearer token
// names the source.
func (s *Service) Events(ctx context.Context, h Headers, body []byte) (*Receipt, error) {
	now := s.Now().UTC()
	auth := strings.TrimSpace(h.Get("Authorization"))
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "bearer") {
		return nil, reject("unknown", "missing_token", authError(errNoSource("missing_token")))
	}
	src, overlay, err := s.Registry.SourceForToken(ctx, tok)
	if err != nil {
		return nil, reject("unknown", reasonOf(err), authError(err))
	}
	if src.Kind != KindCanonical {
		return nil, reject(src.Name, "wrong_kind", authError(errNoSource("wrong_kind")))
	}
	received.WithLabelValues(src.Name).Inc()
	ct := h.Get("Content-Type")
	ndjson := IsNDJSON(ct)
	if !IsJSON(ct) && !ndjson {
		return nil, reject(src.Name, "content_type", apperr.Unsupported("content type must be application/json or application/x-ndjson"))
	}
	if d, ok := s.allow(src); !ok {
		return nil, reject(src.Name, "rate_limited", apperr.RateLimited(d))
	}
	return s.accept(ctx, src, overlay, "", h, body, ndjson, now)
}

// accept parses, normalises and submits a verified delivery.
func (s *Service) accept(ctx context.Context, src *Source, overlay *Mappings, deliveryID string, h Headers, body []byte, ndjson bool, now time.Time) (*Receipt, error) {
	p, err := ParseBody(src.Kind, body, ndjson, src.Name, now)
	if err != nil {
		return nil, reject(src.Name, "invalid", err)
	}
	if deliveryID == "" {
		deliveryID = p.DeliveryID
	}
	for range p.Rejects {
		rejected.WithLabelValues(src.Name, "invalid_item").Inc()
	}
	if len(p.Events) == 0 {
		return &Receipt{Events: []EventResult{}, Rejected: p.Rejects, Ignored: p.Ignored}, nil
	}
	sub := &Submission{Source: src.Name, DeliveryID: deliveryID, Events: p.Events}
	s.normalize(sub, overlay)
	sum := sha256.Sum256(body)
	pl := &Payload{Source: src.Name, DeliveryID: deliveryID, ReceivedAt: now, ContentType: h.Get("Content-Type"),
		Headers: map[string]string{}, BodyHash: hex.EncodeToString(sum[:]), Size: len(body)}
	if s.KeepBodies {
		pl.Body = body
	}
	for _, k := range keptHeaders {
		if v := h.Get(k); v != "" {
			pl.Headers[strings.ToLower(k)] = v
		}
	}
	sub.Payload = pl
	res, err := s.Pipeline.Submit(ctx, sub)
	if err != nil {
		return nil, fmt.Errorf("intake %s: %w", src.Name, err)
	}
	return &Receipt{Duplicate: res.Duplicate, PayloadID: res.PayloadID, Events: res.Events, Rejected: p.Rejects}, nil
}

func (s *Service) normalize(sub *Submission, overlay *Mappings) {
	m := DefaultMappings()
	for _, ev := range sub.Events {
		missed := m.Normalize(ev, overlay)
		for _, c := range missed {
			sub.Unmapped = append(sub.Unmapped, UnmappedHit{Event: ev, Code: c, Unmapped: ev.Unmapped})
		}
	}
}

// SubmitImported submits events read from an import file for source as one
// delivery (no raw payload is kept: the file is the record).
func (s *Service) SubmitImported(ctx context.Context, src *Source, overlay *Mappings, evs []*Event) (*Result, error) {
	sub := &Submission{Source: src.Name, Events: evs}
	s.normalize(sub, overlay)
	return s.Pipeline.Submit(ctx, sub)
}

// HTTPHeaders adapts a map of header values to Headers (CLI, tests).
type HTTPHeaders = http.Header

// SourceTokenPrefix starts every canonical source token, so the events API
// can tell them from API tokens.
const SourceTokenPrefix = "ymsrc_"

// EventsFor handles POST /api/v1/events for a caller already authorised to
// write events for the named source (an API token with events:write). The
// source must take canonical JSON (kind canonical or standard).
func (s *Service) EventsFor(ctx context.Context, sourceName string, h Headers, body []byte) (*Receipt, error) {
	now := s.Now().UTC()
	src, err := s.Registry.Get(ctx, sourceName)
	if err != nil {
		return nil, err
	}
	if src.Status != SourceActive {
		return nil, apperr.Conflict("source " + src.Name + " is disabled")
	}
	if src.Kind != KindCanonical && src.Kind != KindStandard {
		return nil, apperr.Invalid("wrong source", fieldErr("source", "source %s takes %s webhooks, not canonical events", src.Name, src.Kind))
	}
	_, _, overlay, err := s.Registry.Resolve(ctx, src.Name)
	if err != nil {
		return nil, authError(err)
	}
	received.WithLabelValues(src.Name).Inc()
	ct := h.Get("Content-Type")
	ndjson := IsNDJSON(ct)
	if !IsJSON(ct) && !ndjson {
		return nil, reject(src.Name, "content_type", apperr.Unsupported("content type must be application/json or application/x-ndjson"))
	}
	if d, ok := s.allow(src); !ok {
		return nil, reject(src.Name, "rate_limited", apperr.RateLimited(d))
	}
	return s.accept(ctx, src, overlay, "", h, body, ndjson, now)
}
