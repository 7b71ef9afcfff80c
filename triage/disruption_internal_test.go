package triage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// The late child count of a disruption read without a lock: it adds to a
// live disruption, and a disruption closed since it was read makes the
// transaction one to run again (db.ErrRetryTx), adding nothing.
func TestCountGrouped(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		svc, err := New(Options{DB: d, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		var id string
		if err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			id, err = svc.OpenDisruption(ctx, tx, DisruptionInput{Key: DisruptionKey{Carrier: "ups"}, Detail: "test"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		count := func(n int) error {
			return d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				ch := svc.newChanges(ctx, now)
				ch.grouped[id] = n
				return ch.countGrouped(ctx, tx)
			})
		}
		read := func() *Case {
			c, err := getCase(ctx, d.Read, id)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		before := read()
		if err := count(2); err != nil {
			t.Fatal(err)
		}
		if c := read(); c.ChildCount != before.ChildCount+2 || c.Version != before.Version+1 {
			t.Fatalf("child count %d → %d, version %d → %d", before.ChildCount, c.ChildCount, before.Version, c.Version)
		}
		if _, err := d.NewUpdate().Model((*Case)(nil)).Set("bucket = ?", BucketClosed).Set("state = ?", StateResolved).
			Where("id = ?", id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		closed := read()
		if err := count(1); !errors.Is(err, db.ErrRetryTx) || !db.IsRetryable(err) {
			t.Fatalf("grouping under a closed disruption: %v", err)
		}
		if c := read(); c.ChildCount != closed.ChildCount || c.Version != closed.Version {
			t.Fatalf("a closed disruption changed: %d children, version %d", c.ChildCount, c.Version)
		}
	})
}
