package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/triage"
)

// BenchmarkConsolePages measures the server time of console pages on a
// queue of 100,000 cases (YARDMASTER_BENCH_CASES overrides the count). The
// cases come from canonical exception events posted through the events
// API path, so rules and triage open them as in production. Requests go
// through the whole fiber stack in process (session lookup, permission,
// service call, template), without a network.
//
//	go test ./web -run '^$' -bench BenchmarkConsolePages -benchtime 200x
func BenchmarkConsolePages(b *testing.B) {
	env := benchEnv(b)
	pages := []struct{ name, path string }{
		{"queue", "/queue"},
		{"queue critical", "/queue?severity=critical"},
		{"queue breached, by due date", "/queue?sla_state=breached&sort=due"},
		{"queue search tracking", "/queue?q=" + env.tracking},
		{"queue customer text", "/queue?q=acme"},
		{"queue page 2", env.page2},
		{"queue all states", "/queue?state=any"},
		{"case", "/cases/" + env.caseID},
		{"ops", "/ops"},
		{"audit", "/audit"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.Header.Set("Cookie", env.cookie)
				res, err := env.r.Web.App.Test(req, -1)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("%s = %d", p.path, res.StatusCode)
				}
			}
		})
	}
}

type benchState struct {
	r        *apptest.Running
	cookie   string
	caseID   string
	tracking string
	page2    string
}

var (
	benchOnce sync.Once
	bench     *benchState
)

// benchEnv starts one process for all benchmarks and fills it once.
func benchEnv(b *testing.B) *benchState {
	b.Helper()
	benchOnce.Do(func() {
		n := 100_000
		if v, err := strconv.Atoi(os.Getenv("YARDMASTER_BENCH_CASES")); err == nil && v > 0 {
			n = v
		}
		cfg := apptest.TestConfig(b)
		// YARDMASTER_BENCH_DATA_DIR keeps the seeded database between
		// runs (seeding 100,000 cases takes minutes on a small machine).
		if dir := os.Getenv("YARDMASTER_BENCH_DATA_DIR"); dir != "" {
			cfg.DataDir = dir
		}
		// An api process, as in a split deployment: the figures are the
		// pages' own server time, not the pages racing this process's
		// workers through the summary and ETA jobs the seeding queued
		// (which stay waiting, so the operations page shows a backlog).
		cfg.Role = "api"
		r := apptest.Start(b, cfg)
		ctx := context.Background()
		start := time.Now()
		have, err := r.DB.Read.NewSelect().Table("triage_cases").Count(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if have > 0 {
			n = 0 // seeded by an earlier run
		} else if _, err := r.Intake.Registry.Add(ctx, intake.AddSource{Name: "bench", Kind: intake.KindCanonical}); err != nil {
			b.Fatal(err)
		}
		reasons := []string{"damaged", "address_issue", "customs_hold", "delayed", "recipient_unavailable", "weather", "lost", "missed_connection"}
		carriers := []string{"ups", "fedex", "dhl", "usps"}
		now := time.Now().UTC()
		const batch = 500
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for i := 0; i < n; i += batch {
			buf.Reset()
			for j := i; j < min(i+batch, n); j++ {
				ev := map[string]any{"source_event_id": "bench-" + strconv.Itoa(j), "carrier": carriers[j%len(carriers)],
					"tracking_number": fmt.Sprintf("BENCH%09d", j), "reason": reasons[j%len(reasons)],
					"occurred_at": now.Add(-time.Duration(n-j) * time.Second).Format(time.RFC3339),
					"order_ref":   fmt.Sprintf("SO%06d", j%20000), "raw_text": "bench exception"}
				if j%3 == 0 {
					ev["status"] = "in_transit"
				}
				if err := enc.Encode(ev); err != nil {
					b.Fatal(err)
				}
			}
			h := http.Header{}
			h.Set("Content-Type", "application/x-ndjson")
			if _, err := r.Intake.EventsFor(ctx, "bench", h, bytes.Clone(buf.Bytes())); err != nil {
				b.Fatalf("post events %d: %v", i, err)
			}
		}
		if n > 0 {
			if _, err := auth.CreateUser(ctx, r.DB, time.Now(), auth.UserSpec{Username: "bench", Role: auth.RoleManager, Password: testPassword}); err != nil {
				b.Fatal(err)
			}
		}
		// A process started on a kept database with a fresh embedded Redis
		// hands every unfinished job to Redis again; wait for that to end so
		// it does not share the cores with the pages being measured.
		for {
			c, err := queue.OutboxCounts(ctx, r.DB.Read)
			if err != nil {
				b.Fatal(err)
			}
			if c.Waiting == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		bench = &benchState{r: r, tracking: fmt.Sprintf("BENCH%09d", int(have)/2+n/2)}
		page, err := r.Triage.List(benchPrincipal(ctx, r), triage.ListFilter{States: []triage.State{triage.StateOpen, triage.StateAcknowledged}, Limit: 50})
		if err != nil || len(page.Cases) == 0 {
			b.Fatalf("list cases: %v", err)
		}
		bench.caseID = page.Cases[0].ID
		bench.page2 = "/queue?cursor=" + url.QueryEscape(page.NextCursor)
		var total int64
		if total, err = r.DB.Read.NewSelect().Table("triage_cases").Count(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d events → %d cases in %v", n, total, time.Since(start).Round(time.Second))
		// Sign in through the form to get a real session cookie.
		br := newBrowserClient(b, r.URL)
		if res := br.login("bench", testPassword); res.Status != http.StatusSeeOther {
			b.Fatalf("sign in = %d", res.Status)
		}
		u, _ := url.Parse(r.URL)
		for _, c := range br.client.Jar.Cookies(u) {
			if c.Name == "ym_session" {
				bench.cookie = c.Name + "=" + c.Value
			}
		}
		if bench.cookie == "" {
			b.Fatal("no session cookie")
		}
	})
	if bench == nil {
		b.Fatal("benchmark setup failed")
	}
	return bench
}

func benchPrincipal(ctx context.Context, r *apptest.Running) context.Context {
	return auth.WithPrincipal(ctx, auth.SystemPrincipal)
}
