package ai

import (
	"sync"
	"time"
)

// Budget limits LLM calls to a number per sliding hour in this process.
// Every completion request counts, the repair request included; retries of
// one request after a 429 or 5xx do not (they are bounded separately and
// the server did not do the work). With several worker processes the
// ceiling is the sum of theirs; set YARDMASTER_LLM_CALLS_PER_HOUR
// accordingly.
type Budget struct {
	mu    sync.Mutex
	limit int
	now   func() time.Time
	calls []time.Time // start times within the last hour, oldest first
}

// NewBudget allows limit calls per hour; limit <= 0 means no limit.
func NewBudget(limit int, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{limit: limit, now: now}
}

// Take reserves one call and reports whether the budget allowed it.
func (b *Budget) Take() bool {
	if b == nil || b.limit <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune()
	if len(b.calls) >= b.limit {
		return false
	}
	b.calls = append(b.calls, b.now())
	return true
}

// Remaining returns the calls left in the current window (-1: unlimited).
func (b *Budget) Remaining() int {
	if b == nil || b.limit <= 0 {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune()
	return b.limit - len(b.calls)
}

func (b *Budget) prune() {
	cut := b.now().Add(-time.Hour)
	i := 0
	for i < len(b.calls) && !b.calls[i].After(cut) {
		i++
	}
	if i > 0 {
		b.calls = append(b.calls[:0], b.calls[i:]...)
	}
}
