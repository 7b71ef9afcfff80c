package web

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/hibiken/asynq"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/opsview"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/ai"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// ConsoleServices are the product services the console pages call. Each
// is optional; its pages are registered only when it is set.
type ConsoleServices struct {
	Queue   *queue.Queue
	Intake  *intake.Service
	Reports *opsview.Reports
	Triage  *triage.Service
	Rules   *rules.Service
	// Summaries are the AI case summaries (deterministic or LLM).
	Summaries *ai.Store
	// Digests are the escalation digests.
	Digests *digest.Service
	// Odoo and Mirror are the Odoo connector; nil when it is off.
	Odoo   *odoo.Client
	Mirror *odoo.Mirror
}

func (cn *Console) opsRoutes() {
	if cn.svc.Queue == nil {
		return
	}
	cn.route(fiber.MethodGet, "/ops", auth.PermOpsRead, cn.opsPage)
	cn.route(fiber.MethodGet, "/ops/jobs/:id", auth.PermOpsRead, cn.jobPage)
	cn.route(fiber.MethodPost, "/ops/jobs/:id/retry", auth.PermOpsAdmin, cn.jobRetry)
	cn.route(fiber.MethodPost, "/ops/jobs/:id/discard", auth.PermOpsAdmin, cn.jobDiscard)
	cn.route(fiber.MethodPost, "/ops/tasks/:queue/:id/run", auth.PermOpsAdmin, cn.taskRunNow)
	if cn.svc.Triage != nil {
		cn.route(fiber.MethodPost, "/ops/webhooks/replay", auth.PermOpsAdmin, cn.webhookReplay)
	}
	if cn.svc.Reports != nil {
		cn.route(fiber.MethodGet, "/scorecards", auth.PermEventsRead, cn.scorecardsPage)
	}
}

// opsModel is the operations page.
type opsModel struct {
	Queues        []queue.QueueStats
	QueueErr      string
	Outbox        queue.OutboxStats
	OldestWaiting time.Time
	Dead          []queue.OutboxJob
	Failing       []queue.OutboxJob
	Retrying      []*asynq.TaskInfo
	Lag           []opsview.SourceLag
	LagWindow     time.Duration
	Embedded      bool
	Odoo          *odoo.Health
	OdooSync      []odoo.Status
	Rejections    []intake.Rejection
	// Outbound webhook deliveries that gave up (dead letters) and the
	// latest ones still being tried.
	WebhookDead    []*triage.Delivery
	WebhookPending []*triage.Delivery
}

func (cn *Console) opsPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	q := cn.svc.Queue
	m := opsModel{Embedded: q.Embedded(), LagWindow: time.Hour}
	var err error
	if m.Queues, err = q.QueueStats(ctx); err != nil {
		m.QueueErr = err.Error()
	}
	if m.Outbox, err = queue.OutboxCounts(ctx, cn.db.Read); err != nil {
		return err
	}
	if m.OldestWaiting, err = queue.OldestWaiting(ctx, cn.db.Read, cn.now()); err != nil {
		return err
	}
	if m.Dead, err = queue.ListOutbox(ctx, cn.db.Read, queue.OutboxFilter{State: "dead", Limit: 50}); err != nil {
		return err
	}
	if m.Failing, err = queue.ListOutbox(ctx, cn.db.Read, queue.OutboxFilter{State: "failing", Limit: 50}); err != nil {
		return err
	}
	if m.Retrying, err = q.RetryingTasks(ctx, 50); err != nil && m.QueueErr == "" {
		m.QueueErr = err.Error()
	}
	if cn.svc.Intake != nil {
		if m.Lag, err = opsview.EventLag(ctx, cn.db.Read, cn.now().Add(-m.LagWindow)); err != nil {
			return err
		}
		m.Rejections = intakeRejections()
	}
	if cn.svc.Triage != nil {
		if m.WebhookDead, err = cn.svc.Triage.ListDeliveries(ctx, triage.DeliveryFilter{State: triage.DeliveryDead, Limit: 50}); err != nil {
			return err
		}
		if m.WebhookPending, err = cn.svc.Triage.ListDeliveries(ctx, triage.DeliveryFilter{State: triage.DeliveryPending, Limit: 20}); err != nil {
			return err
		}
	}
	if cn.svc.Odoo != nil {
		h := cn.svc.Odoo.Health()
		m.Odoo = &h
	}
	if cn.svc.Mirror != nil {
		if m.OdooSync, err = cn.svc.Mirror.Status(ctx, cn.db.Read); err != nil {
			return err
		}
	}
	data := cn.page(c, "Operations", "ops", m)
	if isHTMX(c) && c.Get("HX-Target") == "ops-live" {
		return cn.render(c, fiber.StatusOK, "ops", data, "live")
	}
	return cn.render(c, fiber.StatusOK, "ops", data)
}

// intakeRejections reads this process's rejection counters (signature
// failures, bad payloads, rate limits), by source, most first.
func intakeRejections() []intake.Rejection {
	out := intake.Rejections()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Count > out[j].Count
	})
	return out
}

// jobModel is one outbox job.
type jobModel struct {
	Job  queue.OutboxJob
	Task *asynq.TaskInfo
}

