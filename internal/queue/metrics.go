package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	jobsTotal = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_jobs_total", Help: "Background jobs run, by task type and outcome (ok, error).",
	}, []string{"task_type", "outcome"})
	jobSeconds = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_job_duration_seconds", Help: "Background job run time by task type.", Buckets: metrics.LatencyBuckets,
	}, []string{"task_type"})
)

func observeJob(taskType string, err error, d time.Duration) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	jobsTotal.WithLabelValues(taskType, outcome).Inc()
	jobSeconds.WithLabelValues(taskType).Observe(d.Seconds())
}

var (
	depthDesc = prometheus.NewDesc("yardmaster_queue_tasks", "asynq tasks per queue and state (from asynq's inspector).",
		[]string{"queue", "state"}, nil)
	latencyDesc = prometheus.NewDesc("yardmaster_queue_latency_seconds", "Age of the oldest pending task per queue.",
		[]string{"queue"}, nil)
	outboxDesc = prometheus.NewDesc("yardmaster_outbox_jobs", "Outbox rows by state: waiting (not yet in Redis), enqueued (not done), dead.",
		[]string{"state"}, nil)
)

// Collector exports queue depths from asynq's inspector and the outbox
// backlog on each scrape. Register it once per process.
func (q *Queue) Collector() prometheus.Collector { return collector{q} }

type collector struct{ q *Queue }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- latencyDesc
	ch <- outboxDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for name := range c.q.opts.Queues {
		info, err := c.q.inspector.GetQueueInfo(name)
		if err != nil {
			// A queue that never had a task does not exist yet in Redis.
			for _, st := range []string{"pending", "active", "scheduled", "retry", "archived"} {
				ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, 0, name, st)
			}
			ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, 0, name)
			continue
		}
		for st, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), name, st)
		}
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.q.OutboxStats(ctx)
	if err == nil {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(st.Waiting), "waiting")
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(st.Enqueued), "enqueued")
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(st.Dead), "dead")
	}
}

// OutboxStats counts outbox rows that are not done.
type OutboxStats struct {
	Waiting, Enqueued, Dead int
}

// OutboxStats returns the outbox backlog (OutboxCounts on this queue's
// database).
func (q *Queue) OutboxStats(ctx context.Context) (OutboxStats, error) {
	return OutboxCounts(ctx, q.db.Read)
}
