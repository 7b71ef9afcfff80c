package eta

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// liveMagic starts every marshalled live model; the digit is the version.
const liveMagic = "YMETALIVE1\n"

type excDelayJSON struct {
	Category string
	Hours    float64
}

type liveWire struct {
	Now          time.Time
	HalfLife     time.Duration
	MinSupport   float64
	Trained      int
	Skipped      int
	ScanGapHours float64
	Keys         [nLevels][]uint64
	Hists        [nLevels][]hist
	Parent       [][2]uint64
	LMKeys       []uint64
	LMHists      []hist
	ExcDelay     []excDelayJSON
}

// MarshalBinary encodes the model: a magic line, then gob of slices only
// (exception delays sorted), so equal models give equal bytes.
func (m *LiveModel) MarshalBinary() ([]byte, error) {
	w := liveWire{
		Now: m.Opts.Now.UTC(), HalfLife: m.Opts.HalfLife, MinSupport: m.Opts.MinSupport,
		Trained: m.Trained, Skipped: m.Skipped, ScanGapHours: m.ScanGapHours,
		Keys: m.Keys, Hists: m.Hists, Parent: m.Parent, LMKeys: m.LMKeys, LMHists: m.LMHists,
	}
	for c, h := range m.ExcDelay {
		w.ExcDelay = append(w.ExcDelay, excDelayJSON{c, h})
	}
	slices.SortFunc(w.ExcDelay, func(a, b excDelayJSON) int { return strings.Compare(a.Category, b.Category) })
	var buf bytes.Buffer
	buf.WriteString(liveMagic)
	if err := gob.NewEncoder(&buf).Encode(&w); err != nil {
		return nil, fmt.Errorf("marshal live model: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary decodes a model written by MarshalBinary and checks every
// invariant Score relies on, so a corrupted row can never make scoring panic
// or return nonsense.
func (m *LiveModel) UnmarshalBinary(b []byte) error {
	if !bytes.HasPrefix(b, []byte(liveMagic)) {
		return fmt.Errorf("%w: not a live model (bad magic)", ErrBadModel)
	}
	var w liveWire
	if err := gob.NewDecoder(bytes.NewReader(b[len(liveMagic):])).Decode(&w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if w.MinSupport <= 0 || math.IsNaN(w.MinSupport) || math.IsInf(w.MinSupport, 0) || w.ScanGapHours < 0 || math.IsNaN(w.ScanGapHours) {
		return fmt.Errorf("%w: min support %v, scan gap %v", ErrBadModel, w.MinSupport, w.ScanGapHours)
	}
	checkHists := func(name string, keys []uint64, hs []hist) (map[uint64]int32, error) {
		if len(keys) != len(hs) {
			return nil, fmt.Errorf("%w: %s: %d keys for %d histograms", ErrBadModel, name, len(keys), len(hs))
		}
		idx := make(map[uint64]int32, len(keys))
		for i, k := range keys {
			if _, dup := idx[k]; dup {
				return nil, fmt.Errorf("%w: %s: duplicate key", ErrBadModel, name)
			}
			idx[k] = int32(i)
			h := &hs[i]
			if !(h.N >= 0) || math.IsInf(h.N, 0) {
				return nil, fmt.Errorf("%w: %s: count %v", ErrBadModel, name, h.N)
			}
			for _, v := range h.Bins {
				if !(v >= 0) || math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("%w: %s: bin %v", ErrBadModel, name, v)
				}
			}
		}
		return idx, nil
	}
	out := LiveModel{
		Opts:    LiveOptions{Now: w.Now, HalfLife: w.HalfLife, MinSupport: w.MinSupport},
		Trained: w.Trained, Skipped: w.Skipped, ScanGapHours: w.ScanGapHours,
		Keys: w.Keys, Hists: w.Hists, Parent: w.Parent, LMKeys: w.LMKeys, LMHists: w.LMHists,
		ExcDelay: map[string]float64{},
	}
	for l := 0; l < nLevels; l++ {
		idx, err := checkHists(levelNames[l], w.Keys[l], w.Hists[l])
		if err != nil {
			return err
		}
		out.index[l] = idx
	}
	if len(out.Keys[nLevels-1]) != 1 {
		return fmt.Errorf("%w: needs exactly one all-shipments histogram, has %d", ErrBadModel, len(out.Keys[nLevels-1]))
	}
	if len(w.Parent) != len(w.Keys[0]) {
		return fmt.Errorf("%w: %d lane parents for %d lanes", ErrBadModel, len(w.Parent), len(w.Keys[0]))
	}
	idx, err := checkHists("last mile", w.LMKeys, w.LMHists)
	if err != nil {
		return err
	}
	out.lmIndex = idx
	for _, e := range w.ExcDelay {
		if !(e.Hours >= 0) || math.IsInf(e.Hours, 0) {
			return fmt.Errorf("%w: exception delay %q %v", ErrBadModel, e.Category, e.Hours)
		}
		out.ExcDelay[e.Category] = e.Hours
	}
	out.finalize()
	*m = out
	return nil
}
