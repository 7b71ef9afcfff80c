package opsview

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Delivery is one stored webhook or API delivery of a source, without its
// body: when it came, how big it was, how many events it held and how many
// items in it were rejected.
type Delivery struct {
	bun.BaseModel `bun:"table:intake_payloads"`

	ID          string    `bun:"id"`
	Source      string    `bun:"source"`
	DeliveryID  string    `bun:"delivery_id"`
	ReceivedAt  time.Time `bun:"received_at"`
	ContentType string    `bun:"content_type"`
	Size        int       `bun:"size"`
	EventCount  int       `bun:"event_count"`
	Rejected    int       `bun:"rejected"`
}

// Outcome summarizes a delivery for operators.
func (d Delivery) Outcome() string {
	switch {
	case d.EventCount == 0 && d.Rejected > 0:
		return "rejected"
	case d.Rejected > 0:
		return "partly rejected"
	case d.EventCount == 0:
		return "nothing to store"
	default:
		return "accepted"
	}
}

// RecentDeliveries returns a source's newest stored deliveries.
func RecentDeliveries(ctx context.Context, idb bun.IDB, source string, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var out []Delivery
	err := idb.NewSelect().Model(&out).Column("id", "source", "delivery_id", "received_at", "content_type", "size", "event_count", "rejected").
		Where("source = ?", source).Order("received_at DESC").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("opsview: recent deliveries of %s: %w", source, err)
	}
	return out, nil
}
