package ai

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// CachedAnswer is a validated model answer as the model gave it, with
// placeholders, never personal data, so it can be stored and shared across
// cases whose redacted facts are identical.
type CachedAnswer struct {
	Key          string
	Model        string
	Answer       []byte // the raw JSON answer, validated
	PromptTokens int
	OutputTokens int
	CreatedAt    time.Time
}

// CacheStore is the durable cache behind the in-memory LRU (a database
// table in production). Get returns found=false, not an error, on a miss.
type CacheStore interface {
	GetAnswer(ctx context.Context, key string) (CachedAnswer, bool, error)
	PutAnswer(ctx context.Context, a CachedAnswer) error
}

// lru is a small in-memory cache in front of the store so repeated
// summaries of one case within a process cost no query.
type lru struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

func newLRU(max int) *lru {
	if max <= 0 {
		max = 512
	}
	return &lru{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(key string) (CachedAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(CachedAnswer), true
	}
	return CachedAnswer{}, false
}

func (c *lru) put(a CachedAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[a.Key]; ok {
		e.Value = a
		c.ll.MoveToFront(e)
		return
	}
	c.items[a.Key] = c.ll.PushFront(a)
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(CachedAnswer).Key)
	}
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
