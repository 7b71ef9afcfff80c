package digest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // subscribers' zones must load on hosts without tzdata

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Subscriber kinds.
const (
	SubscriberUser = "user"
	SubscriberTeam = "team"
)

// Odoo channel modes.
const (
	OdooNote     = "note"
	OdooActivity = "activity"
)

// Webhook body formats.
const (
	WebhookSlack = "slack" // Slack incoming-webhook fields only
	WebhookFull  = "full"  // Slack fields plus the digest JSON under "digest"
)

// Subscriber is who receives a subscription's digests.
type Subscriber struct {
	Kind   string `json:"kind" jsonschema:"enum=user,enum=team"`
	UserID string `json:"user_id,omitempty"` // kind user: a Yardmaster user id
	Team   string `json:"team,omitempty"`    // kind team: users whose team field is this
}

// CustomerSelection says which customers a subscription covers.
type CustomerSelection struct {
	// Auto includes the customers the Odoo mirror links to the subscriber.
	Auto bool `json:"auto"`
	// Include adds customers by id (the Odoo res.partner id).
	Include []Customer `json:"include,omitempty"`
	// Exclude removes customers by id, also auto-linked ones.
	Exclude []string `json:"exclude,omitempty"`
}

// EmailChannel sends the digest by e-mail.
type EmailChannel struct {
	// To overrides the recipients; empty means the user's e-mail, or every
	// team member's.
	To []string `json:"to,omitempty"`
}

// WebhookChannel posts the digest as signed JSON (Standard Webhooks).
type WebhookChannel struct {
	URL string `json:"url"`
	// Format is "full" (default: Slack fields plus the digest) or "slack".
	Format string `json:"format,omitempty" jsonschema:"enum=full,enum=slack"`
	// Secret is write-only: whsec_ followed by base64 of 24-64 random bytes.
	// Omitted on create: one is generated and returned once. Omitted on
	// update: the stored one is kept.
	Secret string `json:"secret,omitempty"`
	// HasSecret is set in answers.
	HasSecret bool `json:"has_secret,omitempty"`
}

// OdooChannel writes the digest into Odoo, one per customer section: an
// internal note on the customer's chatter, or an activity for the
// customer's salesperson.
type OdooChannel struct {
	Mode string `json:"mode" jsonschema:"enum=note,enum=activity"`
}

// Channels of a subscription; at least one must be set.
type Channels struct {
	Email   *EmailChannel   `json:"email,omitempty"`
	Webhook *WebhookChannel `json:"webhook,omitempty"`
	Odoo    *OdooChannel    `json:"odoo,omitempty"`
}

// Immediate configures escalation notices, grouped like Alertmanager.
type Immediate struct {
	Enabled bool `json:"enabled"`
	// MinSeverity: a case reaching it notifies at once (default critical).
	MinSeverity Severity `json:"min_severity,omitempty" jsonschema:"enum=info,enum=low,enum=medium,enum=high,enum=critical"`
	// OnBreach: an SLA breach notifies whatever the severity (default true
	// when Enabled on create).
	OnBreach bool `json:"on_breach"`
	// GroupWait before the first notice of an idle group (default 30s).
	GroupWait Duration `json:"group_wait,omitempty"`
	// GroupInterval between notices of new cases (default 5m).
	GroupInterval Duration `json:"group_interval,omitempty"`
	// RepeatInterval re-sends a group with nothing new (default 4h).
	RepeatInterval Duration `json:"repeat_interval,omitempty"`
}

