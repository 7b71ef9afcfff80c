package digest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/secretbox"
)

// Task types of the package's background jobs.
const (
	// TaskTick finds due digests and adds their send jobs (periodic).
	TaskTick = "digest:tick"
	// TaskSend builds (once) and delivers one run (payload {"run_id"}).
	TaskSend = "digest:send"
	// TaskEscalations reads new escalations and flushes due groups
	// (periodic).
	TaskEscalations = "digest:escalations"
)

// MaxLookback bounds how far back one digest reaches (a subscription
// re-enabled after months starts with the last MaxLookback).
const MaxLookback = 31 * 24 * time.Hour

// DefaultMaxRetry is how often a failed delivery is retried (the queue's
// exponential backoff: about 2s, 4s, 8s ... capped at 10 min, about an hour in
// all).
const DefaultMaxRetry = 14

// Options configure a Service.
type Options struct {
	DB  *db.DB
	Box *secretbox.Box
	Now func() time.Time
	Log *slog.Logger
	// Links builds console URLs (Base = YARDMASTER_PUBLIC_URL).
	Links Links
	// Kick wakes the outbox dispatcher after a commit (queue.Kick).
	Kick func()

	Cases      CaseSource     // nil: digests list no cases
	Directory  Directory      // nil: only customers included by hand
	Feed       EscalationFeed // nil: no immediate notices
	Odoo       OdooPoster     // nil: the Odoo channel fails (not configured)
	Overviewer Overviewer     // nil: the deterministic overview

	// Mailer sends e-mail (nil: the e-mail channel fails, not configured);
	// From is the From address (YARDMASTER_SMTP_FROM).
	Mailer Mailer
	From   string
	// Webhooks posts webhook channels (default: NewWebhookSender with
	// AllowPrivateWebhooks).
	Webhooks *WebhookSender
	// AllowPrivateWebhooks lets the default sender reach loopback and
	// private addresses (YARDMASTER_DIGEST_WEBHOOK_PRIVATE).
	AllowPrivateWebhooks bool
	MaxRetry             int
}

// Service manages subscriptions and produces and delivers digests.
type Service struct {
	db    *db.DB
	box   *secretbox.Box
	now   func() time.Time
	log   *slog.Logger
	links Links
	kick  func()
	st    store

	cases      CaseSource
	directory  Directory
	feed       EscalationFeed
	odoo       OdooPoster
	overviewer Overviewer
	mailer     Mailer
	from       string
	webhooks   *WebhookSender
	maxRetry   int
}

// New returns a service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = logx.Discard()
	}
	if opts.Kick == nil {
		opts.Kick = func() {}
	}
	if opts.Webhooks == nil {
		opts.Webhooks = NewWebhookSender("Yardmaster-Digest/1", opts.AllowPrivateWebhooks)
	}
	if opts.MaxRetry <= 0 {
		opts.MaxRetry = DefaultMaxRetry
	}
	return &Service{db: opts.DB, box: opts.Box, now: opts.Now, log: opts.Log, links: opts.Links, kick: opts.Kick,
		cases: opts.Cases, directory: opts.Directory, feed: opts.Feed, odoo: opts.Odoo, overviewer: opts.Overviewer,
		mailer: opts.Mailer, from: opts.From, webhooks: opts.Webhooks, maxRetry: opts.MaxRetry}
}

// SetCases plugs in the case source (triage), for wiring after New.
func (s *Service) SetCases(c CaseSource) { s.cases = c }

// SetDirectory plugs in the customer directory (Odoo mirror).
func (s *Service) SetDirectory(d Directory) { s.directory = d }

// SetFeed plugs in the escalation feed (triage).
func (s *Service) SetFeed(f EscalationFeed) { s.feed = f }

// SetOdoo plugs in the Odoo poster.
func (s *Service) SetOdoo(o OdooPoster) { s.odoo = o }

