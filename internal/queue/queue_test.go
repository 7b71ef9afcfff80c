package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// effects counts how often each job's effect ran.
type effects struct {
	mu sync.Mutex
	n  map[string]int
	ch chan string
}

func newEffects() *effects { return &effects{n: map[string]int{}, ch: make(chan string, 100)} }

func (e *effects) handler(ctx context.Context, d queue.Delivery) error {
	var p struct{ Name string }
	if err := d.Decode(&p); err != nil {
		return err
	}
	e.mu.Lock()
	e.n[p.Name]++
	e.mu.Unlock()
	e.ch <- p.Name
	return nil
}

func (e *effects) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[name]
}

func (e *effects) waitFor(t *testing.T, name string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-e.ch:
			if got == name {
				return
			}
		case <-timeout:
			t.Fatalf("job %q did not run", name)
		}
	}
}

func openQueue(t *testing.T, d *db.DB, ro asynq.RedisClientOpt, e *effects, workers bool) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), d, queue.Options{RedisOpt: &ro, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	q.Handle("test:effect", e.handler)
	if err := q.Start(context.Background(), workers); err != nil {
		t.Fatalf("start queue: %v", err)
	}
	return q
}

func addJob(t *testing.T, d *db.DB, key, name string) {
	t.Helper()
	err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return queue.Add(ctx, tx, queue.Job{Key: key, Type: "test:effect", Payload: map[string]string{"Name": name}})
	})
	if err != nil {
		t.Fatalf("add job: %v", err)
	}
}

func TestOutboxSurvivesLostRedis(t *testing.T) {
	testenv.EachRedis(t, func(t *testing.T, ro asynq.RedisClientOpt) {
		d := testenv.DB(t)
		e := newEffects()

		// Written while nothing runs: no Redis involvement at all.
		addJob(t, d, "job-1", "one")

		// An API-only process dispatches job-2 to Redis, then Redis loses
		// everything before any worker ran it.
		addJob(t, d, "job-2", "two")
		api := openQueue(t, d, ro, e, false)
		if _, err := api.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
		api.Shutdown()
		flush(t, ro)

		// A worker starts: both jobs run, once each.
		w := openQueue(t, d, ro, e, true)
		e.waitFor(t, "one")
		e.waitFor(t, "two")
		w.Shutdown()

		// A restart with an empty Redis runs nothing again.
		flush(t, ro)
		w2 := openQueue(t, d, ro, e, true)
		addJob(t, d, "job-3", "three")
		w2.Kick()
		e.waitFor(t, "three")
		w2.Shutdown()
		for _, n := range []string{"one", "two", "three"} {
			if got := e.count(n); got != 1 {
				t.Errorf("job %s ran %d times, want 1", n, got)
			}
		}
	})
}

func TestDuplicateEnqueueRunsOnce(t *testing.T) {
	testenv.EachRedis(t, func(t *testing.T, ro asynq.RedisClientOpt) {
		d := testenv.DB(t)
		e := newEffects()
		addJob(t, d, "dup", "dup")
		addJob(t, d, "dup", "dup") // same key: ignored by the outbox
		q := openQueue(t, d, ro, e, true)
		e.waitFor(t, "dup")

		// A stray duplicate delivery of the finished task (e.g. a second
		// dispatcher after Redis forgot the id) is skipped.
		// The effect is recorded inside the handler, so the original task
		// may still be active in Redis for a moment, and Redis refuses a
		// second task with its id until it is gone: retry until then.
		c := asynq.NewClient(ro)
		defer c.Close()
		for deadline := time.Now().Add(20 * time.Second); ; {
			_, err := c.Enqueue(asynq.NewTask("test:effect", []byte(`{"Name":"dup"}`)), asynq.TaskID("dup"))
			if err == nil {
				break
			}
			if !errors.Is(err, asynq.ErrTaskIDConflict) || time.Now().After(deadline) {
				t.Fatalf("enqueue duplicate: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		addJob(t, d, "after", "after")
		q.Kick()
		e.waitFor(t, "after")
		waitIdle(t, q)
		q.Shutdown()
		if got := e.count("dup"); got != 1 {
			t.Fatalf("duplicated job ran %d times, want 1", got)
		}
	})
}

func TestPeriodicOncePerPeriodAcrossProcesses(t *testing.T) {
	d := testenv.DB(t)
	ro := testenv.Redis(t)
	var mu sync.Mutex
	runs := map[string]int{}
	start := func() *queue.Queue {
		q, err := queue.Open(context.Background(), d, queue.Options{RedisOpt: &ro, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		q.Handle("test:tick", func(ctx context.Context, dl queue.Delivery) error {
			mu.Lock()
			runs[dl.ID]++
			mu.Unlock()
			return nil
		})
		q.Every("test:tick", time.Hour, queue.QueueDefault)
		if err := q.Start(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		return q
	}
	a, b := start(), start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(runs)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitIdle(t, a)
	a.Shutdown()
	b.Shutdown()
	if len(runs) != 1 {
		t.Fatalf("periodic runs by id = %v, want one id", runs)
	}
	for id, n := range runs {
		if n != 1 {
			t.Fatalf("periodic job %s ran %d times", id, n)
		}
	}
}

func TestPermanentErrorMarksDead(t *testing.T) {
	d := testenv.DB(t)
	ro := testenv.Redis(t)
	q, err := queue.Open(context.Background(), d, queue.Options{RedisOpt: &ro, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	q.Handle("test:bad", func(ctx context.Context, dl queue.Delivery) error {
		var v struct{ N int }
		return dl.Decode(&v) // payload is not an object: permanent
	})
	if err := q.Start(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	defer q.Shutdown()
	if err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return queue.Add(ctx, tx, queue.Job{Key: "bad", Type: "test:bad", Payload: []byte(`[1]`)})
	}); err != nil {
		t.Fatal(err)
	}
	q.Kick()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := q.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Dead == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("job with a permanent error was not marked dead")
}

func flush(t *testing.T, ro asynq.RedisClientOpt) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: ro.Addr, Username: ro.Username, Password: ro.Password, DB: ro.DB})
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush redis: %v", err)
	}
}

func waitIdle(t *testing.T, q *queue.Queue) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := q.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting == 0 && st.Enqueued == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("outbox did not drain")
}
