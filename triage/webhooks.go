package triage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// Outbound case events, signed per Standard Webhooks
// (https://www.standardwebhooks.com): each delivery carries webhook-id
// (the message id, the same on every retry), webhook-timestamp (Unix
// seconds) and webhook-signature ("v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", two signatures while a rotated secret overlaps).
// Deliveries are written in the transaction of the change and sent by a
// worker with retries and backoff; after the last attempt they are dead
// letters a person can replay.

// Event types sent to subscribers.
const (
	EventCaseOpened      = "case.opened"
	EventCaseUpdated     = "case.updated"
	EventCaseResolved    = "case.resolved" // resolved or dismissed (data.case.state says which)
	EventActionSucceeded = "action.succeeded"
	EventActionFailed    = "action.failed"
	EventPing            = "ping"
)

// EventTypes lists the types a subscription may name ("*" for all).
var EventTypes = []string{EventCaseOpened, EventCaseUpdated, EventCaseResolved, EventActionSucceeded, EventActionFailed}

// TaskWebhookDeliver sends one delivery (payload WebhookJob).
const TaskWebhookDeliver = "triage:webhook_deliver"

// SecretOverlap is how long a rotated-out secret still signs deliveries.
const SecretOverlap = 24 * time.Hour

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Subscription is a subscriber's endpoint.
type Subscription struct {
	bun.BaseModel `bun:"table:triage_webhook_subscriptions" json:"-"`

	ID            string     `bun:"id,pk" json:"id"`
	URL           string     `bun:"url" json:"url"`
	Description   string     `bun:"description" json:"description,omitempty"`
	Events        StringSet  `bun:"events,type:text" json:"events"`
	Secret        string     `bun:"secret" json:"-"`
	PrevSecret    string     `bun:"prev_secret" json:"-"`
	PrevExpiresAt *time.Time `bun:"prev_expires_at" json:"previous_secret_expires_at,omitempty"`
	Active        bool       `bun:"active" json:"active"`
	CreatedBy     string     `bun:"created_by" json:"created_by,omitempty"`
	CreatedAt     time.Time  `bun:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at" json:"updated_at"`
}

func (s *Subscription) wants(typ string) bool {
	for _, e := range s.Events {
		if e == "*" || e == typ {
			return true
		}
	}
	return false
}

// Delivery is one event sent (or to be sent) to one subscription.
type Delivery struct {
	bun.BaseModel `bun:"table:triage_webhook_deliveries" json:"-"`

	ID             string     `bun:"id,pk" json:"id"`
	SubscriptionID string     `bun:"subscription_id" json:"subscription_id"`
	MessageID      string     `bun:"message_id" json:"message_id"`
	EventType      string     `bun:"event_type" json:"event_type"`
	SubjectID      string     `bun:"subject_id" json:"subject_id,omitempty"`
	Payload        RawJSON    `bun:"payload,type:text" json:"payload"`
	State          string     `bun:"state" json:"state"`
	Attempts       int        `bun:"attempts" json:"attempts"`
	Replays        int        `bun:"replays" json:"replays"`
	LastStatus     int        `bun:"last_status" json:"last_status,omitempty"`
	LastError      string     `bun:"last_error" json:"last_error,omitempty"`
	CreatedAt      time.Time  `bun:"created_at" json:"created_at"`
	LastAttemptAt  *time.Time `bun:"last_attempt_at" json:"last_attempt_at,omitempty"`
	DeliveredAt    *time.Time `bun:"delivered_at" json:"delivered_at,omitempty"`
	DeadAt         *time.Time `bun:"dead_at" json:"dead_at,omitempty"`
}

// WebhookJob is the payload of TaskWebhookDeliver.
type WebhookJob struct {
	DeliveryID string `json:"delivery_id"`
	Replay     int    `json:"replay"`
}