// SetOverviewer plugs in an overview writer (the AI summarizer).
func (s *Service) SetOverviewer(o Overviewer) { s.overviewer = o }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func secretAAD(id string) string { return "digest_subscription:" + id + ":webhook" }

// --- authorization -------------------------------------------------------

// principalTeam returns the team of the principal's user ("" if none).
func (s *Service) principalTeam(ctx context.Context, p auth.Principal) string {
	if p.UserID == "" {
		return ""
	}
	u, err := auth.GetUser(ctx, s.db.Read, p.UserID)
	if err != nil {
		return ""
	}
	return u.Team
}

// canManage: admins manage every subscription; users with digests:self
// manage their own user subscriptions.
func canManage(p auth.Principal, sub Subscription) bool {
	if p.Can(auth.PermDigestsAdmin) {
		return true
	}
	return p.Can(auth.PermDigestsSelf) && p.UserID != "" && sub.Subscriber.Kind == SubscriberUser && sub.Subscriber.UserID == p.UserID
}

// canRead adds read access to a team's subscriptions for its members.
func (s *Service) canRead(ctx context.Context, p auth.Principal, sub Subscription) bool {
	if canManage(p, sub) {
		return true
	}
	return p.Can(auth.PermDigestsSelf) && sub.Subscriber.Kind == SubscriberTeam && sub.Subscriber.Team != "" &&
		s.principalTeam(ctx, p) == sub.Subscriber.Team
}

func (s *Service) loadFor(ctx context.Context, p auth.Principal, id string, write bool) (Subscription, subscriptionRow, error) {
	row, err := s.st.getSubscriptionRow(ctx, s.db.Read, id)
	if err != nil {
		return Subscription{}, row, err
	}
	sub, err := row.subscription()
	if err != nil {
		return sub, row, err
	}
	if write && !canManage(p, sub) || !write && !s.canRead(ctx, p, sub) {
		// Someone else's subscription is not found, not forbidden: ids of
		// other people's settings are not confirmed.
		if !s.canRead(ctx, p, sub) {
			return sub, row, apperr.NotFound("digest subscription "+id, nil)
		}
		return sub, row, apperr.Forbidden("only admins change team subscriptions and other people's subscriptions")
	}
	return sub, row, nil
}

// --- subscriptions -------------------------------------------------------

// Saved is a created or updated subscription; WebhookSecret is set once
// when a secret was generated.
type Saved struct {
	Subscription
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// ListFilter narrows ListSubscriptions.
type ListFilter struct {
	// All lists every subscription (admins); otherwise the caller's own and
	// their team's.
	All bool
}

// ListSubscriptions returns the subscriptions p may read.
func (s *Service) ListSubscriptions(ctx context.Context, p auth.Principal, f ListFilter) ([]Subscription, error) {
	q := s.db.Read.NewSelect().Model((*subscriptionRow)(nil)).Order("name", "id")
	if f.All {
		if !p.Can(auth.PermDigestsAdmin) {
			return nil, apperr.Forbidden("listing every subscription needs digests:admin")
		}
	} else {
		if p.UserID == "" {
			return []Subscription{}, nil // a machine token has no subscriptions of its own
		}
		team := s.principalTeam(ctx, p)
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("subscriber_kind = ? AND user_id = ?", SubscriberUser, p.UserID)
			if team != "" {
				q = q.WhereOr("subscriber_kind = ? AND team = ?", SubscriberTeam, team)
			}
			return q
		})
	}
	var rows []subscriptionRow
	if err := q.Limit(1000).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list digest subscriptions: %w", err)
	}
	out := make([]Subscription, 0, len(rows))
	for i := range rows {
		sub, err := rows[i].subscription()
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, nil
}

// GetSubscription returns one subscription p may read.
func (s *Service) GetSubscription(ctx context.Context, p auth.Principal, id string) (Subscription, error) {
	sub, _, err := s.loadFor(ctx, p, id, false)
	return sub, err
}

