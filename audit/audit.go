// Package audit keeps Yardmaster's tamper-evident audit trail: one
// append-only entry for every change to cases, actions, rules, sources,
// users and tokens and for every external call, each carrying the SHA-256
// of the entry before it. Changing, inserting or deleting any entry breaks
// the chain at that entry, and Verify names it.
//
// Entries are appended inside the caller's transaction, so the trail and
// the change it records commit together. The chain head is one row locked
// for the transaction (FOR UPDATE on PostgreSQL; SQLite has one writer), so
// entries get one total order on every database.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// Actor is who did something: a user, a machine token, or the system.
type Actor struct {
	Type string `json:"type"` // user | token | system
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// System is the actor of work nobody asked for directly (sweeps, workers).
var System = Actor{Type: "system", ID: "system", Name: "Yardmaster"}

type actorKey struct{}

// WithActor returns a context whose audit entries name actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or System.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return System
}

// Record is what a caller appends.
type Record struct {
	Action      string // e.g. "case.acknowledged", "source.rotated", "odoo.call"
	SubjectType string // e.g. "case", "action", "rule", "source", "user", "token"
	SubjectID   string
	Before      any // marshalled to JSON; nil for creations
	After       any // marshalled to JSON; nil for deletions
	Detail      string
}

// Entry is one stored audit entry.
type Entry struct {
	bun.BaseModel `bun:"table:audit_log"`

	Seq         int64     `bun:"seq,pk" json:"seq"`
	ID          string    `bun:"id" json:"id"`
	At          time.Time `bun:"at" json:"at"`
	ActorType   string    `bun:"actor_type" json:"actor_type"`
	ActorID     string    `bun:"actor_id" json:"actor_id"`
	ActorName   string    `bun:"actor_name" json:"actor_name"`
	Action      string    `bun:"action" json:"action"`
	SubjectType string    `bun:"subject_type" json:"subject_type"`
	SubjectID   string    `bun:"subject_id" json:"subject_id"`
	Before      string    `bun:"before_json" json:"before,omitempty"`
	After       string    `bun:"after_json" json:"after,omitempty"`
	Detail      string    `bun:"detail" json:"detail,omitempty"`
	RequestID   string    `bun:"request_id" json:"request_id,omitempty"`
	PrevHash    string    `bun:"prev_hash" json:"prev_hash"`
	Hash        string    `bun:"hash" json:"hash"`
}

type head struct {
	bun.BaseModel `bun:"table:audit_head"`
	ID            int    `bun:"id,pk"`
	Seq           int64  `bun:"seq"`
	Hash          string `bun:"hash"`
}

// Append adds records to the chain inside idb's transaction, with the actor
// and request id of ctx, at time now. It returns the stored entries.
func Append(ctx context.Context, idb bun.IDB, now time.Time, recs ...Record) ([]Entry, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	// In the event pipeline's batch transaction the entries and the new
	// head are sent with the commit, so the head stays locked only from
	// here to the commit; the batch remembers the head it moved to.
	state, deferred := db.DeferredState(ctx, idb)
	h, seen := state[headKey{}].(head)
	if !seen {
		q := idb.NewSelect().Model(&h).Where("id = 1")
		if idb.Dialect().Name().String() == "pg" {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return nil, fmt.Errorf("audit: lock chain head: %w", err)
		}
	}
	actor := ActorFrom(ctx)
	reqID := logx.RequestID(ctx)
	at := now.UTC().Truncate(time.Microsecond)
	entries := make([]Entry, len(recs))
	prev := h.Hash
	for i, r := range recs {
		before, err := marshal(r.Before)
		if err != nil {
			return nil, fmt.Errorf("audit: %s before: %w", r.Action, err)
		}
		after, err := marshal(r.After)
		if err != nil {
			return nil, fmt.Errorf("audit: %s after: %w", r.Action, err)
		}
		e := Entry{
			Seq: h.Seq + int64(i) + 1, ID: ids.At(at), At: at,
			ActorType: actor.Type, ActorID: actor.ID, ActorName: actor.Name,
			Action: r.Action, SubjectType: r.SubjectType, SubjectID: r.SubjectID,
			Before: before, After: after, Detail: r.Detail, RequestID: reqID, PrevHash: prev,
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		entries[i] = e
	}
	last := entries[len(entries)-1]
	move := idb.NewUpdate().Model((*head)(nil)).Set("seq = ?", last.Seq).Set("hash = ?", last.Hash).Where("id = 1")
	if deferred {
		if err := db.Insert(ctx, idb, entries, db.InsertOptions{Defer: true}); err != nil {
			return nil, fmt.Errorf("audit: insert %d entries: %w", len(entries), err)
		}
		if err := db.Exec(ctx, idb, move.String(), true); err != nil {
			return nil, fmt.Errorf("audit: move chain head: %w", err)
		}
		state[headKey{}] = head{ID: 1, Seq: last.Seq, Hash: last.Hash}
		return entries, nil
	}
	if _, err := idb.NewInsert().Model(&entries).Exec(ctx); err != nil {
		return nil, fmt.Errorf("audit: insert %d entries: %w", len(entries), err)
	}
	if _, err := move.Exec(ctx); err != nil {
		return nil, fmt.Errorf("audit: move chain head: %w", err)
	}
	return entries, nil
}

// headKey keeps a batch transaction's chain head in db.DeferredState.
type headKey struct{}

func marshal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case json.RawMessage:
		return string(x), nil
	case string:
		b, err := json.Marshal(x)
		return string(b), err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ComputeHash returns the entry's hash over its content and PrevHash. The
// encoding is fixed: field order, UTC time with nanoseconds, JSON strings.
func (e *Entry) ComputeHash() string {
	fields := []any{
		e.Seq, e.ID, e.At.UTC().Format(time.RFC3339Nano), e.ActorType, e.ActorID, e.ActorName,
		e.Action, e.SubjectType, e.SubjectID, e.Before, e.After, e.Detail, e.RequestID, e.PrevHash,
	}
	b, _ := json.Marshal(fields)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
