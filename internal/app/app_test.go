package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/queue"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eachBackend runs fn on the embedded defaults and on PostgreSQL + Redis.
func eachBackend(t *testing.T, fn func(t *testing.T, cfg config.Config)) {
	t.Run("sqlite+embedded", func(t *testing.T) { fn(t, apptest.TestConfig(t)) })
	t.Run("postgres+redis", func(t *testing.T) { fn(t, apptest.WithServices(t, apptest.TestConfig(t))) })
}

func TestServeHealthReadyMetrics(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		r := apptest.Start(t, cfg)
		if code, body := get(t, r.URL+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
			t.Fatalf("/healthz = %d %s", code, body)
		}
		code, body := get(t, r.URL+"/readyz")
		if code != 200 {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		var rd struct {
			Checks map[string]struct{ OK bool } `json:"checks"`
		}
		if err := json.Unmarshal([]byte(body), &rd); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"database", "redis", "migrations"} {
			if !rd.Checks[name].OK {
				t.Errorf("readiness check %s not ok: %s", name, body)
			}
		}
		_, metrics := get(t, r.URL+"/metrics")
		for _, want := range []string{
			`yardmaster_http_requests_total{method="GET",route="/readyz",status="200"}`,
			`yardmaster_http_request_duration_seconds_bucket{method="GET",route="/healthz"`,
			`yardmaster_queue_tasks{queue="critical",state="pending"}`,
			`yardmaster_outbox_jobs{state="waiting"}`,
			`go_goroutines`, `process_resident_memory_bytes`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func TestReadyzNamesFailingDependency(t *testing.T) {
	r := apptest.Start(t, apptest.TestConfig(t))
	// Roll back the newest migration group: the schema is no longer current.
	if _, err := r.DB.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, r.URL+"/readyz")
	if code != 503 || !strings.Contains(body, "unavailable: migrations") {
		t.Fatalf("/readyz = %d %s, want 503 naming migrations", code, body)
	}
}

// The housekeeping job goes through the outbox: written while nothing runs,
// it runs once when a worker starts, and never again after a restart that
// loses the (embedded) Redis.
func TestHousekeepingJobRunsOnceAcrossRestarts(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		a, err := app.Open(context.Background(), app.Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		err = a.DB.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
			return queue.Add(ctx, tx, queue.Job{Key: "housekeeping:manual", Type: app.TaskHousekeeping})
		})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()

		check := func(wantAttempts int) {
			t.Helper()
			var row struct {
				Attempts int
				DoneAt   *time.Time
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				r2, err := app.OpenDB(context.Background(), cfg, false, nil)
				if err != nil {
					t.Fatal(err)
				}
				err = r2.Read.NewSelect().Table("outbox").Column("attempts", "done_at").Where("id = ?", "housekeeping:manual").Scan(context.Background(), &row.Attempts, &row.DoneAt)
				r2.Close()
				if err != nil {
					t.Fatal(err)
				}
				if row.DoneAt != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if row.DoneAt == nil || row.Attempts != wantAttempts {
				t.Fatalf("housekeeping job: done_at=%v attempts=%d, want done after %d attempt(s)", row.DoneAt, row.Attempts, wantAttempts)
			}
		}
		r := apptest.Start(t, cfg)
		check(1)
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		r = apptest.Start(t, cfg)
		time.Sleep(300 * time.Millisecond) // give a wrong re-run the chance to happen
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		check(1)
	})
}

// A request in flight when shutdown starts is completed, then Run returns.
func TestGracefulShutdownFinishesRequest(t *testing.T) {
	cfg := apptest.TestConfig(t)
	started := make(chan struct{})
	var once sync.Once
	r := apptest.Start(t, cfg, func(a *app.App) {
		a.Web.App.Get("/slow-test-only", func(c *fiber.Ctx) error {
			once.Do(func() { close(started) })
			time.Sleep(700 * time.Millisecond)
			return c.SendString("finished")
		})
	})
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(r.URL + "/slow-test-only")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-started
	stopErr := make(chan error, 1)
	go func() { stopErr <- r.Stop() }()
	got := <-res
	if got.err != nil || got.code != 200 || got.body != "finished" {
		t.Fatalf("in-flight request during shutdown: %+v", got)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(r.URL + "/healthz"); err == nil {
		t.Fatal("server still accepts requests after shutdown")
	}
}
