package odoo

import (
	"context"
	"errors"
	"time"

	"github.com/yardmaster/yardmaster/internal/queue"
)

// Task types of the mirror.
const (
	// TaskSync runs an incremental sync (a full reconcile when due).
	TaskSync = "odoo:sync"
	// TaskSyncFull runs a full reconcile now.
	TaskSyncFull = "odoo:sync:full"
)

// Register installs the sync handlers and the periodic incremental sync
// on the queue (call before q.Start). Each period yields one job across
// all worker processes; a run that finds another one in progress in this
// process is skipped.
func (m *Mirror) Register(q *queue.Queue, every time.Duration) {
	h := func(full bool) queue.Handler {
		return func(ctx context.Context, d queue.Delivery) error {
			_, err := m.Sync(ctx, SyncOptions{Full: full})
			switch {
			case errors.Is(err, ErrSyncRunning):
				return nil
			case err != nil && !IsRetryable(err):
				// A configuration problem (credentials, access rights):
				// the next period tries again; retrying now would not help.
				return queue.Permanent(err)
			}
			return err
		}
	}
	q.Handle(TaskSync, h(false))
	q.Handle(TaskSyncFull, h(true))
	q.Every(TaskSync, every, queue.QueueDefault)
}
