package digest

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// EscalationPoll is how often TaskEscalations runs: the precision of
// group_wait and group_interval.
const EscalationPoll = 15 * time.Second

// feedBatch is how many escalations one feed call returns at most.
const feedBatch = 500

const cursorKey = "escalations.cursor"

type groupRow struct {
	bun.BaseModel `bun:"table:digest_alert_groups"`

	SubscriptionID string     `bun:"subscription_id,pk"`
	NextFlushAt    time.Time  `bun:"next_flush_at"`
	LastSentAt     *time.Time `bun:"last_sent_at"`
	Version        int64      `bun:"version"`
	CreatedAt      time.Time  `bun:"created_at"`
}

type alertRow struct {
	bun.BaseModel `bun:"table:digest_alerts"`

	SubscriptionID string     `bun:"subscription_id,pk"`
	CaseID         string     `bun:"case_id,pk"`
	CaseRef        string     `bun:"case_ref"`
	Title          string     `bun:"title"`
	CustomerID     string     `bun:"customer_id"`
	CustomerName   string     `bun:"customer_name"`
	Severity       string     `bun:"severity"`
	Kind           string     `bun:"kind"`
	FirstAt        time.Time  `bun:"first_at"`
	LastAt         time.Time  `bun:"last_at"`
	NotifiedAt     *time.Time `bun:"notified_at"`
}

