package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// Processed is one newly stored event handed to the next stages inside the
// batch transaction: the event, the shipment state after applying it (a
// copy of its own), what it changed, and result fields the stages fill.
type Processed struct {
	Event    *Event
	Shipment *Shipment
	Change   Change
	Source   string
	// CaseID is set by triage when the event opened or updated a case; the
	// 202 response reports it.
	CaseID string
}

// Stage is a step after persistence (rules, triage). It runs set-wise over
// the batch inside the batch's transaction; an error fails the batch, which
// is then retried one delivery at a time so a bad item fails alone.
type Stage interface {
	Process(ctx context.Context, tx bun.IDB, batch []*Processed) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, tx bun.IDB, batch []*Processed) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, tx bun.IDB, batch []*Processed) error {
	return f(ctx, tx, batch)
}

// Stages runs stages in order.
type Stages []Stage

// Process runs every stage in order, stopping at the first error.
func (s Stages) Process(ctx context.Context, tx bun.IDB, batch []*Processed) error {
	for _, st := range s {
		if err := st.Process(ctx, tx, batch); err != nil {
			return err
		}
	}
	return nil
}

// AfterCommitter is implemented by stages that act once the batch has
// committed (e.g. kick the outbox dispatcher).
type AfterCommitter interface {
	AfterCommit(ctx context.Context, batch []*Processed)
}

// RecordStage is the default stage until rules and triage plug in: it only
// counts what passed through.
type RecordStage struct{}

// Process counts the batch.
func (RecordStage) Process(_ context.Context, _ bun.IDB, batch []*Processed) error {
	stageEvents.Add(float64(len(batch)))
	return nil
}

// Submission is one delivery for the pipeline: a webhook, an API request, a
// chunk of an import, or sweep-generated events.
type Submission struct {
	Source     string
	DeliveryID string   // provider id of the whole delivery ("" when none)
	Payload    *Payload // the raw delivery to keep (nil for imports and sweeps)
	Events     []*Event // normalised
	Unmapped   []UnmappedHit
}

// UnmappedHit is a code an event carried that the mappings did not know.
type UnmappedHit struct {
	Event    *Event
	Code     CodeRef
	Unmapped bool // nothing else mapped the event either
}

// EventResult is the outcome for one event of a submission.
type EventResult struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
	CaseID    string `json:"case_id,omitempty"`
}

