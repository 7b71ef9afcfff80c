// Package demo seeds a living installation for `yardmaster serve --demo`:
// an Odoo emulator started in the process (customers, orders, deliveries
// with tracking numbers), webhook sources, a replayed stream of carrier
// events over the last days posted through the real intake path (signed
// AfterShip webhooks and the canonical events API), cases in every state
// worked by demo users through the triage service, a few proposed actions
// with their Odoo previews (one approved and written to the emulator), and
// a slow live stream afterwards so the queue keeps moving.
//
// Nothing here bypasses a service: what the demo shows is what the product
// does with such traffic. The demo only seeds an installation that has no
// sources yet, so restarting `serve --demo` on the same data directory
// resumes the live stream without duplicating anything.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
	"github.com/yardmaster/yardmaster/triage"
)

// Sources the demo registers.
const (
	SourceAfterShip = "aftership"
	SourceFeed      = "3pl-feed"
)

// Password is the password of the demo users (printed in the banner).
const Password = "yardmaster-demo"

// Users are the demo users, one per role besides the first admin.
var Users = []struct {
	Username, Name, Team string
	Role                 auth.Role
}{
	{"mia", "Mia Manager", "EU ops", auth.RoleManager},
	{"max", "Max Manager", "US ops", auth.RoleManager},
	{"ana", "Ana Analyst", "", auth.RoleAnalyst},
	{"kai", "Kai Account", "Key Accounts", auth.RoleAccount},
	{"vic", "Vic Viewer", "", auth.RoleViewer},
}

// Seed sizes the emulator's data for the demo.
var Seed = odootest.Seed{Customers: 40, Salespeople: 6, Orders: 260, Pickings: 300, HistoryDays: 120, Random: 42}

// StartOdoo starts the in-process Odoo emulator the demo connects to.
func StartOdoo(now func() time.Time, log *slog.Logger) (*odootest.Server, error) {
	sd := Seed
	return odootest.Start(odootest.Options{Version: 17, Seed: &sd, Now: now, Logger: log, CooldownAfter: -1})
}

// Deps are the services the demo drives.
type Deps struct {
	DB       *db.DB
	Now      func() time.Time
	Log      *slog.Logger
	Out      io.Writer
	Intake   *intake.Service
	Triage   *triage.Service
	Emulator *odootest.Server
	// Mirror, when set, is synced before the replay so cases carry their
	// Odoo context.
	Mirror *odoo.Mirror
	// Random seeds the stories (same seed, same demo).
	Random uint64
	// Clock, when set, is the process clock: the replay runs on the
	// events' own times (see Clock).
	Clock *Clock
}

// Report says what Run seeded.
type Report struct {
	Seeded     bool
	Shipments  int
	Deliveries int
	Cases      int
	Actions    int
}

// Run seeds an empty installation and then streams live events every
// interval until ctx ends. It logs and returns on the first error.
func Run(ctx context.Context, d Deps, every time.Duration) error {
	r, err := SeedAll(ctx, d)
	if err != nil {
		d.Log.Error("demo: seeding failed", "err", err)
		return err
	}
	if r.Seeded {
		d.Log.Info("demo: seeded", "shipments", r.Shipments, "deliveries", r.Deliveries, "cases", r.Cases, "actions", r.Actions)
	}
	if every > 0 {
		return Live(ctx, d, every)
	}
	return nil
}

// shipment is one demo story: a real emulator delivery and the carrier
// checkpoints it goes through.
type shipment struct {
	Carrier, Slug, Tracking, OrderRef, PickingRef string
	Origin, Dest                                  string // ISO alpha-2
	Promised                                      time.Time
	EDD                                           time.Time
	Steps                                         []step
	// Feed ships through the canonical API instead of AfterShip.
	Feed bool
	sent int
}

// step is one checkpoint.
type step struct {
	At                    time.Time
	Tag, Subtag, SubMsg   string
	City, Country, RawTag string
	Message               string
	// Status and Reason are the canonical equivalent (canonical feed).
	Status, Reason string
}

