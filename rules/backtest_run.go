package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/sync/errgroup"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// TaskBacktest is the job type that runs a stored backtest.
const TaskBacktest = "rules:backtest"

// BacktestRequest starts a backtest over stored events.
type BacktestRequest struct {
	// From and To bound the events' processing time (To exclusive); zero
	// means open.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Baseline is "active" (default) or a version number.
	Baseline string `json:"baseline,omitempty"`
	// Candidate is "draft" (default), "active", a version number, or
	// empty with Ruleset set.
	Candidate string `json:"candidate,omitempty"`
	// Ruleset is a candidate given inline (e.g. a YAML file from git,
	// parsed by the caller).
	Ruleset     *Ruleset `json:"ruleset,omitempty"`
	MaxExamples int      `json:"max_examples,omitempty"`
}

// Backtest statuses.
const (
	BacktestQueued    = "queued"
	BacktestRunning   = "running"
	BacktestDone      = "done"
	BacktestFailed    = "failed"
	BacktestCancelled = "cancelled"
)

type backtestRow struct {
	bun.BaseModel `bun:"table:rule_backtests"`

	ID              string     `bun:"id,pk"`
	Status          string     `bun:"status"`
	FromAt          *time.Time `bun:"from_at"`
	ToAt            *time.Time `bun:"to_at"`
	BaselineVersion int64      `bun:"baseline_version"`
	BaselineHash    string     `bun:"baseline_hash"`
	CandidateHash   string     `bun:"candidate_hash"`
	Candidate       string     `bun:"candidate"`
	Processed       int64      `bun:"processed"`
	PositionAt      *time.Time `bun:"position_at"`
	Report          string     `bun:"report"`
	Error           string     `bun:"error"`
	CancelRequested bool       `bun:"cancel_requested"`
	CreatedBy       string     `bun:"created_by"`
	CreatedAt       time.Time  `bun:"created_at"`
	StartedAt       *time.Time `bun:"started_at"`
	FinishedAt      *time.Time `bun:"finished_at"`
	HeartbeatAt     *time.Time `bun:"heartbeat_at"`
}

