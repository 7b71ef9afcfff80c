package intake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
)

// eventRow is a stored event: searchable columns, the event as JSON (doc),
// the shipment state as of the event and what the event changed.
type eventRow struct {
	bun.BaseModel `bun:"table:intake_events"`

	ID             string    `bun:"id,pk"`
	DKey           string    `bun:"dkey"`
	Source         string    `bun:"source"`
	ShipmentID     string    `bun:"shipment_id"`
	Carrier        string    `bun:"carrier"`
	TrackingNumber string    `bun:"tracking_number"`
	Status         string    `bun:"status"`
	Reason         string    `bun:"reason"`
	Activity       string    `bun:"activity"`
	OccurredAt     time.Time `bun:"occurred_at"`
	ReceivedAt     time.Time `bun:"received_at"`
	Unmapped       bool      `bun:"unmapped"`
	Synthetic      bool      `bun:"synthetic"`
	PayloadID      string    `bun:"payload_id"`
	Doc            string    `bun:"doc"`
	ShipmentState  string    `bun:"shipment_state"`
	Change         string    `bun:"change"`
}

type shipmentRow struct {
	bun.BaseModel `bun:"table:intake_shipments"`

	ID                 string     `bun:"id,pk"`
	CK                 string     `bun:"ck"`
	Carrier            string     `bun:"carrier"`
	TrackingNumber     string     `bun:"tracking_number"`
	Generation         int        `bun:"generation"`
	Status             string     `bun:"status"`
	StatusAt           *time.Time `bun:"status_at"`
	FirstSeenAt        time.Time  `bun:"first_seen_at"`
	LastEventAt        *time.Time `bun:"last_event_at"`
	LastPhysicalScanAt *time.Time `bun:"last_physical_scan_at"`
	PromisedDelivery   *time.Time `bun:"promised_delivery"`
	EstimatedDelivery  *time.Time `bun:"estimated_delivery"`
	OpenExceptions     int        `bun:"open_exceptions"`
	OrderRef           string     `bun:"order_ref"`
	PickingRef         string     `bun:"picking_ref"`
	EventCount         int        `bun:"event_count"`
	UpdatedAt          time.Time  `bun:"updated_at"`
	State              string     `bun:"state"`
}

type payloadRow struct {
	bun.BaseModel `bun:"table:intake_payloads"`

	ID          string    `bun:"id,pk"`
	Source      string    `bun:"source"`
	DeliveryID  string    `bun:"delivery_id"`
	ReceivedAt  time.Time `bun:"received_at"`
	ContentType string    `bun:"content_type"`
	Headers     string    `bun:"headers"`
	Body        []byte    `bun:"body"`
	BodyHash    string    `bun:"body_hash"`
	Size        int       `bun:"size"`
	EventCount  int       `bun:"event_count"`
	Rejected    int       `bun:"rejected"`
}

type deliveryRow struct {
	bun.BaseModel `bun:"table:intake_deliveries"`

	Key        string    `bun:"key,pk"`
	ReceivedAt time.Time `bun:"received_at"`
	PayloadID  string    `bun:"payload_id"`
	Result     string    `bun:"result"`
}

type unmappedRow struct {
	bun.BaseModel `bun:"table:intake_unmapped"`

	Source      string    `bun:"source,pk" json:"source"`
	CodeTable   string    `bun:"code_table,pk" json:"table"`
	Code        string    `bun:"code,pk" json:"code"`
	Events      int       `bun:"events" json:"events"`
	Unmapped    int       `bun:"unmapped" json:"unmapped_events"`
	SampleText  string    `bun:"sample_text" json:"sample_text,omitempty"`
	LastEventID string    `bun:"last_event_id" json:"last_event_id"`
	FirstSeenAt time.Time `bun:"first_seen_at" json:"first_seen_at"`
	LastSeenAt  time.Time `bun:"last_seen_at" json:"last_seen_at"`
}

// UnmappedCode is one raw code the mappings did not know, with how often it
// came. Events counts events that carried it; UnmappedEvents those of them
// that nothing else mapped either (the rest fell back to a parent table).
type UnmappedCode = unmappedRow

func shipmentKey(carrier, tn string) string { return carrier + ":" + tn }

