package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// afterShipWebhook is the AfterShip tracking webhook body (2025-01
// "webhook specifications"): the event, its id, and the Tracking object.
type afterShipWebhook struct {
	Event   string             `json:"event"`
	EventID str                `json:"event_id"`
	TS      json.Number        `json:"ts"`
	Msg     *afterShipTracking `json:"msg"`
}

type afterShipTracking struct {
	ID             str                   `json:"id"`
	TrackingNumber str                   `json:"tracking_number"`
	Slug           str                   `json:"slug"`
	Tag            str                   `json:"tag"`
	Subtag         str                   `json:"subtag"`
	SubtagMessage  str                   `json:"subtag_message"`
	OrderNumber    str                   `json:"order_number"`
	OrderID        str                   `json:"order_id"`
	Origin         str                   `json:"origin_country_region"`
	OriginISO3     str                   `json:"origin_country_iso3"`
	Destination    str                   `json:"destination_country_region"`
	DestISO3       str                   `json:"destination_country_iso3"`
	ExpectedDel    str                   `json:"expected_delivery"`
	CourierEDD     *afterShipEDD         `json:"courier_estimated_delivery_date"`
	Promised       str                   `json:"order_promised_delivery_date"`
	Checkpoints    []afterShipCheckpoint `json:"checkpoints"`
}

type afterShipEDD struct {
	Date str `json:"estimated_delivery_date"`
	Max  str `json:"estimated_delivery_date_max"`
}

type afterShipCheckpoint struct {
	CheckpointTime str `json:"checkpoint_time"`
	Slug           str `json:"slug"`
	Tag            str `json:"tag"`
	Subtag         str `json:"subtag"`
	SubtagMessage  str `json:"subtag_message"`
	RawTag         str `json:"raw_tag"`
	Message        str `json:"message"`
	Location       str `json:"location"`
	City           str `json:"city"`
	State          str `json:"state"`
	PostalCode     str `json:"postal_code"`
	Zip            str `json:"zip"`
	CountryRegion  str `json:"country_region"`
	CountryISO3    str `json:"country_iso3"`
}