// BacktestRun is a stored backtest with its progress and report.
type BacktestRun struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	From            *time.Time `json:"from,omitempty"`
	To              *time.Time `json:"to,omitempty"`
	BaselineVersion int64      `json:"baseline_version"`
	BaselineHash    string     `json:"baseline_hash"`
	CandidateHash   string     `json:"candidate_hash"`
	Processed       int64      `json:"processed"`
	// Progress estimates the share of the time range replayed (0 to 1;
	// absent for an open range).
	Progress        *float64        `json:"progress,omitempty"`
	CancelRequested bool            `json:"cancel_requested"`
	Error           string          `json:"error,omitempty"`
	Report          *BacktestReport `json:"report,omitempty"`
	CreatedBy       string          `json:"created_by"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
}

func (r *backtestRow) decode(withReport bool) (*BacktestRun, error) {
	b := &BacktestRun{
		ID: r.ID, Status: r.Status, From: utcPtr(r.FromAt), To: utcPtr(r.ToAt), BaselineVersion: r.BaselineVersion,
		BaselineHash: r.BaselineHash, CandidateHash: r.CandidateHash, Processed: r.Processed, CancelRequested: r.CancelRequested,
		Error: r.Error, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt),
	}
	if r.FromAt != nil && r.ToAt != nil && r.PositionAt != nil {
		total := r.ToAt.Sub(*r.FromAt).Seconds()
		if total > 0 {
			p := min(max(r.PositionAt.Sub(*r.FromAt).Seconds()/total, 0), 1)
			b.Progress = &p
		}
	}
	if withReport && r.Report != "" {
		b.Report = &BacktestReport{}
		if err := json.Unmarshal([]byte(r.Report), b.Report); err != nil {
			return nil, fmt.Errorf("decode backtest %s report: %w", r.ID, err)
		}
	}
	return b, nil
}

// resolveSides compiles the baseline and the candidate of a request.
func (s *Service) resolveSides(ctx context.Context, req *BacktestRequest) (base, cand *Compiled, candContent *Ruleset, err error) {
	if req.Baseline == "" {
		req.Baseline = "active"
	}
	bn, err := s.resolveVersion(ctx, req.Baseline)
	if err != nil {
		return nil, nil, nil, err
	}
	bv, err := s.store.GetVersion(ctx, s.db.Read, bn)
	if err != nil {
		return nil, nil, nil, err
	}
	if base, err = s.compileVersion(bv); err != nil {
		return nil, nil, nil, err
	}
	switch {
	case req.Ruleset != nil:
		if req.Candidate != "" {
			return nil, nil, nil, apperr.Invalid("two candidates", apperr.FieldError{Field: "candidate", Message: "give either candidate or ruleset"})
		}
		candContent = req.Ruleset
	default:
		if req.Candidate == "" {
			req.Candidate = "draft"
		}
		if candContent, _, err = s.contentOf(ctx, req.Candidate); err != nil {
			return nil, nil, nil, err
		}
	}
	c, rep := s.compiled(candContent, CompileOptions{})
	if c == nil {
		return nil, nil, nil, invalid("the candidate ruleset does not compile", rep.Errors)
	}
	return base, c, c.Ruleset, nil
}

func (s *Service) checkRange(req *BacktestRequest) error {
	if !req.From.IsZero() && !req.To.IsZero() && !req.To.After(req.From) {
		return apperr.Invalid("empty range", apperr.FieldError{Field: "to", Message: "must be after from"})
	}
	if req.MaxExamples < 0 || req.MaxExamples > 1000 {
		return apperr.Invalid("invalid max_examples", apperr.FieldError{Field: "max_examples", Message: "must be between 0 and 1000"})
	}
	return nil
}

// StartBacktest stores a backtest and queues it (with q; without a queue
// it runs in a goroutine of this process).
func (s *Service) StartBacktest(ctx context.Context, q *queue.Queue, req BacktestRequest) (*BacktestRun, error) {
	if err := s.checkRange(&req); err != nil {
		return nil, err
	}
	base, cand, content, err := s.resolveSides(ctx, &req)
	if err != nil {
		return nil, err
	}
	cb, err := json.Marshal(struct {
		Ruleset     *Ruleset `json:"ruleset"`
		MaxExamples int      `json:"max_examples"`
	}{content, req.MaxExamples})
	if err != nil {
		return nil, fmt.Errorf("encode candidate: %w", err)
	}
	now := s.now()
	row := &backtestRow{ID: ids.At(now), Status: BacktestQueued, BaselineVersion: base.Version, BaselineHash: base.Hash,
		CandidateHash: cand.Hash, Candidate: string(cb), CreatedBy: Identity(ctx), CreatedAt: now}
	if !req.From.IsZero() {
		f := req.From.UTC()
		row.FromAt = &f
	}
	if !req.To.IsZero() {
		t := req.To.UTC()
		row.ToAt = &t
	}
	err = withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return fmt.Errorf("store backtest: %w", err)
		}
		if q != nil {
			if err := queue.Add(ctx, tx, queue.Job{Key: "rules:backtest:" + row.ID, Type: TaskBacktest, Payload: map[string]string{"id": row.ID},
				Queue: queue.QueueLow, MaxRetry: 3, Timeout: 2 * time.Hour}); err != nil {
				return err
			}
		}
		_, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "backtest.started", SubjectType: "backtest", SubjectID: row.ID,
			After: map[string]any{"baseline": base.Version, "candidate_hash": cand.Hash, "from": row.FromAt, "to": row.ToAt}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if q != nil {
		q.Kick()
	} else {
		go func() {
			if err := s.RunBacktest(context.WithoutCancel(ctx), row.ID); err != nil {
				s.log.Error("backtest", "id", row.ID, "err", err)
			}
		}()
	}
	return row.decode(false)
}

// HandleBacktest is the queue handler of TaskBacktest.
func (s *Service) HandleBacktest(ctx context.Context, d queue.Delivery) error {
	var p struct {
		ID string `json:"id"`
	}
	if err := d.Decode(&p); err != nil {
		return err
	}
	return s.RunBacktest(ctx, p.ID)
}

// RunBacktest runs a stored backtest to the end (idempotent: a finished
// one is left alone, an interrupted one starts over), recording progress
// every second or so and honouring cancellation requests.
func (s *Service) RunBacktest(ctx context.Context, id string) error {
	var row backtestRow
	if err := s.db.Read.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return queue.Permanent(notFound("backtest "+id, fmt.Errorf("load backtest %s: %w", id, err)))
	}
	switch row.Status {
	case BacktestDone, BacktestFailed, BacktestCancelled:
		return nil
	}
	finish := func(status, report, msg string, processed int64) error {
		now := s.now()
		_, err := s.db.NewUpdate().Model((*backtestRow)(nil)).Set("status = ?", status).Set("report = ?", report).
			Set("error = ?", msg).Set("processed = ?", processed).Set("finished_at = ?", now).Set("heartbeat_at = ?", now).
			Where("id = ?", id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("finish backtest %s: %w", id, err)
		}
		return nil
	}
	if row.CancelRequested {
		return finish(BacktestCancelled, "", "", 0)
	}
	var cand struct {
		Ruleset     *Ruleset `json:"ruleset"`
		MaxExamples int      `json:"max_examples"`
	}
	if err := json.Unmarshal([]byte(row.Candidate), &cand); err != nil || cand.Ruleset == nil {
		return queue.Permanent(finish(BacktestFailed, "", "stored candidate is unreadable", 0))
	}
	bv, err := s.store.GetVersion(ctx, s.db.Read, row.BaselineVersion)
	if err != nil {
		return err
	}
	base, err := s.compileVersion(bv)
	if err != nil {
		return queue.Permanent(finish(BacktestFailed, "", err.Error(), 0))
	}
	c, rep := s.compiled(cand.Ruleset, CompileOptions{})
	if c == nil {
		return queue.Permanent(finish(BacktestFailed, "", rep.Err().Error(), 0))
	}
	now := s.now()
	if _, err := s.db.NewUpdate().Model((*backtestRow)(nil)).Set("status = ?", BacktestRunning).Set("started_at = ?", now).
		Set("heartbeat_at = ?", now).Set("processed = 0").Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("start backtest %s: %w", id, err)
	}
	var from, to time.Time
	if row.FromAt != nil {
		from = *row.FromAt
	}
	if row.ToAt != nil {
		to = *row.ToAt
	}
	lastBeat := s.opts.Clock()
	progress := func(n int64, at time.Time) error {
		if s.opts.Clock().Sub(lastBeat) < time.Second {
			return nil
		}
		lastBeat = s.opts.Clock()
		var cancel bool
		if err := s.db.Read.NewSelect().Model((*backtestRow)(nil)).Column("cancel_requested").Where("id = ?", id).Scan(ctx, &cancel); err != nil {
			return fmt.Errorf("backtest %s heartbeat: %w", id, err)
		}
		if _, err := s.db.NewUpdate().Model((*backtestRow)(nil)).Set("processed = ?", n).Set("heartbeat_at = ?", s.now()).
			Set("position_at = ?", at.UTC()).Where("id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("backtest %s heartbeat: %w", id, err)
		}
		if cancel {
			return errCancelled
		}
		return nil
	}
	report, err := s.Backtest(ctx, base, c, from, to, cand.MaxExamples, progress)
	switch {
	case errors.Is(err, errCancelled):
		b, _ := json.Marshal(report)
		return finish(BacktestCancelled, string(b), "", report.Events)
	case err != nil && ctx.Err() != nil:
		return err // worker shutting down: the job is retried and starts over
	case err != nil:
		return finish(BacktestFailed, "", err.Error(), 0)
	}
	b, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("encode backtest report: %w", err)
	}
	return finish(BacktestDone, string(b), "", report.Events)
}

var errCancelled = errors.New("backtest cancelled")

// Backtest replays the stored events received in [from, to) through base
// and cand. Reading (database pages, JSON decoding) and evaluating run on
// two goroutines joined by a small bounded channel, so memory does not grow
// with the number of events. progress is called after each chunk; an error
// from it stops the run (the partial report is returned with errCancelled
// or the error).
func (s *Service) Backtest(ctx context.Context, base, cand *Compiled, from, to time.Time, maxExamples int,
	progress func(processed int64, at time.Time) error) (*BacktestReport, error) {
	bt := NewBacktester(base, cand, maxExamples, s.opts.Clock)
	const chunk = 256
	type job struct {
		seq int
		ins []*Input
	}
	type result struct {
		seq      int
		ins      []*Input
		rbs, rcs []*Record
	}
	jobs := make(chan job, 4)
	results := make(chan result, 4)
	g, gctx := errgroup.WithContext(ctx)
	// Reader: pages of stored events (intake decodes them), merged with the
	// stored Odoo contexts, cut into numbered chunks.
	g.Go(func() error {
		defer close(jobs)
		ctxs := &contextCursor{store: s.store, idb: s.db.Read}
		if !to.IsZero() {
			ctxs.upTo = ids.At(to)[:10] + "~"
		}
		seq := 0
		buf := make([]*Input, 0, chunk)
		send := func() error {
			select {
			case jobs <- job{seq: seq, ins: buf}:
				seq++
				buf = make([]*Input, 0, chunk)
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		err := s.opts.Events.StreamEvents(gctx, s.db.Read, intake.StreamFilter{From: from, To: to}, func(se *intake.StoredEvent) error {
			in := &Input{Event: se.Event, Shipment: se.Shipment}
			ec, err := ctxs.lookup(gctx, se.Event.ID)
			if err != nil {
				return err
			}
			if ec != nil {
				in.Order, in.Customer = ec.Order, ec.Customer
			}
			buf = append(buf, in)
			if len(buf) == chunk {
				return send()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(buf) > 0 {
			return send()
		}
		return nil
	})
	// Two evaluators (one per core), each comparing whole chunks.
	workers := 2
	var wg errgroup.Group
	for w := 0; w < workers; w++ {
		pair := bt.newPair()
		wg.Go(func() error {
			for j := range jobs {
				rbs, rcs, err := bt.evalChunk(pair, j.ins)
				if err != nil {
					return err
				}
				select {
				case results <- result{seq: j.seq, ins: j.ins, rbs: rbs, rcs: rcs}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		err := wg.Wait()
		close(results)
		return err
	})
	// Accumulate in input order (examples are the first changed events).
	g.Go(func() error {
		pending := map[int]result{}
		next := 0
		var done int64
		for r := range results {
			pending[r.seq] = r
			for {
				cur, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				for i := range cur.ins {
					bt.AddPair(cur.rbs[i], cur.rcs[i])
				}
				done += int64(len(cur.ins))
				if progress != nil {
					if err := progress(done, cur.ins[len(cur.ins)-1].EvalTime()); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	err := g.Wait()
	rep := bt.Report()
	if !from.IsZero() {
		f := from.UTC()
		rep.From = &f
	}
	if !to.IsZero() {
		t := to.UTC()
		rep.To = &t
	}
	if errors.Is(err, errCancelled) {
		rep.Cancelled = true
	}
	return rep, err
}

// contextCursor walks the stored Odoo contexts in event id order alongside
// the event stream (a merge join), a page at a time.
type contextCursor struct {
	store Store
	idb   bun.IDB
	upTo  string
	page  []evaluationRow
	i     int
	after string
	eof   bool
}

func (c *contextCursor) lookup(ctx context.Context, eventID string) (*EvalContext, error) {
	for {
		for c.i < len(c.page) && c.page[c.i].EventID < eventID {
			c.i++
		}
		if c.i < len(c.page) {
			if c.page[c.i].EventID != eventID {
				return nil, nil
			}
			var ec EvalContext
			if err := json.Unmarshal([]byte(c.page[c.i].Context), &ec); err != nil {
				return nil, fmt.Errorf("decode evaluation context %s: %w", eventID, err)
			}
			return &ec, nil
		}
		if c.eof {
			return nil, nil
		}
		if len(c.page) > 0 {
			c.after = c.page[len(c.page)-1].EventID
		} else if c.after == "" {
			// Start just before the first event we are asked about.
			c.after = eventID[:min(10, len(eventID))]
		}
		rows, err := c.store.contexts(ctx, c.idb, c.after, c.upTo, 1000)
		if err != nil {
			return nil, err
		}
		c.page, c.i = rows, 0
		if len(rows) < 1000 {
			c.eof = true
		}
		if len(rows) == 0 {
			return nil, nil
		}
	}
}

// GetBacktest returns a stored backtest with its report.
func (s *Service) GetBacktest(ctx context.Context, id string) (*BacktestRun, error) {
	var row backtestRow
	if err := s.db.Read.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound("backtest "+id, fmt.Errorf("get backtest %s: %w", id, err))
	}
	b, err := row.decode(true)
	if err != nil {
		return nil, err
	}
	if b.Status == BacktestDone {
		one := 1.0
		b.Progress = &one
	}
	return b, nil
}

// ListBacktests returns recent backtests without reports.
func (s *Service) ListBacktests(ctx context.Context, limit int) ([]*BacktestRun, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var rows []backtestRow
	if err := s.db.Read.NewSelect().Model(&rows).ExcludeColumn("report", "candidate").OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("list backtests: %w", err)
	}
	out := make([]*BacktestRun, len(rows))
	for i := range rows {
		b, err := rows[i].decode(false)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// CancelBacktest asks a queued or running backtest to stop.
func (s *Service) CancelBacktest(ctx context.Context, id string) (*BacktestRun, error) {
	err := withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var row backtestRow
		if err := tx.NewSelect().Model(&row).Column("id", "status").Where("id = ?", id).Scan(ctx); err != nil {
			return notFound("backtest "+id, fmt.Errorf("get backtest %s: %w", id, err))
		}
		if row.Status != BacktestQueued && row.Status != BacktestRunning {
			return apperr.Conflict(fmt.Sprintf("backtest %s is %s already", id, row.Status))
		}
		if _, err := tx.NewUpdate().Model((*backtestRow)(nil)).Set("cancel_requested = ?", true).Where("id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("cancel backtest %s: %w", id, err)
		}
		_, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{Action: "backtest.cancelled", SubjectType: "backtest", SubjectID: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetBacktest(ctx, id)
}

// BacktestNow runs a backtest synchronously without storing it (the CLI).
func (s *Service) BacktestNow(ctx context.Context, req BacktestRequest, progress func(processed int64, at time.Time) error) (*BacktestReport, error) {
	if err := s.checkRange(&req); err != nil {
		return nil, err
	}
	base, cand, _, err := s.resolveSides(ctx, &req)
	if err != nil {
		return nil, err
	}
	rep, err := s.Backtest(ctx, base, cand, req.From, req.To, req.MaxExamples, progress)
	rep.Baseline.Label = "v" + strconv.FormatInt(base.Version, 10)
	rep.Candidate.Label = req.Candidate
	if req.Ruleset != nil {
		rep.Candidate.Label = "file"
	}
	return rep, err
}
