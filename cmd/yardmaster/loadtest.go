package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// LoadtestReport is what `yardmaster loadtest` measured.
type LoadtestReport struct {
	Target       string             `json:"target"`
	Mode         string             `json:"mode"` // "rate" or "max"
	Rate         float64            `json:"target_rate,omitempty"`
	Concurrency  int                `json:"concurrency"`
	Checkpoints  int                `json:"checkpoints_per_webhook"`
	Shipments    int                `json:"shipments,omitempty"` // tracking-number pool; 0 = fresh each webhook
	Exceptions   float64            `json:"exceptions,omitempty"`
	Duration     float64            `json:"duration_seconds"`
	Requests     int                `json:"requests"`
	OK           int                `json:"ok"`
	Errors       map[string]int     `json:"errors,omitempty"`
	EventsStored int                `json:"events_stored"`
	WithCase     int                `json:"events_with_case"`
	RequestsPerS float64            `json:"requests_per_second"`
	EventsPerS   float64            `json:"events_per_second"`
	LatencyMS    map[string]float64 `json:"latency_ms"`
	Database     string             `json:"database,omitempty"`
	CPUs         int                `json:"cpus"`
	// With --self: the group-commit batches of the measured window.
	Batches     uint64  `json:"batches,omitempty"`
	BatchEvents float64 `json:"mean_batch_events,omitempty"`
	BatchMS     float64 `json:"mean_batch_ms,omitempty"`
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

func newLoadtestCmd(c *cli) *cobra.Command {
	var url, source, secret string
	var rate float64
	var duration, warmup time.Duration
	var conc, checkpoints, shipments int
	var exceptions float64
	var self, asJSON bool
	var cpuProfile, memProfile string
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Send signed AfterShip webhooks at a rate or flat out; report throughput and latency percentiles",
		Long: `Sends AfterShip tracking webhooks (a fresh tracking number and event id each, signed with the source's
secret) to a running Yardmaster, either at --rate requests/s (open loop: latency counts from the scheduled
send time, so a stalled server cannot hide its queueing) or as fast as --concurrency senders can (--rate 0).
A 202 is acknowledged only after the group commit, so events/s is durable throughput.
With --self it starts Yardmaster in this process on loopback (with the configured database, or a
temporary SQLite file) and registers a source itself.`,
		Example: `  yardmaster sources add --name lt --kind aftership --rate-limit 100000 --json   # note the secret
  yardmaster loadtest --url http://127.0.0.1:8080 --source lt --secret S --concurrency 64 --duration 30s
  yardmaster loadtest --self --rate 1000 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLoadtestFlags(conc, checkpoints, shipments, rate, exceptions, duration, warmup); err != nil {
				return err
			}
			ctx := cmd.Context()
			report := LoadtestReport{Concurrency: conc, Checkpoints: checkpoints, Shipments: shipments, Exceptions: exceptions, CPUs: runtime.NumCPU(), Rate: rate}
			if self {
				cfg, err := c.config(cmd)
				if err != nil {
					return err
				}
				tuneGC(c.lookup) // as serve does
				cfg.Addr = "127.0.0.1:0"
				if cfg.DatabaseURL == "" {
					dir, err := os.MkdirTemp("", "yardmaster-loadtest-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					cfg.DataDir = dir
				}
				cfg.SourceRateLimit = 1e9
				a, err := app.Open(ctx, app.Options{Config: cfg, Logger: logx.New(c.stderr, "warn"), Version: buildVersion()})
				if err != nil {
					return err
				}
				defer a.Close()
				report.Database = string(a.DB.Engine)
				runCtx, stop := context.WithCancel(ctx)
				ready := make(chan net.Addr, 1)
				done := make(chan error, 1)
				go func() { done <- a.Run(runCtx, ready) }()
				select {
				case addr := <-ready:
					url = "http://" + addr.String()
				case err := <-done:
					stop()
					return err
				}
				defer func() { stop(); <-done }()
				b := make([]byte, 4)
				_, _ = rand.Read(b)
				source = "loadtest-" + hex.EncodeToString(b)
				sc, err := a.Intake.Registry.Add(audit.WithActor(ctx, cliActor), intake.AddSource{Name: source, Kind: intake.KindAfterShip, RateLimit: 1e9})
				if err != nil {
					return err
				}
				secret = sc.Secret
			}
			if url == "" || source == "" || secret == "" {
				return fmt.Errorf("give --url, --source and --secret of an aftership source (or --self)")
			}
			report.Target = url
			target := strings.TrimRight(url, "/") + "/v1/webhooks/" + source
			newPoster, err := newPosterFactory(target, conc)
			if err != nil {
				return err
			}
			rb := make([]byte, 3)
			_, _ = rand.Read(rb)
			runID := hex.EncodeToString(rb)
			gen := intake.LoadGen{RunID: runID, Checkpoints: checkpoints, Exceptions: exceptions, Shipments: shipments}

			var seq atomic.Int64
			var mu sync.Mutex
			var lat []float64
			errs := map[string]int{}
			var okN, stored, withCase, total int
			start := time.Now()
			measureFrom := start.Add(warmup)
			end := measureFrom.Add(duration)
			batchesFrom := make(chan intake.BatchStats, 1)
			if self {
				defer time.AfterFunc(time.Until(measureFrom), func() { batchesFrom <- intake.ReadBatchStats() }).Stop()
			}
			// send posts one webhook through p; body is the sender's own
			// buffer, reused.
			send := func(p poster, body *[]byte, intended time.Time) {
				n := seq.Add(1)
				*body = gen.Append((*body)[:0], n, time.Now().UTC())
				code, b, err := p.post(*body, intake.SignAfterShip(secret, *body))
				doneAt := time.Now()
				var rec intake.Receipt
				status := "transport"
				if err == nil {
					status = strconv.Itoa(code)
					if code == http.StatusAccepted {
						_ = json.Unmarshal(b, &rec)
					}
				}
				if intended.Before(measureFrom) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				total++
				if status == "202" {
					okN++
					for _, e := range rec.Events {
						if !e.Duplicate {
							stored++
						}
						if e.CaseID != "" {
							withCase++
						}
					}
					lat = append(lat, float64(doneAt.Sub(intended).Microseconds())/1000)
				} else {
					errs[status]++
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if memProfile != "" {
				defer func() {
					if f, err := os.Create(memProfile); err == nil {
						_ = pprof.Lookup("allocs").WriteTo(f, 0)
						_ = f.Close()
					}
				}()
			}
			var wg sync.WaitGroup
			if rate > 0 {
				report.Mode = "rate"
				slots := make(chan time.Time, 1<<16)
				for i := 0; i < conc; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p, body := newPoster(), make([]byte, 0, 512+400*checkpoints)
						defer p.close()
						for t := range slots {
							send(p, &body, t)
						}
					}()
				}
				interval := time.Duration(float64(time.Second) / rate)
				next := time.Now()
				for next.Before(end) && ctx.Err() == nil {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					// Catch up in bursts if the sleep overslept.
					for !next.After(time.Now()) && next.Before(end) {
						slots <- next
						next = next.Add(interval)
					}
				}
				close(slots)
			} else {
				report.Mode = "max"
				for i := 0; i < conc; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p, body := newPoster(), make([]byte, 0, 512+400*checkpoints)
						defer p.close()
						for ctx.Err() == nil {
							t := time.Now()
							if !t.Before(end) {
								return
							}
							send(p, &body, t)
						}
					}()
				}
			}
			wg.Wait()
			elapsed := time.Since(measureFrom).Seconds()
			select {
			case from := <-batchesFrom: // every ack is in: the batches of the window are done
				to := intake.ReadBatchStats()
				if report.Batches = to.Batches - from.Batches; report.Batches > 0 {
					report.BatchEvents = (to.Events - from.Events) / float64(report.Batches)
					report.BatchMS = 1000 * (to.Seconds - from.Seconds) / float64(report.Batches)
				}
			default:
			}
			if rate > 0 {
				elapsed = duration.Seconds()
			}
			sort.Float64s(lat)
			report.Duration = elapsed
			report.Requests, report.OK, report.EventsStored, report.WithCase = total, okN, stored, withCase
			if len(errs) > 0 {
				report.Errors = errs
			}
			report.RequestsPerS = float64(okN) / elapsed
			report.EventsPerS = float64(stored) / elapsed
			report.LatencyMS = map[string]float64{"p50": percentile(lat, 0.50), "p90": percentile(lat, 0.90),
				"p99": percentile(lat, 0.99), "max": percentile(lat, 1)}
			if asJSON {
				return json.NewEncoder(c.stdout).Encode(report)
			}
			pool := "a fresh tracking number per webhook"
			if shipments > 0 {
				pool = fmt.Sprintf("%d tracking numbers", shipments)
			}
			fmt.Fprintf(c.stdout, "target %s (%s mode, %d senders, %d checkpoints/webhook, %s, %d CPUs)\n", target, report.Mode, conc, checkpoints, pool, report.CPUs)
			fmt.Fprintf(c.stdout, "%d requests in %.1fs: %d accepted (%.0f req/s), %d events stored (%.0f events/s)\n",
				total, elapsed, okN, report.RequestsPerS, stored, report.EventsPerS)
			fmt.Fprintf(c.stdout, "ack latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
				report.LatencyMS["p50"], report.LatencyMS["p90"], report.LatencyMS["p99"], report.LatencyMS["max"])
			if report.Batches > 0 {
				fmt.Fprintf(c.stdout, "group commit: %d batches, mean %.1f events, mean %.2f ms each (all stages, commit included)\n",
					report.Batches, report.BatchEvents, report.BatchMS)
			}
			if withCase > 0 {
				fmt.Fprintf(c.stdout, "%d events opened or updated a triage case\n", withCase)
			}
			if len(errs) > 0 {
				fmt.Fprintf(c.stdout, "errors by status: %v\n", errs)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "base URL of a running Yardmaster")
	cmd.Flags().StringVar(&source, "source", "", "name of an aftership source")
	cmd.Flags().StringVar(&secret, "secret", "", "that source's webhook secret")
	cmd.Flags().Float64Var(&rate, "rate", 0, "requests per second (open loop); 0 = as fast as possible")
	cmd.Flags().DurationVar(&duration, "duration", 30*time.Second, "how long to measure")
	cmd.Flags().DurationVar(&warmup, "warmup", 2*time.Second, "send for this long before measuring")
	cmd.Flags().IntVar(&conc, "concurrency", 64, "concurrent senders")
	cmd.Flags().IntVar(&checkpoints, "checkpoints", 1, "checkpoints (events) per webhook")
	cmd.Flags().IntVar(&shipments, "shipments", 0, "cycle the webhooks over this many tracking numbers, so most events update a shipment already stored (new checkpoints each round); 0 = a fresh tracking number per webhook")
	cmd.Flags().Float64Var(&exceptions, "exceptions", 0, "share of webhooks (0..1) ending in an exception checkpoint that the starter rules turn into a triage case")
	cmd.Flags().BoolVar(&self, "self", false, "start Yardmaster in this process and register a source")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (with --self: client and server) to this file")
	cmd.Flags().StringVar(&memProfile, "memprofile", "", "write an allocation profile of this process (with --self: client and server) to this file at the end")
	return cmd
}

// checkLoadtestFlags refuses values that would make a run meaningless or
// hang, naming the flag and what it accepts.
func checkLoadtestFlags(conc, checkpoints, shipments int, rate, exceptions float64, duration, warmup time.Duration) error {
	var bad []string
	if conc < 1 {
		bad = append(bad, "--concurrency must be at least 1 (e.g. 64)")
	}
	if checkpoints < 1 || checkpoints > 100 {
		bad = append(bad, "--checkpoints must be between 1 and 100 (e.g. 1)")
	}
	if shipments < 0 {
		bad = append(bad, "--shipments must be 0 (a fresh tracking number per webhook) or a positive number of tracking numbers (e.g. 20000)")
	}
	if rate < 0 {
		bad = append(bad, "--rate must be 0 (as fast as possible) or a positive number of requests/s (e.g. 1000)")
	}
	if exceptions < 0 || exceptions > 1 {
		bad = append(bad, "--exceptions must be a share between 0 and 1 (e.g. 0.05)")
	}
	if duration <= 0 {
		bad = append(bad, "--duration must be positive (e.g. 30s)")
	}
	if warmup < 0 {
		bad = append(bad, "--warmup must not be negative (e.g. 2s)")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "\n"))
	}
	return nil
}
