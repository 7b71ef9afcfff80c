package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// Filter selects entries. Zero fields match everything.
type Filter struct {
	From, To    time.Time // [From, To)
	SubjectType string
	SubjectID   string
	ActorID     string
	Action      string
	AfterSeq    int64 // cursor: entries with seq greater than this
	BeforeSeq   int64 // cursor for newest-first listing: seq less than this
}

func (f Filter) apply(q *bun.SelectQuery) *bun.SelectQuery {
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	if f.SubjectType != "" {
		q = q.Where("subject_type = ?", f.SubjectType)
	}
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.ActorID != "" {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.AfterSeq > 0 {
		q = q.Where("seq > ?", f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	return q
}

// List returns up to limit entries, newest first.
func List(ctx context.Context, idb bun.IDB, f Filter, limit int) ([]Entry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []Entry
	err := f.apply(idb.NewSelect().Model(&out)).Order("seq DESC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// ForSubject returns every entry of one subject, oldest first.
func ForSubject(ctx context.Context, idb bun.IDB, subjectType, subjectID string) ([]Entry, error) {
	var out []Entry
	err := idb.NewSelect().Model(&out).Where("subject_type = ? AND subject_id = ?", subjectType, subjectID).
		Order("seq").Limit(10000).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: entries of %s %s: %w", subjectType, subjectID, err)
	}
	return out, nil
}

// Export streams matching entries oldest first to w as "jsonl" or "csv",
// page by page, and returns how many it wrote.
func Export(ctx context.Context, idb bun.IDB, f Filter, format string, w io.Writer) (int, error) {
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	switch format {
	case "jsonl":
	case "csv":
		cw = csv.NewWriter(w)
		if err := cw.Write([]string{"seq", "id", "at", "actor_type", "actor_id", "actor_name", "action", "subject_type",
			"subject_id", "before", "after", "detail", "request_id", "prev_hash", "hash"}); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("audit: unknown export format %q (want jsonl or csv)", format)
	}
	n := 0
	for {
		var batch []Entry
		if err := f.apply(idb.NewSelect().Model(&batch)).Order("seq").Limit(1000).Scan(ctx); err != nil {
			return n, fmt.Errorf("audit: export: %w", err)
		}
		for _, e := range batch {
			var err error
			if cw != nil {
				err = cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.ID, e.At.UTC().Format(time.RFC3339Nano), e.ActorType,
					e.ActorID, e.ActorName, e.Action, e.SubjectType, e.SubjectID, e.Before, e.After, e.Detail, e.RequestID, e.PrevHash, e.Hash})
			} else {
				err = enc.Encode(e)
			}
			if err != nil {
				return n, fmt.Errorf("audit: export write: %w", err)
			}
			n++
		}
		if len(batch) < 1000 {
			break
		}
		f.AfterSeq = batch[len(batch)-1].Seq
	}
	if cw != nil {
		cw.Flush()
		return n, cw.Error()
	}
	return n, nil
}