// prepare validates in for p and checks the subscriber exists and can be
// reached. old is the stored subscription on update (nil on create).
func (s *Service) prepare(ctx context.Context, p auth.Principal, in SubscriptionInput, old *Subscription) (Subscription, error) {
	if in.Subscriber == nil {
		switch {
		case old != nil:
			sb := old.Subscriber
			in.Subscriber = &sb
		case p.UserID != "":
			in.Subscriber = &Subscriber{Kind: SubscriberUser, UserID: p.UserID}
		default:
			return Subscription{}, apperr.Invalid("invalid subscription", apperr.FieldError{Field: "subscriber",
				Message: "is required: this caller is not a user"})
		}
	}
	sub, errs := normalize(in)
	if len(errs) > 0 {
		return sub, apperr.Invalid("invalid subscription", errs...)
	}
	if !p.Can(auth.PermDigestsAdmin) && !p.Can(auth.PermDigestsSelf) {
		return sub, apperr.Forbidden(fmt.Sprintf("your role (%s) does not receive digests", p.Role))
	}
	if !p.Can(auth.PermDigestsAdmin) && (sub.Subscriber.Kind != SubscriberUser || sub.Subscriber.UserID != p.UserID) {
		return sub, apperr.Forbidden("you may only subscribe yourself; team subscriptions and other users' are managed by admins")
	}
	recipients, err := s.recipients(ctx, sub)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return sub, apperr.Invalid("invalid subscription", apperr.FieldError{Field: "subscriber.user_id", Message: "no such user"})
		}
		return sub, err
	}
	if sub.Channels.Email != nil && len(recipients) == 0 {
		return sub, apperr.Invalid("invalid subscription", apperr.FieldError{Field: "channels.email.to",
			Message: "the subscriber has no e-mail address; list recipients or add an address to the user"})
	}
	return sub, nil
}

// CreateSubscription validates and stores a subscription. Its first
// digest covers what happens from now on.
func (s *Service) CreateSubscription(ctx context.Context, p auth.Principal, in SubscriptionInput) (Saved, error) {
	sub, err := s.prepare(ctx, p, in, nil)
	if err != nil {
		return Saved{}, err
	}
	now := s.clock()
	sub.ID = ids.At(now)
	sub.CreatedBy, sub.CreatedAt, sub.UpdatedAt, sub.CoveredThrough = p.ID, now, now, now
	var secret, sealed string
	if w := sub.Channels.Webhook; w != nil {
		secret = w.Secret
		generated := secret == ""
		if generated {
			secret = NewSecret()
		}
		sealed = s.box.Seal(secret, secretAAD(sub.ID))
		if !generated {
			secret = ""
		}
	}
	sched, _ := ParseSchedule(sub.Schedule, sub.TimeZone)
	next := sched.Next(now).UTC()
	sub.NextRunAt = &next
	row, err := toRow(sub, sealed)
	if err != nil {
		return Saved{}, err
	}
	row.ScheduledThrough = now
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return fmt.Errorf("insert digest subscription: %w", err)
		}
		_, err := audit.Append(ctx, tx, now, audit.Record{Action: "digest_subscription.created", SubjectType: "digest_subscription",
			SubjectID: sub.ID, After: auditView(sub)})
		return err
	})
	if err != nil {
		return Saved{}, err
	}
	out, err := row.subscription()
	return Saved{Subscription: out, WebhookSecret: secret}, err
}