// notice is an outbound event a change causes.
type notice struct {
	typ      string
	subject  string
	parentID string // a child of a disruption: suppressed while the parent is live
	data     map[string]any
}

// WebhookEvent is the body of every delivery.
type WebhookEvent struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// CaseEventData is the case as subscribers see it.
type CaseEventData struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	State          State      `json:"state"`
	Title          string     `json:"title"`
	Category       string     `json:"category"`
	Severity       string     `json:"severity"`
	Priority       int        `json:"priority"`
	SLAState       string     `json:"sla_state"`
	DueAt          *time.Time `json:"due_at,omitempty"`
	Team           string     `json:"team,omitempty"`
	Queue          string     `json:"queue,omitempty"`
	AssigneeID     string     `json:"assignee_id,omitempty"`
	Carrier        string     `json:"carrier,omitempty"`
	TrackingNumber string     `json:"tracking_number,omitempty"`
	OrderRef       string     `json:"order_ref,omitempty"`
	PickingRef     string     `json:"picking_ref,omitempty"`
	CustomerID     string     `json:"customer_id,omitempty"`
	CustomerName   string     `json:"customer_name,omitempty"`
	ParentID       string     `json:"parent_id,omitempty"`
	CloseReason    string     `json:"close_reason,omitempty"`
	OpenedAt       time.Time  `json:"opened_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func caseEventData(c *Case) CaseEventData {
	return CaseEventData{ID: c.ID, Kind: c.Kind, State: c.State, Title: c.Title, Category: c.Category, Severity: string(c.Severity),
		Priority: c.Priority, SLAState: c.SLAState, DueAt: c.DueAt, Team: c.Team, Queue: c.Queue, AssigneeID: c.AssigneeID,
		Carrier: c.Carrier, TrackingNumber: c.TrackingNumber, OrderRef: c.OrderRef, PickingRef: c.PickingRef,
		CustomerID: c.CustomerID, CustomerName: c.CustomerName, ParentID: c.ParentID, CloseReason: c.CloseReason,
		OpenedAt: c.OpenedAt, UpdatedAt: c.UpdatedAt}
}

// notifyCase queues a case event for subscribers.
func (ch *changes) notifyCase(typ string, c *Case, change string) {
	parent := ""
	if c.Kind != KindDisruption {
		parent = c.ParentID
	}
	ch.notices = append(ch.notices, notice{typ: typ, subject: c.ID, parentID: parent,
		data: map[string]any{"case": caseEventData(c), "change": change}})
}

// notifyAction queues an action event for subscribers.
func (ch *changes) notifyAction(typ string, a *Action, c *Case) {
	ch.notices = append(ch.notices, notice{typ: typ, subject: a.ID,
		data: map[string]any{"action": a, "case": caseEventData(c)}})
}

func activeSubscriptions(ctx context.Context, idb bun.IDB) ([]*Subscription, error) {
	var subs []*Subscription
	if err := idb.NewSelect().Model(&subs).Where("active = ?", true).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load webhook subscriptions: %w", err)
	}
	return subs, nil
}

// deliverNotices turns the changeset's notices into deliveries and jobs.
func (s *Service) deliverNotices(ctx context.Context, tx bun.IDB, ch *changes) error {
	if len(ch.notices) == 0 {
		return nil
	}
	subs, err := activeSubscriptions(ctx, tx)
	if err != nil || len(subs) == 0 {
		return err
	}
	// Children of a live disruption are summed up by the parent's events.
	var parents []string
	seen := map[string]bool{}
	for _, n := range ch.notices {
		if n.parentID != "" && !seen[n.parentID] {
			seen[n.parentID] = true
			parents = append(parents, n.parentID)
		}
	}
	liveParent := map[string]bool{}
	for _, part := range chunkStrings(parents, 500) {
		var live []string
		if err := tx.NewSelect().Model((*Case)(nil)).Column("id").Where("id IN (?)", bun.In(part)).
			Where("bucket <> ?", BucketClosed).Scan(ctx, &live); err != nil {
			return fmt.Errorf("check disruption parents: %w", err)
		}
		for _, id := range live {
			liveParent[id] = true
		}
	}
	var rows []*Delivery
	for _, n := range ch.notices {
		if n.parentID != "" && liveParent[n.parentID] {
			mNotificationsSuppressed.Inc()
			continue
		}
		msgID := "msg_" + ids.At(ch.now)
		body, err := json.Marshal(WebhookEvent{Type: n.typ, Timestamp: ch.now, Data: n.data})
		if err != nil {
			return fmt.Errorf("encode %s event: %w", n.typ, err)
		}
		for _, sub := range subs {
			if !sub.wants(n.typ) {
				continue
			}
			d := &Delivery{ID: ids.At(ch.now), SubscriptionID: sub.ID, MessageID: msgID, EventType: n.typ, SubjectID: n.subject,
				Payload: body, State: DeliveryPending, CreatedAt: ch.now}
			rows = append(rows, d)
			ch.job(s.deliverJob(d))
		}
	}
	for i := 0; i < len(rows); i += 500 {
		part := rows[i:min(i+500, len(rows))]
		if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
			return fmt.Errorf("store webhook deliveries: %w", err)
		}
	}
	return nil
}

func (s *Service) deliverJob(d *Delivery) queue.Job {
	return queue.Job{Key: fmt.Sprintf("%s:%s:%d", TaskWebhookDeliver, d.ID, d.Replays), Type: TaskWebhookDeliver,
		Payload: WebhookJob{DeliveryID: d.ID, Replay: d.Replays}, Queue: queue.QueueCritical,
		MaxRetry: s.opts.WebhookMaxAttempts - 1, Timeout: 30 * time.Second}
}

// NewWebhookSecret returns a fresh Standard Webhooks secret ("whsec_" +
// base64 of 32 random bytes).
func NewWebhookSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// SignWebhook returns the webhook-signature value for one secret.
func SignWebhook(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// VerifyWebhook checks a delivery as a subscriber would: the timestamp
// within tolerance of now and one of the signatures made with secret.
func VerifyWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	n, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not Unix seconds")
	}
	ts := time.Unix(n, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return errors.New("webhook-timestamp outside tolerance")
	}
	want, err := SignWebhook(secret, id, ts, body)
	if err != nil {
		return err
	}
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

func (s *Service) openSecret(sealed, subID string) (string, error) {
	if s.box == nil {
		return "", errors.New("triage: no secret box configured")
	}
	return s.box.Open(sealed, "webhook:"+subID)
}

func (s *Service) sealSecret(secret, subID string) (string, error) {
	if s.box == nil {
		return "", apperr.Unavailable("webhook secrets cannot be stored: no secret key", nil)
	}
	return s.box.Seal(secret, "webhook:"+subID), nil
}

// SubscriptionInput creates or changes a subscription.
type SubscriptionInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
	Active      *bool    `json:"active,omitempty"`
}

func (in *SubscriptionInput) validate() error {
	var fe []apperr.FieldError
	u, err := url.Parse(strings.TrimSpace(in.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		fe = append(fe, apperr.FieldError{Field: "url", Message: "must be an absolute http(s) URL without credentials"})
	} else {
		in.URL = u.String()
	}
	if len(in.Events) == 0 {
		fe = append(fe, apperr.FieldError{Field: "events", Message: "list event types (" + strings.Join(EventTypes, ", ") + ") or \"*\""})
	}
	for i, e := range in.Events {
		ok := e == "*"
		for _, t := range EventTypes {
			ok = ok || e == t
		}
		if !ok {
			fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("events[%d]", i), Message: fmt.Sprintf("%q is not one of %s or *", e, strings.Join(EventTypes, ", "))})
		}
	}
	sort.Strings(in.Events)
	if utf8.RuneCountInString(in.Description) > 500 {
		fe = append(fe, apperr.FieldError{Field: "description", Message: "at most 500 characters"})
	}
	if len(fe) > 0 {
		return apperr.Invalid("invalid subscription", fe...)
	}
	return nil
}

// CreatedSubscription returns the secret once.
type CreatedSubscription struct {
	Subscription *Subscription `json:"subscription"`
	Secret       string        `json:"secret"`
}

// CreateSubscription registers an endpoint and returns its secret (shown
// only here).
func (s *Service) CreateSubscription(ctx context.Context, in SubscriptionInput) (*CreatedSubscription, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	sub := &Subscription{ID: ids.At(now), URL: in.URL, Description: in.Description, Events: in.Events, Active: true,
		CreatedBy: identity(ctx), CreatedAt: now, UpdatedAt: now}
	if in.Active != nil {
		sub.Active = *in.Active
	}
	secret := NewWebhookSecret()
	sealed, err := s.sealSecret(secret, sub.ID)
	if err != nil {
		return nil, err
	}
	sub.Secret = sealed
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(sub).Exec(ctx); err != nil {
			return fmt.Errorf("store subscription: %w", err)
		}
		_, err := audit.Append(ctx, tx, now, audit.Record{Action: "webhook.subscription_created", SubjectType: "webhook_subscription",
			SubjectID: sub.ID, After: sub})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &CreatedSubscription{Subscription: sub, Secret: secret}, nil
}

// ListSubscriptions lists every subscription.
func (s *Service) ListSubscriptions(ctx context.Context) ([]*Subscription, error) {
	var subs []*Subscription
	if err := s.db.Read.NewSelect().Model(&subs).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return subs, nil
}

func lockSubscription(ctx context.Context, tx bun.IDB, id string) (*Subscription, error) {
	sub := new(Subscription)
	q := tx.NewSelect().Model(sub).Where("id = ?", id)
	if isPG(tx) {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("subscription "+id, err)
		}
		return nil, fmt.Errorf("load subscription %s: %w", id, err)
	}
	return sub, nil
}

// UpdateSubscription changes a subscription's URL, events, description or
// active flag.
func (s *Service) UpdateSubscription(ctx context.Context, id string, in SubscriptionInput) (*Subscription, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Subscription
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		sub, err := lockSubscription(ctx, tx, id)
		if err != nil {
			return err
		}
		before := *sub
		sub.URL, sub.Events, sub.Description = in.URL, in.Events, in.Description
		if in.Active != nil {
			sub.Active = *in.Active
		}
		sub.UpdatedAt = s.now().UTC()
		if _, err := tx.NewUpdate().Model(sub).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update subscription: %w", err)
		}
		out = sub
		_, err = audit.Append(ctx, tx, s.now(), audit.Record{Action: "webhook.subscription_updated", SubjectType: "webhook_subscription",
			SubjectID: id, Before: before, After: sub})
		return err
	})
	return out, err
}

// DeleteSubscription removes a subscription; its deliveries stay for the
// record.
func (s *Service) DeleteSubscription(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		sub, err := lockSubscription(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(sub).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("delete subscription: %w", err)
		}
		_, err = audit.Append(ctx, tx, s.now(), audit.Record{Action: "webhook.subscription_deleted", SubjectType: "webhook_subscription",
			SubjectID: id, Before: sub})
		return err
	})
}

// RotateSecret gives a subscription a new secret; the old one keeps
// signing (as a second signature) for SecretOverlap.
func (s *Service) RotateSecret(ctx context.Context, id string) (*CreatedSubscription, error) {
	secret := NewWebhookSecret()
	var out *Subscription
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		sub, err := lockSubscription(ctx, tx, id)
		if err != nil {
			return err
		}
		sealed, err := s.sealSecret(secret, sub.ID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		exp := now.Add(SecretOverlap)
		sub.PrevSecret, sub.PrevExpiresAt, sub.Secret, sub.UpdatedAt = sub.Secret, &exp, sealed, now
		if _, err := tx.NewUpdate().Model(sub).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("rotate secret: %w", err)
		}
		out = sub
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "webhook.secret_rotated", SubjectType: "webhook_subscription",
			SubjectID: id, Detail: "previous secret valid until " + exp.Format(time.RFC3339)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &CreatedSubscription{Subscription: out, Secret: secret}, nil
}

// PingSubscription queues a "ping" delivery to test an endpoint.
func (s *Service) PingSubscription(ctx context.Context, id string) (*Delivery, error) {
	var d *Delivery
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		sub, err := lockSubscription(ctx, tx, id)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(WebhookEvent{Type: EventPing, Timestamp: ch.now, Data: map[string]any{"subscription_id": sub.ID}})
		d = &Delivery{ID: ids.At(ch.now), SubscriptionID: sub.ID, MessageID: "msg_" + ids.At(ch.now), EventType: EventPing,
			Payload: body, State: DeliveryPending, CreatedAt: ch.now}
		if _, err := tx.NewInsert().Model(d).Exec(ctx); err != nil {
			return fmt.Errorf("store ping: %w", err)
		}
		ch.job(s.deliverJob(d))
		return nil
	})
	return d, err
}

// DeliveryFilter selects deliveries (state "dead" is the dead-letter list).
type DeliveryFilter struct {
	State          string
	SubscriptionID string
	EventType      string
	Before         string
	Limit          int
}

// ListDeliveries lists deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var out []*Delivery
	q := s.db.Read.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(f.Limit))
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.SubscriptionID != "" {
		q = q.Where("subscription_id = ?", f.SubscriptionID)
	}
	if f.EventType != "" {
		q = q.Where("event_type = ?", f.EventType)
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// GetDelivery returns one delivery.
func (s *Service) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	d := new(Delivery)
	if err := s.db.Read.NewSelect().Model(d).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("delivery "+id, err)
		}
		return nil, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// ReplayDeliveries sends dead (or delivered) deliveries again, with the
// same message id so subscribers can deduplicate. It returns how many were
// queued.
func (s *Service) ReplayDeliveries(ctx context.Context, deliveryIDs []string) (int, error) {
	if len(deliveryIDs) == 0 || len(deliveryIDs) > 1000 {
		return 0, apperr.Invalid("replay 1 to 1000 deliveries", apperr.FieldError{Field: "ids", Message: "between 1 and 1000 ids"})
	}
	n := 0
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		for _, part := range chunkStrings(deliveryIDs, 500) {
			var rows []*Delivery
			q := tx.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part))
			if isPG(tx) {
				q = q.For("UPDATE")
			}
			if err := q.Scan(ctx); err != nil {
				return fmt.Errorf("load deliveries: %w", err)
			}
			if len(rows) != len(part) {
				found := map[string]bool{}
				for _, r := range rows {
					found[r.ID] = true
				}
				for _, id := range part {
					if !found[id] {
						return apperr.NotFound("delivery "+id, nil)
					}
				}
			}
			for _, d := range rows {
				if d.State == DeliveryPending {
					return apperr.Conflict("delivery " + d.ID + " is still being sent")
				}
				before := d.State
				d.State, d.Replays, d.DeadAt, d.Attempts = DeliveryPending, d.Replays+1, nil, 0
				if _, err := tx.NewUpdate().Model(d).Column("state", "replays", "dead_at", "attempts").WherePK().Exec(ctx); err != nil {
					return fmt.Errorf("replay delivery %s: %w", d.ID, err)
				}
				ch.job(s.deliverJob(d))
				ch.auditRecord(audit.Record{Action: "webhook.replayed", SubjectType: "webhook_delivery", SubjectID: d.ID,
					Before: map[string]any{"state": before}, After: map[string]any{"state": d.State, "replays": d.Replays}})
				n++
			}
		}
		return nil
	})
	return n, err
}

// HandleDeliver is the queue handler of TaskWebhookDeliver.
func (s *Service) HandleDeliver(ctx context.Context, job queue.Delivery) error {
	var j WebhookJob
	if err := job.Decode(&j); err != nil {
		return err
	}
	d, err := s.GetDelivery(ctx, j.DeliveryID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return queue.Permanent(err)
		}
		return err
	}
	if d.Replays != j.Replay || d.State != DeliveryPending {
		return nil // superseded by a replay, or finished
	}
	// The queue's retry count starts again when a restart re-enqueues the
	// job; the delivery's own count does not.
	final := job.Attempt >= job.MaxRetry || d.Attempts+1 >= s.opts.WebhookMaxAttempts
	sub, err := s.db.Read.NewSelect().Model((*Subscription)(nil)).Where("id = ?", d.SubscriptionID).Exists(ctx)
	if err != nil {
		return err
	}
	var status int
	var sendErr error
	if !sub {
		sendErr, final = errors.New("subscription was deleted"), true
	} else {
		status, sendErr = s.send(ctx, d)
	}
	now := s.now().UTC()
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		d.Attempts++
		d.LastAttemptAt = &now
		d.LastStatus = status
		rec := audit.Record{Action: "webhook.delivery", SubjectType: "webhook_delivery", SubjectID: d.ID,
			After: map[string]any{"status": status, "attempt": d.Attempts, "event_type": d.EventType, "message_id": d.MessageID}}
		switch {
		case sendErr == nil:
			d.State, d.DeliveredAt, d.LastError = DeliveryDelivered, &now, ""
			rec.Detail = "delivered"
		case final:
			d.State, d.DeadAt, d.LastError = DeliveryDead, &now, truncate(sendErr.Error(), 1000)
			rec.Detail = "dead letter: " + d.LastError
		default:
			d.LastError = truncate(sendErr.Error(), 1000)
			rec.Detail = "will retry: " + d.LastError
		}
		if _, err := tx.NewUpdate().Model(d).Column("attempts", "last_attempt_at", "last_status", "state", "delivered_at", "dead_at", "last_error").
			WherePK().Where("replays = ?", j.Replay).Exec(ctx); err != nil {
			return fmt.Errorf("record delivery attempt: %w", err)
		}
		_, err := audit.Append(ctx, tx, now, rec)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case sendErr == nil:
		mWebhookDeliveries.WithLabelValues("delivered").Inc()
		return nil
	case final:
		mWebhookDeliveries.WithLabelValues("dead").Inc()
		return queue.Permanent(sendErr)
	default:
		mWebhookDeliveries.WithLabelValues("retry").Inc()
		return sendErr
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// send posts one delivery and returns the HTTP status.
func (s *Service) send(ctx context.Context, d *Delivery) (int, error) {
	sub := new(Subscription)
	if err := s.db.Read.NewSelect().Model(sub).Where("id = ?", d.SubscriptionID).Scan(ctx); err != nil {
		return 0, fmt.Errorf("load subscription: %w", err)
	}
	secret, err := s.openSecret(sub.Secret, sub.ID)
	if err != nil {
		return 0, err
	}
	ts := s.now()
	sig, err := SignWebhook(secret, d.MessageID, ts, d.Payload)
	if err != nil {
		return 0, err
	}
	if sub.PrevSecret != "" && sub.PrevExpiresAt != nil && ts.Before(*sub.PrevExpiresAt) {
		if prev, err := s.openSecret(sub.PrevSecret, sub.ID); err == nil {
			if s2, err := SignWebhook(prev, d.MessageID, ts, d.Payload); err == nil {
				sig += " " + s2
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Yardmaster-Webhooks/1")
	req.Header.Set("webhook-id", d.MessageID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post to subscriber: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("subscriber answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
