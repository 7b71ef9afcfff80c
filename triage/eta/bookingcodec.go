package eta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// bookingFormat identifies a marshalled booking model; the version changes
// whenever the meaning of a field does.
const (
	bookingFormat  = "yardmaster-eta-booking"
	bookingVersion = 1
)

type levelJSON struct {
	Level string  `json:"level"`
	W     float64 `json:"w"`
	K     float64 `json:"k"`
}

type bookingJSON struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	Settings  BookingSettings `json:"settings"`
	Specs     []FeatureSpec   `json:"specs"`
	Tables    [][]levelJSON   `json:"tables"`
	Parents   [][]levelJSON   `json:"parents"`
	Beta      []float64       `json:"beta"`
	Intercept float64         `json:"intercept"`
	Prior     float64         `json:"prior"`
	Cutoff    time.Time       `json:"cutoff"`
	Trained   int             `json:"trained"`
}

func tableJSON(t map[string]levelStat) []levelJSON {
	if t == nil {
		return nil
	}
	out := make([]levelJSON, 0, len(t))
	for k, v := range t {
		out = append(out, levelJSON{Level: k, W: v.W, K: v.K})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Level < out[b].Level })
	return out
}

// MarshalBinary encodes the model as deterministic JSON (sorted levels), so
// the same training run always produces the same bytes.
func (bm *BookingModel) MarshalBinary() ([]byte, error) {
	doc := bookingJSON{
		Format: bookingFormat, Version: bookingVersion, Settings: bm.Settings, Specs: bm.Specs,
		Beta: bm.Beta, Intercept: bm.Intercept, Prior: bm.Prior, Cutoff: bm.Cutoff.UTC(), Trained: bm.Trained,
	}
	for i := range bm.Specs {
		doc.Tables = append(doc.Tables, tableJSON(bm.Tables[i]))
		doc.Parents = append(doc.Parents, tableJSON(bm.Parents[i]))
	}
	return json.Marshal(doc)
}

// ErrBadModel marks bytes that are not a usable model of this version.
var ErrBadModel = errors.New("invalid eta model")

// UnmarshalBinary decodes and checks a model written by MarshalBinary.
func (bm *BookingModel) UnmarshalBinary(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var doc bookingJSON
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if doc.Format != bookingFormat || doc.Version != bookingVersion {
		return fmt.Errorf("%w: format %q version %d, want %q version %d", ErrBadModel, doc.Format, doc.Version, bookingFormat, bookingVersion)
	}
	n := len(doc.Specs)
	if n == 0 || len(doc.Beta) != n || len(doc.Tables) != n || len(doc.Parents) != n {
		return fmt.Errorf("%w: %d features but %d coefficients, %d tables, %d parent tables", ErrBadModel, n, len(doc.Beta), len(doc.Tables), len(doc.Parents))
	}
	if !(doc.Prior > 0 && doc.Prior < 1) || doc.Settings.M < 0 || math.IsNaN(doc.Intercept) {
		return fmt.Errorf("%w: prior %v, m %v, intercept %v out of range", ErrBadModel, doc.Prior, doc.Settings.M, doc.Intercept)
	}
	for i, s := range doc.Specs {
		switch s.Kind {
		case KindCat:
			if len(s.Cols) == 0 {
				return fmt.Errorf("%w: feature %q has no columns", ErrBadModel, s.Name)
			}
			for _, c := range s.Cols {
				if c < 0 || c > 1<<16 {
					return fmt.Errorf("%w: feature %q column %d", ErrBadModel, s.Name, c)
				}
			}
		case KindNum:
			if s.Slot < 0 || s.Slot > 1<<16 || !sort.Float64sAreSorted(s.Edges) {
				return fmt.Errorf("%w: feature %q slot %d or edges unsorted", ErrBadModel, s.Name, s.Slot)
			}
		case KindMonth, KindWeekday:
		default:
			return fmt.Errorf("%w: feature %q has unknown kind %d", ErrBadModel, s.Name, s.Kind)
		}
		if math.IsNaN(doc.Beta[i]) || math.IsInf(doc.Beta[i], 0) {
			return fmt.Errorf("%w: feature %q coefficient %v", ErrBadModel, s.Name, doc.Beta[i])
		}
	}
	toMap := func(ls []levelJSON) (map[string]levelStat, error) {
		if ls == nil {
			return nil, nil
		}
		m := make(map[string]levelStat, len(ls))
		for _, l := range ls {
			if l.W < 0 || l.K < 0 || l.K > l.W+1e-9 {
				return nil, fmt.Errorf("%w: level %q counts w=%v k=%v", ErrBadModel, l.Level, l.W, l.K)
			}
			m[l.Level] = levelStat{W: l.W, K: l.K}
		}
		return m, nil
	}
	out := BookingModel{Settings: doc.Settings, Specs: doc.Specs, Beta: doc.Beta, Intercept: doc.Intercept, Prior: doc.Prior, Cutoff: doc.Cutoff, Trained: doc.Trained}
	for i := 0; i < n; i++ {
		t, err := toMap(doc.Tables[i])
		if err != nil {
			return err
		}
		if t == nil {
			t = map[string]levelStat{}
		}
		p, err := toMap(doc.Parents[i])
		if err != nil {
			return err
		}
		if (p != nil) != (doc.Specs[i].parentCols() != nil) {
			return fmt.Errorf("%w: feature %q backoff table does not match its columns", ErrBadModel, doc.Specs[i].Name)
		}
		out.Tables = append(out.Tables, t)
		out.Parents = append(out.Parents, p)
	}
	*bm = out
	return nil
}
