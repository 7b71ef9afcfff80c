package digest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func validInput() SubscriptionInput {
	return SubscriptionInput{Name: "Weekday digest", Subscriber: &Subscriber{Kind: SubscriberUser, UserID: "u1"}, TimeZone: "Europe/Berlin",
		Schedule: "0 8 * * 1-5", Customers: CustomerSelection{Auto: true}, Channels: Channels{Email: &EmailChannel{}}}
}

func TestNormalizeDefaults(t *testing.T) {
	s, errs := normalize(validInput())
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if s.MinSeverity != SeverityLow || !s.Enabled || s.SendEmpty {
		t.Errorf("defaults: min_severity %q enabled %v send_empty %v", s.MinSeverity, s.Enabled, s.SendEmpty)
	}
	im := s.Immediate
	if im.Enabled || im.MinSeverity != SeverityCritical || !im.OnBreach || im.GroupWait.D() != 30*time.Second ||
		im.GroupInterval.D() != 5*time.Minute || im.RepeatInterval.D() != 4*time.Hour {
		t.Errorf("immediate defaults = %+v", im)
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*SubscriptionInput)
		fields []string
	}{
		{"empty name", func(in *SubscriptionInput) { in.Name = " " }, []string{"name"}},
		{"multi-line name", func(in *SubscriptionInput) { in.Name = "a\nb" }, []string{"name"}},
		{"bad subscriber kind", func(in *SubscriptionInput) { in.Subscriber = &Subscriber{Kind: "group"} }, []string{"subscriber.kind"}},
		{"user without id", func(in *SubscriptionInput) { in.Subscriber = &Subscriber{Kind: SubscriberUser} }, []string{"subscriber.user_id"}},
		{"team with bad name", func(in *SubscriptionInput) { in.Subscriber = &Subscriber{Kind: SubscriberTeam, Team: "<script>"} }, []string{"subscriber.team"}},
		{"team with user id", func(in *SubscriptionInput) {
			in.Subscriber = &Subscriber{Kind: SubscriberTeam, Team: "emea", UserID: "x"}
		}, []string{"subscriber.user_id"}},
		{"bad zone", func(in *SubscriptionInput) { in.TimeZone = "Mars/Olympus" }, []string{"timezone"}},
		{"bad cron", func(in *SubscriptionInput) { in.Schedule = "every morning" }, []string{"schedule"}},
		{"too frequent", func(in *SubscriptionInput) { in.Schedule = "* * * * *" }, []string{"schedule"}},
		{"bad severity", func(in *SubscriptionInput) { in.MinSeverity = "urgent" }, []string{"min_severity"}},
		{"no customers", func(in *SubscriptionInput) { in.Customers = CustomerSelection{} }, []string{"customers"}},
		{"bad customer id", func(in *SubscriptionInput) { in.Customers.Include = []Customer{{ID: "acme"}} }, []string{"customers.include[0].id"}},
		{"duplicate customer", func(in *SubscriptionInput) { in.Customers.Include = []Customer{{ID: "7"}, {ID: "7"}} }, []string{"customers.include[1].id"}},
		{"included and excluded", func(in *SubscriptionInput) {
			in.Customers.Include = []Customer{{ID: "7"}}
			in.Customers.Exclude = []string{"7"}
		}, []string{"customers.exclude[0]"}},
		{"no channel", func(in *SubscriptionInput) { in.Channels = Channels{} }, []string{"channels"}},
		{"bad email", func(in *SubscriptionInput) { in.Channels.Email.To = []string{"not an address"} }, []string{"channels.email.to[0]"}},
		{"header injection", func(in *SubscriptionInput) { in.Channels.Email.To = []string{"a@b.example\r\nBcc: x@y.example"} }, []string{"channels.email.to[0]"}},
		{"webhook without url", func(in *SubscriptionInput) { in.Channels.Webhook = &WebhookChannel{} }, []string{"channels.webhook.url"}},
		{"webhook plain http", func(in *SubscriptionInput) { in.Channels.Webhook = &WebhookChannel{URL: "http://hooks.example.com/x"} }, []string{"channels.webhook.url"}},
		{"webhook credentials", func(in *SubscriptionInput) {
			in.Channels.Webhook = &WebhookChannel{URL: "https://u:p@hooks.example.com/x"}
		}, []string{"channels.webhook.url"}},
		{"webhook ftp", func(in *SubscriptionInput) { in.Channels.Webhook = &WebhookChannel{URL: "ftp://hooks.example.com/x"} }, []string{"channels.webhook.url"}},
		{"webhook bad format", func(in *SubscriptionInput) {
			in.Channels.Webhook = &WebhookChannel{URL: "https://hooks.example.com/x", Format: "xml"}
		}, []string{"channels.webhook.format"}},
		{"webhook bad secret", func(in *SubscriptionInput) {
			in.Channels.Webhook = &WebhookChannel{URL: "https://hooks.example.com/x", Secret: "hunter2"}
		}, []string{"channels.webhook.secret"}},
		{"webhook short secret", func(in *SubscriptionInput) {
			in.Channels.Webhook = &WebhookChannel{URL: "https://hooks.example.com/x", Secret: "whsec_c2hvcnQ="}
		}, []string{"channels.webhook.secret"}},
		{"odoo bad mode", func(in *SubscriptionInput) { in.Channels.Odoo = &OdooChannel{Mode: "email"} }, []string{"channels.odoo.mode"}},
		{"immediate bad severity", func(in *SubscriptionInput) { in.Immediate = &Immediate{Enabled: true, MinSeverity: "huge"} }, []string{"immediate.min_severity"}},
		{"immediate interval too short", func(in *SubscriptionInput) {
			in.Immediate = &Immediate{Enabled: true, GroupInterval: Duration(time.Second)}
		}, []string{"immediate.group_interval"}},
		{"immediate repeat below interval", func(in *SubscriptionInput) {
			in.Immediate = &Immediate{Enabled: true, GroupInterval: Duration(time.Hour), RepeatInterval: Duration(time.Minute * 30)}
		}, []string{"immediate.repeat_interval"}},
		{"immediate through odoo only", func(in *SubscriptionInput) {
			in.Channels = Channels{Odoo: &OdooChannel{Mode: OdooNote}}
			in.Immediate = &Immediate{Enabled: true}
		}, []string{"immediate"}},
		{"everything at once", func(in *SubscriptionInput) {
			in.Name, in.TimeZone, in.Channels = "", "nowhere", Channels{}
		}, []string{"name", "timezone", "channels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.mutate(&in)
			_, errs := normalize(in)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if e.Message == "" {
					t.Errorf("field %s has no message", e.Field)
				}
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields = %v, want %v (errors %v)", got, tt.fields, errs)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var im Immediate
	if err := json.Unmarshal([]byte(`{"group_wait":"45s","group_interval":"10m","repeat_interval":"3h"}`), &im); err != nil {
		t.Fatal(err)
	}
	if im.GroupWait.D() != 45*time.Second || im.GroupInterval.D() != 10*time.Minute || im.RepeatInterval.D() != 3*time.Hour {
		t.Fatalf("decoded %+v", im)
	}
	b, _ := json.Marshal(im)
	if !strings.Contains(string(b), `"group_wait":"45s"`) {
		t.Fatalf("encoded %s", b)
	}
	if err := json.Unmarshal([]byte(`{"group_wait":"soon"}`), &im); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Fatalf("bad duration error = %v", err)
	}
}

func TestCustomerSet(t *testing.T) {
	s := Subscription{Customers: CustomerSelection{Auto: true, Include: []Customer{{ID: "9", Name: "Hand"}, {ID: "2"}}, Exclude: []string{"3"}}}
	got := s.customerSet([]Customer{{ID: "2", Name: "Auto Two", SalespersonOdooID: 5}, {ID: "3", Name: "Three"}})
	want := []Customer{{ID: "2", Name: "Auto Two", SalespersonOdooID: 5}, {ID: "9", Name: "Hand"}}
	if !slices.Equal(got, want) {
		t.Fatalf("customerSet = %+v, want %+v", got, want)
	}
	s.Customers.Auto = false
	got = s.customerSet([]Customer{{ID: "4"}})
	if len(got) != 2 || got[0].ID != "2" || got[1].ID != "9" {
		t.Fatalf("without auto = %+v", got)
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecret()
	k, err := DecodeSecret(s)
	if err != nil || len(k) != 32 {
		t.Fatalf("DecodeSecret(NewSecret()) = %d bytes, %v", len(k), err)
	}
	if s2 := NewSecret(); s2 == s {
		t.Fatal("two secrets are equal")
	}
}
