package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// ImportOptions configure Service.Import.
type ImportOptions struct {
	Source string
	Format string            // "jsonl" or "csv"
	Rename map[string]string // CSV: their header → our column
	Ignore []string          // CSV: headers to skip
	Chunk  int               // events per transaction (default 500)
	// OnReject is called for every rejected line as it is found (the
	// summary keeps only the first MaxRejectsKept).
	OnReject func(ImportReject)
}

// ImportReject is a rejected line and why.
type ImportReject struct {
	Line   int                 `json:"line"`
	Errors []apperr.FieldError `json:"errors"`
}

// MaxRejectsKept bounds the rejects held in an ImportSummary.
const MaxRejectsKept = 1000

// ImportSummary is what an import did.
type ImportSummary struct {
	Source     string         `json:"source"`
	Lines      int            `json:"lines"`
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   int            `json:"rejected"`
	Reasons    map[string]int `json:"rejected_by_reason,omitempty"`
	Rejects    []ImportReject `json:"rejects,omitempty"`
	Elapsed    float64        `json:"elapsed_seconds"`
}

// rejectReason groups a field error for the summary: the field and the
// message up to the first quoted value.
func rejectReason(e apperr.FieldError) string {
	msg := e.Message
	if i := strings.IndexAny(msg, `"`); i > 0 {
		msg = strings.TrimSpace(msg[:i]) + " …"
	}
	return e.Field + ": " + msg
}

// Import streams an import file through the pipeline in chunks (one
// transaction each), so memory stays bounded by the chunk size whatever the
// file size. Lines are attributed to the source, deduplicated like any
// delivery, and rejected lines are reported with their numbers.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportSummary, error) {
	start := time.Now()
	src, err := s.Registry.Get(ctx, opts.Source)
	if err != nil {
		return nil, err
	}
	if src.Status != SourceActive {
		return nil, apperr.Conflict("source " + src.Name + " is disabled")
	}
	var overlay *Mappings
	if len(src.Settings.Mappings) > 0 {
		if overlay, err = NewOverlay(DefaultMappings(), src.Settings.Mappings); err != nil {
			return nil, err
		}
	}
	var reader ItemReader
	switch opts.Format {
	case "jsonl", "ndjson", "":
		reader = NewJSONLReader(r, src.Name, s.Now)
	case "csv":
		if reader, err = NewCSVReader(r, src.Name, s.Now, opts.Rename, opts.Ignore); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown import format %q (want jsonl or csv)", opts.Format)
	}
	if opts.Chunk <= 0 {
		opts.Chunk = 500
	}
	sum := &ImportSummary{Source: src.Name, Reasons: map[string]int{}}
	var chunk []*Event
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		res, err := s.SubmitImported(ctx, src, overlay, chunk)
		if err != nil {
			return err
		}
		for _, e := range res.Events {
			if e.Duplicate {
				sum.Duplicates++
			} else {
				sum.Accepted++
			}
		}
		chunk = chunk[:0]
		return nil
	}
	for {
		it, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Lines++
		if len(it.Errors) > 0 {
			sum.Rejected++
			rj := ImportReject{Line: it.Line, Errors: it.Errors}
			if len(sum.Rejects) < MaxRejectsKept {
				sum.Rejects = append(sum.Rejects, rj)
			}
			for _, e := range it.Errors {
				k := rejectReason(e)
				if _, ok := sum.Reasons[k]; ok || len(sum.Reasons) < 200 {
					sum.Reasons[k]++
				}
			}
			if opts.OnReject != nil {
				opts.OnReject(rj)
			}
			continue
		}
		chunk = append(chunk, it.Event)
		if len(chunk) >= opts.Chunk {
			if err := flush(); err != nil {
				return sum, err
			}
		}
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start).Seconds()
	return sum, nil
}

// TopReasons returns the summary's reasons, most frequent first.
func (s *ImportSummary) TopReasons() []string {
	type kv struct {
		k string
		n int
	}
	var xs []kv
	for k, n := range s.Reasons {
		xs = append(xs, kv{k, n})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].n > xs[j].n || (xs[i].n == xs[j].n && xs[i].k < xs[j].k) })
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%6d  %s", x.n, x.k)
	}
	return out
}