// UpdateSubscription replaces a subscription's settings. The webhook
// secret is kept unless a new one is given; the period cursor is kept, so
// the next digest still covers everything since the last one.
func (s *Service) UpdateSubscription(ctx context.Context, p auth.Principal, id string, in SubscriptionInput) (Saved, error) {
	old, oldRow, err := s.loadFor(ctx, p, id, true)
	if err != nil {
		return Saved{}, err
	}
	sub, err := s.prepare(ctx, p, in, &old)
	if err != nil {
		return Saved{}, err
	}
	now := s.clock()
	sub.ID, sub.CreatedBy, sub.CreatedAt, sub.UpdatedAt, sub.CoveredThrough = old.ID, old.CreatedBy, old.CreatedAt, now, old.CoveredThrough
	var secret, sealed string
	if w := sub.Channels.Webhook; w != nil {
		switch {
		case w.Secret != "":
			sealed = s.box.Seal(w.Secret, secretAAD(id))
		case oldRow.WebhookSecret != "":
			sealed = oldRow.WebhookSecret
		default:
			secret = NewSecret()
			sealed = s.box.Seal(secret, secretAAD(id))
		}
	}
	row, err := toRow(sub, sealed)
	if err != nil {
		return Saved{}, err
	}
	row.ScheduledThrough, row.Version = oldRow.ScheduledThrough, oldRow.Version+1
	// A new schedule, or re-enabling, starts from now: slots that passed
	// under the old settings are not sent late.
	if sub.Schedule != old.Schedule || sub.TimeZone != old.TimeZone || (sub.Enabled && !old.Enabled) {
		row.ScheduledThrough = now
	}
	sched, _ := ParseSchedule(sub.Schedule, sub.TimeZone)
	next := sched.Next(laterOf(row.ScheduledThrough, now)).UTC()
	row.NextRunAt = &next
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model(&row).ExcludeColumn("id", "created_at", "created_by", "covered_through").
			Where("id = ? AND version = ?", id, oldRow.Version).Exec(ctx)
		if err != nil {
			return fmt.Errorf("update digest subscription: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("the subscription changed meanwhile (a digest was scheduled or someone edited it); reload and retry")
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "digest_subscription.updated", SubjectType: "digest_subscription",
			SubjectID: id, Before: auditView(old), After: auditView(sub)})
		return err
	})
	if err != nil {
		return Saved{}, err
	}
	fresh, err := s.st.getSubscriptionRow(ctx, s.db.Read, id)
	if err != nil {
		return Saved{}, err
	}
	out, err := fresh.subscription()
	return Saved{Subscription: out, WebhookSecret: secret}, err
}

// DeleteSubscription removes a subscription with its history.
func (s *Service) DeleteSubscription(ctx context.Context, p auth.Principal, id string) error {
	old, _, err := s.loadFor(ctx, p, id, true)
	if err != nil {
		return err
	}
	now := s.clock()
	return s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		// Attempts reference deliveries, deliveries runs: the foreign keys
		// cascade, but SQLite only cascades with foreign_keys on, so delete
		// explicitly in order.
		runIDs := tx.NewSelect().Model((*Run)(nil)).Column("id").Where("subscription_id = ?", id)
		if _, err := tx.NewDelete().Model((*Attempt)(nil)).Where("run_id IN (?)", runIDs).Exec(ctx); err != nil {
			return fmt.Errorf("delete digest attempts: %w", err)
		}
		if _, err := tx.NewDelete().Model((*Delivery)(nil)).Where("run_id IN (?)", runIDs).Exec(ctx); err != nil {
			return fmt.Errorf("delete digest deliveries: %w", err)
		}
		for _, m := range []any{(*Run)(nil), (*alertRow)(nil), (*groupRow)(nil)} {
			if _, err := tx.NewDelete().Model(m).Where("subscription_id = ?", id).Exec(ctx); err != nil {
				return fmt.Errorf("delete digest history: %w", err)
			}
		}
		if _, err := tx.NewDelete().Model((*subscriptionRow)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("delete digest subscription: %w", err)
		}
		_, err := audit.Append(ctx, tx, now, audit.Record{Action: "digest_subscription.deleted", SubjectType: "digest_subscription",
			SubjectID: id, Before: auditView(old)})
		return err
	})
}