// ParseAfterShip reads an AfterShip tracking webhook and explodes it into one
// event per checkpoint (AfterShip sends the full history each time; the
// dedup key merges it per checkpoint), plus a facts event for the carrier's
// EDD and the promised date. Checkpoints that cannot be read are reported
// as rejects; the others are kept.
func ParseAfterShip(body []byte, source string, now time.Time) (*Parsed, error) {
	var w afterShipWebhook
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, syntaxError(err)
	}
	p := &Parsed{DeliveryID: w.EventID.S()}
	switch w.Event {
	case "tracking_update", "edd_revise", "tracking_pending_time":
	case "":
		return nil, apperr.Invalid("not an AfterShip tracking webhook", fieldErr("event", "is required"))
	default:
		p.Ignored = "AfterShip event " + strconv.Quote(w.Event) + " carries no tracking update"
		return p, nil
	}
	if w.Msg == nil {
		return nil, apperr.Invalid("not an AfterShip tracking webhook", fieldErr("msg", "is required"))
	}
	m := w.Msg
	var errs []apperr.FieldError
	carrier := NormalizeCarrier(m.Slug.S())
	tn := NormalizeTracking(m.TrackingNumber.S())
	if carrier == "" {
		errs = append(errs, fieldErr("msg.slug", "is required"))
	}
	if tn == "" {
		errs = append(errs, fieldErr("msg.tracking_number", "is required"))
	}
	var ts time.Time
	if w.TS != "" {
		sec, err := w.TS.Int64()
		if err != nil {
			errs = append(errs, fieldErr("ts", "must be Unix seconds"))
		} else {
			ts = time.Unix(sec, 0).UTC()
		}
	}
	if len(errs) > 0 {
		return nil, apperr.Invalid("AfterShip webhook is missing required fields", errs...)
	}
	if ts.IsZero() {
		ts = now
	}
	base := Event{Source: source, Carrier: carrier, TrackingNumber: tn, ReceivedAt: now,
		OrderRef:           firstNonEmpty(m.OrderNumber.S(), m.OrderID.S()),
		OriginCountry:      Country(firstNonEmpty(m.Origin.S(), m.OriginISO3.S())),
		DestinationCountry: Country(firstNonEmpty(m.Destination.S(), m.DestISO3.S()))}

	for i, cp := range m.Checkpoints {
		path := fmt.Sprintf("msg.checkpoints[%d]", i)
		at, tzKnown, local, err := ParseEventTime(cp.CheckpointTime.S())
		if err == nil {
			err = checkEventTime(at, now)
		}
		if err != nil {
			p.Rejects = append(p.Rejects, ItemError{Index: i, Errors: []apperr.FieldError{fieldErr(path+".checkpoint_time", "%v", err)}})
			continue
		}
		ev := base
		ev.OccurredAt, ev.TZKnown, ev.OccurredLocal = at, tzKnown, local
		ev.RawText = firstNonEmpty(cp.Message.S(), cp.SubtagMessage.S())
		slug := NormalizeCarrier(firstNonEmpty(cp.Slug.S(), m.Slug.S()))
		ev.Codes = afterShipCodes(cp.Subtag.S(), cp.Tag.S(), cp.RawTag.S(), slug)
		if rt := cp.RawTag.S(); rt != "" {
			if _, mapped := carrierTables[slug]; !mapped {
				// No table for this carrier's raw codes: keep the code.
				ev.Attributes = map[string]any{"raw_tag": rt}
			}
		}
		ev.Location = location(cp.City.S(), cp.State.S(), firstNonEmpty(cp.PostalCode.S(), cp.Zip.S()), firstNonEmpty(cp.CountryRegion.S(), cp.CountryISO3.S()))
		if len(ev.Codes) == 0 {
			p.Rejects = append(p.Rejects, ItemError{Index: i, Errors: []apperr.FieldError{fieldErr(path+".tag", "a checkpoint needs a tag, subtag or raw_tag")}})
			continue
		}
		p.Events = append(p.Events, &ev)
	}
	if len(m.Checkpoints) == 0 && w.Event == "tracking_update" {
		// A tracking with no checkpoint yet (Pending, InfoReceived from
		// the shipper's data): the tracking-level tag is the event.
		if codes := afterShipCodes(m.Subtag.S(), m.Tag.S(), "", carrier); len(codes) > 0 {
			ev := base
			ev.OccurredAt, ev.TZKnown = ts, true
			ev.RawText = m.SubtagMessage.S()
			ev.Codes = codes
			p.Events = append(p.Events, &ev)
		}
	}
	var edd, promised *time.Time
	if m.CourierEDD != nil {
		if t, err := ParseDateOrTime(firstNonEmpty(m.CourierEDD.Date.S(), m.CourierEDD.Max.S())); err == nil {
			edd = &t
		}
	}
	if edd == nil && m.ExpectedDel.S() != "" {
		if t, err := ParseDateOrTime(m.ExpectedDel.S()); err == nil {
			edd = &t
		}
	}
	if m.Promised.S() != "" {
		if t, err := ParseDateOrTime(m.Promised.S()); err == nil {
			promised = &t
		}
	}
	if f := factsEvent(base, ts, edd, promised); f != nil {
		p.Events = append(p.Events, f)
	}
	if len(p.Events) == 0 && len(p.Rejects) > 0 {
		errs := make([]apperr.FieldError, 0, len(p.Rejects))
		for _, r := range p.Rejects {
			errs = append(errs, r.Errors...)
		}
		return nil, apperr.Invalid("no checkpoint of the webhook could be read", errs...)
	}
	if len(p.Events) == 0 && p.Ignored == "" {
		p.Ignored = "the tracking has no checkpoints and no delivery estimate"
	}
	return p, nil
}

// afterShipCodes is the lookup chain of a checkpoint: the subtag, then the
// carrier's raw code where we have that carrier's table, then the tag.
// An unknown subtag thus falls back to its tag, as AfterShip advises.
func afterShipCodes(subtag, tag, rawTag, carrier string) []CodeRef {
	var codes []CodeRef
	if subtag != "" {
		codes = append(codes, CodeRef{Table: "aftership.subtag", Code: subtag})
	}
	if rawTag != "" {
		if t, ok := carrierTables[carrier]; ok {
			codes = append(codes, CodeRef{Table: t, Code: rawTag})
		}
	}
	if tag == "" && subtag != "" {
		tag, _, _ = strings.Cut(subtag, "_")
	}
	if tag != "" {
		codes = append(codes, CodeRef{Table: "aftership.tag", Code: tag})
	}
	return codes
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
