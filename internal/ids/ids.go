// Package ids makes identifiers. ULIDs sort by creation time as strings, so
// they serve as primary keys and as cursors for pagination on both SQLite and
// PostgreSQL without a sequence.
package ids

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a new ULID string for the current time.
func New() string { return At(time.Now()) }

// At returns a new ULID string for time t. Within one millisecond the
// returned values are strictly increasing.
func At(t time.Time) string {
	mu.Lock()
	defer mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), entropy).String()
}

// Valid reports whether s is a well-formed ULID.
func Valid(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// Floor returns the smallest ULID of time t (zero entropy): every id made
// at t or later sorts at or above it, every id made before t below it, so a
// time window of a ULID-keyed table is a range of its primary key. Times
// outside ULID's range clamp to its ends.
func Floor(t time.Time) string {
	var u ulid.ULID
	ms := ulid.Timestamp(t)
	switch {
	case t.Before(time.UnixMilli(0)):
		ms = 0
	case ms > ulid.MaxTime():
		ms = ulid.MaxTime()
	}
	_ = u.SetTime(ms)
	return u.String()
}
