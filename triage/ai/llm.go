package ai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// LLMConfig configures the OpenAI-compatible endpoint. Only BaseURL and
// Model are required; the zero values of the rest are replaced by defaults.
type LLMConfig struct {
	BaseURL string // including /v1, e.g. http://127.0.0.1:11434/v1
	Model   string
	APIKey  string // sent as a bearer token when not empty
	// Timeout bounds one HTTP request to the endpoint (default 60s).
	Timeout time.Duration
	// MaxTokens caps the completion of one call (default 800).
	MaxTokens int
	// TokenParam names the request field that carries MaxTokens:
	// "max_tokens" (llama.cpp, Ollama, vLLM, older OpenAI models),
	// "max_completion_tokens" (current OpenAI models; they reject
	// max_tokens), or "auto" (default): max_completion_tokens for
	// api.openai.com and Azure OpenAI hosts and for reasoning model names,
	// max_tokens elsewhere.
	TokenParam string
	// CallsPerHour is the budget of completion requests (default 120; < 0: unlimited).
	CallsPerHour int
	// Prices in USD per 1000 tokens, for the cost metric only.
	CostPer1KInput, CostPer1KOutput float64
	// MaxRetries is how often one request is retried after 429 or 5xx (default 2).
	MaxRetries int
	// MaxRetryWait is the longest Retry-After honoured; a longer one ends
	// the call as rate limited (default 20s).
	MaxRetryWait time.Duration

	HTTPClient *http.Client                               // default: a client with Timeout
	Now        func() time.Time                           // default time.Now
	Sleep      func(context.Context, time.Duration) error // default: a timer that honours ctx
	Logger     *slog.Logger
}

// Typed failures of a completion call, for the fallback reason.
var (
	ErrNotConfigured = errors.New("llm not configured")
	ErrBudget        = errors.New("llm call budget for this hour is spent")
	ErrTimeout       = errors.New("llm call timed out")
)

// StatusError is an HTTP error answer from the endpoint after retries.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("llm endpoint answered %d: %s", e.Code, e.Message)
}

// RateLimited reports a 429 (after retries, or with a Retry-After too long
// to wait for).
func (e *StatusError) RateLimited() bool { return e.Code == http.StatusTooManyRequests }

// Message is one chat message.
type Message struct {
	Role    string // system, user or assistant
	Content string
}

// Completion is the answer of one call.
type Completion struct {
	Content      string
	FinishReason string
	PromptTokens int
	OutputTokens int
	Latency      time.Duration
}

// Response format modes, tried in this order: servers that reject the
// bounded schema's keywords get the portable schema; servers without
// json_schema support get json_object with the schema in the prompt. The
// mode only ever moves down, once per process, and is logged.
const (
	modeBoundedSchema int32 = iota
	modePortableSchema
	modeJSONObject
)

// Client calls an OpenAI-compatible chat completions endpoint through
// go-openai with a timeout, a token cap, a call budget, retries on 429 and
// 5xx honouring Retry-After, and metrics.
type Client struct {
	cfg    LLMConfig
	oa     *openai.Client
	budget *Budget
	mode   atomic.Int32
	log    *slog.Logger
}