type stateRow struct {
	bun.BaseModel `bun:"table:digest_state"`

	Key       string    `bun:"key,pk"`
	Value     string    `bun:"value"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// EscalationStats says what one ProcessEscalations call did.
type EscalationStats struct {
	Read    int // escalations read from the feed
	Grouped int // (subscription, case) alerts added or renewed
	Notices int // notices created
}

// HandleEscalations is the queue handler of TaskEscalations.
func (s *Service) HandleEscalations(ctx context.Context, _ queue.Delivery) error {
	_, err := s.ProcessEscalations(ctx)
	return err
}

// ProcessEscalations reads escalations after the stored watermark into the
// groups of the subscriptions they concern, then sends the notices of
// groups whose timer is due. Several processes may run it at once: the
// watermark and each group are compared and set in their transactions.
func (s *Service) ProcessEscalations(ctx context.Context) (EscalationStats, error) {
	var st EscalationStats
	if s.feed == nil {
		return st, nil
	}
	subs, err := s.immediateSubs(ctx)
	if err != nil {
		return st, err
	}
	if err := s.ingest(ctx, subs, &st); err != nil {
		return st, err
	}
	if err := s.flushDue(ctx, subs, &st); err != nil {
		return st, err
	}
	if st.Notices > 0 {
		s.kick()
	}
	return st, nil
}

type immSub struct {
	sub       Subscription
	customers map[string]bool
}

// immediateSubs loads the subscriptions with immediate notices on, with
// their customer sets.
func (s *Service) immediateSubs(ctx context.Context) (map[string]*immSub, error) {
	var rows []subscriptionRow
	if err := s.db.Read.NewSelect().Model(&rows).Where("immediate_on = ?", true).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load immediate subscriptions: %w", err)
	}
	out := map[string]*immSub{}
	for i := range rows {
		sub, err := rows[i].subscription()
		if err != nil {
			return nil, err
		}
		custs, err := s.customers(ctx, sub)
		if err != nil {
			s.log.WarnContext(ctx, "customers of subscription unavailable; its escalations wait", "subscription_id", sub.ID, "err", err)
			return nil, err
		}
		set := map[string]bool{}
		for _, c := range custs {
			set[c.ID] = true
		}
		out[sub.ID] = &immSub{sub: sub, customers: set}
	}
	return out, nil
}

func (im *immSub) wants(e Escalation) bool {
	if !im.customers[e.CustomerID] {
		return false
	}
	switch e.Kind {
	case EscalationBreach:
		return im.sub.Immediate.OnBreach
	case EscalationSeverity:
		return e.Severity.AtLeast(im.sub.Immediate.MinSeverity)
	}
	return false
}

func (s *Service) ingest(ctx context.Context, subs map[string]*immSub, st *EscalationStats) error {
	for {
		var cur stateRow
		err := s.db.Read.NewSelect().Model(&cur).Where("key = ?", cursorKey).Scan(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("load escalation watermark: %w", err)
		}
		exists := err == nil
		if !exists {
			cur.Value = s.feed.CursorAt(s.clock().Add(-FirstPollLookback))
		}
		batch, err := s.feed.EscalationsAfter(ctx, cur.Value, feedBatch)
		if err != nil {
			return fmt.Errorf("read escalations: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		last := batch[len(batch)-1].Cursor
		if last <= cur.Value {
			return fmt.Errorf("escalation feed returned cursor %q not after %q", last, cur.Value)
		}
		now := s.clock()
		grouped := 0
		err = s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			grouped = 0
			// Claim the batch first: a process that lost the race stops
			// here with nothing written.
			if exists {
				res, err := tx.NewUpdate().Model((*stateRow)(nil)).Set("value = ?", last).Set("updated_at = ?", now).
					Where("key = ? AND value = ?", cursorKey, cur.Value).Exec(ctx)
				if err != nil {
					return fmt.Errorf("advance escalation watermark: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return errLostRace
				}
			} else {
				res, err := tx.NewInsert().Model(&stateRow{Key: cursorKey, Value: last, UpdatedAt: now}).On("CONFLICT (key) DO NOTHING").Exec(ctx)
				if err != nil {
					return fmt.Errorf("store escalation watermark: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return errLostRace
				}
			}
			for _, e := range batch {
				for _, im := range subs {
					if !im.wants(e) {
						continue
					}
					if err := s.addAlert(ctx, tx, im.sub, e, now); err != nil {
						return err
					}
					grouped++
				}
			}
			return nil
		})
		if errors.Is(err, errLostRace) {
			continue // another process took this batch; read on from its watermark
		}
		if err != nil {
			return err
		}
		st.Read += len(batch)
		st.Grouped += grouped
		observeEscalations(len(batch), grouped)
		if len(batch) < feedBatch {
			return nil
		}
	}
}

var errLostRace = errors.New("another process advanced the escalation watermark")

// addAlert puts e into sub's group: a new case is pending; a known case is
// pending again when it got more severe or breached; the group is created
// (first notice after group_wait) when idle.
func (s *Service) addAlert(ctx context.Context, tx bun.Tx, sub Subscription, e Escalation, now time.Time) error {
	at := e.At.UTC()
	var old alertRow
	err := tx.NewSelect().Model(&old).Where("subscription_id = ? AND case_id = ?", sub.ID, e.CaseID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		a := alertRow{SubscriptionID: sub.ID, CaseID: e.CaseID, CaseRef: truncate(e.CaseRef, 100), Title: truncate(e.Title, 300),
			CustomerID: e.CustomerID, CustomerName: truncate(e.CustomerName, 200), Severity: string(e.Severity), Kind: e.Kind, FirstAt: at, LastAt: at}
		if _, err := tx.NewInsert().Model(&a).Exec(ctx); err != nil {
			return fmt.Errorf("insert escalation alert: %w", err)
		}
	case err != nil:
		return fmt.Errorf("load escalation alert: %w", err)
	default:
		worse := e.Severity.Rank() > Severity(old.Severity).Rank() || (e.Kind == EscalationBreach && old.Kind != EscalationBreach)
		upd := tx.NewUpdate().Model((*alertRow)(nil)).Set("last_at = ?", at).Set("title = ?", truncate(cmp.Or(e.Title, old.Title), 300)).
			Where("subscription_id = ? AND case_id = ?", sub.ID, e.CaseID)
		if worse {
			kind := e.Kind
			if old.Kind == EscalationBreach {
				kind = EscalationBreach
			}
			sev := e.Severity
			if Severity(old.Severity).Rank() > sev.Rank() {
				sev = Severity(old.Severity)
			}
			upd = upd.Set("severity = ?", string(sev)).Set("kind = ?", kind).Set("notified_at = NULL")
		}
		if _, err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update escalation alert: %w", err)
		}
	}
	g := groupRow{SubscriptionID: sub.ID, NextFlushAt: at.Add(sub.Immediate.GroupWait.D()), CreatedAt: now}
	if _, err := tx.NewInsert().Model(&g).On("CONFLICT (subscription_id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("create escalation group: %w", err)
	}
	return nil
}

// flushDue sends the notices of groups whose timer is due.
func (s *Service) flushDue(ctx context.Context, subs map[string]*immSub, st *EscalationStats) error {
	now := s.clock()
	var groups []groupRow
	if err := s.db.Read.NewSelect().Model(&groups).Where("next_flush_at <= ?", now).Order("next_flush_at").Limit(500).Scan(ctx); err != nil {
		return fmt.Errorf("load due escalation groups: %w", err)
	}
	for _, g := range groups {
		im := subs[g.SubscriptionID]
		n, err := s.flushGroup(ctx, g, im, now)
		if err != nil {
			return err
		}
		st.Notices += n
	}
	return nil
}

// flushGroup applies Alertmanager's timers to one group: pending cases are
// sent now, and the next flush is a group_interval away; with nothing
// pending, a group still escalated is re-sent once repeat_interval has
// passed since the last notice; a group whose cases are all back to normal
// is removed.
func (s *Service) flushGroup(ctx context.Context, g groupRow, im *immSub, now time.Time) (int, error) {
	var alerts []alertRow
	if err := s.db.Read.NewSelect().Model(&alerts).Where("subscription_id = ?", g.SubscriptionID).Order("first_at", "case_id").Scan(ctx); err != nil {
		return 0, fmt.Errorf("load escalation alerts: %w", err)
	}
	var gone []string
	if len(alerts) > 0 && im != nil {
		caseIDs := make([]string, len(alerts))
		for i, a := range alerts {
			caseIDs[i] = a.CaseID
		}
		still, err := s.feed.StillEscalated(ctx, caseIDs)
		if err != nil {
			return 0, fmt.Errorf("check escalated cases: %w", err)
		}
		kept := alerts[:0]
		for _, a := range alerts {
			if still[a.CaseID] {
				kept = append(kept, a)
			} else {
				gone = append(gone, a.CaseID)
			}
		}
		alerts = kept
	}
	var pending []alertRow
	for _, a := range alerts {
		if a.NotifiedAt == nil {
			pending = append(pending, a)
		}
	}
	send := pending
	repeat := false
	if len(pending) == 0 && len(alerts) > 0 && im != nil && g.LastSentAt != nil &&
		!now.Before(g.LastSentAt.Add(im.sub.Immediate.RepeatInterval.D())) {
		send, repeat = alerts, true
	}
	notices := 0
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		notices = 0
		if len(gone) > 0 {
			if _, err := tx.NewDelete().Model((*alertRow)(nil)).Where("subscription_id = ? AND case_id IN (?)", g.SubscriptionID, bun.In(gone)).Exec(ctx); err != nil {
				return fmt.Errorf("drop settled escalation alerts: %w", err)
			}
		}
		if im == nil || (len(alerts) == 0) {
			// The subscription stopped immediate notices, or every case is
			// back to normal: the group ends.
			_, err := tx.NewDelete().Model((*groupRow)(nil)).Where("subscription_id = ? AND version = ?", g.SubscriptionID, g.Version).Exec(ctx)
			if err != nil {
				return fmt.Errorf("end escalation group: %w", err)
			}
			if im == nil {
				_, err = tx.NewDelete().Model((*alertRow)(nil)).Where("subscription_id = ?", g.SubscriptionID).Exec(ctx)
			}
			return err
		}
		upd := tx.NewUpdate().Model((*groupRow)(nil)).Set("next_flush_at = ?", now.Add(im.sub.Immediate.GroupInterval.D())).
			Set("version = version + 1").Where("subscription_id = ? AND version = ?", g.SubscriptionID, g.Version)
		if len(send) > 0 {
			upd = upd.Set("last_sent_at = ?", now)
		}
		res, err := upd.Exec(ctx)
		if err != nil {
			return fmt.Errorf("advance escalation group: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 || len(send) == 0 {
			return nil // another process flushed it, or nothing to say yet
		}
		if err := s.createNotice(ctx, tx, im.sub, g, send, len(alerts), repeat, now); err != nil {
			return err
		}
		keys := make([]string, len(send))
		for i, a := range send {
			keys[i] = a.CaseID
		}
		for chunk := range slices.Chunk(keys, 500) {
			if _, err := tx.NewUpdate().Model((*alertRow)(nil)).Set("notified_at = ?", now).
				Where("subscription_id = ? AND case_id IN (?)", g.SubscriptionID, bun.In(chunk)).Exec(ctx); err != nil {
				return fmt.Errorf("mark escalation alerts notified: %w", err)
			}
		}
		notices = 1
		return nil
	})
	if err == nil && notices > 0 {
		observeNotice(len(send))
	}
	return notices, err
}

// createNotice writes the run of an escalation notice with its content and
// deliveries, and its urgent send job.
func (s *Service) createNotice(ctx context.Context, tx bun.Tx, sub Subscription, g groupRow, send []alertRow, active int, repeat bool, now time.Time) error {
	since := g.CreatedAt
	if g.LastSentAt != nil {
		since = *g.LastSentAt
	}
	run := Run{ID: ids.At(now), SubscriptionID: sub.ID, Kind: RunImmediate, ScheduledFor: now, PeriodStart: since.UTC(), PeriodEnd: now,
		Status: RunSending, CreatedAt: now, UpdatedAt: now}
	d := noticeDigest(sub, s.audience(ctx, sub), run.ID, send, active, repeat, since, now, s.links)
	content, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("marshal escalation notice: %w", err)
	}
	targets, err := s.targets(ctx, sub, d, nil)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		run.Status = RunNoTarget
		run.FinishedAt = &now
	}
	run.Content, run.CaseCount, run.CustomerCount = string(content), d.Totals.Cases, len(d.Customers)
	if _, err := tx.NewInsert().Model(&run).Exec(ctx); err != nil {
		return fmt.Errorf("insert escalation notice: %w", err)
	}
	if len(targets) == 0 {
		return nil
	}
	rows := make([]Delivery, 0, len(targets))
	for _, t := range targets {
		rows = append(rows, Delivery{ID: ids.At(now), RunID: run.ID, Channel: t.channel, Target: t.target, Status: DeliveryPending, UpdatedAt: now})
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert escalation notice deliveries: %w", err)
	}
	return s.addSendJob(ctx, tx, run, "digest:"+sub.ID+":notice:"+run.ID, true)
}

// noticeDigest lays the grouped cases out as a digest of kind immediate:
// one section per customer, every case listed.
func noticeDigest(sub Subscription, audience, runID string, alerts []alertRow, active int, repeat bool, since, now time.Time, links Links) *Digest {
	d := &Digest{Version: ContentVersion, RunID: runID, Kind: RunImmediate, PeriodStart: since.UTC(), PeriodEnd: now.UTC(), TimeZone: sub.TimeZone,
		MinSeverity: sub.Immediate.MinSeverity, GeneratedAt: now.UTC(), URL: links.Run(runID),
		Subscription: SubscriptionRef{ID: sub.ID, Name: sub.Name, Audience: audience, URL: links.Subscription(sub.ID)}, Customers: []CustomerSection{}}
	secs := map[string]*CustomerSection{}
	var order []string
	for _, a := range alerts {
		sec := secs[a.CustomerID]
		if sec == nil {
			sec = &CustomerSection{ID: a.CustomerID, Name: cmp.Or(a.CustomerName, "Customer "+a.CustomerID), URL: links.Customer(a.CustomerID), Cases: []CaseLine{}}
			secs[a.CustomerID] = sec
			order = append(order, a.CustomerID)
		}
		l := CaseLine{ID: a.CaseID, Ref: a.CaseRef, Title: a.Title, URL: links.Case(a.CaseID), Severity: Severity(a.Severity), State: "open"}
		var t Totals
		t.Cases, t.Open = 1, 1
		if a.Kind == EscalationBreach {
			l.Flags, l.SLA, t.Breached = []string{FlagBreached}, "breached", 1
		} else {
			l.Flags, t.Escalated = []string{FlagEscalated}, 1
		}
		l.Changes = []Change{{At: a.LastAt, Kind: map[bool]string{true: ChangeSLABreached, false: ChangeEscalated}[a.Kind == EscalationBreach],
			Detail: "severity " + a.Severity}}
		sec.Cases = append(sec.Cases, l)
		sec.Totals.add(t)
	}
	for _, id := range order {
		sec := secs[id]
		slices.SortStableFunc(sec.Cases, compareLines)
		sec.Overview = customerOverview(sec)
		d.Totals.add(sec.Totals)
		d.Customers = append(d.Customers, *sec)
	}
	slices.SortFunc(d.Customers, func(a, b CustomerSection) int {
		if c := cmp.Compare(attention(b.Totals), attention(a.Totals)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var b strings.Builder
	if repeat {
		fmt.Fprintf(&b, "Still unresolved: %s", plural(len(alerts), "case remains", "cases remain"))
	} else {
		fmt.Fprintf(&b, "%s", plural(len(alerts), "case needs attention now", "cases need attention now"))
	}
	if p := countPhrases(d.Totals); len(p) > 0 {
		b.WriteString(" (" + joinPhrases(p) + ")")
	}
	b.WriteString(".")
	if earlier := active - len(alerts); earlier > 0 && !repeat {
		fmt.Fprintf(&b, " %s notified earlier %s still escalated.", plural(earlier, "case", "cases"), map[bool]string{true: "is", false: "are"}[earlier == 1])
	}
	d.Overview = &Overview{Text: b.String(), GeneratedBy: "deterministic"}
	return d
}
