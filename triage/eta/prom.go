package eta

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

// Process metrics of the live ETA model.
var (
	mTrainings = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_eta_trainings_total", Help: "Live ETA models trained and stored.",
	})
	mTrainSeconds = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_eta_training_seconds", Help: "Time to retrain the live ETA model.",
		Buckets: prometheus.ExponentialBuckets(0.05, 3, 9),
	})
	mScores = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_eta_scores_total", Help: "Shipments scored by the live ETA model.",
	})
)
