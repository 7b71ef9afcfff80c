package ai

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBuildPrompt measures redaction and layout of the fixture case
// (4 events, 4 contacts, a note): the work done before every model call.
func BenchmarkBuildPrompt(b *testing.B) {
	f := fixtureFacts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildPrompt(f, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedactLine measures one carrier text line against the fixture's
// known contacts and all patterns.
func BenchmarkRedactLine(b *testing.B) {
	r := NewRedactor(fixtureFacts())
	line := "Recipient not at home. Notice left. Call JUERGEN MUELLER on +49 30 1234567 or neighbour Kim Park 555-201-3344, neighbour.kim@mail.example"
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Redact(line)
	}
}

// BenchmarkDeterministic measures the fallback summary.
func BenchmarkDeterministic(b *testing.B) {
	f := fixtureFacts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Deterministic(f, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSummarizeCached measures a summary served from the in-memory
// cache: prompt, hash, validation of the cached answer, restoration.
func BenchmarkSummarizeCached(b *testing.B) {
	f := fixtureFacts()
	s := NewSummarizer(Options{Client: &Client{cfg: LLMConfig{Model: "m"}}, Now: func() time.Time { return t0 }})
	p, _ := BuildPrompt(f, t0)
	s.lru.put(CachedAnswer{Key: p.Key("m"), Model: "m", Answer: []byte(validAnswer)})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sum, err := s.Summarize(ctx, f)
		if err != nil || !sum.Cached {
			b.Fatalf("%v cached=%v", err, sum.Cached)
		}
	}
}