// auditView is what the audit trail keeps of a subscription (never the
// secret; webhook URLs reduced to their host, since chat webhook paths are
// credentials).
func auditView(s Subscription) map[string]any {
	ch := map[string]any{}
	if s.Channels.Email != nil {
		ch["email"] = map[string]any{"to": s.Channels.Email.To}
	}
	if s.Channels.Webhook != nil {
		ch["webhook"] = map[string]any{"url": redactURL(s.Channels.Webhook.URL), "format": s.Channels.Webhook.Format}
	}
	if s.Channels.Odoo != nil {
		ch["odoo"] = s.Channels.Odoo
	}
	return map[string]any{"name": s.Name, "subscriber": s.Subscriber, "timezone": s.TimeZone, "schedule": s.Schedule,
		"min_severity": s.MinSeverity, "customers": s.Customers, "channels": ch, "send_empty": s.SendEmpty,
		"immediate": s.Immediate, "enabled": s.Enabled}
}

// redactURL keeps scheme and host: chat webhook URLs carry their token in
// the path.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// --- recipients and customers --------------------------------------------

// recipients returns the e-mail addresses of a subscription's e-mail
// channel: the listed ones, or the user's, or every enabled team member's.
func (s *Service) recipients(ctx context.Context, sub Subscription) ([]string, error) {
	if sub.Channels.Email != nil && len(sub.Channels.Email.To) > 0 {
		return sub.Channels.Email.To, nil
	}
	users, err := s.members(ctx, sub)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		if a, err := ParseAddress(u.Email); err == nil && u.Email != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// members returns the subscriber's users (one user, or the team's enabled
// members).
func (s *Service) members(ctx context.Context, sub Subscription) ([]auth.User, error) {
	if sub.Subscriber.Kind == SubscriberUser {
		u, err := auth.GetUser(ctx, s.db.Read, sub.Subscriber.UserID)
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, nil
		}
		return []auth.User{u}, nil
	}
	var us []auth.User
	err := s.db.Read.NewSelect().Model(&us).Where("team = ? AND disabled = ?", sub.Subscriber.Team, false).Order("username").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("load members of team %s: %w", sub.Subscriber.Team, err)
	}
	return us, nil
}

// audience is how a digest addresses its subscriber.
func (s *Service) audience(ctx context.Context, sub Subscription) string {
	if sub.Subscriber.Kind == SubscriberTeam {
		return "Team " + sub.Subscriber.Team
	}
	u, err := auth.GetUser(ctx, s.db.Read, sub.Subscriber.UserID)
	if err != nil {
		return sub.Name
	}
	return cmp.Or(u.DisplayName, u.Username)
}

// customers resolves a subscription's customer set: the ones the
// directory links to the subscriber (when auto), plus included, minus
// excluded, with names and salespeople from the directory.
func (s *Service) customers(ctx context.Context, sub Subscription) ([]Customer, error) {
	var auto []Customer
	if s.directory != nil && sub.Customers.Auto {
		users, err := s.members(ctx, sub)
		if err != nil {
			return nil, err
		}
		acct := Account{Team: sub.Subscriber.Team}
		for _, u := range users {
			if u.Email != "" {
				acct.Emails = append(acct.Emails, strings.ToLower(u.Email))
			}
		}
		auto, err = s.directory.CustomersOf(ctx, acct)
		if err != nil {
			return nil, fmt.Errorf("customers of %s: %w", sub.Name, err)
		}
	}
	set := sub.customerSet(auto)
	if s.directory == nil {
		return set, nil
	}
	var unknown []string
	for _, c := range set {
		if c.Name == "" || c.SalespersonOdooID == 0 {
			unknown = append(unknown, c.ID)
		}
	}
	if len(unknown) == 0 {
		return set, nil
	}
	known, err := s.directory.Customers(ctx, unknown)
	if err != nil {
		return nil, fmt.Errorf("resolve customers: %w", err)
	}
	byID := map[string]Customer{}
	for _, c := range known {
		byID[c.ID] = c
	}
	for i, c := range set {
		if k, ok := byID[c.ID]; ok {
			set[i].Name = cmp.Or(c.Name, k.Name)
			set[i].SalespersonOdooID = cmp.Or(c.SalespersonOdooID, k.SalespersonOdooID)
		}
	}
	return set, nil
}

