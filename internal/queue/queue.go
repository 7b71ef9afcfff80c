// Package queue runs Yardmaster's background work on asynq, behind a
// transactional outbox.
//
// Jobs are written to the outbox table in the same database transaction as
// the state that causes them (Add). A dispatcher enqueues them into asynq
// after commit with the outbox id as the asynq task id, so a duplicate
// enqueue is refused by Redis, and marks them enqueued. A job's row is marked
// done only after its handler succeeds; a done row never runs again. On
// start every row that is not done is enqueued again, so nothing is lost when
// Redis loses its data — which the embedded Redis-protocol server (used when
// no YARDMASTER_REDIS_URL is set) always does on restart.
//
// Periodic work (Every) is written to the outbox too, with one id per
// period, so several worker processes produce one job per period.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// Queue names and their priority weights. Intake-adjacent and Odoo
// write-back work must never wait behind AI or digests.
const (
	QueueCritical = "critical" // action execution, notifications
	QueueDefault  = "default"  // sweeps, sync, housekeeping
	QueueLow      = "low"      // AI summaries, ETA scoring, digests
)

// DefaultQueues are the asynq queue weights.
var DefaultQueues = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}

// Job is one unit of background work to be written to the outbox.
type Job struct {
	// Key is the stable unique id (and asynq task id). Adding a job whose
	// key exists already is a no-op, which is how callers debounce.
	Key     string
	Type    string
	Payload any // marshalled to JSON; []byte and json.RawMessage are kept as they are
	Queue   string
	// RunAt delays the job; zero means now.
	RunAt    time.Time
	MaxRetry int           // default 10
	Timeout  time.Duration // default 2m
}

// Delivery is what a handler receives.
type Delivery struct {
	ID        string // the outbox id
	Type      string
	Payload   []byte
	Attempt   int // 0 on the first run
	MaxRetry  int
	RequestID string
}

// Decode unmarshals the JSON payload into v.
func (d Delivery) Decode(v any) error {
	if err := json.Unmarshal(d.Payload, v); err != nil {
		return Permanent(fmt.Errorf("decode %s payload: %w", d.Type, err))
	}
	return nil
}

// Handler runs one job. It must be idempotent.
type Handler func(ctx context.Context, d Delivery) error

// Permanent marks an error that must not be retried.
func Permanent(err error) error { return fmt.Errorf("%w: %w", err, asynq.SkipRetry) }

// Options configure a Queue.
type Options struct {
	// RedisURL is redis:// or rediss://; empty starts an embedded server.
	RedisURL string
	// RedisOpt overrides RedisURL (tests pass a DB number this way).
	RedisOpt    *asynq.RedisClientOpt
	Concurrency int
	Queues      map[string]int
	Logger      *slog.Logger
	Now         func() time.Time
	// PollInterval is how often the dispatcher looks for rows without a
	// Kick (other processes' commits, delayed jobs). Default 1s.
	PollInterval time.Duration
	// ShutdownTimeout bounds the wait for running jobs on Shutdown.
	ShutdownTimeout time.Duration
}

