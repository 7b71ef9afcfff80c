package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// easyPostEvent is EasyPost's webhook Event object (EasyPost/Models/API/
// Event.cs): the tracker is in result.
type easyPostEvent struct {
	ID          str              `json:"id"`
	Object      str              `json:"object"`
	Description str              `json:"description"`
	Mode        str              `json:"mode"`
	Result      *easyPostTracker `json:"result"`
}

type easyPostTracker struct {
	ID              str                      `json:"id"`
	Object          str                      `json:"object"`
	TrackingCode    str                      `json:"tracking_code"`
	Carrier         str                      `json:"carrier"`
	Status          str                      `json:"status"`
	StatusDetail    str                      `json:"status_detail"`
	EstDeliveryDate str                      `json:"est_delivery_date"`
	UpdatedAt       str                      `json:"updated_at"`
	IsReturn        bool                     `json:"is_return"`
	Details         []easyPostTrackingDetail `json:"tracking_details"`
	CarrierDetail   *struct {
		GuaranteedDeliveryDate str `json:"guaranteed_delivery_date"`
	} `json:"carrier_detail"`
}

type easyPostTrackingDetail struct {
	Datetime     str `json:"datetime"`
	Message      str `json:"message"`
	Description  str `json:"description"`
	Status       str `json:"status"`
	StatusDetail str `json:"status_detail"`
	CarrierCode  str `json:"carrier_code"`
	Source       str `json:"source"`
	Location     *struct {
		City    str `json:"city"`
		State   str `json:"state"`
		Country str `json:"country"`
		Zip     str `json:"zip"`
	} `json:"tracking_location"`
}

// ParseEasyPost reads an EasyPost tracker.created/tracker.updated Event and
// explodes the tracker's tracking_details (the full history, merged per
// detail by the dedup key) into events. Other event types are ignored.
func ParseEasyPost(body []byte, source string, now time.Time) (*Parsed, error) {
	var e easyPostEvent
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&e); err != nil {
		return nil, syntaxError(err)
	}
	p := &Parsed{DeliveryID: e.ID.S()}
	desc := e.Description.S()
	if desc == "" {
		return nil, apperr.Invalid("not an EasyPost Event", fieldErr("description", "is required"))
	}
	if !strings.HasPrefix(desc, "tracker.") {
		p.Ignored = "EasyPost event " + desc + " carries no tracker"
		return p, nil
	}
	t := e.Result
	if t == nil {
		return nil, apperr.Invalid("EasyPost tracker event without a tracker", fieldErr("result", "is required"))
	}
	var errs []apperr.FieldError
	carrier := NormalizeCarrier(t.Carrier.S())
	tn := NormalizeTracking(t.TrackingCode.S())
	if carrier == "" {
		errs = append(errs, fieldErr("result.carrier", "is required"))
	}
	if tn == "" {
		errs = append(errs, fieldErr("result.tracking_code", "is required"))
	}
	if len(errs) > 0 {
		return nil, apperr.Invalid("EasyPost tracker is missing required fields", errs...)
	}
	base := Event{Source: source, Carrier: carrier, TrackingNumber: tn, ReceivedAt: now}
	for i, d := range t.Details {
		path := fmt.Sprintf("result.tracking_details[%d]", i)
		at, tzKnown, local, err := ParseEventTime(d.Datetime.S())
		if err == nil {
			err = checkEventTime(at, now)
		}
		if err != nil {
			p.Rejects = append(p.Rejects, ItemError{Index: i, Errors: []apperr.FieldError{fieldErr(path+".datetime", "%v", err)}})
			continue
		}
		ev := base
		ev.OccurredAt, ev.TZKnown, ev.OccurredLocal = at, tzKnown, local
		ev.RawText = firstNonEmpty(d.Message.S(), d.Description.S())
		ev.Codes = easyPostCodes(d.StatusDetail.S(), d.CarrierCode.S(), d.Status.S(), carrier)
		if cc := d.CarrierCode.S(); cc != "" {
			if _, mapped := carrierTables[carrier]; !mapped {
				ev.Attributes = map[string]any{"carrier_code": cc}
			}
		}
		if d.Location != nil {
			ev.Location = location(d.Location.City.S(), d.Location.State.S(), d.Location.Zip.S(), d.Location.Country.S())
		}
		if len(ev.Codes) == 0 {
			p.Rejects = append(p.Rejects, ItemError{Index: i, Errors: []apperr.FieldError{fieldErr(path+".status", "a tracking detail needs a status, status_detail or carrier_code")}})
			continue
		}
		p.Events = append(p.Events, &ev)
	}
	var edd, promised *time.Time
	if s := t.EstDeliveryDate.S(); s != "" {
		if v, err := ParseDateOrTime(s); err == nil {
			edd = &v
		}
	}
	if t.CarrierDetail != nil && t.CarrierDetail.GuaranteedDeliveryDate.S() != "" {
		if v, err := ParseDateOrTime(t.CarrierDetail.GuaranteedDeliveryDate.S()); err == nil {
			promised = &v
		}
	}
	at := now
	if v, _, _, err := ParseEventTime(t.UpdatedAt.S()); err == nil && checkEventTime(v, now) == nil {
		at = v
	}
	if f := factsEvent(base, at, edd, promised); f != nil {
		p.Events = append(p.Events, f)
	}
	if len(p.Events) == 0 && len(p.Rejects) > 0 {
		var all []apperr.FieldError
		for _, r := range p.Rejects {
			all = append(all, r.Errors...)
		}
		return nil, apperr.Invalid("no tracking detail of the tracker could be read", all...)
	}
	if len(p.Events) == 0 {
		p.Ignored = "the tracker has no tracking details and no delivery estimate"
	}
	return p, nil
}

// easyPostCodes is the lookup chain of a tracking detail: EasyPost's
// status_detail (its own per-event normalisation), then the carrier's raw
// code where we have that carrier's table, then EasyPost's coarse status.
// The carrier code sits between the two because status_detail is EasyPost's
// reading of this very event while status is coarse; the carrier code fills
// a status EasyPost leaves open (FedEx DE as failure/delayed is a
// delivery attempt).
func easyPostCodes(detail, carrierCode, status, carrier string) []CodeRef {
	var codes []CodeRef
	if detail != "" {
		codes = append(codes, CodeRef{Table: "easypost.status_detail", Code: detail})
	}
	if carrierCode != "" {
		if t, ok := carrierTables[carrier]; ok {
			codes = append(codes, CodeRef{Table: t, Code: carrierCode})
		}
	}
	if status != "" {
		codes = append(codes, CodeRef{Table: "easypost.status", Code: status})
	}
	return codes
}
