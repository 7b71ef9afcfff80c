package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/yardmaster/yardmaster/internal/opsview"
)

// Charts are drawn on the server as inline SVG: no chart library, no
// script, readable by screen readers (role="img" with a title), and
// coloured by CSS classes so the dark theme applies.

func esc(s string) string { return html.EscapeString(s) }

// rateBar is a small horizontal bar for a 0..1 rate; a negative rate means
// unknown.
func rateBar(rate float64, label string) template.HTML {
	if rate < 0 || math.IsNaN(rate) {
		return template.HTML(`<span class="muted">n/a</span>`)
	}
	w := int(math.Round(rate * 100))
	cls := "good"
	switch {
	case rate < 0.8:
		cls = "bad"
	case rate < 0.93:
		cls = "warn"
	}
	return template.HTML(fmt.Sprintf(`<svg class="ratebar" viewBox="0 0 100 10" width="100" height="10" role="img" aria-label="%s %.1f%%"><title>%s %.1f%%</title>`+
		`<rect class="track" x="0" y="0" width="100" height="10" rx="2"/><rect class="fill %s" x="0" y="0" width="%d" height="10" rx="2"/></svg>`,
		esc(label), rate*100, esc(label), rate*100, cls, w))
}

// Sparkline draws a series of counts as a small line (e.g. rule hits per
// day); the title states the total and the last value.
func Sparkline(values []int, label string) template.HTML {
	if len(values) == 0 {
		return template.HTML(`<span class="muted">—</span>`)
	}
	const w, h = 80.0, 18.0
	mx := 1
	total := 0
	for _, v := range values {
		mx = max(mx, v)
		total += v
	}
	var pts strings.Builder
	step := w
	if len(values) > 1 {
		step = w / float64(len(values)-1)
	}
	for i, v := range values {
		x := float64(i) * step
		y := h - 1 - float64(v)/float64(mx)*(h-2)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s: %d in total, %d in the last period">`+
		`<title>%s: %d in total, %d in the last period</title><polyline points="%s"/></svg>`,
		w, h, w, h, esc(label), total, values[len(values)-1], esc(label), total, values[len(values)-1], strings.TrimSpace(pts.String())))
}

// trendChart draws a scorecard's days: delivered volume as bars, the
// exceptions as darker bars in front, and the on-time rate as a line on
// its own 0-100 % axis.
func trendChart(s opsview.Scorecard) template.HTML {
	days := s.Days
	if len(days) == 0 {
		return template.HTML(`<p class="muted">No activity in the window.</p>`)
	}
	const W, H, padL, padR, padT, padB = 640.0, 200.0, 36.0, 40.0, 10.0, 24.0
	plotW, plotH := W-padL-padR, H-padT-padB
	mx := 1
	for _, d := range days {
		mx = max(mx, d.Delivered, d.Exceptions)
	}
	bw := plotW / float64(len(days))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="trend-title trend-desc" preserveAspectRatio="xMidYMid meet">`, W, H)
	fmt.Fprintf(&b, `<title id="trend-title">%s: daily deliveries, exceptions and on-time rate</title>`, esc(s.Key()))
	fmt.Fprintf(&b, `<desc id="trend-desc">%d delivered, %d on time of %d with a promised date, %d shipments with exceptions over %d days.</desc>`,
		s.Delivered, s.OnTime, s.OnTimeKnown, s.WithException, len(days))
	// Grid and axes.
	for i := 0; i <= 4; i++ {
		y := padT + plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, y, padL+plotW, y)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%d</text>`, padL-4, y+4, int(math.Round(float64(mx)*float64(4-i)/4)))
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%d%%</text>`, padL+plotW+4, y+4, 100-25*i)
	}
	var line strings.Builder
	for i, d := range days {
		x := padL + float64(i)*bw
		hDel := plotH * float64(d.Delivered) / float64(mx)
		hExc := plotH * float64(d.Exceptions) / float64(mx)
		date := d.Date.Format("Jan 2")
		fmt.Fprintf(&b, `<rect class="bar delivered" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d delivered</title></rect>`,
			x+1, padT+plotH-hDel, math.Max(bw-2, 1), hDel, date, d.Delivered)
		fmt.Fprintf(&b, `<rect class="bar exceptions" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d exceptions</title></rect>`,
			x+bw*0.25, padT+plotH-hExc, math.Max(bw*0.5-1, 1), hExc, date, d.Exceptions)
		if d.Known > 0 {
			r := float64(d.OnTime) / float64(d.Known)
			fmt.Fprintf(&line, "%.1f,%.1f ", x+bw/2, padT+plotH*(1-r))
		}
		if len(days) <= 14 || i%7 == 0 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+bw/2, H-6, date)
		}
	}
	if line.Len() > 0 {
		fmt.Fprintf(&b, `<polyline class="ontime" points="%s"/>`, strings.TrimSpace(line.String()))
	}
	b.WriteString(`</svg>`)
	b.WriteString(`<p class="legend"><span class="key delivered"></span>Delivered <span class="key exceptions"></span>Exceptions <span class="key ontime"></span>On-time rate (right axis)</p>`)
	return template.HTML(b.String())
}

// reasonBars draws exception counts by reason as labelled horizontal bars.
func reasonBars(s opsview.Scorecard) template.HTML {
	if len(s.Reasons) == 0 {
		return template.HTML(`<p class="muted">No exceptions in the window.</p>`)
	}
	rs := s.Reasons
	if len(rs) > 12 {
		rs = rs[:12]
	}
	const W, row, labelW = 520.0, 22.0, 180.0
	H := row*float64(len(rs)) + 4
	mx := rs[0].Count
	total := 0
	for _, r := range s.Reasons {
		total += r.Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s: exceptions by reason">`, W, H, esc(s.Key()))
	fmt.Fprintf(&b, `<title>%s: exceptions by reason</title>`, esc(s.Key()))
	for i, r := range rs {
		y := float64(i)*row + 2
		w := (W - labelW - 60) * float64(r.Count) / float64(mx)
		share := float64(r.Count) / float64(total) * 100
		fmt.Fprintf(&b, `<text class="label" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y+15, esc(strings.ReplaceAll(r.Reason, "_", " ")))
		fmt.Fprintf(&b, `<rect class="bar exceptions" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d (%.1f%%)</title></rect>`,
			labelW, y+3, math.Max(w, 1), row-6, esc(r.Reason), r.Count, share)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%d · %.0f%%</text>`, labelW+math.Max(w, 1)+4, y+15, r.Count, share)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