// Queue is the process's handle on the outbox and asynq.
type Queue struct {
	db        *db.DB
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	redisOpt  asynq.RedisClientOpt
	embedded  *miniredis.Miniredis
	client    *asynq.Client
	inspector *asynq.Inspector

	mu       sync.Mutex
	handlers map[string]Handler
	periodic []periodic
	server   *asynq.Server
	kick     chan struct{}
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

type periodic struct {
	taskType string
	every    time.Duration
	queue    string
}

func init() {
	// go-redis logs dial failures itself; we report them as errors instead.
	redis.SetLogger(quietRedis{})
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// Open connects to Redis (or starts the embedded server) and checks it.
func Open(ctx context.Context, d *db.DB, opts Options) (*Queue, error) {
	if opts.Logger == nil {
		opts.Logger = logx.Discard()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Queues == nil {
		opts.Queues = DefaultQueues
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	q := &Queue{db: d, opts: opts, log: opts.Logger, now: opts.Now, handlers: map[string]Handler{}, kick: make(chan struct{}, 1)}
	switch {
	case opts.RedisOpt != nil:
		q.redisOpt = *opts.RedisOpt
	case opts.RedisURL != "":
		ro, err := ParseRedisURL(opts.RedisURL)
		if err != nil {
			return nil, err
		}
		q.redisOpt = ro
	default:
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("queue: start embedded redis: %w", err)
		}
		q.embedded = mr
		q.redisOpt = asynq.RedisClientOpt{Addr: mr.Addr()}
		q.log.Warn("queue: using the embedded Redis-protocol server: embedded, not durable across restarts; the outbox re-enqueues unfinished jobs on start. Set YARDMASTER_REDIS_URL in production.", "addr", mr.Addr())
	}
	if err := Ping(ctx, q.redisOpt); err != nil {
		q.closeEmbedded()
		return nil, err
	}
	q.client = asynq.NewClient(q.redisOpt)
	q.inspector = asynq.NewInspector(q.redisOpt)
	return q, nil
}

// ParseRedisURL turns redis://[user:pass@]host:port[/db] into asynq options.
func ParseRedisURL(raw string) (asynq.RedisClientOpt, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		u, _ := url.Parse(raw)
		shown := raw
		if u != nil {
			shown = u.Redacted()
		}
		return asynq.RedisClientOpt{}, fmt.Errorf("queue: bad redis URL %q: %w", shown, err)
	}
	return asynq.RedisClientOpt{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}, nil
}

// Ping checks that Redis answers within 3 seconds.
func Ping(ctx context.Context, o asynq.RedisClientOpt) error {
	c := redis.NewClient(&redis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		DialTimeout: 3 * time.Second, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("queue: redis at %s is not reachable: %w", o.Addr, err)
	}
	return nil
}

// Embedded reports whether the queue runs on the embedded server.
func (q *Queue) Embedded() bool { return q.embedded != nil }

// RedisOpt returns the Redis connection options in use.
func (q *Queue) RedisOpt() asynq.RedisClientOpt { return q.redisOpt }

// Inspector gives read and admin access to asynq's queues.
func (q *Queue) Inspector() *asynq.Inspector { return q.inspector }

// Check pings Redis, for readiness.
func (q *Queue) Check(ctx context.Context) error { return Ping(ctx, q.redisOpt) }

// Handle registers the handler of a task type. Call before Start.
func (q *Queue) Handle(taskType string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.handlers[taskType]; dup {
		panic("queue: handler registered twice for " + taskType)
	}
	q.handlers[taskType] = h
}

// Every schedules taskType once per interval (aligned to multiples of the
// interval since the Unix epoch) on the given queue. Call before Start.
func (q *Queue) Every(taskType string, interval time.Duration, queueName string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if queueName == "" {
		queueName = QueueDefault
	}
	q.periodic = append(q.periodic, periodic{taskType: taskType, every: interval, queue: queueName})
}

// Kick wakes the dispatcher, e.g. right after a commit that added jobs.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Add writes jobs to the outbox inside the caller's transaction. A job
// whose key exists already is ignored.
func Add(ctx context.Context, idb bun.IDB, jobs ...Job) error {
	if len(jobs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	rows := make([]outboxRow, 0, len(jobs))
	for _, j := range jobs {
		r, err := j.row(ctx, now)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	_, err := idb.NewInsert().Model(&rows).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("queue: add %d jobs: %w", len(jobs), err)
	}
	return nil
}

func (j Job) row(ctx context.Context, now time.Time) (outboxRow, error) {
	if j.Key == "" || j.Type == "" {
		return outboxRow{}, errors.New("queue: job needs a Key and a Type")
	}
	var payload []byte
	switch p := j.Payload.(type) {
	case nil:
		payload = []byte("{}")
	case []byte:
		payload = p
	case json.RawMessage:
		payload = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return outboxRow{}, fmt.Errorf("queue: marshal %s payload: %w", j.Type, err)
		}
		payload = b
	}
	if j.Queue == "" {
		j.Queue = QueueDefault
	}
	if j.MaxRetry == 0 {
		j.MaxRetry = 10
	}
	if j.Timeout == 0 {
		j.Timeout = 2 * time.Minute
	}
	runAt := j.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	return outboxRow{
		ID: j.Key, TaskType: j.Type, Payload: payload, Queue: j.Queue, MaxRetry: j.MaxRetry,
		TimeoutMS: j.Timeout.Milliseconds(), RunAt: runAt.UTC(), RequestID: logx.RequestID(ctx), CreatedAt: now,
	}, nil
}

type outboxRow struct {
	bun.BaseModel `bun:"table:outbox"`

	ID         string     `bun:"id,pk"`
	TaskType   string     `bun:"task_type"`
	Payload    []byte     `bun:"payload"`
	Queue      string     `bun:"queue"`
	MaxRetry   int        `bun:"max_retry"`
	TimeoutMS  int64      `bun:"timeout_ms"`
	RunAt      time.Time  `bun:"run_at"`
	RequestID  string     `bun:"request_id"`
	CreatedAt  time.Time  `bun:"created_at"`
	EnqueuedAt *time.Time `bun:"enqueued_at"`
	StartedAt  *time.Time `bun:"started_at"`
	DoneAt     *time.Time `bun:"done_at"`
	Attempts   int        `bun:"attempts"`
	LastError  string     `bun:"last_error"`
	Dead       bool       `bun:"dead"`
}

// Start runs the dispatcher and, when workers is true, the asynq server
// with the registered handlers and the periodic ticker. API-only processes
// start the dispatcher alone so their commits reach Redis promptly.
func (q *Queue) Start(ctx context.Context, workers bool) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stop = cancel
	// Everything not done may have been lost by Redis: enqueue it again.
	if err := q.requeueUnfinished(ctx); err != nil {
		cancel()
		return err
	}
	q.wg.Add(1)
	go func() { defer q.wg.Done(); q.dispatchLoop(ctx) }()
	if !workers {
		return nil
	}
	q.mu.Lock()
	mux := asynq.NewServeMux()
	for t, h := range q.handlers {
		mux.Handle(t, q.wrap(t, h))
	}
	per := append([]periodic(nil), q.periodic...)
	q.mu.Unlock()
	q.server = asynq.NewServer(q.redisOpt, asynq.Config{
		Concurrency:              q.opts.Concurrency,
		Queues:                   q.opts.Queues,
		ShutdownTimeout:          q.opts.ShutdownTimeout,
		Logger:                   slogAdapter{q.log},
		LogLevel:                 asynq.WarnLevel,
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc:           retryDelay,
		BaseContext:              func() context.Context { return ctx },
		IsFailure:                func(err error) bool { return err != nil },
	})
	if err := q.server.Start(mux); err != nil {
		cancel()
		return fmt.Errorf("queue: start workers: %w", err)
	}
	for _, p := range per {
		q.wg.Add(1)
		go func() { defer q.wg.Done(); q.tickLoop(ctx, p) }()
	}
	return nil
}

// retryDelay is exponential with jitter: ~2s, 4s, 8s … capped at 10 min.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := time.Duration(1<<min(n, 9)) * 2 * time.Second
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	jitter := time.Duration(time.Now().UnixNano() % int64(d/4+1))
	return d + jitter
}

