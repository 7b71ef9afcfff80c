package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/triage/ai"
	"github.com/yardmaster/yardmaster/triage/digest"
	"github.com/yardmaster/yardmaster/triage/digest/digestodoo"
	"github.com/yardmaster/yardmaster/triage/digest/digesttriage"
)

// DigestRetention is how long digest history (runs, deliveries, attempts)
// is kept: a year and a bit, so last year's same week can be compared.
const DigestRetention = 400 * 24 * time.Hour

// wireDigest builds escalation digests: SMTP from YARDMASTER_SMTP_URL and
// YARDMASTER_SMTP_FROM, cases and escalations from triage, customers from
// the Odoo mirror, the Odoo channel through the connector's client, the
// overview from the AI summarizer when an LLM is configured; it registers
// the send job, the schedule tick (every minute) and the escalation poll
// (every 15 s), the API and history pruning.
func (a *App) wireDigest(ctx context.Context) error {
	opts := digest.Options{DB: a.DB, Box: a.Box, Now: a.Now, Log: a.Log.With("component", "digest"),
		Links: digest.Links{Base: a.Config.PublicURL}, Kick: a.Queue.Kick, From: a.Config.SMTPFrom,
		Directory: digestodoo.NewDirectory(a.DB.Read),
		Webhooks:  digest.NewWebhookSender("Yardmaster-Digest/"+a.Version, a.Config.DigestWebhookPrivate)}
	if a.Config.SMTPURL != "" {
		cfg, err := digest.ParseSMTPURL(a.Config.SMTPURL)
		if err != nil {
			return fmt.Errorf("YARDMASTER_SMTP_URL: %w", err)
		}
		opts.Mailer = &digest.SMTPMailer{Config: cfg}
	} else {
		a.Log.Info("no SMTP server configured: digests go through webhooks and Odoo only", "set", "YARDMASTER_SMTP_URL")
	}
	if a.Triage != nil {
		src := digesttriage.New(a.DB.Read, a.Now)
		opts.Cases, opts.Feed = src, src
	}
	if a.Odoo != nil && a.Odoo.Client != nil {
		opts.Odoo = digestodoo.New(a.Odoo.Client)
	}
	if a.AI != nil && a.AI.Summarizer != nil && a.AI.Summarizer.Configured() {
		opts.Overviewer = aiOverview{s: a.AI.Summarizer}
	}
	svc := digest.New(opts)
	a.Digest = svc
	a.Queue.Handle(digest.TaskSend, svc.HandleSend)
	a.Queue.Handle(digest.TaskTick, svc.HandleTick)
	a.Queue.Handle(digest.TaskEscalations, svc.HandleEscalations)
	a.Queue.Every(digest.TaskTick, time.Minute, queue.QueueDefault)
	a.Queue.Every(digest.TaskEscalations, digest.EscalationPoll, queue.QueueCritical)
	if a.RunsAPI() {
		a.Web.DigestRoutes(svc)
	}
	a.AddPruner(Pruner{Name: "digest_history", Fn: func(ctx context.Context, now time.Time) (int, error) {
		return svc.Prune(ctx, now.Add(-DigestRetention))
	}})
	return nil
}

// aiOverview writes a digest's overview with the LLM summarizer
// (digest:summarize's synchronous path). Only a model-written answer is
// used; the summarizer's own fallback gives way to the digest's
// deterministic overview, which knows the digest's vocabulary.
type aiOverview struct{ s *ai.Summarizer }

func (o aiOverview) DigestOverview(ctx context.Context, d *digest.Digest) (digest.Overview, error) {
	f := digestFacts(d)
	sum, err := o.s.SummarizeDigest(ctx, f)
	if err != nil {
		return digest.Overview{}, err
	}
	if sum.GeneratedBy != ai.GeneratedByLLM {
		return digest.Overview{}, errors.New("no model answer: " + sum.FallbackReason)
	}
	by := "AI"
	if sum.Model != "" {
		by = "AI (" + sum.Model + ")"
	}
	ov := digest.Overview{Text: sum.Text, GeneratedBy: by}
	for _, h := range sum.Highlights {
		ov.Highlights = append(ov.Highlights, digest.Highlight{CaseID: h.CaseID, Text: h.Text})
	}
	return ov, nil
}

// digestFacts is what the summarizer may know of a digest: counts and its
// most important cases (the builder's order), redacted by the summarizer.
func digestFacts(d *digest.Digest) ai.DigestFacts {
	id := d.RunID
	if id == "" {
		id = "preview"
	}
	f := ai.DigestFacts{DigestID: id, Recipient: ai.Contact{Role: "recipient", Name: d.Subscription.Audience},
		PeriodStart: d.PeriodStart, PeriodEnd: d.PeriodEnd,
		Counts: ai.DigestCounts{Opened: d.Totals.Opened, Updated: d.Totals.Cases, Resolved: d.Totals.Resolved, SLABreached: d.Totals.Breached,
			SLAAtRisk: d.Totals.AtRisk, PendingApprovals: d.Totals.PendingApproval, ActionsExecuted: d.Totals.ActionsTaken}}
	if !f.PeriodEnd.After(f.PeriodStart) {
		f.PeriodStart = f.PeriodEnd.Add(-time.Minute)
	}
	for _, s := range d.Customers {
		cust := ai.Contact{Role: "customer", Name: s.Name, IsCompany: true}
		f.Accounts = append(f.Accounts, cust)
		for _, c := range s.Cases {
			if len(f.Cases) == ai.MaxDigestCases {
				break
			}
			f.Cases = append(f.Cases, ai.DigestCase{CaseID: c.ID, Title: c.Title, Severity: string(c.Severity), Status: c.State,
				Carrier: c.Carrier, TrackingNumber: c.TrackingNumber, OrderRef: c.OrderRef, SLABreached: c.HasFlag(digest.FlagBreached), Customer: cust})
		}
	}
	return f
}
