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