// toShipmentRow builds the row; state is the shipment's JSON when the
// caller has it already (nil: encoded here).
func toShipmentRow(s *Shipment, state []byte) (*shipmentRow, error) {
	b := state
	if b == nil {
		var err error
		if b, err = json.Marshal(s); err != nil {
			return nil, fmt.Errorf("encode shipment %s: %w", s.ID, err)
		}
	}
	tp := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return &shipmentRow{
		ID: s.ID, CK: shipmentKey(s.Carrier, s.TrackingNumber), Carrier: s.Carrier, TrackingNumber: s.TrackingNumber,
		Generation: s.Generation, Status: string(s.Status), StatusAt: tp(s.StatusAt), FirstSeenAt: s.FirstSeenAt.UTC(),
		LastEventAt: tp(s.LastEventAt), LastPhysicalScanAt: s.LastPhysicalScanAt, PromisedDelivery: s.PromisedDelivery,
		EstimatedDelivery: s.EstimatedDelivery, OpenExceptions: len(s.OpenExceptions), OrderRef: s.OrderRef,
		PickingRef: s.PickingRef, EventCount: s.EventCount, UpdatedAt: s.UpdatedAt.UTC(), State: string(b),
	}, nil
}

func (r *shipmentRow) decode() (*Shipment, error) {
	var s Shipment
	if err := json.Unmarshal([]byte(r.State), &s); err != nil {
		return nil, fmt.Errorf("decode shipment %s: %w", r.ID, err)
	}
	return &s, nil
}

// StoredEvent is an event with the shipment state as of it and what it
// changed, as the read API and the backtest stream return it.
type StoredEvent struct {
	Event    *Event    `json:"event"`
	Shipment *Shipment `json:"shipment"`
	Change   Change    `json:"change"`
}

func (r *eventRow) decode() (*StoredEvent, error) {
	se := &StoredEvent{Event: &Event{}, Shipment: &Shipment{}}
	if err := json.Unmarshal([]byte(r.Doc), se.Event); err != nil {
		return nil, fmt.Errorf("decode event %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.ShipmentState), se.Shipment); err != nil {
		return nil, fmt.Errorf("decode event %s shipment state: %w", r.ID, err)
	}
	if r.Change != "" {
		if err := json.Unmarshal([]byte(r.Change), &se.Change); err != nil {
			return nil, fmt.Errorf("decode event %s change: %w", r.ID, err)
		}
	}
	return se, nil
}

// Store reads intake's tables. Methods take the connection to use (the
// read pool, or a transaction).
type Store struct{}

// GetEvent returns one event with its shipment state as of it.
func (Store) GetEvent(ctx context.Context, idb bun.IDB, id string) (*StoredEvent, error) {
	var r eventRow
	if err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("event "+id, err)
		}
		return nil, fmt.Errorf("get event %s: %w", id, err)
	}
	return r.decode()
}

// GetShipment returns a shipment's current state.
func (Store) GetShipment(ctx context.Context, idb bun.IDB, id string) (*Shipment, error) {
	var r shipmentRow
	if err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("shipment "+id, err)
		}
		return nil, fmt.Errorf("get shipment %s: %w", id, err)
	}
	return r.decode()
}

// ShipmentFilter selects shipments for listing.
type ShipmentFilter struct {
	Carrier        string
	TrackingNumber string
	Status         Status
	OrderRef       string
	After          string // cursor: shipment id
	Limit          int
}

