package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
)

// Operator access to the outbox: the console's operations page lists jobs
// that are waiting, failing or dead, shows one with its payload, and lets an
// admin run a dead job again or discard it. The outbox (not Redis) is the
// record: asynq's archive may be trimmed or lost with an embedded server,
// the outbox row is not.

// OutboxJob is one outbox row as an operator sees it.
type OutboxJob struct {
	ID         string     `json:"id"`
	TaskType   string     `json:"task_type"`
	Queue      string     `json:"queue"`
	Payload    []byte     `json:"payload"`
	RequestID  string     `json:"request_id,omitempty"`
	RunAt      time.Time  `json:"run_at"`
	CreatedAt  time.Time  `json:"created_at"`
	EnqueuedAt *time.Time `json:"enqueued_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	Attempts   int        `json:"attempts"`
	MaxRetry   int        `json:"max_retry"`
	LastError  string     `json:"last_error,omitempty"`
	Dead       bool       `json:"dead"`
}

// State names where a job stands: done, dead, failing (retrying after an
// error), running, enqueued or waiting (not yet handed to Redis).
func (j OutboxJob) State() string {
	switch {
	case j.DoneAt != nil:
		return "done"
	case j.Dead:
		return "dead"
	case j.LastError != "":
		return "failing"
	case j.StartedAt != nil:
		return "running"
	case j.EnqueuedAt != nil:
		return "enqueued"
	default:
		return "waiting"
	}
}

func (r outboxRow) job() OutboxJob {
	return OutboxJob{ID: r.ID, TaskType: r.TaskType, Queue: r.Queue, Payload: r.Payload, RequestID: r.RequestID, RunAt: r.RunAt,
		CreatedAt: r.CreatedAt, EnqueuedAt: r.EnqueuedAt, StartedAt: r.StartedAt, DoneAt: r.DoneAt, Attempts: r.Attempts,
		MaxRetry: r.MaxRetry, LastError: r.LastError, Dead: r.Dead}
}

// OutboxFilter selects outbox rows. State is "dead", "failing" (not done,
// with an error, not dead) or "pending" (not done, not dead); empty means
// every row not done.
type OutboxFilter struct {
	State    string
	TaskType string
	// BeforeID pages newest-first: rows with an id below it.
	BeforeID string
	Limit    int
}

// ListOutbox returns matching rows, newest first.
func ListOutbox(ctx context.Context, idb bun.IDB, f OutboxFilter) ([]OutboxJob, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var rows []outboxRow
	q := idb.NewSelect().Model(&rows).Where("done_at IS NULL")
	// Dead and failing rows always carry their last error; saying so lets
	// both databases use the partial index of rows with an error.
	switch f.State {
	case "":
	case "dead":
		q = withErrorIndex(q).Where("last_error <> '' AND dead = ?", true)
	case "failing":
		q = withErrorIndex(q).Where("last_error <> '' AND dead = ?", false)
	case "pending":
		q = q.Where("dead = ?", false)
	default:
		return nil, apperr.Invalid("invalid filter", apperr.FieldError{Field: "state", Message: "one of dead, failing, pending"})
	}
	if f.TaskType != "" {
		q = q.Where("task_type = ?", f.TaskType)
	}
	if f.BeforeID != "" {
		q = q.Where("id < ?", f.BeforeID)
	}
	if err := q.Order("created_at DESC", "id DESC").Limit(int64(f.Limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("queue: list outbox: %w", err)
	}
	out := make([]OutboxJob, len(rows))
	for i, r := range rows {
		out[i] = r.job()
	}
	return out, nil
}

// GetOutboxJob returns one row by id.
func GetOutboxJob(ctx context.Context, idb bun.IDB, id string) (OutboxJob, error) {
	var r outboxRow
	if err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if db.IsNoRows(err) {
			return OutboxJob{}, apperr.NotFound("job "+id, err)
		}
		return OutboxJob{}, fmt.Errorf("queue: load job %s: %w", id, err)
	}
	return r.job(), nil
}

// ErrNotDead is returned when an operator action needs a dead job.
var ErrNotDead = apperr.Conflict("only a dead job can be retried or discarded")

// forgetTask removes asynq's copy of a job (its archived task) so the id is
// free again; a task Redis no longer has is fine.
func (q *Queue) forgetTask(queueName, id string) error {
	err := q.inspector.DeleteTask(queueName, id)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	return fmt.Errorf("queue: remove task %s from redis: %w", id, err)
}

// RetryDead runs a dead job again with a fresh retry budget. fn runs in
// the same transaction (for the audit entry). asynq's archived copy is
// removed first, so the dispatcher's re-enqueue under the same task id
// cannot be refused as a duplicate.
func (q *Queue) RetryDead(ctx context.Context, id string, fn func(ctx context.Context, tx bun.Tx, before OutboxJob) error) error {
	j, err := GetOutboxJob(ctx, q.db.Read, id)
	if err != nil {
		return err
	}
	if !j.Dead || j.DoneAt != nil {
		return ErrNotDead
	}
	if err := q.forgetTask(j.Queue, id); err != nil {
		return err
	}
	err = q.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*outboxRow)(nil)).Set("dead = ?", false).Set("enqueued_at = NULL").
			Set("run_at = ?", q.now().UTC()).Where("id = ? AND dead = ? AND done_at IS NULL", id, true).Exec(ctx)
		if err != nil {
			return fmt.Errorf("queue: revive job %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotDead
		}
		if fn != nil {
			return fn(ctx, tx, j)
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.Kick()
	return nil
}

// DiscardDead gives up on a dead job: its row is marked done (so no
// duplicate delivery can ever run it) and keeps its last error; asynq's
// archived copy is removed. fn runs in the same transaction.
func (q *Queue) DiscardDead(ctx context.Context, id string, fn func(ctx context.Context, tx bun.Tx, before OutboxJob) error) error {
	j, err := GetOutboxJob(ctx, q.db.Read, id)
	if err != nil {
		return err
	}
	if !j.Dead || j.DoneAt != nil {
		return ErrNotDead
	}
	err = q.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*outboxRow)(nil)).Set("done_at = ?", q.now().UTC()).
			Set("last_error = ?", truncateErr("discarded by an operator; last error: "+j.LastError)).
			Where("id = ? AND dead = ? AND done_at IS NULL", id, true).Exec(ctx)
		if err != nil {
			return fmt.Errorf("queue: discard job %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotDead
		}
		if fn != nil {
			return fn(ctx, tx, j)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return q.forgetTask(j.Queue, id)
}

func truncateErr(s string) string {
	if len(s) > 2000 {
		return s[:2000]
	}
	return s
}

// QueueStats is one asynq queue's state for the operations page.
type QueueStats struct {
	Name                                    string
	Size, Pending, Active, Scheduled, Retry int
	Archived, ProcessedToday, FailedToday   int
	Latency                                 time.Duration
	Paused                                  bool
}

// QueueStats reads every known queue from Redis (the configured ones even
// before a task was ever enqueued).
func (q *Queue) QueueStats(ctx context.Context) ([]QueueStats, error) {
	names := map[string]bool{}
	for n := range q.opts.Queues {
		names[n] = true
	}
	if more, err := q.inspector.Queues(); err == nil {
		for _, n := range more {
			names[n] = true
		}
	} else {
		return nil, fmt.Errorf("queue: list queues: %w", err)
	}
	var out []QueueStats
	for _, n := range []string{QueueCritical, QueueDefault, QueueLow} {
		if names[n] {
			delete(names, n)
			out = append(out, q.queueStats(n))
		}
	}
	for n := range names {
		out = append(out, q.queueStats(n))
	}
	return out, ctx.Err()
}

func (q *Queue) queueStats(name string) QueueStats {
	info, err := q.inspector.GetQueueInfo(name)
	if err != nil {
		return QueueStats{Name: name}
	}
	return QueueStats{Name: name, Size: info.Size, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled,
		Retry: info.Retry, Archived: info.Archived, ProcessedToday: info.Processed, FailedToday: info.Failed,
		Latency: info.Latency, Paused: info.Paused}
}

// RetryingTasks lists the tasks asynq will retry (after an error), newest
// first, across queues.
func (q *Queue) RetryingTasks(ctx context.Context, limit int) ([]*asynq.TaskInfo, error) {
	var out []*asynq.TaskInfo
	for n := range q.opts.Queues {
		ts, err := q.inspector.ListRetryTasks(n, asynq.PageSize(limit))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			return nil, fmt.Errorf("queue: list retrying tasks of %s: %w", n, err)
		}
		out = append(out, ts...)
	}
	return out, ctx.Err()
}

// RunNow moves a retrying or scheduled task to the front of its queue.
func (q *Queue) RunNow(queueName, id string) error {
	if err := q.inspector.RunTask(queueName, id); err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return apperr.NotFound("task "+id+" in queue "+queueName, err)
		}
		return fmt.Errorf("queue: run task %s now: %w", id, err)
	}
	return nil
}

// TaskInfo returns asynq's view of a task, or nil when Redis does not hold
// it (done and expired, or lost by an embedded server).
func (q *Queue) TaskInfo(queueName, id string) *asynq.TaskInfo {
	ti, err := q.inspector.GetTaskInfo(queueName, id)
	if err != nil {
		return nil
	}
	return ti
}

// OutboxCounts counts the open outbox rows with index-only counts, so it
// stays cheap with a large backlog: dead rows are never waiting (they were
// handed to Redis before they failed), so waiting is every row not done
// and not enqueued, and enqueued excludes the dead.
func OutboxCounts(ctx context.Context, idb bun.IDB) (OutboxStats, error) {
	var s OutboxStats
	count := func(where string, args ...any) (int, error) {
		n, err := idb.NewSelect().Model((*outboxRow)(nil)).Where(where, args...).Count(ctx)
		return int(n), err
	}
	var err error
	if s.Waiting, err = count("done_at IS NULL AND enqueued_at IS NULL"); err != nil {
		return s, fmt.Errorf("queue: count waiting jobs: %w", err)
	}
	enqueued, err := count("done_at IS NULL AND enqueued_at IS NOT NULL")
	if err != nil {
		return s, fmt.Errorf("queue: count enqueued jobs: %w", err)
	}
	dead, err := withErrorIndex(idb.NewSelect().Model((*outboxRow)(nil))).
		Where("done_at IS NULL AND last_error <> '' AND dead = ?", true).Count(ctx)
	s.Dead = int(dead)
	if err != nil {
		return s, fmt.Errorf("queue: count dead jobs: %w", err)
	}
	s.Enqueued = enqueued - s.Dead
	return s, nil
}

// OldestWaiting returns the creation time of the oldest job due by now and
// neither done nor dead (zero when none): how far behind the workers are.
func OldestWaiting(ctx context.Context, idb bun.IDB, now time.Time) (time.Time, error) {
	var r outboxRow
	err := idb.NewSelect().Model(&r).Column("created_at").Where("done_at IS NULL AND dead = ? AND run_at <= ?", false, now.UTC()).
		Order("created_at").Limit(1).Scan(ctx)
	if err != nil {
		if db.IsNoRows(err) {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("queue: oldest waiting job: %w", err)
	}
	return r.CreatedAt, nil
}

// withErrorIndex reads the outbox through its partial index of rows with an
// error. SQLite, without statistics, would otherwise walk every open row in
// creation order (144,000 with a summary backlog: half a second per
// operations page) to find the few that failed; PostgreSQL picks the index
// by itself.
func withErrorIndex(q *bun.SelectQuery) *bun.SelectQuery {
	if q.Dialect().Name() == dialect.SQLite {
		return q.ModelTableExpr("outbox AS outbox_row INDEXED BY outbox_failing")
	}
	return q
}
