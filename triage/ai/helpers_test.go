package ai

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }

// personalData lists every personal value in testFacts, in the spellings a
// leak could take. None may appear in anything sent to a model.
var personalData = []string{
	"Jürgen Müller", "Jürgen", "Müller", "MUELLER", "Mueller", "juergen.mueller@example.de", "j.mueller",
	"+49 30 1234567", "030 1234567", "301234567", "1234567", "+49 171 9876543", "1719876543",
	"Hauptstraße 5", "Hauptstrasse 5", "HAUPTSTR", "10115",
	"Sofia Martínez", "Sofia", "Martínez", "MARTINEZ", "sofia.martinez@yardmaster-demo.com",
	"Li Wu", "Wu", "li.wu@example.cn",
	"Anneliese Okafor", "Okafor", "Anneliese",
	"Pieter de Vries", "Vries", "Pieter",
	"555-201-3344", "5552013344",
	"221B Baker Street", "Baker",
	"Sam Taylor", "Taylor",
	"neighbour.kim@mail.example", "Kim Park",
}

// testFacts is a shipment case whose free text is full of personal data:
// known contacts in Odoo, their names as carriers print them, and strangers
// (a neighbour, a phone number) that only patterns can catch.
func testFacts(t *testing.T) Facts {
	t.Helper()
	return fixtureFacts()
}

func fixtureFacts() Facts {
	sh := &intake.Shipment{
		ID: "01JSHIP", Carrier: "dhl", TrackingNumber: "JD014600003828391234",
		FirstSeenAt: t0.Add(-96 * time.Hour), Status: intake.StatusDeliveryAttempted, StatusAt: t0.Add(-20 * time.Hour),
		LastEventAt: t0.Add(-20 * time.Hour), PickedUpAt: tp(t0.Add(-90 * time.Hour)), Attempts: 1,
		OriginCountry: "NL", DestinationCountry: "DE",
		PromisedDelivery:  tp(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)),
		EstimatedDelivery: tp(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)),
		OpenExceptions: []intake.OpenException{{
			Reason: "recipient_unavailable", Category: "recipient", Severity: intake.SeverityWarning,
			OpenedAt: t0.Add(-20 * time.Hour), SourceEventID: "01JEV04",
		}},
		OrderRef: "S00042", PickingRef: "WH/OUT/00017", EventCount: 4,
	}
	ev := func(id string, h int, st intake.Status, text string, ex *intake.Exception) intake.Event {
		return intake.Event{
			ID: id, ShipmentID: sh.ID, Source: "aftership", Carrier: "dhl", TrackingNumber: sh.TrackingNumber,
			RawCode: "X" + id[len(id)-1:], RawText: text, Status: st, Exception: ex,
			OccurredAt: t0.Add(time.Duration(h) * time.Hour), TZKnown: true, ReceivedAt: t0.Add(time.Duration(h) * time.Hour),
			Location: &intake.Location{City: "Berlin", PostalCode: "10115", Country: "DE"}, Physical: true,
		}
	}
	return Facts{
		Case: CaseFacts{
			ID: "01JCASE", Kind: KindShipment, Title: "Delivery failed for Jürgen Müller (S00042)",
			Severity: "high", Status: "open", Priority: 72, OpenedAt: t0.Add(-19 * time.Hour),
			SLADueAt: tp(t0.Add(5 * time.Hour)),
		},
		Shipment: sh,
		Timeline: []intake.Event{
			ev("01JEV04", -20, intake.StatusDeliveryAttempted,
				"Recipient not at home. Notice left. Call JUERGEN MUELLER on +49 30 1234567 or neighbour Kim Park 555-201-3344, neighbour.kim@mail.example",
				&intake.Exception{Reason: "recipient_unavailable", Category: "recipient", Severity: intake.SeverityWarning, ActionRequired: true}),
			ev("01JEV01", -90, intake.StatusPickedUp, "Shipment picked up", nil),
			ev("01JEV02", -60, intake.StatusInTransit, "Arrived at DHL hub Bad Hersfeld", nil),
			ev("01JEV03", -22, intake.StatusOutForDelivery, "Out for delivery to HAUPTSTRASSE 5, 10115 BERLIN; signed by: SAM TAYLOR", nil),
		},
		Evaluation: Evaluation{
			PrimaryRule:    RuleRef{ID: "R-ATTEMPT", Name: "Failed delivery attempt", Severity: "high", Category: "delivery", Explanation: "status == delivery_attempted"},
			MatchedRules:   []RuleRef{{ID: "R-ATTEMPT", Name: "Failed delivery attempt", Severity: "high", Category: "delivery"}, {ID: "R-LATE", Name: "Promised date passed", Severity: "medium", Category: "late"}},
			Categories:     []string{"delivery", "late"},
			Severity:       "high",
			RulesetVersion: "v12",
		},
		Odoo: &OdooContext{
			OrderRef: "S00042", PickingRef: "WH/OUT/00017", OrderState: "sale",
			CommitmentDate: tp(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)),
			ScheduledDate:  tp(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)),
			Customer: Contact{Role: "customer", Name: "Jürgen Müller", Email: "juergen.mueller@example.de",
				Phone: "+49 30 1234567", Mobile: "+49 171 9876543", Street: "Hauptstraße 5", Zip: "10115", City: "Berlin", Country: "DE"},
			Salesperson: Contact{Role: "salesperson", Name: "Sofia Martínez", Email: "sofia.martinez@yardmaster-demo.com"},
			Contacts: []Contact{
				{Role: "delivery", Name: "Li Wu", Email: "li.wu@example.cn"},
				{Role: "invoice", Name: "Pieter de Vries", Street: "221B Baker Street"},
			},
			AmountTotal: 1249.5, Currency: "EUR",
			Lines:     []OrderLine{{Product: "Espresso machine ES-200", Quantity: 1, UoM: "Units"}},
			Warehouse: "WH",
		},
		Notes: []Note{
			{Author: "Anneliese Okafor", Body: "Customer Mueller asked to deliver after 5pm; Li Wu will accept. Mr Pieter de Vries from invoicing copied.", At: t0.Add(-2 * time.Hour)},
		},
		Language: "de_DE",
	}
}
