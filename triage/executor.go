package triage

import (
	"context"
	"errors"
	"fmt"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Executor performs approved actions in the system of record (Odoo). The
// Odoo connector implements it; internal/app plugs it in. Both methods
// must be safe to call again: Execute with the same IdempotencyKey must
// find the effect of an earlier call (which may have succeeded just before
// a crash) and report it instead of acting twice.
type Executor interface {
	// Preview returns the exact change Execute would make, reading the
	// current record; it changes nothing.
	Preview(ctx context.Context, a ActionRequest) (Preview, error)
	// Execute makes the change once per IdempotencyKey.
	Execute(ctx context.Context, a ActionRequest) (Result, error)
}

// ActionRequest is what an executor needs: the action and the case facts
// that locate its target.
type ActionRequest struct {
	ActionID       string            `json:"action_id"`
	Type           string            `json:"type"`
	Params         map[string]string `json:"params"`
	IdempotencyKey string            `json:"idempotency_key"`
	Case           CaseRef           `json:"case"`
}

// CaseRef locates the Odoo records of a case.
type CaseRef struct {
	ID             string `json:"id"`
	Title          string `json:"title"`
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	OrderRef       string `json:"order_ref,omitempty"`
	PickingRef     string `json:"picking_ref,omitempty"`
	CustomerID     string `json:"customer_id,omitempty"`
	Salesperson    string `json:"salesperson,omitempty"`
	URL            string `json:"url,omitempty"`
}

// Target is the record an action changes or creates.
type Target struct {
	Model string `json:"model"`
	ID    int64  `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
}

// FieldChange is one field an action sets.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after"`
}

// Preview is the exact change an action would make.
type Preview struct {
	Summary  string        `json:"summary"`
	Target   Target        `json:"target"`
	Create   bool          `json:"create,omitempty"` // a new record (note, activity, ticket)
	Changes  []FieldChange `json:"changes"`
	Warnings []string      `json:"warnings,omitempty"`
}

// Result is what an execution did.
type Result struct {
	Target Target `json:"target"`
	Detail string `json:"detail,omitempty"`
	// Replayed is set when the effect was found from an earlier attempt
	// (same idempotency key) and nothing new was written.
	Replayed bool `json:"replayed,omitempty"`
}

// ErrPermanent marks executor errors that retrying cannot fix (a missing
// record, a rejected value); the action fails at once for a person to
// look at.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// isPermanent reports errors retrying cannot fix.
func isPermanent(err error) bool {
	if errors.Is(err, ErrPermanent) {
		return true
	}
	switch apperr.KindOf(err) {
	case apperr.KindInvalid, apperr.KindNotFound, apperr.KindForbidden, apperr.KindBadRequest:
		return true
	}
	return false
}
