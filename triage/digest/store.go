package digest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Run kinds.
const (
	RunScheduled = "scheduled"
	RunManual    = "manual"
	RunImmediate = "immediate"
)

// Run statuses.
const (
	RunPending  = "pending"   // content not built yet
	RunSending  = "sending"   // deliveries in progress or waiting for a retry
	RunSent     = "sent"      // every delivery succeeded
	RunPartial  = "partial"   // retries exhausted; some deliveries succeeded
	RunFailed   = "failed"    // retries exhausted; nothing was delivered
	RunEmpty    = "empty"     // nothing to report and send_empty is off
	RunNoTarget = "no_target" // no channel had a target (e.g. no e-mail address)
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed" // permanently (or retries exhausted)
)

// Channel names.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
	ChannelOdoo    = "odoo"
)

type subscriptionRow struct {
	bun.BaseModel `bun:"table:digest_subscriptions"`

	ID               string     `bun:"id,pk"`
	Name             string     `bun:"name"`
	SubscriberKind   string     `bun:"subscriber_kind"`
	UserID           string     `bun:"user_id"`
	Team             string     `bun:"team"`
	TimeZone         string     `bun:"timezone"`
	Schedule         string     `bun:"schedule"`
	MinSeverity      string     `bun:"min_severity"`
	Customers        string     `bun:"customers"`
	Channels         string     `bun:"channels"`
	WebhookSecret    string     `bun:"webhook_secret"`
	SendEmpty        bool       `bun:"send_empty"`
	Immediate        string     `bun:"immediate"`
	ImmediateOn      bool       `bun:"immediate_on"`
	Enabled          bool       `bun:"enabled"`
	NextRunAt        *time.Time `bun:"next_run_at"`
	ScheduledThrough time.Time  `bun:"scheduled_through"`
	CoveredThrough   time.Time  `bun:"covered_through"`
	Version          int64      `bun:"version"`
	CreatedBy        string     `bun:"created_by"`
	CreatedAt        time.Time  `bun:"created_at"`
	UpdatedAt        time.Time  `bun:"updated_at"`
}

