package intake_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// BenchmarkWebhookIntake measures the service without HTTP: 64 goroutines
// each deliver signed one-checkpoint AfterShip webhooks (a fresh tracking
// number each) through verify, parse, normalise and group commit, and wait
// for the commit. ns/op is per webhook (= per stored event).
func BenchmarkWebhookIntake(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var d *db.DB
			if name == "sqlite" {
				d = testenv.SQLite(b)
			} else {
				d = testenv.Postgres(b)
			}
			box, _ := secretbox.New([]byte("0123456789abcdef0123456789abcdef"))
			reg := intake.NewRegistry(d, box, nil)
			svc := intake.NewService(d, reg, intake.ServiceOptions{DefaultRate: 1e9,
				Pipeline: intake.PipelineOptions{MaxBatch: 256, MaxWait: 2 * time.Millisecond}})
			defer svc.Close()
			sc, err := reg.Add(context.Background(), intake.AddSource{Name: "bench", Kind: intake.KindAfterShip})
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			now := time.Now().UTC()
			body := func(n int64) []byte {
				return []byte(fmt.Sprintf(`{"event":"tracking_update","event_id":"bench-%d","ts":%d,"msg":{"tracking_number":"BN%09d","slug":"fedex","tag":"InTransit","subtag":"InTransit_007","checkpoints":[{"slug":"fedex","city":"MEMPHIS","state":"TN","country_region":"USA","message":"Departed FedEx location","tag":"InTransit","subtag":"InTransit_007","raw_tag":"DP","checkpoint_time":%q}]}}`,
					n, now.Unix(), n, now.Add(-time.Hour).Format("2006-01-02T15:04:05")))
			}
			const senders = 64
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + senders - 1) / senders
			errs := make(chan error, senders)
			for g := 0; g < senders; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						bd := body(seq.Add(1))
						h := http.Header{}
						h.Set("Content-Type", "application/json")
						h.Set("aftership-hmac-sha256", intake.SignAfterShip(sc.Secret, bd))
						if _, err := svc.Webhook(context.Background(), "bench", h, bd); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(seq.Load())/b.Elapsed().Seconds(), "events/s")
		})
	}
}