// Result is the outcome of a submission.
type Result struct {
	// Duplicate is set when the provider delivery id was seen before: the
	// delivery caused nothing; Events repeats the first delivery's results.
	Duplicate bool          `json:"duplicate"`
	PayloadID string        `json:"payload_id,omitempty"`
	Events    []EventResult `json:"events"`
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("intake pipeline is closed")

// PipelineOptions configure a Pipeline.
type PipelineOptions struct {
	MaxBatch     int           // most events per transaction (default 256)
	MaxWait      time.Duration // longest wait to fill a batch once one delivery is queued (the service sets 2 ms; 0 = none)
	RecycleAfter time.Duration // tracking number reuse window (default 90 days)
	// Committers is how many batches may commit at once. SQLite has one
	// writer, so 1 there. On PostgreSQL one batch's database work (one
	// backend, one core) overlaps the next batch's gathering and Go work;
	// conflicts between them are retried delivery by delivery. They also
	// split the waiting deliveries into smaller batches, which cost more
	// per event, so more than the CPUs do not pay: on 2 cores two
	// committers carried 1.1 to 1.3 times the events of one once a batch's
	// database work had shrunk to six round trips (docs/BENCHMARKS.md,
	// Intake). Default on PostgreSQL: one per CPU, 2 to 4; never more than
	// db.BatchConns, the connections there are.
	Committers int
	Now        func() time.Time
	Log        *slog.Logger
}

// Pipeline persists deliveries with group commit: concurrent submissions are
// gathered into one batch (up to MaxBatch events or MaxWait), the batch is
// stored with set-wise statements in one transaction together with the work
// of the stages, and every submission is answered after that commit.
type Pipeline struct {
	db     *db.DB
	opts   PipelineOptions
	stages atomic.Pointer[Stages]
	in     chan *request
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	store  Store
}

type request struct {
	ctx  context.Context
	sub  *Submission
	res  *Result
	err  error
	done chan struct{}
	// set while processing
	dupOf   *request
	payload string
}

// NewPipeline starts a pipeline's committer. Close stops it.
func NewPipeline(d *db.DB, opts PipelineOptions) *Pipeline {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.MaxWait < 0 {
		opts.MaxWait = 0
	}
	if opts.RecycleAfter <= 0 {
		opts.RecycleAfter = 90 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = logx.Discard()
	}
	switch {
	case !d.IsPostgres():
		opts.Committers = 1
	case opts.Committers <= 0:
		opts.Committers = min(max(runtime.GOMAXPROCS(0), 2), db.BatchConns)
	default:
		// More committers than connections would only wait for one.
		opts.Committers = min(opts.Committers, db.BatchConns)
	}
	p := &Pipeline{db: d, opts: opts, in: make(chan *request, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	s := Stages{RecordStage{}}
	p.stages.Store(&s)
	var wg sync.WaitGroup
	for i := 0; i < opts.Committers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.loop() }()
	}
	go func() { wg.Wait(); close(p.done) }()
	return p
}

// SetStages replaces the stages after persistence (rules, triage). It may be
// called at any time; the next batch uses the new list.
func (p *Pipeline) SetStages(stages ...Stage) {
	s := Stages(append([]Stage{RecordStage{}}, stages...))
	p.stages.Store(&s)
}

// AddStage appends a stage.
func (p *Pipeline) AddStage(st Stage) {
	for {
		old := p.stages.Load()
		n := append(Stages{}, *old...)
		n = append(n, st)
		if p.stages.CompareAndSwap(old, &n) {
			return
		}
	}
}

// Close stops accepting submissions and waits for queued ones to finish.
func (p *Pipeline) Close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// Submit stores a delivery and returns after its batch committed.
func (p *Pipeline) Submit(ctx context.Context, sub *Submission) (*Result, error) {
	r := &request{ctx: context.WithoutCancel(ctx), sub: sub, done: make(chan struct{})}
	select {
	case <-p.stop:
		return nil, ErrClosed
	default:
	}
	select {
	case p.in <- r:
	case <-p.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		// The batch may still commit; the caller is gone either way.
		return nil, ctx.Err()
	}
}

// SubmitEvents normalises events of source (e.g. sweeps' synthetic events
// under SyntheticSource) and submits them as one delivery.
func (p *Pipeline) SubmitEvents(ctx context.Context, source string, evs []*Event) (*Result, error) {
	m := DefaultMappings()
	now := p.opts.Now().UTC()
	sub := &Submission{Source: source}
	for _, ev := range evs {
		ev.Source = source
		if source == SyntheticSource {
			ev.Synthetic = true
		}
		if ev.ReceivedAt.IsZero() {
			ev.ReceivedAt = now
		}
		ev.Carrier = NormalizeCarrier(ev.Carrier)
		ev.TrackingNumber = NormalizeTracking(ev.TrackingNumber)
		if ev.Carrier == "" || ev.TrackingNumber == "" || ev.OccurredAt.IsZero() {
			return nil, fmt.Errorf("submit events: carrier, tracking number and occurred_at are required")
		}
		missed := m.Normalize(ev, nil)
		for _, c := range missed {
			sub.Unmapped = append(sub.Unmapped, UnmappedHit{Event: ev, Code: c, Unmapped: ev.Unmapped})
		}
		sub.Events = append(sub.Events, ev)
	}
	return p.Submit(ctx, sub)
}

func (p *Pipeline) loop() {
	var timer *time.Timer
	for {
		var first *request
		select {
		case first = <-p.in:
		case <-p.stop:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-p.in:
					p.commit([]*request{r})
				default:
					return
				}
			}
		}
		batch := []*request{first}
		n := len(first.sub.Events)
		// Gather more deliveries until the batch is full, MaxWait has
		// passed, or no new delivery came for a short idle gap: waiting
		// longer than the senders' rhythm only adds latency.
		deadline := time.Now().Add(p.opts.MaxWait)
		idle := min(max(p.opts.MaxWait/5, 200*time.Microsecond), time.Millisecond)
	gather:
		for n < p.opts.MaxBatch {
			select {
			case r := <-p.in:
				batch = append(batch, r)
				n += len(r.sub.Events)
				continue
			default:
			}
			wait := min(idle, time.Until(deadline))
			if wait <= 0 {
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case r := <-p.in:
				if !timer.Stop() {
					<-timer.C
				}
				batch = append(batch, r)
				n += len(r.sub.Events)
			case <-timer.C:
				break gather
			}
		}
		p.commit(batch)
	}
}