// Shutdown stops the ticker and dispatcher, then lets running jobs finish
// (up to the shutdown timeout) and closes the connections.
func (q *Queue) Shutdown() {
	if q.stop != nil {
		q.stop()
	}
	if q.server != nil {
		q.server.Shutdown()
	}
	q.wg.Wait()
	_ = q.client.Close()
	_ = q.inspector.Close()
	q.closeEmbedded()
}

func (q *Queue) closeEmbedded() {
	if q.embedded != nil {
		q.embedded.Close()
	}
}

func (q *Queue) requeueUnfinished(ctx context.Context) error {
	_, err := q.db.NewUpdate().Model((*outboxRow)(nil)).
		Set("enqueued_at = NULL").
		Where("done_at IS NULL AND dead = ? AND enqueued_at IS NOT NULL", false).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("queue: reset unfinished outbox rows: %w", err)
	}
	return nil
}

func (q *Queue) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(q.opts.PollInterval)
	defer t.Stop()
	for {
		if _, err := q.Dispatch(ctx); err != nil && ctx.Err() == nil {
			q.log.Error("queue: dispatch outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.kick:
		}
	}
}

// Dispatch enqueues every outbox row not yet enqueued and returns how many
// it enqueued. The loop calls it; tests call it to be deterministic.
func (q *Queue) Dispatch(ctx context.Context) (int, error) {
	total := 0
	for {
		var rows []outboxRow
		err := q.db.Read.NewSelect().Model(&rows).
			Where("done_at IS NULL AND dead = ? AND enqueued_at IS NULL", false).
			Order("created_at", "id").Limit(500).Scan(ctx)
		if err != nil {
			return total, fmt.Errorf("select outbox: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids := make([]string, 0, len(rows))
		for _, r := range rows {
			if err := q.enqueue(ctx, r); err != nil {
				return total, err
			}
			ids = append(ids, r.ID)
		}
		now := q.now().UTC()
		if _, err := q.db.NewUpdate().Model((*outboxRow)(nil)).Set("enqueued_at = ?", now).
			Where("id IN (?) AND enqueued_at IS NULL", bun.In(ids)).Exec(ctx); err != nil {
			return total, fmt.Errorf("mark outbox enqueued: %w", err)
		}
		total += len(rows)
		if len(rows) < 500 {
			return total, nil
		}
	}
}

func (q *Queue) enqueue(ctx context.Context, r outboxRow) error {
	headers := map[string]string{}
	if r.RequestID != "" {
		headers["request_id"] = r.RequestID
	}
	opts := []asynq.Option{
		asynq.TaskID(r.ID), asynq.Queue(r.Queue), asynq.MaxRetry(r.MaxRetry),
		asynq.Timeout(time.Duration(r.TimeoutMS) * time.Millisecond),
	}
	if r.RunAt.After(q.now()) {
		opts = append(opts, asynq.ProcessAt(r.RunAt))
	}
	_, err := q.client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(r.TaskType, r.Payload, headers), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", r.ID, err)
	}
	return nil
}

func (q *Queue) tickLoop(ctx context.Context, p periodic) {
	for {
		now := q.now().UTC()
		period := now.Truncate(p.every)
		key := p.taskType + ":" + strconv.FormatInt(period.Unix(), 10)
		err := Add(ctx, q.db, Job{Key: key, Type: p.taskType, Queue: p.queue, MaxRetry: 3, Timeout: p.every,
			Payload: map[string]any{"period": period.Format(time.RFC3339)}})
		if err != nil && ctx.Err() == nil {
			q.log.Error("queue: schedule periodic job", "task_type", p.taskType, "err", err)
		} else {
			q.Kick()
		}
		wait := period.Add(p.every).Sub(q.now())
		if wait <= 0 {
			wait = time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// wrap adds the outbox bookkeeping around a handler: skip rows already done,
// count attempts, mark done on success and dead when retries are exhausted.
func (q *Queue) wrap(taskType string, h Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		reqID := t.Headers()["request_id"]
		if reqID != "" {
			ctx = logx.WithRequestID(ctx, reqID)
		}
		now := q.now().UTC()
		res, err := q.db.NewUpdate().Model((*outboxRow)(nil)).
			Set("started_at = ?", now).Set("attempts = attempts + 1").
			Where("id = ? AND done_at IS NULL", id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("outbox claim %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Done already (a duplicate delivery) or not an outbox job.
			exists, err := q.db.Read.NewSelect().Model((*outboxRow)(nil)).Where("id = ?", id).Exists(ctx)
			if err != nil {
				return fmt.Errorf("outbox lookup %s: %w", id, err)
			}
			if exists {
				q.log.InfoContext(ctx, "queue: skip job already done", "task_id", id, "task_type", taskType)
				return nil
			}
		}
		start := time.Now()
		herr := h(ctx, Delivery{ID: id, Type: taskType, Payload: t.Payload(), Attempt: retry, MaxRetry: maxRetry, RequestID: reqID})
		observeJob(taskType, herr, time.Since(start))
		done := context.WithoutCancel(ctx)
		if herr == nil {
			_, err := q.db.NewUpdate().Model((*outboxRow)(nil)).Set("done_at = ?", q.now().UTC()).Set("last_error = ''").
				Where("id = ?", id).Exec(done)
			if err != nil {
				return fmt.Errorf("outbox ack %s: %w", id, err)
			}
			return nil
		}
		dead := errors.Is(herr, asynq.SkipRetry) || retry >= maxRetry
		msg := herr.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
		_, _ = q.db.NewUpdate().Model((*outboxRow)(nil)).Set("last_error = ?", msg).Set("dead = ?", dead).
			Where("id = ?", id).Exec(done)
		q.log.WarnContext(ctx, "queue: job failed", "task_id", id, "task_type", taskType, "attempt", retry, "dead", dead, "err", herr)
		return herr
	})
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
