package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/config"
)

// statementCounter counts the SQL statements the app sends through bun, by
// first word and by table for INSERTs, so a benchmark can report round trips
// per batch. db.Insert's bulk statements bypass bun's hooks and are not
// counted (they are one per table and batch).
type statementCounter struct {
	mu     sync.Mutex
	counts map[string]int
	dump   int
}

func (s *statementCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (s *statementCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	q := strings.TrimSpace(e.Query)
	word, rest, _ := strings.Cut(q, " ")
	word = strings.ToUpper(word)
	key := word
	if strings.HasPrefix(q, "SELECT 'd' AS kind") {
		key = "SELECT intake dedup" // one per batch
	}
	if word == "INSERT" {
		rest = strings.TrimPrefix(rest, "INTO ")
		tbl, _, _ := strings.Cut(rest, " ")
		key += " " + strings.Trim(tbl, `"`)
	}
	s.mu.Lock()
	s.counts[key]++
	if s.dump > 0 {
		s.dump--
		if len(q) > 300 {
			q = q[:300]
		}
		fmt.Fprintf(os.Stderr, "SQL %s\n", q)
	}
	s.mu.Unlock()
}

func (s *statementCounter) reset() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.mu.Unlock()
}

func (s *statementCounter) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// postgresCPU is the CPU time used so far by PostgreSQL on this machine,
// read from /proc: the postmaster whose pid is in BENCH_PG_POSTMASTER (the
// server under test) with its live and reaped children, or, when that is
// not set, every postgres process (then other clients' work is included:
// a machine-level figure, meaningful on a quiet machine). 0 when unknown.
func postgresCPU() time.Duration {
	pm := os.Getenv("BENCH_PG_POSTMASTER")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open || !strings.HasPrefix(s[open+1:closing], "postgres") {
			continue
		}
		f := strings.Fields(s[closing+2:])
		// Fields after the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
		if len(f) < 15 {
			continue
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		isMaster := f[1] == "1" || !isPostgres(f[1])
		if pm != "" {
			isMaster = e.Name() == pm
			if !isMaster && f[1] != pm {
				continue
			}
		}
		ticks += n(11) + n(12)
		if isMaster {
			ticks += n(13) + n(14)
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func isPostgres(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/comm")
	return err == nil && strings.HasPrefix(string(b), "postgres")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline measures the event pipeline without HTTP, as the
// product runs it: a whole app (apptest) with its stages wired — "whole"
// is intake + rules evaluation + triage case upsert in the batch
// transaction, "intake" replaces the stages by the record-only stage. 64
// goroutines deliver signed one-checkpoint AfterShip webhooks (the
// loadtest's traffic, 5% of them exceptions that open cases) through
// verify, parse, normalise and group commit, and wait for the commit.
// Reported: events/s, events per batch, SQL statements per batch, and
// this process's CPU per event (on PostgreSQL the server's CPU is not in
// it).
func BenchmarkPipeline(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, stages := range []string{"whole", "intake"} {
			b.Run(backend+"/"+stages, func(b *testing.B) {
				cfg := apptest.TestConfig(b)
				if backend == "postgres" {
					cfg = apptest.WithServices(b, cfg)
				}
				benchPipeline(b, cfg, stages == "whole")
			})
		}
	}
}

func benchPipeline(b *testing.B, cfg config.Config, whole bool) {
	cfg.SourceRateLimit = 1e9
	if v, err := time.ParseDuration(os.Getenv("BENCH_MAX_WAIT")); err == nil {
		cfg.BatchMaxWait = v
	}
	if v, _ := strconv.Atoi(os.Getenv("BENCH_MAX_BATCH")); v > 0 {
		cfg.BatchMaxEvents = v
	}
	r := apptest.Start(b, cfg)
	if !whole {
		r.Intake.Pipeline.SetStages()
	}
	counter := &statementCounter{counts: map[string]int{}}
	r.DB.AddQueryHook(counter)
	ctx := audit.WithActor(context.Background(), audit.System)
	sc, err := r.Intake.Registry.Add(ctx, intake.AddSource{Name: "bench", Kind: intake.KindAfterShip, RateLimit: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	gen := intake.LoadGen{RunID: "bp", Checkpoints: 1, Exceptions: 0.05}
	var seq atomic.Int64
	send := func() error {
		n := seq.Add(1)
		body := gen.Append(nil, n, time.Now().UTC())
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("aftership-hmac-sha256", intake.SignAfterShip(sc.Secret, body))
		rec, err := r.Intake.Webhook(ctx, "bench", h, body)
		if err != nil {
			return err
		}
		if len(rec.Events) != 1 || rec.Events[0].Duplicate {
			return fmt.Errorf("webhook %d: unexpected receipt %+v", n, rec)
		}
		if gen.IsException(n) && rec.Events[0].CaseID == "" && whole {
			return fmt.Errorf("webhook %d: exception opened no case", n)
		}
		return nil
	}
	// Warm up: compile paths, fill pools.
	for i := 0; i < 64; i++ {
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	counter.reset()
	if v, _ := strconv.Atoi(os.Getenv("BENCH_DUMP_SQL")); v > 0 {
		counter.mu.Lock()
		counter.dump = v
		counter.mu.Unlock()
	}
	const senders = 64
	per := (b.N + senders - 1) / senders
	cpu0, pg0 := cpuTime(), postgresCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := send(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu, pgCPU := cpuTime()-cpu0, postgresCPU()-pg0
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	events := float64(per * senders)
	counts := counter.snapshot()
	batches := float64(counts["SELECT intake dedup"])
	total := 0
	for _, v := range counts {
		total += v
	}
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/events, "cpu-µs/event")
	if cfg.DatabaseURL != "" && pgCPU > 0 {
		b.ReportMetric(float64(pgCPU.Microseconds())/events, "pg-cpu-µs/event")
	}
	if batches > 0 {
		b.ReportMetric(events/batches, "events/batch")
		b.ReportMetric(float64(total)/batches, "bun-stmts/batch")
	}
	if testing.Verbose() {
		b.Logf("statements over %d events: %v", int(events), counts)
	}
}
