package demo

import (
	"sync"
	"time"
)

// Clock is the demo's clock. While the demo replays the carrier events of
// the last days it reads as the time each event arrived, so events,
// cases, SLA clocks and audit entries carry their historical times; once
// the replay is done it is the wall clock again. It only moves forward
// during the replay.
type Clock struct {
	mu     sync.Mutex
	replay bool
	at     time.Time
}

// NewClock returns a clock reading the wall clock.
func NewClock() *Clock { return &Clock{} }

// Now returns the replay time during a replay, else the wall clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replay {
		return c.at
	}
	return time.Now()
}

// Replay sets the replay time; earlier times are ignored so the clock
// never runs backwards within a replay.
func (c *Clock) Replay(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.replay || t.After(c.at) {
		c.at = t
	}
	c.replay = true
}

// Live ends the replay: the clock reads the wall clock again.
func (c *Clock) Live() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replay = false
}