// Subscription is one subscriber's digest settings.
type Subscription struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Subscriber  Subscriber        `json:"subscriber"`
	TimeZone    string            `json:"timezone"`
	Schedule    string            `json:"schedule"`
	MinSeverity Severity          `json:"min_severity"`
	Customers   CustomerSelection `json:"customers"`
	Channels    Channels          `json:"channels"`
	SendEmpty   bool              `json:"send_empty"`
	Immediate   Immediate         `json:"immediate"`
	Enabled     bool              `json:"enabled"`
	// NextRunAt is the next scheduled digest.
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
	// CoveredThrough is the end of the last digest sent; the next one
	// covers what happened since.
	CoveredThrough time.Time `json:"covered_through"`
	CreatedBy      string    `json:"created_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// SubscriptionInput is what a client sends to create or replace a
// subscription.
type SubscriptionInput struct {
	Name string `json:"name" jsonschema:"maxLength=100"`
	// Subscriber defaults to the calling user.
	Subscriber  *Subscriber       `json:"subscriber,omitempty"`
	TimeZone    string            `json:"timezone" jsonschema:"example=Europe/Berlin"`
	Schedule    string            `json:"schedule" jsonschema:"example=0 8 * * 1-5"`
	MinSeverity Severity          `json:"min_severity,omitempty" jsonschema:"enum=info,enum=low,enum=medium,enum=high,enum=critical"`
	Customers   CustomerSelection `json:"customers"`
	Channels    Channels          `json:"channels"`
	SendEmpty   bool              `json:"send_empty,omitempty"`
	Immediate   *Immediate        `json:"immediate,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// MarshalText writes "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 30s, 5m or 4h", string(b))
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults of immediate notices (Alertmanager's).
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

var (
	teamRE       = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._@/&+-]{0,63}$`)
	customerIDRE = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

// maxListLen bounds every list in a subscription.
const maxListLen = 500

// normalize validates in (from a principal allowed to set the subscriber)
// and returns the subscription it describes, without id and timestamps.
// Every problem is reported at once, with its field.
func normalize(in SubscriptionInput) (Subscription, []apperr.FieldError) {
	var errs []apperr.FieldError
	bad := func(field, format string, a ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, a...)})
	}
	s := Subscription{Name: strings.TrimSpace(in.Name), TimeZone: strings.TrimSpace(in.TimeZone), Schedule: strings.TrimSpace(in.Schedule),
		MinSeverity: in.MinSeverity, SendEmpty: in.SendEmpty, Enabled: in.Enabled == nil || *in.Enabled}
	switch {
	case s.Name == "":
		bad("name", "is required")
	case len(s.Name) > 100:
		bad("name", "is longer than 100 characters")
	case strings.ContainsAny(s.Name, "\r\n\t"):
		bad("name", "must be one line")
	}
	if in.Subscriber != nil {
		s.Subscriber = *in.Subscriber
		switch s.Subscriber.Kind {
		case SubscriberUser:
			if s.Subscriber.UserID == "" {
				bad("subscriber.user_id", "is required for a user subscriber")
			}
			if s.Subscriber.Team != "" {
				bad("subscriber.team", "must be empty for a user subscriber")
			}
		case SubscriberTeam:
			s.Subscriber.Team = strings.TrimSpace(s.Subscriber.Team)
			if !teamRE.MatchString(s.Subscriber.Team) {
				bad("subscriber.team", "must be a team name of 1-64 letters, digits, spaces or ._@/&+-")
			}
			if s.Subscriber.UserID != "" {
				bad("subscriber.user_id", "must be empty for a team subscriber")
			}
		default:
			bad("subscriber.kind", "must be user or team")
		}
	}
	if _, err := ParseTimeZone(s.TimeZone); err != nil {
		bad("timezone", "%s", err.Error())
	} else if _, err := ParseSchedule(s.Schedule, s.TimeZone); err != nil {
		bad("schedule", "%s", err.Error())
	}
	if s.MinSeverity == "" {
		s.MinSeverity = SeverityLow
	} else if !s.MinSeverity.Valid() {
		bad("min_severity", "must be one of info, low, medium, high, critical")
	}

	s.Customers.Auto = in.Customers.Auto
	if len(in.Customers.Include) > maxListLen {
		bad("customers.include", "has more than %d entries", maxListLen)
	}
	if len(in.Customers.Exclude) > maxListLen {
		bad("customers.exclude", "has more than %d entries", maxListLen)
	}
	seen := map[string]bool{}
	for i, c := range in.Customers.Include {
		c.ID, c.Name = strings.TrimSpace(c.ID), strings.TrimSpace(c.Name)
		switch {
		case !customerIDRE.MatchString(c.ID):
			bad(fmt.Sprintf("customers.include[%d].id", i), "must be an Odoo customer id (a positive whole number)")
		case seen[c.ID]:
			bad(fmt.Sprintf("customers.include[%d].id", i), "is listed twice")
		case len(c.Name) > 200:
			bad(fmt.Sprintf("customers.include[%d].name", i), "is longer than 200 characters")
		}
		seen[c.ID] = true
		s.Customers.Include = append(s.Customers.Include, Customer{ID: c.ID, Name: c.Name})
	}
	for i, id := range in.Customers.Exclude {
		id = strings.TrimSpace(id)
		if !customerIDRE.MatchString(id) {
			bad(fmt.Sprintf("customers.exclude[%d]", i), "must be an Odoo customer id (a positive whole number)")
		} else if seen[id] {
			bad(fmt.Sprintf("customers.exclude[%d]", i), "is also included")
		}
		seen[id] = true
		s.Customers.Exclude = append(s.Customers.Exclude, id)
	}
	if !s.Customers.Auto && len(s.Customers.Include) == 0 {
		bad("customers", "select customers: set auto (from the Odoo mirror) or include at least one")
	}

	ch := in.Channels
	if ch.Email == nil && ch.Webhook == nil && ch.Odoo == nil {
		bad("channels", "at least one of email, webhook or odoo is required")
	}
	if ch.Email != nil {
		e := &EmailChannel{}
		if len(ch.Email.To) > 50 {
			bad("channels.email.to", "has more than 50 addresses")
		}
		for i, to := range ch.Email.To {
			addr, err := ParseAddress(to)
			if err != nil {
				bad(fmt.Sprintf("channels.email.to[%d]", i), "%s", err.Error())
				continue
			}
			e.To = append(e.To, addr)
		}
		s.Channels.Email = e
	}
	if ch.Webhook != nil {
		w := &WebhookChannel{URL: strings.TrimSpace(ch.Webhook.URL), Format: ch.Webhook.Format, Secret: strings.TrimSpace(ch.Webhook.Secret)}
		if err := ValidateWebhookURL(w.URL); err != nil {
			bad("channels.webhook.url", "%s", err.Error())
		}
		if w.Format == "" {
			w.Format = WebhookFull
		} else if w.Format != WebhookFull && w.Format != WebhookSlack {
			bad("channels.webhook.format", "must be full or slack")
		}
		if w.Secret != "" {
			if _, err := DecodeSecret(w.Secret); err != nil {
				bad("channels.webhook.secret", "%s", err.Error())
			}
		}
		s.Channels.Webhook = w
	}
	if ch.Odoo != nil {
		if ch.Odoo.Mode != OdooNote && ch.Odoo.Mode != OdooActivity {
			bad("channels.odoo.mode", "must be note or activity")
		}
		s.Channels.Odoo = &OdooChannel{Mode: ch.Odoo.Mode}
	}

	if in.Immediate != nil {
		im := *in.Immediate
		if im.MinSeverity == "" {
			im.MinSeverity = SeverityCritical
		} else if !im.MinSeverity.Valid() {
			bad("immediate.min_severity", "must be one of info, low, medium, high, critical")
		}
		if im.GroupWait == 0 {
			im.GroupWait = Duration(DefaultGroupWait)
		}
		if im.GroupInterval == 0 {
			im.GroupInterval = Duration(DefaultGroupInterval)
		}
		if im.RepeatInterval == 0 {
			im.RepeatInterval = Duration(DefaultRepeatInterval)
		}
		switch {
		case im.GroupWait.D() < 0 || im.GroupWait.D() > time.Hour:
			bad("immediate.group_wait", "must be between 0s and 1h")
		}
		if im.GroupInterval.D() < time.Minute || im.GroupInterval.D() > 24*time.Hour {
			bad("immediate.group_interval", "must be between 1m and 24h")
		}
		if im.RepeatInterval.D() < im.GroupInterval.D() || im.RepeatInterval.D() > 7*24*time.Hour {
			bad("immediate.repeat_interval", "must be at least group_interval and at most 168h")
		}
		if im.Enabled && s.Channels.Email == nil && s.Channels.Webhook == nil {
			bad("immediate", "needs an email or webhook channel (Odoo is for scheduled digests)")
		}
		s.Immediate = im
	} else {
		s.Immediate = Immediate{MinSeverity: SeverityCritical, OnBreach: true, GroupWait: Duration(DefaultGroupWait),
			GroupInterval: Duration(DefaultGroupInterval), RepeatInterval: Duration(DefaultRepeatInterval)}
	}
	return s, errs
}

// ParseAddress accepts one e-mail address ("a@b.example" or
// "Name <a@b.example>") and returns it in RFC 5322 form.
func ParseAddress(s string) (string, error) {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%q is not an e-mail address", truncate(s, 60))
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("%q is not an e-mail address", truncate(s, 60))
	}
	return a.String(), nil
}

// ValidateWebhookURL accepts absolute http(s) URLs without credentials.
// Plain http is accepted only for loopback hosts (local relays and tests):
// digests carry customer data.
func ValidateWebhookURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("is required")
	}
	if len(raw) > 2000 {
		return fmt.Errorf("is longer than 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute https URL")
	}
	if u.User != nil {
		return fmt.Errorf("must not contain credentials; the payload is signed instead")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not contain a fragment")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("must use https (http only for localhost)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("has an invalid port")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secretPrefix marks Standard Webhooks symmetric secrets.
const secretPrefix = "whsec_"

// NewSecret returns a fresh webhook secret: whsec_ and 32 random bytes in
// base64.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// DecodeSecret returns the HMAC key of a whsec_ secret (24-64 bytes).
func DecodeSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %s (Standard Webhooks)", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("must be %s followed by base64", secretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("must hold 24 to 64 bytes, got %d", len(key))
	}
	return key, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// customerSet returns the subscription's customers: auto-linked ones, plus
// included, minus excluded; sorted by id.
func (s *Subscription) customerSet(auto []Customer) []Customer {
	byID := map[string]Customer{}
	if s.Customers.Auto {
		for _, c := range auto {
			byID[c.ID] = c
		}
	}
	for _, c := range s.Customers.Include {
		if old, ok := byID[c.ID]; ok && c.Name == "" {
			c.Name = old.Name
		}
		if old, ok := byID[c.ID]; ok {
			c.SalespersonOdooID = old.SalespersonOdooID
		}
		byID[c.ID] = c
	}
	for _, id := range s.Customers.Exclude {
		delete(byID, id)
	}
	out := make([]Customer, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Customer) int { return strings.Compare(a.ID, b.ID) })
	return out
}
