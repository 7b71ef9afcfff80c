package digest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	runsScheduled = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_digest_runs_scheduled_total", Help: "Scheduled digests created by the tick.",
	})
	runsFinished = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_digest_runs_finished_total", Help: "Digests and notices by kind and final status (sent, partial, failed, empty, no_target).",
	}, []string{"kind", "status"})
	deliveryAttempts = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_digest_delivery_attempts_total", Help: "Delivery attempts by channel and outcome (sent, failed, permanent).",
	}, []string{"channel", "outcome"})
	escalationsRead = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_digest_escalations_read_total", Help: "Escalations read from the triage feed.",
	})
	escalationsGrouped = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_digest_escalations_grouped_total", Help: "Escalations added to a subscription's notice group.",
	})
	noticeCases = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_digest_notice_cases", Help: "Cases listed per escalation notice.",
		Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
	})
)

func observeScheduled(n int)             { runsScheduled.Add(float64(n)) }
func observeRun(kind, status string)     { runsFinished.WithLabelValues(kind, status).Inc() }
func observeAttempt(channel, out string) { deliveryAttempts.WithLabelValues(channel, out).Inc() }
func observeNotice(cases int)            { noticeCases.Observe(float64(cases)) }
func observeEscalations(read, grouped int) {
	escalationsRead.Add(float64(read))
	escalationsGrouped.Add(float64(grouped))
}