// compose builds the digest of sub for [since, till).
func (s *Service) compose(ctx context.Context, sub Subscription, runID, kind string, since, till time.Time) (*Digest, []Customer, error) {
	custs, err := s.customers(ctx, sub)
	if err != nil {
		return nil, nil, err
	}
	var cases []Case
	if s.cases != nil && len(custs) > 0 {
		idsOf := make([]string, len(custs))
		for i, c := range custs {
			idsOf[i] = c.ID
		}
		cases, err = s.cases.CustomerCases(ctx, CaseQuery{Customers: idsOf, Since: since, Until: till, MinSeverity: sub.MinSeverity})
		if err != nil {
			return nil, nil, fmt.Errorf("cases for digest: %w", err)
		}
	}
	d := build(buildInput{RunID: runID, Kind: kind, Sub: sub, Audience: s.audience(ctx, sub), Customers: custs,
		Since: since, Till: till, Now: s.clock(), Links: s.links}, cases)
	ov := DeterministicOverview(d)
	if s.overviewer != nil && !d.Empty() {
		got, err := s.overviewer.DigestOverview(ctx, d)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "digest overview failed; using the deterministic one", "subscription_id", sub.ID, "err", err)
		case strings.TrimSpace(got.Text) != "":
			ov = got
			ov.Highlights = linkHighlights(d, got.Highlights)
		}
	}
	d.Overview = &ov
	return d, custs, nil
}

// --- preview and send now -------------------------------------------------

// Preview is the next digest as it would be sent now.
type Preview struct {
	Digest   *Digest  `json:"digest"`
	Rendered Rendered `json:"rendered"`
	// WouldSend is false when the digest is empty and send_empty is off.
	WouldSend bool `json:"would_send"`
}

// Preview builds the digest of what happened since the last one, without
// sending or recording anything.
func (s *Service) Preview(ctx context.Context, p auth.Principal, id string) (Preview, error) {
	sub, _, err := s.loadFor(ctx, p, id, false)
	if err != nil {
		return Preview{}, err
	}
	now := s.clock()
	d, _, err := s.compose(ctx, sub, "", "preview", laterOf(sub.CoveredThrough, now.Add(-MaxLookback)), now)
	if err != nil {
		return Preview{}, err
	}
	r, err := Render(d)
	if err != nil {
		return Preview{}, err
	}
	return Preview{Digest: d, Rendered: r, WouldSend: !d.Empty() || sub.SendEmpty}, nil
}

// SendNow queues a digest of what happened since the last one. It counts
// as a digest: the next scheduled one starts where it ends.
func (s *Service) SendNow(ctx context.Context, p auth.Principal, id string) (Run, error) {
	sub, row, err := s.loadFor(ctx, p, id, true)
	if err != nil {
		return Run{}, err
	}
	now := s.clock()
	run := Run{ID: ids.At(now), SubscriptionID: sub.ID, Kind: RunManual, ScheduledFor: now,
		PeriodStart: laterOf(row.CoveredThrough, now.Add(-MaxLookback)), PeriodEnd: now, Status: RunPending,
		RequestedBy: p.ID, CreatedAt: now, UpdatedAt: now}
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*subscriptionRow)(nil)).Set("covered_through = ?", now).Set("version = version + 1").
			Where("id = ? AND version = ?", id, row.Version).Exec(ctx)
		if err != nil {
			return fmt.Errorf("advance digest cursor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("a digest of this subscription is being scheduled right now; retry in a moment")
		}
		if _, err := tx.NewInsert().Model(&run).Exec(ctx); err != nil {
			return fmt.Errorf("insert digest run: %w", err)
		}
		if err := s.addSendJob(ctx, tx, run, "digest:"+sub.ID+":manual:"+run.ID, false); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "digest.send_requested", SubjectType: "digest_subscription",
			SubjectID: sub.ID, After: map[string]any{"run_id": run.ID, "period_start": run.PeriodStart, "period_end": run.PeriodEnd}})
		return err
	})
	if err != nil {
		return Run{}, err
	}
	s.kick()
	return run, nil
}

