package intake

import (
	"fmt"
	"testing"
	"time"
)

// TestLoadGenWebhooksParse checks that the load generator's webhooks are
// valid AfterShip deliveries: one event per checkpoint, a unique delivery id
// and tracking number per webhook (or a pool of them), and exceptions
// exactly where IsException says.
func TestLoadGenWebhooksParse(t *testing.T) {
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for _, g := range []LoadGen{
		{RunID: "ab12cd", Checkpoints: 1},
		{RunID: "ab12cd", Checkpoints: 3, Exceptions: 0.25},
		{RunID: "ab12cd", Checkpoints: 2, Exceptions: 0.5, Shipments: 7},
	} {
		t.Run(fmt.Sprintf("%d checkpoints, %.2f exceptions, %d shipments", g.Checkpoints, g.Exceptions, g.Shipments), func(t *testing.T) {
			ids := map[string]bool{}
			tracking := map[string]bool{}
			lastRank := map[string]int{} // with a pool: milestones only move forward
			exceptions := 0
			const n = 40
			for seq := int64(1); seq <= n; seq++ {
				body := g.Append(nil, seq, now)
				p, err := ParseAfterShip(body, "lt", now)
				if err != nil {
					t.Fatalf("webhook %d: %v\n%s", seq, err, body)
				}
				if len(p.Events) != g.Checkpoints || len(p.Rejects) != 0 {
					t.Fatalf("webhook %d: %d events, %d rejects; want %d, 0", seq, len(p.Events), len(p.Rejects), g.Checkpoints)
				}
				if p.DeliveryID == "" || ids[p.DeliveryID] {
					t.Fatalf("webhook %d: delivery id %q empty or repeated", seq, p.DeliveryID)
				}
				ids[p.DeliveryID] = true
				for _, ev := range p.Events {
					if missed := DefaultMappings().Normalize(ev, nil); len(missed) > 0 {
						t.Fatalf("webhook %d: unmapped codes %v", seq, missed)
					}
				}
				tn := p.Events[0].TrackingNumber
				tracking[tn] = true
				for _, ev := range p.Events {
					if ev.Exception != nil || g.Shipments == 0 {
						continue
					}
					if ev.Status.Rank() < lastRank[tn] {
						t.Fatalf("webhook %d: %s went back to %s", seq, tn, ev.Status)
					}
					lastRank[tn] = ev.Status.Rank()
				}
				last := p.Events[len(p.Events)-1]
				if got := last.Exception != nil; got != g.IsException(seq) {
					t.Fatalf("webhook %d: exception = %v, want %v (status %s)", seq, got, g.IsException(seq), last.Status)
				}
				if g.IsException(seq) {
					exceptions++
				}
			}
			wantTracking := n
			if g.Shipments > 0 {
				// Each number gets five webhooks (one per milestone),
				// then the pool moves on: 40 webhooks over a pool of 7
				// are 35 for numbers 1–7 and 5 for numbers 8–12.
				wantTracking = 12
			}
			if len(tracking) != wantTracking {
				t.Errorf("%d tracking numbers, want %d", len(tracking), wantTracking)
			}
			if want := int(float64(n) * g.Exceptions); exceptions != want {
				t.Errorf("%d exceptions in %d webhooks, want %d", exceptions, n, want)
			}
		})
	}
}