// commit runs a batch in one transaction; when that fails, each delivery is
// retried in its own transaction so only the bad one fails.
func (p *Pipeline) commit(batch []*request) {
	start := time.Now()
	ctx := batch[0].ctx
	processed, err := p.runTx(ctx, batch)
	if err != nil && db.IsRetryable(err) {
		// Another committer or process stored the same delivery or event,
		// started the same shipment, or closed a disruption this batch
		// grouped under, at the same moment: run again to see it.
		processed, err = p.runTx(ctx, batch)
	}
	if err != nil && len(batch) > 1 {
		p.opts.Log.Warn("intake batch failed; retrying deliveries one by one", "deliveries", len(batch), "err", err)
		for _, r := range batch {
			pr, err := p.runTx(r.ctx, []*request{r})
			if err != nil && db.IsRetryable(err) {
				pr, err = p.runTx(r.ctx, []*request{r})
			}
			if err != nil {
				r.err = err
				continue
			}
			p.afterCommit(r.ctx, pr)
		}
	} else if err != nil {
		batch[0].err = err
	} else {
		p.afterCommit(ctx, processed)
	}
	pipelineSeconds.Observe(time.Since(start).Seconds())
	batchEvents.Observe(float64(countEvents(batch)))
	for _, r := range batch {
		if r.err == nil {
			r.observe()
		} else {
			rejected.WithLabelValues(r.sub.Source, "internal").Inc()
		}
		close(r.done)
	}
}

func countEvents(batch []*request) int {
	n := 0
	for _, r := range batch {
		n += len(r.sub.Events)
	}
	return n
}

func (p *Pipeline) afterCommit(ctx context.Context, processed []*Processed) {
	for _, st := range *p.stages.Load() {
		if ac, ok := st.(AfterCommitter); ok {
			ac.AfterCommit(ctx, processed)
		}
	}
}

func (r *request) observe() {
	if r.res == nil {
		return
	}
	for _, e := range r.res.Events {
		if e.Duplicate {
			duplicates.WithLabelValues(r.sub.Source).Inc()
		} else {
			accepted.WithLabelValues(r.sub.Source).Inc()
		}
	}
}

func (p *Pipeline) runTx(ctx context.Context, batch []*request) ([]*Processed, error) {
	for _, r := range batch {
		r.res, r.err, r.dupOf, r.payload = nil, nil, nil, ""
	}
	var processed []*Processed
	err := p.db.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		processed, err = p.process(ctx, tx, batch)
		return err
	})
	if err != nil {
		for _, r := range batch {
			r.res = nil
		}
		return nil, err
	}
	return processed, nil
}

// chunk splits keys for IN lists.
func chunk(keys []string, n int) [][]string {
	var out [][]string
	for len(keys) > n {
		out = append(out, keys[:n])
		keys = keys[n:]
	}
	if len(keys) > 0 {
		out = append(out, keys)
	}
	return out
}

func deliveryKey(source, id string) string { return source + ":" + id }

