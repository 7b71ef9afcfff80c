package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// TaskHousekeeping prunes expired rows (finished outbox jobs, expired dedup
// keys and raw payloads, …) every ten minutes.
const TaskHousekeeping = "housekeeping:prune"

// OutboxRetention is how long finished outbox rows are kept for inspection.
const OutboxRetention = 7 * 24 * time.Hour

func (a *App) registerHousekeeping() {
	a.AddPruner(Pruner{Name: "outbox", Fn: func(ctx context.Context, now time.Time) (int, error) {
		res, err := a.DB.NewDelete().Table("outbox").Where("done_at IS NOT NULL AND done_at < ?", now.Add(-OutboxRetention).UTC()).Exec(ctx)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return int(n), nil
	}})
	a.Queue.Handle(TaskHousekeeping, a.housekeep)
	a.Queue.Every(TaskHousekeeping, 10*time.Minute, queue.QueueDefault)
}

// housekeep runs every pruner; each is idempotent, so a retry is harmless.
func (a *App) housekeep(ctx context.Context, d queue.Delivery) error {
	now := a.Now()
	var firstErr error
	for _, p := range a.pruners {
		n, err := p.Fn(ctx, now)
		if err != nil {
			a.Log.ErrorContext(ctx, "housekeeping failed", "pruner", p.Name, "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if n > 0 {
			a.Log.InfoContext(ctx, "housekeeping pruned rows", "pruner", p.Name, "rows", n)
		}
	}
	return firstErr
}

// workerOnlyOps answers 404 for everything but the operational endpoints in
// a worker-only process.
func workerOnlyOps(c *fiber.Ctx) error {
	switch c.Path() {
	case "/healthz", "/readyz", "/metrics":
		return c.Next()
	}
	return apperr.NotFound("route (this is a worker process: only /healthz, /readyz and /metrics are served)", nil)
}
