package ai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

const fakeKey = "test-key-123"

// fakeReply is one canned answer of the fake endpoint.
type fakeReply struct {
	status  int               // default 200
	header  map[string]string // extra response headers
	content string            // assistant content for 200
	body    string            // raw body for non-200 (default: an OpenAI error object)
	finish  string            // finish_reason (default "stop")
	block   bool              // wait until the client gives up
}

// fakeLLM is an OpenAI-compatible chat completions endpoint on httptest. It
// checks the bearer token, records every request body, and answers from a
// queue of replies (the last one repeats).
type fakeLLM struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	replies []fakeReply
	bodies  [][]byte
}

func newFakeLLM(t *testing.T, replies ...fakeReply) *fakeLLM {
	t.Helper()
	f := &fakeLLM{t: t, replies: replies}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", f.handle)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) handle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+fakeKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	n := len(f.bodies) - 1
	if n >= len(f.replies) {
		n = len(f.replies) - 1
	}
	rep := f.replies[n]
	f.mu.Unlock()
	if rep.block {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 && rep.status != http.StatusOK {
		w.WriteHeader(rep.status)
		b := rep.body
		if b == "" {
			b = `{"error":{"message":"simulated failure","type":"server_error"}}`
		}
		_, _ = io.WriteString(w, b)
		return
	}
	finish := rep.finish
	if finish == "" {
		finish = "stop"
	}
	resp := openai.ChatCompletionResponse{
		ID: "chatcmpl-fake", Object: "chat.completion", Created: 1, Model: "fake-model",
		Choices: []openai.ChatCompletionChoice{{Index: 0, Message: openai.ChatCompletionMessage{Role: "assistant", Content: rep.content}, FinishReason: openai.FinishReason(finish)}},
		Usage:   openai.Usage{PromptTokens: 1200, CompletionTokens: 180, TotalTokens: 1380},
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// requests returns the recorded request bodies.
func (f *fakeLLM) requests() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeps records the waits the retry logic asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newTestClient returns a Client against f with a test clock and a
// recording sleeper; mod adjusts the configuration.
func newTestClient(t *testing.T, f *fakeLLM, c *clock, sl *sleeps, mod func(*LLMConfig)) *Client {
	t.Helper()
	cfg := LLMConfig{
		BaseURL: f.srv.URL + "/v1", Model: "fake-model", APIKey: fakeKey,
		Timeout: 5 * time.Second, MaxTokens: 700, CallsPerHour: 100,
		CostPer1KInput: 0.15, CostPer1KOutput: 0.6,
		Now: c.now,
	}
	cfg.Sleep = func(_ context.Context, d time.Duration) error {
		sl.mu.Lock()
		sl.d = append(sl.d, d)
		sl.mu.Unlock()
		return nil
	}
	if mod != nil {
		mod(&cfg)
	}
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return cl
}
