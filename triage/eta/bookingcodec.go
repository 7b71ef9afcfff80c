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
// whenever the meaning of a field does (2: per-stratum ridge logistic
// regressions on one-hot levels).
const (
	bookingFormat  = "yardmaster-eta-booking"
	bookingVersion = 2
)

type coefJSON struct {
	Level string  `json:"level"`
	Coef  float64 `json:"coef"`
}

type stratumJSON struct {
	Name      string        `json:"name"`
	Specs     []FeatureSpec `json:"specs"`
	Intercept float64       `json:"intercept"`
	Coef      [][]coefJSON  `json:"coef"`
	Rows      int           `json:"rows"`
	Rate      float64       `json:"rate"`
}

type bookingJSON struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	Settings  BookingSettings `json:"settings"`
	StratCol  int             `json:"strat_col"`
	StratName string          `json:"strat_name,omitempty"`
	Strata    []stratumJSON   `json:"strata"`
	Shift     float64         `json:"shift"`
	PlattA    float64         `json:"platt_a"`
	PlattB    float64         `json:"platt_b"`
	Cutoff    time.Time       `json:"cutoff"`
	Trained   int             `json:"trained"`
}

// MarshalBinary encodes the model as deterministic JSON (levels sorted), so
// the same training run always produces the same bytes.
func (bm *BookingModel) MarshalBinary() ([]byte, error) {
	doc := bookingJSON{
		Format: bookingFormat, Version: bookingVersion, Settings: bm.Settings, StratCol: bm.StratCol, StratName: bm.StratName,
		Shift: bm.Shift, PlattA: bm.PlattA, PlattB: bm.PlattB, Cutoff: bm.Cutoff.UTC(), Trained: bm.Trained,
	}
	for _, sm := range bm.Strata {
		sj := stratumJSON{Name: sm.Name, Specs: sm.Specs, Intercept: sm.Intercept, Rows: sm.Rows, Rate: sm.Rate}
		for _, m := range sm.Coef {
			cs := make([]coefJSON, 0, len(m))
			for lv, c := range m {
				cs = append(cs, coefJSON{Level: lv, Coef: c})
			}
			sort.Slice(cs, func(a, b int) bool { return cs[a].Level < cs[b].Level })
			sj.Coef = append(sj.Coef, cs)
		}
		doc.Strata = append(doc.Strata, sj)
	}
	return json.Marshal(doc)
}

// ErrBadModel marks bytes that are not a usable model of this version.
var ErrBadModel = errors.New("invalid eta model")

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// UnmarshalBinary decodes and checks a model written by MarshalBinary; on
// error the receiver is unchanged.
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
	if len(doc.Strata) == 0 || len(doc.Strata) > 1<<12 {
		return fmt.Errorf("%w: %d strata", ErrBadModel, len(doc.Strata))
	}
	if doc.StratCol < -1 || doc.StratCol > 1<<16 {
		return fmt.Errorf("%w: stratifying column %d", ErrBadModel, doc.StratCol)
	}
	if !finite(doc.Shift, doc.PlattA, doc.PlattB) || doc.PlattA <= 0 {
		return fmt.Errorf("%w: shift %v, Platt %v %v", ErrBadModel, doc.Shift, doc.PlattA, doc.PlattB)
	}
	out := BookingModel{Settings: doc.Settings, StratCol: doc.StratCol, StratName: doc.StratName, Shift: doc.Shift,
		PlattA: doc.PlattA, PlattB: doc.PlattB, Cutoff: doc.Cutoff, Trained: doc.Trained}
	seen := map[string]bool{}
	rest := false
	for _, sj := range doc.Strata {
		if seen[sj.Name] {
			return fmt.Errorf("%w: stratum %q twice", ErrBadModel, sj.Name)
		}
		seen[sj.Name] = true
		rest = rest || sj.Name == restStratum
		if len(sj.Coef) != len(sj.Specs) || !finite(sj.Intercept, sj.Rate) {
			return fmt.Errorf("%w: stratum %q: %d features, %d coefficient tables, intercept %v", ErrBadModel, sj.Name, len(sj.Specs), len(sj.Coef), sj.Intercept)
		}
		sm := stratumModel{Name: sj.Name, Specs: sj.Specs, Intercept: sj.Intercept, Rows: sj.Rows, Rate: sj.Rate}
		for i, s := range sj.Specs {
			if err := checkSpec(s); err != nil {
				return err
			}
			m := make(map[string]float64, len(sj.Coef[i]))
			for _, c := range sj.Coef[i] {
				if !finite(c.Coef) {
					return fmt.Errorf("%w: feature %q level %q coefficient %v", ErrBadModel, s.Name, c.Level, c.Coef)
				}
				m[c.Level] = c.Coef
			}
			sm.Coef = append(sm.Coef, m)
		}
		out.Strata = append(out.Strata, sm)
	}
	if !rest {
		return fmt.Errorf("%w: no rest stratum %q", ErrBadModel, restStratum)
	}
	*bm = out
	return nil
}

func checkSpec(s FeatureSpec) error {
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
		if s.Slot < 0 || s.Slot > 1<<16 || !sort.Float64sAreSorted(s.Edges) || !finite(s.Edges...) {
			return fmt.Errorf("%w: feature %q slot %d or edges invalid", ErrBadModel, s.Name, s.Slot)
		}
	case KindMonth, KindWeekday:
	default:
		return fmt.Errorf("%w: feature %q has unknown kind %d", ErrBadModel, s.Name, s.Kind)
	}
	return nil
}