// The batch's dedup lookup: on PostgreSQL with the keys as arrays, so its
// text never changes (db.ScanPrepared); on SQLite with IN lists.
const (
	dedupLookupPG = `SELECT 'd' AS kind, key AS k, result AS v FROM intake_deliveries WHERE key = ANY($1::text[]) ` +
		`UNION ALL SELECT 'e' AS kind, dkey AS k, id AS v FROM intake_events WHERE dkey = ANY($2::text[])`
	dedupLookupSQLite = `SELECT 'd' AS kind, key AS k, result AS v FROM intake_deliveries WHERE key IN (?) ` +
		`UNION ALL SELECT 'e' AS kind, dkey AS k, id AS v FROM intake_events WHERE dkey IN (?)`
)

// shipmentsLookupPG is the batch's shipment lookup on PostgreSQL: the
// model's columns, the keys as one array, locked in key order (the same in
// every committer).
func shipmentsLookupPG(idb bun.IDB) (string, error) {
	cols, err := db.Columns(idb, (*shipmentRow)(nil))
	if err != nil {
		return "", err
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM intake_shipments WHERE ck = ANY($1::text[]) ORDER BY ck, generation FOR UPDATE", nil
}

// process is the batch transaction: delivery dedup, raw payloads, event
// dedup, shipment folding, event and shipment writes, unmapped tally,
// stages, delivery ids. Every write is one multi-row statement.
func (p *Pipeline) process(ctx context.Context, tx bun.Tx, batch []*request) ([]*Processed, error) {
	now := p.opts.Now().UTC()
	pg := tx.Dialect().Name().String() == "pg"

	// 1. Provider delivery ids: a delivery seen before (or earlier in this
	// batch) is a duplicate and causes nothing.
	byKey := map[string]*request{}
	var dkeys []string
	for _, r := range batch {
		if r.sub.DeliveryID == "" {
			continue
		}
		k := deliveryKey(r.sub.Source, r.sub.DeliveryID)
		if first, ok := byKey[k]; ok {
			r.dupOf = first
			continue
		}
		byKey[k] = r
		dkeys = append(dkeys, k)
	}
	dupDelivery := func(key, stored string) error {
		r := byKey[key]
		if r == nil {
			return nil
		}
		var res Result
		if err := json.Unmarshal([]byte(stored), &res); err != nil {
			return fmt.Errorf("decode stored delivery result: %w", err)
		}
		res.Duplicate = true
		for i := range res.Events {
			res.Events[i].Duplicate = true
		}
		r.res = &res
		delete(byKey, key)
		return nil
	}
	// Both dedup lookups in one round trip when the batch is small enough
	// (the usual case); otherwise one query per table and chunk.
	existing := map[string]string{}
	var allE []string
	seenE := map[string]bool{}
	for _, r := range batch {
		if r.dupOf != nil {
			continue
		}
		for _, ev := range r.sub.Events {
			k := ev.Source + ":" + ev.DedupKey
			if !seenE[k] {
				seenE[k] = true
				allE = append(allE, k)
			}
		}
	}
	prefetched := false
	if len(dkeys) > 0 && len(dkeys) <= 500 && len(allE) > 0 && len(allE) <= 500 {
		var rows []struct {
			Kind string `bun:"kind"`
			K    string `bun:"k"`
			V    string `bun:"v"`
		}
		var err error
		if pg {
			err = db.ScanPrepared(ctx, tx, &rows, dedupLookupPG, dkeys, allE)
		} else {
			err = tx.NewRaw(dedupLookupSQLite, bun.In(dkeys), bun.In(allE)).Scan(ctx, &rows)
		}
		if err != nil {
			return nil, fmt.Errorf("look up delivery ids and event dedup keys: %w", err)
		}
		for _, row := range rows {
			if row.Kind == "d" {
				if err := dupDelivery(row.K, row.V); err != nil {
					return nil, err
				}
			} else {
				existing[row.K] = row.V
			}
		}
		prefetched = true
	} else {
		for _, ks := range chunk(dkeys, 500) {
			var rows []deliveryRow
			if err := tx.NewSelect().Model(&rows).Where("key IN (?)", bun.In(ks)).Scan(ctx); err != nil {
				return nil, fmt.Errorf("look up delivery ids: %w", err)
			}
			for _, row := range rows {
				if err := dupDelivery(row.Key, row.Result); err != nil {
					return nil, err
				}
			}
		}
	}

	// 2. Raw payloads of the deliveries that go on.
	var payloads []payloadRow
	for _, r := range batch {
		if r.res != nil || r.dupOf != nil || r.sub.Payload == nil {
			continue
		}
		pl := r.sub.Payload
		if pl.ID == "" {
			pl.ID = ids.At(now)
		}
		r.payload = pl.ID
		hdrs, _ := json.Marshal(pl.Headers)
		payloads = append(payloads, payloadRow{ID: pl.ID, Source: r.sub.Source, DeliveryID: r.sub.DeliveryID,
			ReceivedAt: pl.ReceivedAt.UTC(), ContentType: pl.ContentType, Headers: string(hdrs), Body: pl.Body,
			BodyHash: pl.BodyHash, Size: pl.Size, EventCount: len(r.sub.Events)})
	}
	// Nothing later in the transaction reads the payloads: on PostgreSQL
	// they travel with the commit.
	if err := db.Insert(ctx, tx, payloads, db.InsertOptions{Defer: true}); err != nil {
		return nil, fmt.Errorf("store raw payloads: %w", err)
	}

	// 3. Event dedup: against the table and within the batch.
	type item struct {
		r   *request
		ev  *Event
		key string
	}
	results := map[*request][]EventResult{}
	firstByKey := map[string]*item{}
	var fresh []*item
	var ekeys []string
	var dupItems []*item
	for _, r := range batch {
		if r.res != nil || r.dupOf != nil {
			continue
		}
		results[r] = make([]EventResult, len(r.sub.Events))
		for _, ev := range r.sub.Events {
			if r.payload != "" {
				ev.PayloadID = r.payload
				ev.PayloadHash = r.sub.Payload.BodyHash
			}
			it := &item{r: r, ev: ev, key: ev.Source + ":" + ev.DedupKey}
			if _, ok := firstByKey[it.key]; ok {
				dupItems = append(dupItems, it)
				continue
			}
			firstByKey[it.key] = it
			fresh = append(fresh, it)
			ekeys = append(ekeys, it.key)
		}
	}
	for _, ks := range chunk(ekeys, 500) {
		if prefetched {
			break
		}
		var rows []struct {
			ID   string `bun:"id"`
			DKey string `bun:"dkey"`
		}
		if err := tx.NewSelect().Model((*eventRow)(nil)).Column("id", "dkey").Where("dkey IN (?)", bun.In(ks)).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("look up event dedup keys: %w", err)
		}
		for _, row := range rows {
			existing[row.DKey] = row.ID
		}
	}
	var newItems []*item
	for _, it := range fresh {
		if id, ok := existing[it.key]; ok {
			it.ev.ID = id
			dupItems = append(dupItems, it)
			continue
		}
		newItems = append(newItems, it)
	}

	// 4. Shipments: load every generation of the numbers involved, pick or
	// start one per event, fold the events in occurred order.
	ckSet := map[string]bool{}
	var cks []string
	for _, it := range newItems {
		k := shipmentKey(it.ev.Carrier, it.ev.TrackingNumber)
		if !ckSet[k] {
			ckSet[k] = true
			cks = append(cks, k)
		}
	}
	sort.Strings(cks) // lock order on PostgreSQL
	gens := map[string][]*Shipment{}
	for _, ks := range chunk(cks, 500) {
		var rows []shipmentRow
		var err error
		if pg {
			var q string
			if q, err = shipmentsLookupPG(tx); err == nil {
				err = db.ScanPrepared(ctx, tx, &rows, q, ks)
			}
		} else {
			err = tx.NewSelect().Model(&rows).Where("ck IN (?)", bun.In(ks)).OrderExpr("ck, generation").Scan(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("load shipments: %w", err)
		}
		for i := range rows {
			s, err := rows[i].decode()
			if err != nil {
				return nil, err
			}
			gens[rows[i].CK] = append(gens[rows[i].CK], s)
		}
	}
	sort.SliceStable(newItems, func(i, j int) bool {
		a, b := newItems[i].ev, newItems[j].ev
		ka, kb := shipmentKey(a.Carrier, a.TrackingNumber), shipmentKey(b.Carrier, b.TrackingNumber)
		if ka != kb {
			return ka < kb
		}
		return a.OccurredAt.Before(b.OccurredAt)
	})
	touched := map[string]*Shipment{}
	lastState := map[string][]byte{}
	var touchedOrder []*Shipment
	processed := make([]*Processed, 0, len(newItems))
	rows := make([]eventRow, 0, len(newItems))
	for _, it := range newItems {
		ev := it.ev
		k := shipmentKey(ev.Carrier, ev.TrackingNumber)
		sh, isNew := PickShipment(gens[k], ev, p.opts.RecycleAfter)
		ev.ID = ids.At(now)
		if isNew {
			gen := 1
			if g := gens[k]; len(g) > 0 {
				gen = g[len(g)-1].Generation + 1
			}
			sh = NewShipment(ids.At(now), ev, gen)
			gens[k] = append(gens[k], sh)
		}
		ch := sh.Apply(ev, now)
		ch.NewShipment = isNew && sh.EventCount == 1
		if touched[sh.ID] == nil {
			touched[sh.ID] = sh
			touchedOrder = append(touchedOrder, sh)
		}
		snap := sh.Clone()
		processed = append(processed, &Processed{Event: ev, Shipment: snap, Change: ch, Source: ev.Source})
		doc, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		state, err := json.Marshal(snap)
		if err != nil {
			return nil, fmt.Errorf("encode shipment state: %w", err)
		}
		lastState[sh.ID] = state
		change, _ := json.Marshal(ch)
		var reason string
		if ev.Exception != nil {
			reason = string(ev.Exception.Reason)
		}
		rows = append(rows, eventRow{ID: ev.ID, DKey: it.key, Source: ev.Source, ShipmentID: sh.ID, Carrier: ev.Carrier,
			TrackingNumber: ev.TrackingNumber, Status: string(ev.Status), Reason: reason, Activity: ev.Activity,
			OccurredAt: ev.OccurredAt.UTC(), ReceivedAt: ev.ReceivedAt.UTC(), Unmapped: ev.Unmapped, Synthetic: ev.Synthetic,
			PayloadID: ev.PayloadID, Doc: string(doc), ShipmentState: string(state), Change: string(change)})
		if ev.TZKnown && !ev.Synthetic {
			eventLag.WithLabelValues(ev.Source).Observe(ev.ReceivedAt.Sub(ev.OccurredAt).Seconds())
		}
	}
	// Nothing later in the transaction reads the events or the shipment
	// rows (the stages get them in memory): on PostgreSQL both travel with
	// the commit, two round trips fewer per batch. A unique violation (the
	// same event or shipment stored by another committer meanwhile) then
	// surfaces at the flush and fails the batch the same way.
	if err := db.Insert(ctx, tx, rows, db.InsertOptions{Defer: true}); err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	if len(touchedOrder) > 0 {
		srows := make([]*shipmentRow, 0, len(touchedOrder))
		for _, s := range touchedOrder {
			r, err := toShipmentRow(s, lastState[s.ID])
			if err != nil {
				return nil, err
			}
			srows = append(srows, r)
		}
		if err := db.Insert(ctx, tx, srows, db.InsertOptions{Suffix: shipmentUpsert, Defer: true}); err != nil {
			return nil, fmt.Errorf("store shipments: %w", err)
		}
	}

	// 5. Unmapped codes of new events.
	if err := p.tallyUnmapped(ctx, tx, batch, newItemsSet(newItems, func(it *item) *Event { return it.ev }), now); err != nil {
		return nil, err
	}

	// 6. The next stages, inside this transaction.
	if len(processed) > 0 {
		if err := p.stages.Load().Process(ctx, tx, processed); err != nil {
			return nil, fmt.Errorf("intake stage: %w", err)
		}
	}

	// 7. Results, and the delivery ids with them.
	caseOf := map[string]string{}
	for _, pr := range processed {
		if pr.CaseID != "" {
			caseOf[pr.Event.ID] = pr.CaseID
		}
	}
	isDup := map[*Event]bool{}
	for _, it := range dupItems {
		isDup[it.ev] = true
		if it.ev.ID == "" {
			it.ev.ID = firstByKey[it.key].ev.ID
		}
	}
	var drows []deliveryRow
	for _, r := range batch {
		if r.res != nil || r.dupOf != nil {
			continue
		}
		res := &Result{PayloadID: r.payload, Events: results[r]}
		for i, ev := range r.sub.Events {
			res.Events[i] = EventResult{ID: ev.ID, Duplicate: isDup[ev], CaseID: caseOf[ev.ID]}
		}
		r.res = res
		if r.sub.DeliveryID != "" {
			b, _ := json.Marshal(res)
			drows = append(drows, deliveryRow{Key: deliveryKey(r.sub.Source, r.sub.DeliveryID), ReceivedAt: now, PayloadID: r.payload, Result: string(b)})
		}
	}
	if err := db.Insert(ctx, tx, drows, db.InsertOptions{Defer: true}); err != nil {
		return nil, fmt.Errorf("store delivery ids: %w", err)
	}
	for _, r := range batch {
		if r.dupOf != nil {
			src := r.dupOf.res
			res := &Result{Duplicate: true, PayloadID: src.PayloadID, Events: make([]EventResult, len(src.Events))}
			for i, e := range src.Events {
				e.Duplicate = true
				res.Events[i] = e
			}
			r.res = res
		}
	}
	return processed, nil
}

// shipmentUpsert updates a stored shipment generation with the state the
// batch folded into it.
var shipmentUpsert = db.UpdateSet("id", []string{"status", "status_at", "first_seen_at", "last_event_at",
	"last_physical_scan_at", "promised_delivery", "estimated_delivery", "open_exceptions", "order_ref", "picking_ref",
	"event_count", "updated_at", "state"})

func newItemsSet[T any](items []T, ev func(T) *Event) map[*Event]bool {
	m := make(map[*Event]bool, len(items))
	for _, it := range items {
		m[ev(it)] = true
	}
	return m
}

// tallyUnmapped upserts the unmapped-code counts of the batch's new events.
func (p *Pipeline) tallyUnmapped(ctx context.Context, tx bun.Tx, batch []*request, isNew map[*Event]bool, now time.Time) error {
	agg := map[string]*unmappedRow{}
	var order []string
	for _, r := range batch {
		for _, h := range r.sub.Unmapped {
			if !isNew[h.Event] {
				continue
			}
			k := h.Event.Source + "\x1f" + h.Code.Table + "\x1f" + h.Code.Code
			row := agg[k]
			if row == nil {
				row = &unmappedRow{Source: h.Event.Source, CodeTable: h.Code.Table, Code: h.Code.Code, FirstSeenAt: now, LastSeenAt: now}
				agg[k] = row
				order = append(order, k)
			}
			row.Events++
			if h.Unmapped {
				row.Unmapped++
			}
			row.LastEventID = h.Event.ID
			if row.SampleText == "" && len(h.Event.RawText) <= 500 {
				row.SampleText = h.Event.RawText
			}
			unmappedCodes.WithLabelValues(h.Event.Source, h.Code.Table).Inc()
		}
	}
	if len(order) == 0 {
		return nil
	}
	sort.Strings(order)
	rows := make([]*unmappedRow, 0, len(order))
	for _, k := range order {
		rows = append(rows, agg[k])
	}
	_, err := tx.NewInsert().Model(&rows).On("CONFLICT (source, code_table, code) DO UPDATE").
		Set("events = ?TableAlias.events + EXCLUDED.events").
		Set("unmapped = ?TableAlias.unmapped + EXCLUDED.unmapped").
		Set("last_event_id = EXCLUDED.last_event_id").
		Set("last_seen_at = EXCLUDED.last_seen_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("tally unmapped codes: %w", err)
	}
	return nil
}
