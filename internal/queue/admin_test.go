package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// waitState polls the outbox until the job reaches state (the worker runs
// in the background; no timing is asserted, only the outcome).
func waitState(t *testing.T, q func() (queue.OutboxJob, error), state string) queue.OutboxJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := q()
		if err != nil {
			t.Fatal(err)
		}
		if j.State() == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s (last error %q)", j.ID, j.State(), state, j.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeadJobsRetryAndDiscard(t *testing.T) {
	testenv.EachRedis(t, func(t *testing.T, ro asynq.RedisClientOpt) {
		ctx := context.Background()
		d := testenv.DB(t)
		var healthy atomic.Bool
		var runs atomic.Int32
		q, err := queue.Open(ctx, d, queue.Options{RedisOpt: &ro, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		q.Handle("test:flaky", func(ctx context.Context, dl queue.Delivery) error {
			runs.Add(1)
			if healthy.Load() {
				return nil
			}
			return queue.Permanent(errors.New("partner said no"))
		})
		if err := q.Start(ctx, true); err != nil {
			t.Fatal(err)
		}
		defer q.Shutdown()
		for _, key := range []string{"flaky-1", "flaky-2"} {
			err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return queue.Add(ctx, tx, queue.Job{Key: key, Type: "test:flaky", Payload: map[string]string{"k": key}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		q.Kick()
		get := func(id string) func() (queue.OutboxJob, error) {
			return func() (queue.OutboxJob, error) { return queue.GetOutboxJob(ctx, d.Read, id) }
		}
		j := waitState(t, get("flaky-1"), "dead")
		if j.LastError == "" || j.Attempts != 1 {
			t.Errorf("dead job %+v", j)
		}
		waitState(t, get("flaky-2"), "dead")
		dead, err := queue.ListOutbox(ctx, d.Read, queue.OutboxFilter{State: "dead"})
		if err != nil || len(dead) != 2 {
			t.Fatalf("dead jobs: %+v, %v", dead, err)
		}
		if _, err := queue.ListOutbox(ctx, d.Read, queue.OutboxFilter{State: "bogus"}); !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("bad state filter: %v", err)
		}

		// Retry: the archived copy is replaced and the job succeeds.
		healthy.Store(true)
		var audited bool
		err = q.RetryDead(ctx, "flaky-1", func(ctx context.Context, tx bun.Tx, before queue.OutboxJob) error {
			audited = before.ID == "flaky-1" && before.Dead
			return nil
		})
		if err != nil || !audited {
			t.Fatalf("retry: %v (callback saw the dead job: %v)", err, audited)
		}
		waitState(t, get("flaky-1"), "done")

		// Discard: done for good, asynq forgets it, retrying it again is refused.
		if err := q.DiscardDead(ctx, "flaky-2", nil); err != nil {
			t.Fatal(err)
		}
		j, _ = queue.GetOutboxJob(ctx, d.Read, "flaky-2")
		if j.State() != "done" || j.LastError == "" {
			t.Errorf("discarded job %+v", j)
		}
		if ti := q.TaskInfo("default", "flaky-2"); ti != nil {
			t.Errorf("asynq still holds the discarded task: %+v", ti)
		}
		for _, id := range []string{"flaky-1", "flaky-2"} {
			if err := q.RetryDead(ctx, id, nil); !errors.Is(err, queue.ErrNotDead) {
				t.Errorf("retry of %s (not dead): %v", id, err)
			}
		}
		if err := q.DiscardDead(ctx, "nope", nil); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("discard of unknown job: %v", err)
		}
		if n := runs.Load(); n != 3 {
			t.Errorf("handler ran %d times, want 3 (two failures, one retry)", n)
		}
		stats, err := q.QueueStats(ctx)
		if err != nil || len(stats) < 3 || stats[0].Name != queue.QueueCritical {
			t.Errorf("queue stats %+v, %v", stats, err)
		}
		// The cheap counts agree with the grouped ones. Both are read once
		// the dispatcher has handed the two future jobs to asynq (it does
		// so at once, as scheduled tasks): read while it moves them, the
		// two counts could each see a different moment.
		for _, id := range []string{"later-1", "later-2"} {
			err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return queue.Add(ctx, tx, queue.Job{Key: id, Type: "test:flaky", RunAt: time.Now().Add(time.Hour)})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		q.Kick()
		for _, id := range []string{"later-1", "later-2"} {
			waitState(t, get(id), "enqueued")
		}
		grouped := groupedOutboxStats(t, d)
		counted, err := queue.OutboxCounts(ctx, d.Read)
		if err != nil || counted != grouped || counted.Enqueued != 2 {
			t.Errorf("OutboxCounts %+v, grouped count %+v (%v); want the two future jobs enqueued", counted, grouped, err)
		}
		if old, err := queue.OldestWaiting(ctx, d.Read, time.Now()); err != nil || !old.IsZero() {
			t.Errorf("oldest waiting = %v, %v; want none", old, err)
		}
	})
}

// groupedOutboxStats counts the open outbox rows with one plain GROUP BY:
// the reference the index-only OutboxCounts must agree with.
func groupedOutboxStats(t *testing.T, d *db.DB) queue.OutboxStats {
	t.Helper()
	var rows []struct {
		Dead     bool
		Enqueued bool
		N        int
	}
	err := d.Read.NewSelect().Table("outbox").
		ColumnExpr("dead, (enqueued_at IS NOT NULL) AS enqueued, COUNT(*) AS n").
		Where("done_at IS NULL").GroupExpr("dead, (enqueued_at IS NOT NULL)").Scan(context.Background(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	var s queue.OutboxStats
	for _, r := range rows {
		switch {
		case r.Dead:
			s.Dead += r.N
		case r.Enqueued:
			s.Enqueued += r.N
		default:
			s.Waiting += r.N
		}
	}
	return s
}