func (r *subscriptionRow) subscription() (Subscription, error) {
	s := Subscription{ID: r.ID, Name: r.Name, Subscriber: Subscriber{Kind: r.SubscriberKind, UserID: r.UserID, Team: r.Team},
		TimeZone: r.TimeZone, Schedule: r.Schedule, MinSeverity: Severity(r.MinSeverity), SendEmpty: r.SendEmpty, Enabled: r.Enabled,
		NextRunAt: utcPtr(r.NextRunAt), CoveredThrough: r.CoveredThrough.UTC(), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Customers), &s.Customers); err != nil {
		return s, fmt.Errorf("digest subscription %s customers: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Channels), &s.Channels); err != nil {
		return s, fmt.Errorf("digest subscription %s channels: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Immediate), &s.Immediate); err != nil {
		return s, fmt.Errorf("digest subscription %s immediate: %w", r.ID, err)
	}
	if s.Channels.Webhook != nil {
		s.Channels.Webhook.Secret = ""
		s.Channels.Webhook.HasSecret = r.WebhookSecret != ""
	}
	return s, nil
}

func toRow(s Subscription, sealedSecret string) (subscriptionRow, error) {
	ch := s.Channels
	if ch.Webhook != nil {
		w := *ch.Webhook
		w.Secret, w.HasSecret = "", false
		ch.Webhook = &w
	}
	cust, err := json.Marshal(s.Customers)
	if err != nil {
		return subscriptionRow{}, err
	}
	chans, err := json.Marshal(ch)
	if err != nil {
		return subscriptionRow{}, err
	}
	imm, err := json.Marshal(s.Immediate)
	if err != nil {
		return subscriptionRow{}, err
	}
	return subscriptionRow{ID: s.ID, Name: s.Name, SubscriberKind: s.Subscriber.Kind, UserID: s.Subscriber.UserID, Team: s.Subscriber.Team,
		TimeZone: s.TimeZone, Schedule: s.Schedule, MinSeverity: string(s.MinSeverity), Customers: string(cust), Channels: string(chans),
		WebhookSecret: sealedSecret, SendEmpty: s.SendEmpty, Immediate: string(imm), ImmediateOn: s.Immediate.Enabled && s.Enabled,
		Enabled: s.Enabled, NextRunAt: utcPtr(s.NextRunAt), CoveredThrough: s.CoveredThrough.UTC(), CreatedBy: s.CreatedBy,
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}, nil
}

// Run is one digest (scheduled, sent by hand, or an immediate notice).
type Run struct {
	bun.BaseModel `bun:"table:digest_runs"`

	ID             string     `bun:"id,pk" json:"id"`
	SubscriptionID string     `bun:"subscription_id" json:"subscription_id"`
	Kind           string     `bun:"kind" json:"kind"`
	ScheduledFor   time.Time  `bun:"scheduled_for" json:"scheduled_for"`
	PeriodStart    time.Time  `bun:"period_start" json:"period_start"`
	PeriodEnd      time.Time  `bun:"period_end" json:"period_end"`
	Status         string     `bun:"status" json:"status"`
	CaseCount      int        `bun:"case_count" json:"case_count"`
	CustomerCount  int        `bun:"customer_count" json:"customer_count"`
	Content        string     `bun:"content" json:"-"`
	Error          string     `bun:"error" json:"error,omitempty"`
	RequestedBy    string     `bun:"requested_by" json:"requested_by,omitempty"`
	CreatedAt      time.Time  `bun:"created_at" json:"created_at"`
	UpdatedAt      time.Time  `bun:"updated_at" json:"updated_at"`
	FinishedAt     *time.Time `bun:"finished_at" json:"finished_at,omitempty"`
}

// Delivery is one channel target of a run.
type Delivery struct {
	bun.BaseModel `bun:"table:digest_deliveries"`

	ID         string     `bun:"id,pk" json:"id"`
	RunID      string     `bun:"run_id" json:"run_id"`
	Channel    string     `bun:"channel" json:"channel"`
	Target     string     `bun:"target" json:"target"`
	Status     string     `bun:"status" json:"status"`
	Attempts   int        `bun:"attempts" json:"attempts"`
	LastError  string     `bun:"last_error" json:"last_error,omitempty"`
	ExternalID string     `bun:"external_id" json:"external_id,omitempty"`
	SentAt     *time.Time `bun:"sent_at" json:"sent_at,omitempty"`
	// LeaseUntil is set while a worker is sending (another worker leaves
	// the delivery alone until then).
	LeaseUntil *time.Time `bun:"lease_until" json:"-"`
	UpdatedAt  time.Time  `bun:"updated_at" json:"updated_at"`
}

// Attempt is one try of one delivery, with its outcome.
type Attempt struct {
	bun.BaseModel `bun:"table:digest_attempts"`

	ID         int64     `bun:"id,pk,autoincrement" json:"id"`
	DeliveryID string    `bun:"delivery_id" json:"delivery_id"`
	RunID      string    `bun:"run_id" json:"run_id"`
	Attempt    int       `bun:"attempt" json:"attempt"`
	At         time.Time `bun:"at" json:"at"`
	Outcome    string    `bun:"outcome" json:"outcome"` // sent | failed | permanent_failure
	Detail     string    `bun:"detail" json:"detail,omitempty"`
	DurationMS int64     `bun:"duration_ms" json:"duration_ms"`
}

// Attempt outcomes.
const (
	OutcomeSent      = "sent"
	OutcomeFailed    = "failed"    // will be retried
	OutcomePermanent = "permanent" // will not be retried
)

// store holds the package's SQL.
type store struct{}

func (store) getSubscriptionRow(ctx context.Context, idb bun.IDB, id string) (subscriptionRow, error) {
	var r subscriptionRow
	err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.NotFound("digest subscription "+id, err)
	}
	if err != nil {
		return r, fmt.Errorf("load digest subscription %s: %w", id, err)
	}
	return r, nil
}

func (store) getRun(ctx context.Context, idb bun.IDB, id string) (Run, error) {
	var r Run
	err := idb.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.NotFound("digest run "+id, err)
	}
	if err != nil {
		return r, fmt.Errorf("load digest run %s: %w", id, err)
	}
	return r, nil
}

func (store) deliveries(ctx context.Context, idb bun.IDB, runID string) ([]Delivery, error) {
	var ds []Delivery
	if err := idb.NewSelect().Model(&ds).Where("run_id = ?", runID).Order("channel", "target").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load deliveries of run %s: %w", runID, err)
	}
	return ds, nil
}

func (store) attempts(ctx context.Context, idb bun.IDB, runIDs []string) ([]Attempt, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	var as []Attempt
	if err := idb.NewSelect().Model(&as).Where("run_id IN (?)", bun.In(runIDs)).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load delivery attempts: %w", err)
	}
	return as, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