var carriers = map[int64][2]string{1: {"UPS", "ups"}, 2: {"FedEx", "fedex"}, 3: {"DHL Express", "dhl"}, 4: {"USPS", "usps"}}

// cityOf gives checkpoint cities per country.
var cityOf = map[string][]string{
	"US": {"Louisville", "Memphis", "Chicago", "Dallas", "Oakland", "Newark"},
	"DE": {"Leipzig", "Cologne", "Hamburg"}, "FR": {"Lyon", "Roissy", "Marseille"}, "NL": {"Rotterdam", "Venlo"},
	"BE": {"Antwerp", "Brussels"}, "GB": {"Leeds", "East Midlands"}, "CN": {"Shenzhen", "Guangzhou"},
}

var iso3 = map[string]string{"US": "USA", "DE": "DEU", "FR": "FRA", "NL": "NLD", "BE": "BEL", "GB": "GBR", "CN": "CHN"}

// scenario is how a story unfolds after the shipment left the origin.
type scenario struct {
	name   string
	weight int
	// steps appends the story's remaining checkpoints from t.
	steps func(s *shipment, r *rand.Rand, t time.Time) []step
}

func cp(t time.Time, tag, subtag, subMsg, city, country, raw, status, reason string) step {
	return step{At: t, Tag: tag, Subtag: subtag, SubMsg: subMsg, City: city, Country: country, RawTag: raw, Message: subMsg,
		Status: status, Reason: reason}
}

func hours(r *rand.Rand, lo, hi int) time.Duration {
	return time.Duration(lo+r.IntN(hi-lo+1)) * time.Hour
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// arrive walks a shipment to its destination's last-mile hub.
func arrive(s *shipment, r *rand.Rand, t time.Time) ([]step, time.Time) {
	var out []step
	if s.Origin != s.Dest {
		t = t.Add(hours(r, 10, 30))
		out = append(out, cp(t, "InTransit", "InTransit_006", "Customs clearance started", pick(r, cityOf[s.Dest]), s.Dest, "CC", "in_transit", ""))
	}
	t = t.Add(hours(r, 6, 20))
	out = append(out, cp(t, "InTransit", "InTransit_003", "Arrived at hub", pick(r, cityOf[s.Dest]), s.Dest, "AR", "in_transit", ""))
	return out, t
}

var scenarios = []scenario{
	{"on time", 40, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		t = t.Add(hours(r, 8, 20))
		city := pick(r, cityOf[s.Dest])
		out = append(out, cp(t, "OutForDelivery", "OutForDelivery_001", "Out for delivery", city, s.Dest, "OD", "out_for_delivery", ""))
		return append(out, cp(t.Add(hours(r, 2, 8)), "Delivered", "Delivered_001", "Delivered", city, s.Dest, "DL", "delivered", ""))
	}},
	{"customs hold", 10, func(s *shipment, r *rand.Rand, t time.Time) []step {
		if s.Origin == s.Dest {
			s.Origin = "CN"
		}
		out, t := arrive(s, r, t)
		return append(out, cp(t.Add(hours(r, 2, 10)), "Exception", "Exception_004", "Delayed (Customs clearance)", pick(r, cityOf[s.Dest]), s.Dest, "CD", "", "customs_hold"))
	}},
	{"address issue", 9, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		t = t.Add(hours(r, 8, 18))
		city := pick(r, cityOf[s.Dest])
		out = append(out, cp(t, "OutForDelivery", "OutForDelivery_001", "Out for delivery", city, s.Dest, "OD", "out_for_delivery", ""))
		return append(out, cp(t.Add(hours(r, 2, 6)), "Exception", "Exception_007", "Incorrect address", city, s.Dest, "IA", "", "address_issue"))
	}},
	{"two failed attempts", 8, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		city := pick(r, cityOf[s.Dest])
		for range 2 {
			t = t.Add(hours(r, 16, 26))
			out = append(out, cp(t, "AttemptFail", "AttemptFail_002", "Recipient not available", city, s.Dest, "NH", "delivery_attempted", "recipient_unavailable"))
		}
		return out
	}},
	{"damaged", 6, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		return append(out, cp(t.Add(hours(r, 1, 8)), "Exception", "Exception_012", "Shipment damaged", pick(r, cityOf[s.Dest]), s.Dest, "DM", "", "damaged"))
	}},
	{"weather", 6, func(s *shipment, r *rand.Rand, t time.Time) []step {
		return []step{cp(t.Add(hours(r, 4, 14)), "Exception", "Exception_017", "Weather delay", pick(r, cityOf[s.Origin]), s.Origin, "WX", "", "weather")}
	}},
	{"missed connection", 6, func(s *shipment, r *rand.Rand, t time.Time) []step {
		return []step{cp(t.Add(hours(r, 4, 14)), "Exception", "Exception_019", "Missed connection", pick(r, cityOf[s.Origin]), s.Origin, "MC", "", "missed_connection")}
	}},
	{"delayed", 6, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		return append(out, cp(t.Add(hours(r, 2, 10)), "Exception", "Exception_005", "Delayed", pick(r, cityOf[s.Dest]), s.Dest, "DY", "", "delayed"))
	}},
	{"lost", 3, func(s *shipment, r *rand.Rand, t time.Time) []step {
		return []step{cp(t.Add(hours(r, 30, 60)), "Exception", "Exception_013", "Shipment lost", pick(r, cityOf[s.Origin]), s.Origin, "LS", "failed", "lost")}
	}},
	{"return to sender", 3, func(s *shipment, r *rand.Rand, t time.Time) []step {
		out, t := arrive(s, r, t)
		return append(out, cp(t.Add(hours(r, 10, 30)), "Exception", "Exception_010", "Returning to sender", pick(r, cityOf[s.Dest]), s.Dest, "RS", "returning", "return_to_sender"))
	}},
	{"quiet in transit", 3, func(s *shipment, r *rand.Rand, t time.Time) []step { return nil }},
}

