package digest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

type sendPayload struct {
	RunID string `json:"run_id"`
}

// addSendJob adds the send job of run to the outbox in tx. key is the
// outbox key: the outbox ignores a key it holds already.
func (s *Service) addSendJob(ctx context.Context, tx bun.IDB, run Run, key string, urgent bool) error {
	return queue.Add(ctx, tx, s.sendJob(run, key, urgent))
}

func (s *Service) sendJob(run Run, key string, urgent bool) queue.Job {
	q := queue.QueueLow
	if urgent {
		q = queue.QueueCritical
	}
	return queue.Job{Key: key, Type: TaskSend, Payload: sendPayload{RunID: run.ID}, Queue: q, MaxRetry: s.maxRetry, Timeout: 5 * time.Minute}
}

// ScheduledKey is the outbox key of a subscription's scheduled digest for
// the period that ends (and is sent) at scheduledFor.
func ScheduledKey(subscriptionID string, scheduledFor time.Time) string {
	return "digest:" + subscriptionID + ":" + scheduledFor.UTC().Format(time.RFC3339)
}

// Tick schedules every due digest: for each enabled subscription whose next
// run is due, one run for the latest scheduled time at or before now, and
// its send job. Safe to run in several processes at once: each
// subscription row's version is compared and set in the same transaction
// that inserts its run and job. Due subscriptions are handled in batches
// of tickBatch per transaction. It returns how many runs it created.
func (s *Service) Tick(ctx context.Context) (int, error) {
	now := s.clock()
	created, after := 0, ""
	for {
		var rows []subscriptionRow
		err := s.db.Read.NewSelect().Model(&rows).Where("enabled = ? AND next_run_at <= ? AND id > ?", true, now, after).
			Order("id").Limit(tickBatch).Scan(ctx)
		if err != nil {
			return created, fmt.Errorf("select due digest subscriptions: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		n, err := s.scheduleBatch(ctx, rows, now)
		created += n
		if err != nil {
			return created, err
		}
		if len(rows) < tickBatch {
			break
		}
		after = rows[len(rows)-1].ID
	}
	if created > 0 {
		s.kick()
		observeScheduled(created)
	}
	return created, nil
}

// tickBatch is how many due subscriptions one tick transaction handles.
const tickBatch = 200

// slot is what the tick decided for one due subscription.
type slot struct {
	row  *subscriptionRow
	due  time.Time // zero: nothing due, only next_run_at is fixed
	next *time.Time
	skip bool // a manual digest already covered the slot
}

func (s *Service) scheduleBatch(ctx context.Context, rows []subscriptionRow, now time.Time) (int, error) {
	slots := make([]slot, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		sched, err := storedSchedule(row.Schedule, row.TimeZone)
		if err != nil {
			// Stored settings were valid when saved; a zone database change
			// can still break them. Stop scheduling and say so, rather than
			// fail every tick.
			s.log.ErrorContext(ctx, "digest schedule no longer parses; scheduling stopped", "subscription_id", row.ID, "err", err)
			slots = append(slots, slot{row: row})
			continue
		}
		next := sched.Next(now).UTC()
		sl := slot{row: row, next: &next}
		if due, ok := sched.LatestDue(row.ScheduledThrough, now); ok {
			sl.due = due.UTC()
			sl.skip = !row.CoveredThrough.UTC().Before(sl.due)
		}
		slots = append(slots, sl)
	}
	created := 0
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		created = 0
		var runs []Run
		for _, sl := range slots {
			upd := tx.NewUpdate().Model((*subscriptionRow)(nil)).Set("next_run_at = ?", sl.next).Where("id = ? AND version = ?", sl.row.ID, sl.row.Version)
			if !sl.due.IsZero() {
				upd = upd.Set("scheduled_through = ?", sl.due).Set("version = version + 1")
				if !sl.skip {
					upd = upd.Set("covered_through = ?", sl.due)
				}
			}
			res, err := upd.Exec(ctx)
			if err != nil {
				return fmt.Errorf("advance digest schedule of %s: %w", sl.row.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 || sl.due.IsZero() || sl.skip {
				continue // another process scheduled it, or nothing to send
			}
			runs = append(runs, Run{ID: ids.At(now), SubscriptionID: sl.row.ID, Kind: RunScheduled, ScheduledFor: sl.due,
				PeriodStart: laterOf(sl.row.CoveredThrough.UTC(), sl.due.Add(-MaxLookback)), PeriodEnd: sl.due, Status: RunPending,
				CreatedAt: now, UpdatedAt: now})
		}
		if len(runs) == 0 {
			return nil
		}
		var inserted []string
		if err := tx.NewInsert().Model(&runs).On("CONFLICT (subscription_id, kind, scheduled_for) DO NOTHING").Returning("id").
			Scan(ctx, &inserted); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("insert digest runs: %w", err)
		}
		ok := map[string]bool{}
		for _, id := range inserted {
			ok[id] = true
		}
		jobs := make([]queue.Job, 0, len(inserted))
		for _, r := range runs {
			if ok[r.ID] {
				jobs = append(jobs, s.sendJob(r, ScheduledKey(r.SubscriptionID, r.ScheduledFor), false))
			}
		}
		created = len(jobs)
		return queue.Add(ctx, tx, jobs...)
	})
	return created, err
}

// HandleTick is the queue handler of TaskTick.
func (s *Service) HandleTick(ctx context.Context, _ queue.Delivery) error {
	_, err := s.Tick(ctx)
	return err
}

// HandleSend is the queue handler of TaskSend.
func (s *Service) HandleSend(ctx context.Context, d queue.Delivery) error {
	var p sendPayload
	if err := d.Decode(&p); err != nil {
		return err
	}
	return s.SendRun(ctx, p.RunID, d.Attempt >= d.MaxRetry)
}

// SendRun builds run's content on its first call (then frozen) and works
// its deliveries that are not sent yet, recording each attempt. It returns
// an error while a retryable delivery failed, so the queue retries later;
// final marks the last attempt, after which failures are final.
func (s *Service) SendRun(ctx context.Context, runID string, final bool) error {
	run, err := s.st.getRun(ctx, s.db.Read, runID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return queue.Permanent(err) // deleted with its subscription
		}
		return err
	}
	if done(run.Status) {
		return nil
	}
	row, err := s.st.getSubscriptionRow(ctx, s.db.Read, run.SubscriptionID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return queue.Permanent(err)
		}
		return err
	}
	sub, err := row.subscription()
	if err != nil {
		return queue.Permanent(err)
	}
	if run.Content == "" {
		if err := s.freeze(ctx, sub, &run); err != nil {
			// Say in the history why the digest is not out yet; after the
			// last attempt the run fails for good.
			s.noteBuildError(ctx, run.ID, err, final)
			if final {
				observeRun(run.Kind, RunFailed)
				return queue.Permanent(err)
			}
			return err
		}
		if done(run.Status) {
			observeRun(run.Kind, run.Status)
			return nil
		}
	}
	dg, err := decodeDigest(run.Content)
	if err != nil {
		return queue.Permanent(err)
	}
	rendered, err := Render(dg)
	if err != nil {
		return queue.Permanent(err)
	}
	ds, err := s.st.deliveries(ctx, s.db.Read, run.ID)
	if err != nil {
		return err
	}
	var retry []string
	for _, dl := range ds {
		if dl.Status != DeliveryPending {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := s.lease(ctx, dl)
		if err != nil {
			return err
		}
		if !ok {
			// Another worker is sending it right now (a duplicate delivery of
			// this job): come back later rather than send twice.
			retry = append(retry, dl.Channel+" "+dl.Target+": being sent by another worker")
			continue
		}
		start := time.Now()
		ext, derr := s.deliver(ctx, sub, row.WebhookSecret, run, dg, rendered, dl)
		took := time.Since(start)
		outcome := OutcomeSent
		switch {
		case derr == nil:
		case IsPermanent(derr) || final:
			outcome = OutcomePermanent
		default:
			outcome = OutcomeFailed
			retry = append(retry, dl.Channel+" "+dl.Target+": "+derr.Error())
		}
		if err := s.recordAttempt(ctx, dl, outcome, ext, derr, took); err != nil {
			return err
		}
		observeAttempt(dl.Channel, outcome)
		if derr != nil {
			s.log.WarnContext(ctx, "digest delivery failed", "run_id", run.ID, "channel", dl.Channel, "target", dl.Target,
				"outcome", outcome, "err", derr)
		}
	}
	status, err := s.settle(ctx, run.ID, len(retry) > 0)
	if err != nil {
		return err
	}
	if done(status) {
		observeRun(run.Kind, status)
	}
	if len(retry) > 0 {
		return fmt.Errorf("digest run %s: %d deliveries will be retried: %s", run.ID, len(retry), truncate(strings.Join(retry, "; "), 1000))
	}
	return nil
}