// ListShipments lists shipments, newest first generation per number, by id.
func (Store) ListShipments(ctx context.Context, idb bun.IDB, f ShipmentFilter) ([]*Shipment, error) {
	var rows []shipmentRow
	if err := shipmentListQuery(idb, f, &rows).Scan(ctx); err != nil {
		return nil, fmt.Errorf("list shipments: %w", err)
	}
	out := make([]*Shipment, 0, len(rows))
	for i := range rows {
		s, err := rows[i].decode()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func shipmentListQuery(idb bun.IDB, f ShipmentFilter, rows *[]shipmentRow) *bun.SelectQuery {
	q := idb.NewSelect().Model(rows).OrderExpr("id DESC")
	switch {
	case f.Carrier != "" && f.TrackingNumber != "":
		// The shipment key index: carrier and number are its prefix.
		q = q.Where("ck = ?", shipmentKey(NormalizeCarrier(f.Carrier), NormalizeTracking(f.TrackingNumber)))
	case f.Carrier != "":
		q = q.Where("carrier = ?", NormalizeCarrier(f.Carrier))
	case f.TrackingNumber != "":
		q = q.Where("tracking_number = ?", NormalizeTracking(f.TrackingNumber))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.OrderRef != "" {
		// The order index holds only rows with a reference; SQLite uses a
		// partial index only when the query repeats its condition.
		q = q.Where("order_ref = ?", f.OrderRef).Where("order_ref <> ''")
	}
	if f.After != "" {
		q = q.Where("id < ?", f.After)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return q.Limit(int64(f.Limit))
}

// ShipmentEvents returns a shipment's events in the order they happened.
func (Store) ShipmentEvents(ctx context.Context, idb bun.IDB, shipmentID string, limit int) ([]*Event, error) {
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	var docs []string
	if err := idb.NewSelect().Model((*eventRow)(nil)).Column("doc").Where("shipment_id = ?", shipmentID).
		OrderExpr("occurred_at, id").Limit(int64(limit)).Scan(ctx, &docs); err != nil {
		return nil, fmt.Errorf("events of shipment %s: %w", shipmentID, err)
	}
	out := make([]*Event, 0, len(docs))
	for _, d := range docs {
		var e Event
		if err := json.Unmarshal([]byte(d), &e); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		out = append(out, &e)
	}
	return out, nil
}

// Payload is a stored raw delivery.
type Payload struct {
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	DeliveryID  string            `json:"delivery_id,omitempty"`
	ReceivedAt  time.Time         `json:"received_at"`
	ContentType string            `json:"content_type,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	BodyHash    string            `json:"body_hash"`
	Size        int               `json:"size"`
	Retained    bool              `json:"retained"`
	Body        []byte            `json:"-"`
}

// GetPayload returns a stored payload's metadata (and body while retained).
func (Store) GetPayload(ctx context.Context, idb bun.IDB, id string) (*Payload, error) {
	var r payloadRow
	if err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("payload "+id, err)
		}
		return nil, fmt.Errorf("get payload %s: %w", id, err)
	}
	p := &Payload{ID: r.ID, Source: r.Source, DeliveryID: r.DeliveryID, ReceivedAt: r.ReceivedAt, ContentType: r.ContentType,
		BodyHash: r.BodyHash, Size: r.Size, Body: r.Body, Retained: r.Body != nil}
	_ = json.Unmarshal([]byte(r.Headers), &p.Headers)
	return p, nil
}

// ListUnmapped lists unknown raw codes, most frequent first.
func (Store) ListUnmapped(ctx context.Context, idb bun.IDB, source string, limit int) ([]UnmappedCode, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	var rows []unmappedRow
	q := idb.NewSelect().Model(&rows).OrderExpr("events DESC, source, code_table, code").Limit(int64(limit))
	if source != "" {
		q = q.Where("source = ?", source)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list unmapped codes: %w", err)
	}
	return rows, nil
}

// StreamFilter bounds a stream of stored events.
type StreamFilter struct {
	From, To time.Time // received between From (inclusive) and To (exclusive); zero = open
	Sources  []string
}

// StreamEvents calls fn for each stored event in processing order (the
// order the pipeline applied them, which is id order) with the shipment
// state as of that event — what rules saw. It pages through the table, so
// memory stays bounded whatever the range. fn returning an error stops it.
func (Store) StreamEvents(ctx context.Context, idb bun.IDB, f StreamFilter, fn func(*StoredEvent) error) error {
	const page = 500
	after := ""
	if !f.From.IsZero() {
		// The floor (zero entropy) sorts before every real id of that
		// millisecond, so "id > floor" includes them.
		after = ids.Floor(f.From)
	}
	upper := ""
	if !f.To.IsZero() {
		upper = ids.Floor(f.To)
	}
	for {
		var rows []eventRow
		q := idb.NewSelect().Model(&rows).OrderExpr("id").Limit(page)
		if after != "" {
			q = q.Where("id > ?", after)
		}
		if upper != "" {
			q = q.Where("id < ?", upper)
		}
		if len(f.Sources) > 0 {
			q = q.Where("source IN (?)", bun.In(f.Sources))
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("stream events: %w", err)
		}
		for i := range rows {
			se, err := rows[i].decode()
			if err != nil {
				return err
			}
			if err := fn(se); err != nil {
				return err
			}
		}
		if len(rows) < page {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// Prune deletes provider delivery ids older than dedupRetention and raw
// bodies older than payloadRetention (the payload row and its hash stay,
// so events keep their reference). It returns the rows affected.
func (Store) Prune(ctx context.Context, idb bun.IDB, now time.Time, dedupRetention, payloadRetention time.Duration) (int, error) {
	n := 0
	res, err := idb.NewDelete().Model((*deliveryRow)(nil)).Where("received_at < ?", now.Add(-dedupRetention).UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune delivery ids: %w", err)
	}
	if c, err := res.RowsAffected(); err == nil {
		n += int(c)
	}
	res, err = idb.NewUpdate().Model((*payloadRow)(nil)).Set("body = NULL").
		Where("received_at < ?", now.Add(-payloadRetention).UTC()).Where("body IS NOT NULL").Exec(ctx)
	if err != nil {
		return n, fmt.Errorf("prune payload bodies: %w", err)
	}
	if c, err := res.RowsAffected(); err == nil {
		n += int(c)
	}
	return n, nil
}