// stories builds one story per emulator delivery that has a tracking
// number, deterministic for a seed, all checkpoints before now.
func stories(em *odootest.Server, now time.Time, seed uint64) ([]*shipment, error) {
	picks, err := em.Records("stock.picking", []any{[]any{"carrier_tracking_ref", "!=", false}, []any{"picking_type_code", "=", "outgoing"}},
		"name", "carrier_tracking_ref", "carrier_id", "sale_id", "state")
	if err != nil {
		return nil, fmt.Errorf("demo: read emulator deliveries: %w", err)
	}
	orders, err := em.Records("sale.order", nil, "name", "commitment_date")
	if err != nil {
		return nil, fmt.Errorf("demo: read emulator orders: %w", err)
	}
	promised := map[int64]time.Time{}
	for _, o := range orders {
		if s, ok := o["commitment_date"].(string); ok {
			if t, err := time.Parse("2006-01-02 15:04:05", s); err == nil {
				promised[asID(o["id"])] = t
			}
		}
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	total := 0
	for _, sc := range scenarios {
		total += sc.weight
	}
	dests := []string{"US", "US", "US", "US", "DE", "FR", "NL", "BE", "GB"}
	var out []*shipment
	for _, p := range picks {
		ref, _ := p["carrier_tracking_ref"].(string)
		ref = strings.TrimSpace(strings.Split(ref, ",")[0])
		c, ok := carriers[m2oID(p["carrier_id"])]
		if ref == "" || !ok {
			continue
		}
		s := &shipment{Carrier: c[0], Slug: c[1], Tracking: ref, PickingRef: fmt.Sprint(p["name"]), Feed: c[1] == "usps",
			Origin: "US", Dest: pick(r, dests)}
		if so := m2oID(p["sale_id"]); so != 0 {
			s.OrderRef = m2oName(p["sale_id"])
			if t, ok := promised[so]; ok {
				s.Promised = t
			}
		}
		if r.IntN(5) == 0 {
			s.Origin = "CN"
		}
		if s.Feed {
			s.Origin, s.Dest = "US", "US"
		}
		// Shipped 1 to 6 days ago.
		t0 := now.Add(-time.Duration(24+r.IntN(5*24)) * time.Hour)
		if s.Promised.IsZero() || s.Promised.Before(t0) {
			s.Promised = t0.Add(time.Duration(3+r.IntN(4)) * 24 * time.Hour).Truncate(24 * time.Hour)
		}
		s.EDD = t0.Add(time.Duration(2+r.IntN(4)) * 24 * time.Hour).Truncate(24 * time.Hour)
		origin := pick(r, cityOf[s.Origin])
		t := t0
		s.Steps = append(s.Steps, cp(t, "InfoReceived", "InfoReceived_001", "Shipment information received", origin, s.Origin, "IR", "info_received", ""))
		t = t.Add(hours(r, 2, 12))
		s.Steps = append(s.Steps, cp(t, "InTransit", "InTransit_002", "Picked up", origin, s.Origin, "PU", "picked_up", ""))
		t = t.Add(hours(r, 4, 14))
		s.Steps = append(s.Steps, cp(t, "InTransit", "InTransit_007", "Departed facility", origin, s.Origin, "DP", "in_transit", ""))
		n := r.IntN(total)
		var sc scenario
		for _, x := range scenarios {
			if n < x.weight {
				sc = x
				break
			}
			n -= x.weight
		}
		s.Steps = append(s.Steps, sc.steps(s, r, t)...)
		// Keep what has happened by now; the rest comes in the live stream.
		for i, st := range s.Steps {
			if st.At.After(now.Add(-5 * time.Minute)) {
				s.Steps = s.Steps[:i]
				break
			}
		}
		if len(s.Steps) > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

func asID(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func m2oID(v any) int64 {
	if xs, ok := v.([]any); ok && len(xs) == 2 {
		return asID(xs[0])
	}
	return 0
}

func m2oName(v any) string {
	if xs, ok := v.([]any); ok && len(xs) == 2 {
		return fmt.Sprint(xs[1])
	}
	return ""
}

// sender posts a shipment's checkpoints through the real intake path.
type sender struct {
	d       Deps
	secret  string // AfterShip signing secret
	token   string // canonical feed token
	seq     int
	mu      sync.Mutex
	batches int
}

// send posts the shipment's next checkpoint (AfterShip sends the whole
// history each time; the feed sends the new event).
func (sd *sender) send(ctx context.Context, s *shipment, st step, n int) error {
	sd.mu.Lock()
	sd.seq++
	seq := sd.seq
	sd.mu.Unlock()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	var body []byte
	var err error
	if s.Feed {
		ev := map[string]any{"source_event_id": fmt.Sprintf("demo-%s-%d", s.Tracking, n), "carrier": s.Slug,
			"tracking_number": s.Tracking, "occurred_at": st.At.UTC().Format(time.RFC3339),
			"location":          map[string]string{"city": st.City, "country": st.Country},
			"promised_delivery": s.Promised.UTC().Format(time.RFC3339), "estimated_delivery": s.EDD.UTC().Format(time.RFC3339),
			"order_ref": s.OrderRef, "picking_ref": s.PickingRef, "raw_code": st.RawTag, "raw_text": st.Message}
		if st.Status != "" {
			ev["status"] = st.Status
		}
		if st.Reason != "" {
			ev["reason"] = st.Reason
		}
		if body, err = json.Marshal(ev); err != nil {
			return err
		}
		h.Set("Authorization", "Bearer "+sd.token)
		_, err = sd.d.Intake.Events(ctx, h, body)
	} else {
		cps := make([]map[string]any, 0, n+1)
		for _, c := range s.Steps[:n+1] {
			cps = append(cps, map[string]any{"slug": s.Slug, "city": c.City, "location": c.City + ", " + c.Country,
				"country_region": iso3[c.Country], "message": c.Message, "tag": c.Tag, "subtag": c.Subtag,
				"subtag_message": c.SubMsg, "checkpoint_time": c.At.UTC().Format(time.RFC3339), "raw_tag": c.RawTag})
		}
		last := s.Steps[n]
		payload := map[string]any{"event": "tracking_update", "event_id": fmt.Sprintf("demo-%d-%s", seq, s.Tracking),
			"ts": sd.d.Now().Unix(), "msg": map[string]any{"id": "demo" + s.Tracking, "tracking_number": s.Tracking, "slug": s.Slug,
				"tag": last.Tag, "subtag": last.Subtag, "subtag_message": last.SubMsg, "order_number": s.OrderRef,
				"origin_country_region": iso3[s.Origin], "destination_country_region": iso3[s.Dest],
				"courier_estimated_delivery_date": map[string]any{"estimated_delivery_date": s.EDD.Format(time.DateOnly)},
				"order_promised_delivery_date":    s.Promised.Format(time.DateOnly), "checkpoints": cps}}
		if body, err = json.Marshal(payload); err != nil {
			return err
		}
		h.Set("aftership-hmac-sha256", intake.SignAfterShip(sd.secret, body))
		_, err = sd.d.Intake.Webhook(ctx, SourceAfterShip, h, body)
	}
	if err != nil {
		return fmt.Errorf("demo: post %s checkpoint %d: %w", s.Tracking, n, err)
	}
	return nil
}

// state of a running demo, shared with Live.
type state struct {
	sender *sender
	ships  []*shipment
}

var (
	runMu   sync.Mutex
	running = map[*db.DB]*state{}
)

// SeedAll seeds the installation when it has no sources yet.
func SeedAll(ctx context.Context, d Deps) (Report, error) {
	var rep Report
	srcs, err := d.Intake.Registry.List(ctx)
	if err != nil {
		return rep, err
	}
	now := d.Now()
	if d.Random == 0 {
		d.Random = 7
	}
	ships, err := stories(d.Emulator, now, d.Random)
	if err != nil {
		return rep, err
	}
	st := &state{ships: ships}
	runMu.Lock()
	running[d.DB] = st
	runMu.Unlock()
	if len(srcs) > 0 {
		// Seeded before: new credentials for the live stream only.
		return rep, st.resume(ctx, d)
	}
	rep.Seeded = true
	admin := audit.WithActor(ctx, audit.Actor{Type: "system", ID: "demo", Name: "Demo seeding"})
	as, err := d.Intake.Registry.Add(admin, intake.AddSource{Name: SourceAfterShip, Kind: intake.KindAfterShip})
	if err != nil {
		return rep, fmt.Errorf("demo: add source: %w", err)
	}
	feed, err := d.Intake.Registry.Add(admin, intake.AddSource{Name: SourceFeed, Kind: intake.KindCanonical})
	if err != nil {
		return rep, fmt.Errorf("demo: add source: %w", err)
	}
	st.sender = &sender{d: d, secret: as.Secret, token: feed.Token}
	users, err := addUsers(admin, d)
	if err != nil {
		return rep, err
	}
	if d.Mirror != nil {
		if _, err := d.Mirror.Sync(ctx, odoo.SyncOptions{Full: true}); err != nil {
			d.Log.Warn("demo: odoo mirror sync failed; cases will lack order context", "err", err)
		}
	}
	// Replay in time order across shipments, as the carriers sent them.
	type item struct {
		s *shipment
		n int
	}
	var items []item
	for _, s := range ships {
		for i := range s.Steps {
			items = append(items, item{s, i})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].s.Steps[items[i].n].At.Before(items[j].s.Steps[items[j].n].At) })
	lag := rand.New(rand.NewPCG(d.Random, 3))
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if d.Clock != nil {
			// Carriers report a few minutes to an hour late.
			d.Clock.Replay(it.s.Steps[it.n].At.Add(time.Duration(2+lag.IntN(50)) * time.Minute))
		}
		if err := st.sender.send(ctx, it.s, it.s.Steps[it.n], it.n); err != nil {
			return rep, err
		}
		it.s.sent = it.n + 1
		rep.Deliveries++
	}
	if d.Clock != nil {
		d.Clock.Live()
	}
	rep.Shipments = len(ships)
	n, a, err := workCases(ctx, d, users)
	rep.Cases, rep.Actions = n, a
	if err != nil {
		return rep, err
	}
	_, err = audit.Append(admin, d.DB, d.Now(), audit.Record{Action: SeededAction, SubjectType: "demo", SubjectID: "demo",
		After: map[string]any{"shipments": rep.Shipments, "deliveries": rep.Deliveries, "cases": rep.Cases, "actions": rep.Actions}})
	return rep, err
}

// SeededAction is the audit action written when seeding is complete.
const SeededAction = "demo.seeded"

// Seeded reports whether the demo finished seeding this database.
func Seeded(ctx context.Context, idb bun.IDB) (bool, error) {
	es, err := audit.List(ctx, idb, audit.Filter{Action: SeededAction}, 1)
	return len(es) > 0, err
}

// resume re-issues credentials for the live stream of a seeded demo.
func (st *state) resume(ctx context.Context, d Deps) error {
	actx := audit.WithActor(ctx, audit.Actor{Type: "system", ID: "demo", Name: "Demo restart"})
	as, err := d.Intake.Registry.Rotate(actx, SourceAfterShip, time.Hour, "")
	if err != nil {
		return fmt.Errorf("demo: resume: %w", err)
	}
	feed, err := d.Intake.Registry.Rotate(actx, SourceFeed, time.Hour, "")
	if err != nil {
		return fmt.Errorf("demo: resume: %w", err)
	}
	st.sender = &sender{d: d, secret: as.Secret, token: feed.Token}
	for _, s := range st.ships {
		s.sent = len(s.Steps) // history is in the database already
	}
	return nil
}

func addUsers(ctx context.Context, d Deps) (map[string]auth.User, error) {
	out := map[string]auth.User{}
	err := d.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, u := range Users {
			user, err := auth.CreateUser(ctx, tx, d.Now(), auth.UserSpec{Username: u.Username, DisplayName: u.Name, Team: u.Team,
				Email: u.Username + "@demo.example.com", Role: u.Role, Password: Password})
			if err != nil {
				return fmt.Errorf("demo: add user %s: %w", u.Username, err)
			}
			if _, err := audit.Append(ctx, tx, d.Now(), audit.Record{Action: "user.created", SubjectType: "user", SubjectID: user.ID,
				After: map[string]any{"username": user.Username, "role": user.Role}, Detail: "demo"}); err != nil {
				return err
			}
			out[u.Username] = user
		}
		return nil
	})
	if err == nil && d.Out != nil {
		fmt.Fprintf(d.Out, "Demo users (password %q): mia and max (manager), ana (analyst), kai (account), vic (viewer)\n", Password)
	}
	return out, err
}

