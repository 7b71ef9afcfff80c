package intake

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	received = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_intake_deliveries_received_total", Help: "Deliveries (webhooks, API requests) received, by source.",
	}, []string{"source"})
	accepted = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_intake_events_accepted_total", Help: "New canonical events stored, by source.",
	}, []string{"source"})
	duplicates = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_intake_events_duplicate_total", Help: "Events answered as duplicates, by source.",
	}, []string{"source"})
	rejected = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_intake_rejected_total", Help: "Rejected deliveries or items, by source and reason.",
	}, []string{"source", "reason"})
	unmappedCodes = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_intake_unmapped_codes_total", Help: "Raw codes the mappings did not know, by source and table.",
	}, []string{"source", "table"})
	eventLag = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_intake_event_lag_seconds", Help: "Received minus occurred time of new events with a known time zone.",
		Buckets: []float64{1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400},
	}, []string{"source"})
	verifySeconds = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_intake_verify_seconds", Help: "Signature verification time, by source kind.",
		Buckets: []float64{0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005},
	}, []string{"kind"})
	pipelineSeconds = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_intake_batch_seconds", Help: "Time to commit one group-commit batch (all stages included).",
		Buckets: metrics.LatencyBuckets,
	})
	batchEvents = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_intake_batch_events", Help: "Events per group-commit batch.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	stageEvents = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_intake_stage_events_total", Help: "New events handed to the stages after persistence.",
	})
)

// Rejection is one of this process's rejection counters.
type Rejection struct {
	Source, Reason string
	Count          float64
}

// Rejections reads this process's rejection counters by source and reason
// (for the console). It reads the one counter, not the whole registry:
// gathering that runs every collector, queue depths and outbox counts
// included.
func Rejections() []Rejection {
	ch := make(chan prometheus.Metric)
	go func() {
		rejected.Collect(ch)
		close(ch)
	}()
	var out []Rejection
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		r := Rejection{Count: d.GetCounter().GetValue()}
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "source":
				r.Source = l.GetValue()
			case "reason":
				r.Reason = l.GetValue()
			}
		}
		out = append(out, r)
	}
	return out
}

// BatchStats are this process's group-commit totals so far (the loadtest
// reports their change over its measured window).
type BatchStats struct {
	Batches         uint64
	Events, Seconds float64
}

// ReadBatchStats reads the batch histograms' totals.
func ReadBatchStats() BatchStats {
	var secs, evs dto.Metric
	_ = pipelineSeconds.Write(&secs)
	_ = batchEvents.Write(&evs)
	return BatchStats{Batches: secs.GetHistogram().GetSampleCount(), Seconds: secs.GetHistogram().GetSampleSum(),
		Events: evs.GetHistogram().GetSampleSum()}
}