// --- history ---------------------------------------------------------------

// RunFilter narrows ListRuns.
type RunFilter struct {
	SubscriptionID string
	Status         string
	Kind           string
	// Before is a run id cursor: runs older than it.
	Before string
	Limit  int
}

// RunSummary is a run in the history list.
type RunSummary struct {
	Run
	SubscriptionName string     `json:"subscription_name"`
	Deliveries       []Delivery `json:"deliveries"`
}

// RunPage is one page of history.
type RunPage struct {
	Runs []RunSummary `json:"runs"`
	// Next is the cursor of the next (older) page, empty at the end.
	Next string `json:"next,omitempty"`
}

// ListRuns returns the digests p may see, newest first.
func (s *Service) ListRuns(ctx context.Context, p auth.Principal, f RunFilter) (RunPage, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var subIDs []string
	names := map[string]string{}
	if f.SubscriptionID != "" {
		sub, err := s.GetSubscription(ctx, p, f.SubscriptionID)
		if err != nil {
			return RunPage{}, err
		}
		subIDs, names[sub.ID] = []string{sub.ID}, sub.Name
	} else {
		subs, err := s.ListSubscriptions(ctx, p, ListFilter{All: p.Can(auth.PermDigestsAdmin)})
		if err != nil {
			return RunPage{}, err
		}
		for _, sub := range subs {
			subIDs = append(subIDs, sub.ID)
			names[sub.ID] = sub.Name
		}
	}
	page := RunPage{Runs: []RunSummary{}}
	if len(subIDs) == 0 {
		return page, nil
	}
	var runs []Run
	q := s.db.Read.NewSelect().Model(&runs).Where("subscription_id IN (?)", bun.In(subIDs)).Order("id DESC").Limit(int64(f.Limit + 1))
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return page, fmt.Errorf("list digest runs: %w", err)
	}
	if len(runs) > f.Limit {
		runs = runs[:f.Limit]
		page.Next = runs[len(runs)-1].ID
	}
	if len(runs) == 0 {
		return page, nil
	}
	runIDs := make([]string, len(runs))
	for i, r := range runs {
		runIDs[i] = r.ID
	}
	var ds []Delivery
	if err := s.db.Read.NewSelect().Model(&ds).Where("run_id IN (?)", bun.In(runIDs)).Order("channel", "target").Scan(ctx); err != nil {
		return page, fmt.Errorf("list digest deliveries: %w", err)
	}
	byRun := map[string][]Delivery{}
	for _, d := range ds {
		byRun[d.RunID] = append(byRun[d.RunID], d)
	}
	for _, r := range runs {
		page.Runs = append(page.Runs, RunSummary{Run: r, SubscriptionName: names[r.SubscriptionID], Deliveries: nonNil(byRun[r.ID])})
	}
	return page, nil
}

// RunDetail is one digest with every delivery attempt and its content.
type RunDetail struct {
	Run
	SubscriptionName string     `json:"subscription_name"`
	Deliveries       []Delivery `json:"deliveries"`
	Attempts         []Attempt  `json:"attempts"`
	Digest           *Digest    `json:"digest,omitempty"`
}