// as returns a context acting as a user (principal and audit actor).
func as(ctx context.Context, u auth.User) context.Context {
	p := u.Principal()
	ctx = auth.WithPrincipal(ctx, p)
	return audit.WithActor(ctx, audit.Actor{Type: p.Kind, ID: p.ID, Name: p.Name})
}

// workCases puts the replayed cases in every state the way a team would
// have during the last days, and proposes a few Odoo actions.
func workCases(ctx context.Context, d Deps, users map[string]auth.User) (cases, actions int, err error) {
	mia, max := as(ctx, users["mia"]), as(ctx, users["max"])
	page, err := d.Triage.List(mia, triage.ListFilter{States: []triage.State{triage.StateOpen}, Limit: 500, Sort: "oldest"})
	if err != nil {
		return 0, 0, fmt.Errorf("demo: list cases: %w", err)
	}
	cs := page.Cases
	cases = len(cs)
	r := rand.New(rand.NewPCG(d.Random, 99))
	me, maxID := "me", users["max"].ID
	apply := func(ctx context.Context, c *triage.Case, op triage.Op) {
		if _, err := d.Triage.Apply(ctx, c.ID, op); err != nil {
			d.Log.Debug("demo: case operation skipped", "case", c.ID, "op", op.Name, "err", err)
		}
	}
	var proposeOn []*triage.Case
	for i, c := range cs {
		switch k := i % 10; {
		case k == 0 || k == 5: // acknowledged and owned
			apply(mia, c, triage.Op{Name: "acknowledge"})
			apply(mia, c, triage.Op{Name: "assign", AssigneeID: &me})
			if c.OrderRef != "" && len(proposeOn) < 4 {
				proposeOn = append(proposeOn, c)
			}
		case k == 1: // assigned to a colleague, not yet acknowledged
			apply(mia, c, triage.Op{Name: "assign", AssigneeID: &maxID})
		case k == 2: // snoozed
			until := d.Now().Add(time.Duration(2+r.IntN(20)) * time.Hour)
			apply(max, c, triage.Op{Name: "snooze", Until: &until})
		case k == 3: // resolved
			apply(max, c, triage.Op{Name: "acknowledge"})
			apply(max, c, triage.Op{Name: "resolve", Reason: "customer_contacted", Note: "Customer informed of the delay; new date agreed."})
		case k == 4 && i%20 == 4: // dismissed
			apply(mia, c, triage.Op{Name: "dismiss", Reason: "expected", Note: "Known weather closure; no action needed."})
		}
		if i%7 == 6 {
			if _, err := d.Triage.AddComment(mia, c.ID, triage.CommentInput{Body: "Called the carrier's desk; they are checking the hub scan. @max FYI"}); err != nil {
				d.Log.Debug("demo: comment skipped", "err", err)
			}
		}
	}
	for i, c := range proposeOn {
		in := triage.ProposeInput{Type: "post_note", Params: map[string]string{"body": fmt.Sprintf("Carrier reports: %s. Customer service informed.", strings.ReplaceAll(c.Category, "_", " "))},
			Rationale: "Keep the order's history complete for the account team."}
		if i%2 == 1 && c.PickingRef != "" {
			in = triage.ProposeInput{Type: "reschedule_picking", Params: map[string]string{"scheduled_date": d.Now().Add(72 * time.Hour).Format(time.DateOnly),
				"reason": "Carrier delay"}, Rationale: "The carrier's new estimate is three days out."}
		}
		a, err := d.Triage.ProposeAction(mia, c.ID, in)
		if err != nil {
			d.Log.Debug("demo: proposal skipped", "case", c.ID, "err", err)
			continue
		}
		actions++
		if _, err := d.Triage.PreviewAction(mia, a.ID); err != nil {
			d.Log.Debug("demo: preview failed", "action", a.ID, "err", err)
		}
		if i == 0 {
			// One decided by a colleague: it is executed against Odoo.
			if _, err := d.Triage.ApproveAction(max, a.ID, "Looks right."); err != nil {
				d.Log.Debug("demo: approval skipped", "action", a.ID, "err", err)
			}
		}
	}
	return cases, actions, nil
}