func (cn *Console) jobPage(c *fiber.Ctx) error {
	j, err := queue.GetOutboxJob(c.UserContext(), cn.db.Read, utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	m := jobModel{Job: j, Task: cn.svc.Queue.TaskInfo(j.Queue, j.ID)}
	return cn.render(c, fiber.StatusOK, "job", cn.page(c, "Job "+j.ID, "ops", m))
}

func (cn *Console) jobRetry(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	err := cn.svc.Queue.RetryDead(c.UserContext(), id, func(ctx context.Context, tx bun.Tx, before queue.OutboxJob) error {
		_, err := audit.Append(ctx, tx, cn.now(), audit.Record{Action: "job.retried", SubjectType: "job", SubjectID: id,
			Before: map[string]any{"task_type": before.TaskType, "attempts": before.Attempts, "last_error": before.LastError}})
		return err
	})
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Job "+id+" queued to run again.")
	return redirectTo(c, "/ops")
}

func (cn *Console) jobDiscard(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	err := cn.svc.Queue.DiscardDead(c.UserContext(), id, func(ctx context.Context, tx bun.Tx, before queue.OutboxJob) error {
		_, err := audit.Append(ctx, tx, cn.now(), audit.Record{Action: "job.discarded", SubjectType: "job", SubjectID: id,
			Before: map[string]any{"task_type": before.TaskType, "attempts": before.Attempts, "last_error": before.LastError,
				"payload": string(before.Payload)}})
		return err
	})
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Job "+id+" discarded.")
	return redirectTo(c, "/ops")
}

func (cn *Console) taskRunNow(c *fiber.Ctx) error {
	qn, id := utils.CopyString(c.Params("queue")), utils.CopyString(c.Params("id"))
	if err := cn.svc.Queue.RunNow(qn, id); err != nil {
		return err
	}
	if _, err := audit.Append(c.UserContext(), cn.db, cn.now(), audit.Record{Action: "job.run_now", SubjectType: "job", SubjectID: id,
		After: map[string]any{"queue": qn}}); err != nil {
		return err
	}
	cn.flash(c, "ok", "Task "+id+" moved to the front of "+qn+".")
	return redirectTo(c, "/ops")
}

// webhookReplay sends outbound webhook deliveries again (dead letters, or
// delivered ones a subscriber asks for), with their original message ids.
func (cn *Console) webhookReplay(c *fiber.Ctx) error {
	var ids []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == "ids" && len(v) > 0 && len(v) <= 64 {
			ids = append(ids, string(v))
		}
	})
	n, err := cn.svc.Triage.ReplayDeliveries(c.UserContext(), ids)
	if err != nil {
		return err
	}
	cn.flash(c, "ok", fmt.Sprintf("%d webhook deliveries queued again.", n))
	return redirectTo(c, "/ops#webhooks")
}

// scorecardsModel is the scorecards page.
type scorecardsModel struct {
	S        *opsview.Scorecards
	Carriers []scoreRow
	Lanes    []scoreRow
	Total    scoreRow
	Sel      *scoreRow
	Kind     string
}

// scoreRow is a scorecard with its rendered charts.
type scoreRow struct {
	opsview.Scorecard
	Key        string
	Href       string
	OnTimeBar  any
	TrendChart any
	ReasonBars any
}

func (cn *Console) scorecardsPage(c *fiber.Ctx) error {
	sc, err := cn.svc.Reports.Scorecards(c.UserContext())
	if err != nil {
		return err
	}
	m := scorecardsModel{S: sc, Kind: "carrier"}
	sel := strings.TrimSpace(c.Query("carrier"))
	lane := strings.TrimSpace(c.Query("lane"))
	row := func(s opsview.Scorecard, kind string) scoreRow {
		r := scoreRow{Scorecard: s, Key: s.Key(), OnTimeBar: rateBar(s.OnTimeRate(), s.Key()+" on-time rate")}
		if kind == "carrier" {
			r.Href = "/scorecards?carrier=" + url.QueryEscape(s.Carrier)
		} else {
			r.Href = "/scorecards?lane=" + url.QueryEscape(s.Origin+"-"+s.Destination)
		}
		return r
	}
	for _, s := range sc.Carriers {
		r := row(s, "carrier")
		if sel != "" && s.Carrier == sel {
			r.TrendChart, r.ReasonBars = trendChart(s), reasonBars(s)
			m.Sel = &r
		}
		m.Carriers = append(m.Carriers, r)
	}
	for _, s := range sc.Lanes {
		r := row(s, "lane")
		if lane != "" && s.Origin+"-"+s.Destination == lane {
			r.TrendChart, r.ReasonBars = trendChart(s), reasonBars(s)
			m.Sel = &r
			m.Kind = "lane"
		}
		m.Lanes = append(m.Lanes, r)
	}
	m.Total = row(sc.Total, "total")
	m.Total.Key = "All carriers"
	m.Total.TrendChart, m.Total.ReasonBars = trendChart(sc.Total), reasonBars(sc.Total)
	return cn.render(c, fiber.StatusOK, "scorecards", cn.page(c, "Scorecards", "scorecards", m))
}
