package anomaly

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// snapshotVersion changes when the snapshot layout changes; Restore refuses
// other versions rather than guess.
const snapshotVersion = 1

type snapshot struct {
	Version    int                  `json:"version"`
	Bucket     time.Duration        `json:"bucket"`
	LastClosed *int64               `json:"last_closed,omitempty"`
	Late       int64                `json:"late"`
	Baselines  map[string]*baseline `json:"baselines"`
	Buckets    map[string]*bucket   `json:"buckets"`
}

// Snapshot returns the detector's state (baselines and the buckets not yet
// swept) as JSON, for a worker to persist between sweeps.
func (d *Detector) Snapshot() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := snapshot{Version: snapshotVersion, Bucket: d.cfg.Bucket, Late: d.late, Baselines: d.baselines, Buckets: map[string]*bucket{}}
	if d.lastClosed != math.MinInt64 {
		lc := d.lastClosed
		s.LastClosed = &lc
	}
	for i, b := range d.buckets {
		s.Buckets[strconv.FormatInt(i, 10)] = b
	}
	out, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode anomaly snapshot: %w", err)
	}
	return out, nil
}

// Restore replaces the detector's state with a snapshot. The snapshot must
// come from a detector with the same bucket width.
func (d *Detector) Restore(data []byte) error {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("decode anomaly snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("anomaly snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	if s.Bucket != d.cfg.Bucket {
		return fmt.Errorf("anomaly snapshot has buckets of %s, the detector %s", s.Bucket, d.cfg.Bucket)
	}
	buckets := map[int64]*bucket{}
	for k, b := range s.Buckets {
		i, err := strconv.ParseInt(k, 10, 64)
		if err != nil || b == nil {
			return fmt.Errorf("anomaly snapshot: bad bucket %q", k)
		}
		for _, c := range b.Keys {
			if c == nil || c.N < c.K || c.K < 0 {
				return fmt.Errorf("anomaly snapshot: bad counts in bucket %q", k)
			}
			if c.Reasons == nil {
				c.Reasons = map[string]int{}
			}
		}
		buckets[i] = b
	}
	for k, bl := range s.Baselines {
		if bl == nil || bl.SN < 0 || bl.SK < 0 || bl.SK > bl.SN+1e-9 || math.IsNaN(bl.Rho) {
			return fmt.Errorf("anomaly snapshot: bad baseline %q", k)
		}
		if bl.SR == nil {
			bl.SR = map[string]float64{}
		}
	}
	if s.Baselines == nil {
		s.Baselines = map[string]*baseline{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.baselines = s.Baselines
	d.buckets = buckets
	d.late = s.Late
	d.lastClosed = math.MinInt64
	if s.LastClosed != nil {
		d.lastClosed = *s.LastClosed
	}
	return nil
}