func done(status string) bool {
	switch status {
	case RunSent, RunEmpty, RunNoTarget, RunFailed, RunPartial:
		return true
	}
	return false
}

// freeze builds the run's content and its delivery rows, once: a
// concurrent or repeated call finds the content set and reloads it.
func (s *Service) freeze(ctx context.Context, sub Subscription, run *Run) error {
	d, custs, err := s.compose(ctx, sub, run.ID, run.Kind, run.PeriodStart, run.PeriodEnd)
	if err != nil {
		return err
	}
	targets, err := s.targets(ctx, sub, d, custs)
	if err != nil {
		return err
	}
	return s.saveContent(ctx, sub, run, d, targets)
}

// saveContent writes content and deliveries of a run (also used by immediate
// notices, whose content is built when the group is flushed).
func (s *Service) saveContent(ctx context.Context, sub Subscription, run *Run, d *Digest, targets []target) error {
	content, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("marshal digest: %w", err)
	}
	now := s.clock()
	status := RunSending
	switch {
	case d.Empty() && !sub.SendEmpty:
		status = RunEmpty
	case len(targets) == 0:
		status = RunNoTarget
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		upd := tx.NewUpdate().Model((*Run)(nil)).Set("content = ?", string(content)).Set("status = ?", status).
			Set("case_count = ?", d.Totals.Cases).Set("customer_count = ?", len(d.Customers)).Set("updated_at = ?", now).
			Where("id = ? AND content = ''", run.ID)
		if status != RunSending {
			upd = upd.Set("finished_at = ?", now)
		}
		res, err := upd.Exec(ctx)
		if err != nil {
			return fmt.Errorf("store digest content: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 || status != RunSending {
			return nil
		}
		rows := make([]Delivery, 0, len(targets))
		for _, t := range targets {
			rows = append(rows, Delivery{ID: ids.At(now), RunID: run.ID, Channel: t.channel, Target: t.target, Status: DeliveryPending, UpdatedAt: now})
		}
		if _, err := tx.NewInsert().Model(&rows).On("CONFLICT (run_id, channel, target) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("insert digest deliveries: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fresh, err := s.st.getRun(ctx, s.db.Read, run.ID)
	if err != nil {
		return err
	}
	*run = fresh
	return nil
}

type target struct{ channel, target string }

// targets lists a digest's deliveries: one per e-mail recipient, one for
// the webhook, one per customer section for Odoo.
func (s *Service) targets(ctx context.Context, sub Subscription, d *Digest, custs []Customer) ([]target, error) {
	var out []target
	if sub.Channels.Email != nil {
		rcpts, err := s.recipients(ctx, sub)
		if err != nil && apperr.KindOf(err) != apperr.KindNotFound {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range rcpts {
			if k := strings.ToLower(r); !seen[k] {
				seen[k] = true
				out = append(out, target{ChannelEmail, r})
			}
		}
	}
	if sub.Channels.Webhook != nil {
		out = append(out, target{ChannelWebhook, redactURL(sub.Channels.Webhook.URL)})
	}
	if sub.Channels.Odoo != nil && d.Kind != RunImmediate {
		sales := map[string]int64{}
		for _, c := range custs {
			sales[c.ID] = c.SalespersonOdooID
		}
		for _, sec := range d.Customers {
			t := "res.partner/" + sec.ID
			if sub.Channels.Odoo.Mode == OdooActivity {
				t += " res.users/" + strconv.FormatInt(sales[sec.ID], 10)
			}
			out = append(out, target{ChannelOdoo, t})
		}
	}
	return out, nil
}

// deliver sends one delivery and returns the receiver's id for it.
func (s *Service) deliver(ctx context.Context, sub Subscription, sealedSecret string, run Run, d *Digest, r Rendered, dl Delivery) (string, error) {
	switch dl.Channel {
	case ChannelEmail:
		if s.mailer == nil || s.from == "" {
			return "", &PermanentError{Err: fmt.Errorf("e-mail is %w: set YARDMASTER_SMTP_URL and YARDMASTER_SMTP_FROM", errNotConfigured)}
		}
		msgID := run.ID + "." + dl.ID + "@" + domainOf(s.fromAddress())
		msg, err := BuildMessage(Message{From: s.from, To: []string{dl.Target}, Subject: r.Subject, Text: r.Text, HTML: r.HTML,
			MessageID: msgID, Date: s.clock(), Headers: map[string]string{"X-Yardmaster-Digest": run.ID}})
		if err != nil {
			return "", &PermanentError{Err: err}
		}
		return "<" + msgID + ">", s.mailer.Send(ctx, s.from, []string{dl.Target}, msg)
	case ChannelWebhook:
		w := sub.Channels.Webhook
		if w == nil {
			return "", &PermanentError{Err: errors.New("the subscription no longer has a webhook channel")}
		}
		secret, err := s.box.Open(sealedSecret, secretAAD(sub.ID))
		if err != nil {
			return "", &PermanentError{Err: fmt.Errorf("webhook secret: %w", err)}
		}
		key, err := DecodeSecret(secret)
		if err != nil {
			return "", &PermanentError{Err: fmt.Errorf("webhook secret: %w", err)}
		}
		body, err := json.Marshal(slackPayload(d, r, w.Format != WebhookSlack))
		if err != nil {
			return "", &PermanentError{Err: err}
		}
		return s.webhooks.Post(ctx, w.URL, key, "digest_"+run.ID, s.clock(), body)
	case ChannelOdoo:
		return s.deliverOdoo(ctx, sub, run, d, dl)
	}
	return "", &PermanentError{Err: fmt.Errorf("unknown channel %q", dl.Channel)}
}

func (s *Service) fromAddress() string {
	if a, err := ParseAddress(s.from); err == nil {
		return a
	}
	return s.from
}

// OdooMarker is the text that identifies one digest section in Odoo; the
// poster searches for it before creating anything.
func OdooMarker(runID, customerID string) string {
	return "yardmaster-digest:" + runID + ":" + customerID
}

func (s *Service) deliverOdoo(ctx context.Context, sub Subscription, run Run, d *Digest, dl Delivery) (string, error) {
	if s.odoo == nil {
		return "", &PermanentError{Err: fmt.Errorf("odoo is %w: set YARDMASTER_ODOO_URL", errNotConfigured)}
	}
	var partner, user int64
	fields := strings.Fields(dl.Target)
	if len(fields) == 0 {
		return "", &PermanentError{Err: fmt.Errorf("bad odoo target %q", dl.Target)}
	}
	if _, err := fmt.Sscanf(fields[0], "res.partner/%d", &partner); err != nil {
		return "", &PermanentError{Err: fmt.Errorf("bad odoo target %q", dl.Target)}
	}
	if len(fields) > 1 {
		if _, err := fmt.Sscanf(fields[1], "res.users/%d", &user); err != nil {
			return "", &PermanentError{Err: fmt.Errorf("bad odoo target %q", dl.Target)}
		}
	}
	cid := strconv.FormatInt(partner, 10)
	var sec *CustomerSection
	for i := range d.Customers {
		if d.Customers[i].ID == cid {
			sec = &d.Customers[i]
		}
	}
	if sec == nil {
		return "", &PermanentError{Err: fmt.Errorf("digest has no section for customer %s", cid)}
	}
	marker := OdooMarker(run.ID, cid)
	body, err := renderOdoo(d, sec, marker)
	if err != nil {
		return "", &PermanentError{Err: err}
	}
	subject := "Yardmaster digest: " + sec.Name
	if sub.Channels.Odoo == nil || sub.Channels.Odoo.Mode != OdooActivity {
		id, err := s.odoo.PostNote(ctx, partner, subject, body, marker)
		return "mail.message/" + strconv.FormatInt(id, 10), err
	}
	if user == 0 {
		return "", &PermanentError{Err: fmt.Errorf("customer %s (%s) has no salesperson in the Odoo mirror; use the note mode or set one in Odoo", cid, sec.Name)}
	}
	loc, err := ParseTimeZone(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	deadline := run.PeriodEnd.In(loc)
	id, err := s.odoo.ScheduleActivity(ctx, partner, user, truncate(subject+" — "+sec.Overview, 200), body, marker, deadline)
	return "mail.activity/" + strconv.FormatInt(id, 10), err
}

// DeliveryLease is how long a worker owns a delivery it is sending; a
// worker that crashed mid-send releases it by expiry.
const DeliveryLease = 6 * time.Minute

func (s *Service) lease(ctx context.Context, dl Delivery) (bool, error) {
	now := s.clock()
	res, err := s.db.NewUpdate().Model((*Delivery)(nil)).Set("lease_until = ?", now.Add(DeliveryLease)).
		Where("id = ? AND status = ? AND (lease_until IS NULL OR lease_until < ?)", dl.ID, DeliveryPending, now).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("lease digest delivery: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Service) recordAttempt(ctx context.Context, dl Delivery, outcome, ext string, derr error, took time.Duration) error {
	now := s.clock()
	detail := ext
	if derr != nil {
		detail = truncate(derr.Error(), 2000)
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.NewSelect().Model((*Attempt)(nil)).Where("delivery_id = ?", dl.ID).ColumnExpr("COUNT(*)").Scan(ctx, &n); err != nil {
			return fmt.Errorf("count digest attempts: %w", err)
		}
		a := Attempt{DeliveryID: dl.ID, RunID: dl.RunID, Attempt: n + 1, At: now, Outcome: outcome, Detail: detail, DurationMS: took.Milliseconds()}
		if _, err := tx.NewInsert().Model(&a).Exec(ctx); err != nil {
			return fmt.Errorf("record digest attempt: %w", err)
		}
		upd := tx.NewUpdate().Model((*Delivery)(nil)).Set("attempts = attempts + 1").Set("updated_at = ?", now).Set("lease_until = NULL").
			Where("id = ?", dl.ID)
		switch outcome {
		case OutcomeSent:
			upd = upd.Set("status = ?", DeliverySent).Set("sent_at = ?", now).Set("external_id = ?", truncate(ext, 200)).Set("last_error = ''")
		case OutcomePermanent:
			upd = upd.Set("status = ?", DeliveryFailed).Set("last_error = ?", detail)
		default:
			upd = upd.Set("last_error = ?", detail)
		}
		if _, err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update digest delivery: %w", err)
		}
		return nil
	})
}

// settle sets the run's status from its deliveries.
func (s *Service) settle(ctx context.Context, runID string, retrying bool) (string, error) {
	ds, err := s.st.deliveries(ctx, s.db.Read, runID)
	if err != nil {
		return "", err
	}
	sent, failed, pending := 0, 0, 0
	var errs []string
	for _, d := range ds {
		switch d.Status {
		case DeliverySent:
			sent++
		case DeliveryFailed:
			failed++
			errs = append(errs, d.Channel+" "+d.Target+": "+d.LastError)
		default:
			pending++
			if d.LastError != "" {
				errs = append(errs, d.Channel+" "+d.Target+": "+d.LastError)
			}
		}
	}
	status := RunSending
	switch {
	case pending > 0 || retrying:
	case failed == 0:
		status = RunSent
	case sent > 0:
		status = RunPartial
	default:
		status = RunFailed
	}
	summary := truncate(strings.Join(errs, "; "), 2000)
	now := s.clock()
	upd := s.db.NewUpdate().Model((*Run)(nil)).Set("status = ?", status).Set("error = ?", summary).Set("updated_at = ?", now).Where("id = ?", runID)
	if done(status) {
		upd = upd.Set("finished_at = ?", now)
	}
	if _, err := upd.Exec(ctx); err != nil {
		return status, fmt.Errorf("settle digest run %s: %w", runID, err)
	}
	return status, nil
}

func decodeDigest(content string) (*Digest, error) {
	var d Digest
	if err := json.Unmarshal([]byte(content), &d); err != nil {
		return nil, fmt.Errorf("decode stored digest: %w", err)
	}
	return &d, nil
}

func (s *Service) noteBuildError(ctx context.Context, runID string, cause error, final bool) {
	now := s.clock()
	upd := s.db.NewUpdate().Model((*Run)(nil)).Set("error = ?", truncate("building the digest: "+cause.Error(), 2000)).
		Set("updated_at = ?", now).Where("id = ? AND content = ''", runID)
	if final {
		upd = upd.Set("status = ?", RunFailed).Set("finished_at = ?", now)
	}
	if _, err := upd.Exec(context.WithoutCancel(ctx)); err != nil {
		s.log.ErrorContext(ctx, "record digest build error", "run_id", runID, "err", err)
	}
}