// NewClient returns a client, or ErrNotConfigured when BaseURL is empty.
func NewClient(cfg LLMConfig) (*Client, error) {
	if strings.TrimSpace(cfg.BaseURL) == "" {
		return nil, ErrNotConfigured
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llm base url %q: want http(s)://host[:port]/v1", cfg.BaseURL)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("llm model is required when the base url is set")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 800
	}
	if cfg.CallsPerHour == 0 {
		cfg.CallsPerHour = 120
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 2
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = 20 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch cfg.TokenParam {
	case "", "auto":
		cfg.TokenParam = "max_tokens"
		h := strings.ToLower(u.Hostname())
		if h == "api.openai.com" || strings.HasSuffix(h, ".openai.azure.com") || reasoningModel(cfg.Model) {
			cfg.TokenParam = "max_completion_tokens"
		}
	case "max_tokens", "max_completion_tokens":
	default:
		return nil, fmt.Errorf("llm token param %q: want auto, max_tokens or max_completion_tokens", cfg.TokenParam)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.HTTPClient = &retryDoer{hc: hc, cfg: &cfg}
	return &Client{cfg: cfg, oa: openai.NewClientWithConfig(oc), budget: NewBudget(cfg.CallsPerHour, cfg.Now), log: cfg.Logger}, nil
}

// Model is the configured model name.
func (c *Client) Model() string { return c.cfg.Model }

// Complete sends messages and asks for an answer conforming to rs. It
// takes one unit of budget.
func (c *Client) Complete(ctx context.Context, rs *responseSchema, msgs []Message) (Completion, error) {
	if !c.budget.Take() {
		mBudgetLeft.WithLabelValues(c.cfg.Model).Set(0)
		return Completion{}, ErrBudget
	}
	mBudgetLeft.WithLabelValues(c.cfg.Model).Set(float64(c.budget.Remaining()))
	for {
		mode := c.mode.Load()
		comp, err := c.complete(ctx, rs, msgs, mode)
		if err == nil || mode == modeJSONObject || !schemaRejected(err) {
			return comp, err
		}
		if c.mode.CompareAndSwap(mode, mode+1) {
			c.log.WarnContext(ctx, "llm endpoint rejected the response format; using a simpler one",
				slog.String("model", c.cfg.Model), slog.String("mode", modeName(mode+1)), slog.String("err", err.Error()))
		}
	}
}

func modeName(m int32) string {
	return [...]string{"json_schema (bounded)", "json_schema (portable)", "json_object"}[m]
}

func (c *Client) complete(ctx context.Context, rs *responseSchema, msgs []Message, mode int32) (Completion, error) {
	req := openai.ChatCompletionRequest{
		Model: c.cfg.Model,
		// go-openai omits a zero temperature, which would leave the server
		// default (often 0.8); a small positive value is sent instead.
		// Reasoning models accept no temperature at all.
		Temperature: 0.1,
		Seed:        ptr(1),
	}
	if reasoningModel(c.cfg.Model) {
		req.Temperature = 0
	}
	if c.cfg.TokenParam == "max_completion_tokens" {
		req.MaxCompletionTokens = c.cfg.MaxTokens
	} else {
		req.MaxTokens = c.cfg.MaxTokens
	}
	switch mode {
	case modeBoundedSchema, modePortableSchema:
		schema := rs.Bounded
		if mode == modePortableSchema {
			schema = rs.Portable
		}
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name: rs.Name, Description: rs.Description, Schema: schema, Strict: true,
			},
		}
	default:
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	for i, m := range msgs {
		content := m.Content
		if mode == modeJSONObject && i == 0 && m.Role == openai.ChatMessageRoleSystem {
			content += "\nAnswer with a JSON object that validates against this JSON schema:\n" + string(rs.Bounded)
		}
		req.Messages = append(req.Messages, openai.ChatCompletionMessage{Role: m.Role, Content: content})
	}
	start := c.cfg.Now()
	resp, err := c.oa.CreateChatCompletion(ctx, req)
	lat := c.cfg.Now().Sub(start)
	mLatency.WithLabelValues(c.cfg.Model).Observe(lat.Seconds())
	if err != nil {
		return Completion{Latency: lat}, c.classify(ctx, err)
	}
	c.account(resp.Usage)
	comp := Completion{PromptTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens, Latency: lat}
	if len(resp.Choices) == 0 {
		return comp, &StatusError{Code: http.StatusOK, Message: "answer has no choices"}
	}
	ch := resp.Choices[0]
	comp.Content, comp.FinishReason = ch.Message.Content, string(ch.FinishReason)
	if ch.Message.Refusal != "" && comp.Content == "" {
		comp.Content = ch.Message.Refusal
	}
	return comp, nil
}

func (c *Client) account(u openai.Usage) {
	m := c.cfg.Model
	mTokens.WithLabelValues(m, "in").Add(float64(u.PromptTokens))
	mTokens.WithLabelValues(m, "out").Add(float64(u.CompletionTokens))
	cost := float64(u.PromptTokens)/1000*c.cfg.CostPer1KInput + float64(u.CompletionTokens)/1000*c.cfg.CostPer1KOutput
	if cost > 0 {
		mCost.WithLabelValues(m).Add(cost)
	}
}

// classify maps go-openai and transport errors to the package's errors.
func (c *Client) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		return &StatusError{Code: apiErr.HTTPStatusCode, Message: apiErr.Message}
	case errors.As(err, &reqErr):
		msg := strings.TrimSpace(string(reqErr.Body))
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return &StatusError{Code: reqErr.HTTPStatusCode, Message: msg}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w after %s: %w", ErrTimeout, c.cfg.Timeout, err)
	}
	return fmt.Errorf("llm request: %w", err)
}

// schemaRejected reports a 400 that blames the response format, the sign
// of a server that does not accept our schema or json_schema at all.
func schemaRejected(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) || (se.Code != http.StatusBadRequest && se.Code != http.StatusUnprocessableEntity) {
		return false
	}
	m := strings.ToLower(se.Message)
	for _, k := range []string{"response_format", "json_schema", "schema", "maxlength", "minlength", "pattern", "maximum", "minimum", "maxitems", "grammar"} {
		if strings.Contains(m, k) {
			return true
		}
	}
	return false
}

// retryDoer is the HTTP client go-openai uses. It retries a request after
// 429 and 5xx, waiting for Retry-After (seconds or HTTP date, or
// retry-after-ms) or a short backoff, and gives up on waits longer than
// MaxRetryWait so a worker is never parked for minutes.
type retryDoer struct {
	hc  *http.Client
	cfg *LLMConfig
}

func (d *retryDoer) Do(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
			r = req.Clone(req.Context())
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("rewind llm request body: %w", err)
				}
				r.Body = b
			}
		}
		resp, err := d.hc.Do(r)
		if err != nil {
			mRequests.WithLabelValues(d.cfg.Model, "0").Inc()
			return nil, err
		}
		mRequests.WithLabelValues(d.cfg.Model, strconv.Itoa(resp.StatusCode)).Inc()
		if !retryable(resp.StatusCode) || attempt >= d.cfg.MaxRetries {
			return resp, nil
		}
		wait, ok := retryAfter(resp.Header, d.cfg.Now())
		if !ok {
			backoff := time.Duration(500<<attempt) * time.Millisecond
			wait = backoff + rand.N(backoff/2+1)
		}
		if wait > d.cfg.MaxRetryWait {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		d.cfg.Logger.InfoContext(req.Context(), "llm endpoint busy; retrying",
			slog.Int("status", resp.StatusCode), slog.Duration("wait", wait), slog.Int("attempt", attempt+1))
		if err := d.cfg.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusInternalServerError ||
		code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// retryAfter reads retry-after-ms, then Retry-After as seconds or an HTTP
// date relative to now.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func ptr[T any](v T) *T { return &v }

// reasoningModel reports OpenAI reasoning model names (o1, o3, o4, gpt-5,
// gpt-6 families), which take no temperature and no max_tokens; go-openai
// refuses such requests before sending them.
func reasoningModel(model string) bool {
	m := strings.ToLower(model)
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}