// GetRun returns one run p may see.
func (s *Service) GetRun(ctx context.Context, p auth.Principal, id string) (RunDetail, error) {
	run, err := s.st.getRun(ctx, s.db.Read, id)
	if err != nil {
		return RunDetail{}, err
	}
	sub, err := s.GetSubscription(ctx, p, run.SubscriptionID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return RunDetail{}, apperr.NotFound("digest run "+id, nil)
		}
		return RunDetail{}, err
	}
	ds, err := s.st.deliveries(ctx, s.db.Read, id)
	if err != nil {
		return RunDetail{}, err
	}
	as, err := s.st.attempts(ctx, s.db.Read, []string{id})
	if err != nil {
		return RunDetail{}, err
	}
	out := RunDetail{Run: run, SubscriptionName: sub.Name, Deliveries: nonNil(ds), Attempts: nonNil(as)}
	if run.Content != "" {
		d, err := decodeDigest(run.Content)
		if err != nil {
			return out, err
		}
		out.Digest = d
	}
	return out, nil
}

// RetryRun sends a run's failed deliveries again (after retries were
// exhausted or a permanent failure was fixed, e.g. a corrected address).
func (s *Service) RetryRun(ctx context.Context, p auth.Principal, id string) (Run, error) {
	run, err := s.st.getRun(ctx, s.db.Read, id)
	if err != nil {
		return Run{}, err
	}
	if _, _, err := s.loadFor(ctx, p, run.SubscriptionID, true); err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return Run{}, apperr.NotFound("digest run "+id, nil)
		}
		return Run{}, err
	}
	if run.Status != RunFailed && run.Status != RunPartial {
		return Run{}, apperr.Conflict(fmt.Sprintf("run is %s; only failed or partial runs can be retried", run.Status))
	}
	now := s.clock()
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Run)(nil)).Set("status = ?", RunSending).Set("error = ''").Set("updated_at = ?", now).
			Set("finished_at = NULL").Where("id = ? AND status = ?", id, run.Status).Exec(ctx)
		if err != nil {
			return fmt.Errorf("reset digest run: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("the run changed meanwhile; reload")
		}
		if _, err := tx.NewUpdate().Model((*Delivery)(nil)).Set("status = ?", DeliveryPending).Set("updated_at = ?", now).
			Where("run_id = ? AND status = ?", id, DeliveryFailed).Exec(ctx); err != nil {
			return fmt.Errorf("reset digest deliveries: %w", err)
		}
		run.Status = RunSending
		if err := s.addSendJob(ctx, tx, run, "digest:"+run.SubscriptionID+":retry:"+ids.At(now), run.Kind == RunImmediate); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "digest.retry_requested", SubjectType: "digest_run", SubjectID: id})
		return err
	})
	if err != nil {
		return Run{}, err
	}
	s.kick()
	return s.st.getRun(ctx, s.db.Read, id)
}

var errNotConfigured = errors.New("not configured")

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// linkHighlights keeps the highlights that name a case of the digest and
// gives them the case's reference and link.
func linkHighlights(d *Digest, hs []Highlight) []Highlight {
	lines := map[string]CaseLine{}
	for _, s := range d.Customers {
		for _, c := range s.Cases {
			lines[c.ID] = c
		}
	}
	var out []Highlight
	for _, h := range hs {
		l, ok := lines[h.CaseID]
		if !ok || strings.TrimSpace(h.Text) == "" {
			continue
		}
		h.Ref, h.URL = cmp.Or(l.Ref, shortID(l.ID)), l.URL
		out = append(out, h)
	}
	return out
}

// Prune deletes digest history (runs with their deliveries and attempts)
// created before before, and returns how many runs it removed.
func (s *Service) Prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var ids []string
		if err := s.db.Read.NewSelect().Model((*Run)(nil)).Column("id").Where("created_at < ?", before.UTC()).Order("id").Limit(500).
			Scan(ctx, &ids); err != nil {
			return total, fmt.Errorf("select old digest runs: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.NewDelete().Model((*Attempt)(nil)).Where("run_id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
				return err
			}
			if _, err := tx.NewDelete().Model((*Delivery)(nil)).Where("run_id IN (?)", bun.In(ids)).Exec(ctx); err != nil {
				return err
			}
			_, err := tx.NewDelete().Model((*Run)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune digest history: %w", err)
		}
		total += len(ids)
		if len(ids) < 500 {
			return total, nil
		}
	}
}
