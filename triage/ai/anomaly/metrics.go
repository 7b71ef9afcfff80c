package anomaly

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

var (
	mSpikes = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_anomaly_spikes_total",
		Help: "Exception-rate spikes found, by carrier.",
	}, []string{"carrier"})
	mLate = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_anomaly_late_observations_total",
		Help: "Events dropped by the anomaly detector because their time bucket had already been swept.",
	})
)
