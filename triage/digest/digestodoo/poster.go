package digestodoo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// Poster is a digest.OdooPoster over an odoo.Client.
type Poster struct {
	c *odoo.Client

	mu        sync.Mutex
	partnerID int64 // ir.model id of res.partner, cached
	todoType  int64 // mail.activity.type To-Do, cached
}

var _ digest.OdooPoster = (*Poster)(nil)

// New returns a poster over c.
func New(c *odoo.Client) *Poster { return &Poster{c: c} }

// classify marks errors retrying cannot fix as permanent for the digest.
// Server faults (Fault 1) and protocol errors stay retryable: they also
// come from "committed, then failed" answers, which the marker search makes
// safe to retry.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("odoo %s: %w", op, err)
	for _, p := range []error{odoo.ErrUser, odoo.ErrAccess, odoo.ErrNotFound, odoo.ErrInvalid} {
		if errors.Is(err, p) {
			return &digest.PermanentError{Err: err}
		}
	}
	return err
}

// PostNote posts an internal note (subtype mail.mt_note: followers are not
// e-mailed) on the res.partner, unless a message holding marker is there.
func (p *Poster) PostNote(ctx context.Context, partnerID int64, subject, htmlBody, marker string) (int64, error) {
	if err := checkMarker(marker); err != nil {
		return 0, err
	}
	found, err := p.c.Search(ctx, "mail.message", odoo.Where("model", "=", "res.partner").
		And(odoo.Where("res_id", "=", partnerID), odoo.Where("body", "ilike", marker)), odoo.SearchOptions{Limit: 1})
	if err != nil {
		return 0, classify("search note", err)
	}
	if len(found) > 0 {
		return found[0], nil
	}
	v, err := p.c.Version(ctx)
	if err != nil {
		return 0, classify("version", err)
	}
	id, err := p.c.MessagePost(ctx, "res.partner", partnerID, odoo.Message{Body: htmlBody, BodyIsHTML: v.Major >= 17,
		SubtypeXMLID: "mail.mt_note", Subject: subject})
	return id, classify("post note", err)
}

// ScheduleActivity creates a To-Do mail.activity on the res.partner for
// the Odoo user, unless an activity holding marker is there.
func (p *Poster) ScheduleActivity(ctx context.Context, partnerID, userID int64, summary, htmlNote, marker string, deadline time.Time) (int64, error) {
	if err := checkMarker(marker); err != nil {
		return 0, err
	}
	found, err := p.c.Search(ctx, "mail.activity", odoo.Where("res_model", "=", "res.partner").
		And(odoo.Where("res_id", "=", partnerID), odoo.Where("note", "ilike", marker)), odoo.SearchOptions{Limit: 1})
	if err != nil {
		return 0, classify("search activity", err)
	}
	if len(found) > 0 {
		return found[0], nil
	}
	modelID, typeID, err := p.ids(ctx)
	if err != nil {
		return 0, err
	}
	id, err := p.c.Create(ctx, "mail.activity", map[string]any{
		"res_model_id": modelID, "res_id": partnerID, "activity_type_id": typeID, "user_id": userID,
		"summary": summary, "note": htmlNote, "date_deadline": deadline.Format(odoo.DateLayout),
	}, nil)
	return id, classify("create activity", err)
}

func (p *Poster) ids(ctx context.Context) (int64, int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.partnerID == 0 {
		id, err := p.c.ModelID(ctx, "res.partner")
		if err != nil {
			return 0, 0, classify("res.partner model id", err)
		}
		p.partnerID = id
	}
	if p.todoType == 0 {
		id, err := p.c.XMLID(ctx, "mail.mail_activity_data_todo")
		if err != nil {
			return 0, 0, classify("To-Do activity type", err)
		}
		p.todoType = id
	}
	return p.partnerID, p.todoType, nil
}

// checkMarker refuses markers an ilike search would treat as patterns.
func checkMarker(m string) error {
	if len(m) < 16 || strings.ContainsAny(m, "%_\\") {
		return &digest.PermanentError{Err: fmt.Errorf("odoo marker %q must be at least 16 characters without %%, _ or \\", m)}
	}
	return nil
}
