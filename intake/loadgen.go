package intake

import (
	"strconv"
	"strings"
	"time"
)

// LoadGen builds synthetic but realistic AfterShip tracking webhooks for
// `yardmaster loadtest` and the pipeline benchmarks, so both send the same
// traffic. It appends into a caller's buffer without fmt or reflection: the
// generator shares the machine with the server it measures, and its own
// CPU would otherwise be counted against the server.
type LoadGen struct {
	// RunID makes event ids and tracking numbers unique per run.
	RunID string
	// Checkpoints per webhook (events per delivery); at least 1.
	Checkpoints int
	// Exceptions is the share of webhooks (0..1) whose last checkpoint is a
	// carrier or recipient exception that the starter ruleset turns into a
	// triage case (damaged parcel; recipient not available).
	Exceptions float64
	// Shipments, when > 0, keeps that many shipments in flight: each
	// tracking number gets one webhook per milestone (picked up, arrived,
	// departed, out for delivery, delivered) in that order, a round of the
	// pool apart, and then the pool moves on to fresh numbers — so four of
	// five webhooks update a stored shipment, as in real traffic. 0 gives
	// every webhook a fresh tracking number.
	Shipments int
}

var loadSubtags = [...]struct{ tag, subtag, raw string }{
	{"InTransit", "InTransit_002", "PU"},
	{"InTransit", "InTransit_003", "AR"},
	{"InTransit", "InTransit_007", "DP"},
	{"OutForDelivery", "OutForDelivery_001", "OD"},
	{"Delivered", "Delivered_001", "DL"},
}

var loadExceptions = [...]struct{ tag, subtag, msg string }{
	{"Exception", "Exception_012", "Package damaged in transit"},
	{"AttemptFail", "AttemptFail_002", "Customer not available"},
}

// IsException reports whether webhook seq carries an exception checkpoint
// (a fixed, evenly spread selection, so runs are comparable).
func (g LoadGen) IsException(seq int64) bool {
	if g.Exceptions <= 0 {
		return false
	}
	// Spread the selection evenly: webhook seq is an exception when the
	// running count floor(seq*share) steps up.
	return int64(float64(seq)*g.Exceptions) != int64(float64(seq-1)*g.Exceptions)
}

// Append appends webhook number seq (from 1), stamped at now, to b.
func (g LoadGen) Append(b []byte, seq int64, now time.Time) []byte {
	n := max(g.Checkpoints, 1)
	tn, round := g.slot(seq)
	upper := strings.ToUpper(g.RunID)
	b = append(b, `{"event":"tracking_update","event_id":"`...)
	b = append(b, g.RunID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `","is_tracking_first_tag":false,"ts":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, `,"msg":{"id":"lt`...)
	b = append(b, g.RunID...)
	b = strconv.AppendInt(b, tn, 10)
	b = append(b, `","tracking_number":"LT`...)
	b = append(b, upper...)
	b = appendPadded(b, tn, 8)
	b = append(b, `","slug":"fedex","tag":"InTransit","subtag":"InTransit_007","subtag_message":"Departure Scan","order_number":"SO`...)
	b = strconv.AppendInt(b, tn, 10)
	b = append(b, `","origin_country_region":"USA","destination_country_region":"USA","checkpoints":[`...)
	exc := g.IsException(seq)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		k := i % len(loadSubtags)
		if g.Shipments > 0 {
			k = min(round*n+i, len(loadSubtags)-1)
		}
		st := loadSubtags[k]
		msg, tag, subtag, raw := "Scan", st.tag, st.subtag, st.raw
		if exc && i == n-1 {
			e := loadExceptions[int(seq)%len(loadExceptions)]
			msg, tag, subtag, raw = e.msg, e.tag, e.subtag, ""
		}
		// Checkpoints of one webhook are an hour apart, the last an hour
		// ago; a later round of a shipment is sent later, and a second
		// per round keeps its times increasing within one wall second.
		at := now.Add(time.Duration(i-n)*time.Hour + time.Duration(round)*time.Second)
		b = append(b, `{"slug":"fedex","city":"MEMPHIS","state":"TN","zip":"38118","country_region":"USA","location":"MEMPHIS, TN, US","message":"`...)
		b = append(b, msg...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","tag":"`...)
		b = append(b, tag...)
		b = append(b, `","subtag":"`...)
		b = append(b, subtag...)
		b = append(b, `","subtag_message":"","raw_tag":"`...)
		b = append(b, raw...)
		b = append(b, `","checkpoint_time":"`...)
		b = at.UTC().AppendFormat(b, "2006-01-02T15:04:05")
		b = append(b, `","source":"carrier"}`...)
	}
	return append(b, `]}}`...)
}

// slot returns the tracking number of webhook seq and which round of its
// shipment's lifecycle it is (always 0 without a pool).
func (g LoadGen) slot(seq int64) (tn int64, round int) {
	if g.Shipments <= 0 {
		return seq, 0
	}
	pool, life := int64(g.Shipments), int64(len(loadSubtags))
	block, pos := (seq-1)/(pool*life), (seq-1)%(pool*life)
	return block*pool + pos%pool + 1, int(pos / pool)
}

func appendPadded(b []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
