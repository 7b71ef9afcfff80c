package triage

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	mCasesOpened = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_cases_opened_total", Help: "Cases opened, by kind and severity.",
	}, []string{"kind", "severity"})
	mCasesClosed = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_cases_closed_total", Help: "Cases resolved or dismissed, by state and reason.",
	}, []string{"state", "reason"})
	mCasesReopened = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_triage_cases_reopened_total", Help: "Closed cases reopened by a new match.",
	})
	mEscalations = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_escalations_total", Help: "Severity or team escalations, by cause.",
	}, []string{"cause"})
	mBreaches = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_sla_breaches_total", Help: "SLA breaches, by clock (respond, resolve) and severity.",
	}, []string{"clock", "severity"})
	mTTA = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_triage_time_to_acknowledge_seconds", Help: "Time from opening to first acknowledgement (MTTA = sum/count).",
		Buckets: []float64{60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600},
	}, []string{"severity"})
	mTTR = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_triage_time_to_resolve_seconds", Help: "Time from opening to resolution (MTTR = sum/count).",
		Buckets: []float64{300, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600, 7 * 24 * 3600, 30 * 24 * 3600},
	}, []string{"severity"})
	mOpenCases = promauto.With(metrics.Registry).NewGaugeVec(prometheus.GaugeOpts{
		Name: "yardmaster_triage_open_cases", Help: "Live cases by state, severity and SLA state (set by the SLA sweep).",
	}, []string{"state", "severity", "sla_state"})
	mCaseAge = promauto.With(metrics.Registry).NewGaugeVec(prometheus.GaugeOpts{
		Name: "yardmaster_triage_open_case_age", Help: "Live cases by age band since opening (exception aging; set by the SLA sweep).",
	}, []string{"age"})
	mActions = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_actions_total", Help: "Action executions by type and result (succeeded, failed, retry, replayed).",
	}, []string{"type", "result"})
	mWebhookDeliveries = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_webhook_deliveries_total", Help: "Outbound webhook attempts by result (delivered, retry, dead).",
	}, []string{"result"})
	mNotificationsSuppressed = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_triage_notifications_suppressed_total", Help: "Per-case events not sent because a live disruption covers the case.",
	})
	mSweepEvents = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_sweep_events_total", Help: "Synthetic events emitted by the time sweeps, by kind.",
	}, []string{"kind"})
	mWoken = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_triage_snooze_woken_total", Help: "Snoozed cases returned to the queue, by cause (time, event, escalation).",
	}, []string{"cause"})
)