// Live advances one random unfinished story every interval, through the
// same intake path, until ctx ends.
func Live(ctx context.Context, d Deps, every time.Duration) error {
	runMu.Lock()
	st := running[d.DB]
	runMu.Unlock()
	if st == nil || st.sender == nil {
		return fmt.Errorf("demo: live stream before seeding")
	}
	r := rand.New(rand.NewPCG(d.Random, uint64(d.Now().UnixNano())))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s := st.ships[r.IntN(len(st.ships))]
		last := s.Steps[len(s.Steps)-1]
		if last.Status == "delivered" {
			continue
		}
		now := d.Now()
		var next step
		switch n := r.IntN(10); {
		case n < 6:
			next = cp(now, "InTransit", "InTransit_003", "Arrived at hub", pick(r, cityOf[s.Dest]), s.Dest, "AR", "in_transit", "")
		case n < 8:
			next = cp(now, "Delivered", "Delivered_001", "Delivered", pick(r, cityOf[s.Dest]), s.Dest, "DL", "delivered", "")
		default:
			next = cp(now, "Exception", "Exception_005", "Delayed", pick(r, cityOf[s.Dest]), s.Dest, "DY", "", "delayed")
		}
		s.Steps = append(s.Steps, next)
		if err := st.sender.send(ctx, s, next, len(s.Steps)-1); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.Log.Warn("demo: live event failed", "err", err)
		}
	}
}
