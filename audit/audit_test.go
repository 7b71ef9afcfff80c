package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func appendN(t *testing.T, d *db.DB, n int) {
	t.Helper()
	ctx := audit.WithActor(logx.WithRequestID(context.Background(), "req-1"), audit.Actor{Type: "user", ID: "u1", Name: "Ana"})
	for i := 0; i < n; i++ {
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			_, err := audit.Append(ctx, tx, t0.Add(time.Duration(i)*time.Minute),
				audit.Record{Action: "case.acknowledged", SubjectType: "case", SubjectID: "c1",
					Before: map[string]string{"state": "open"}, After: map[string]string{"state": "acknowledged"}},
				audit.Record{Action: "case.commented", SubjectType: "case", SubjectID: "c2", Detail: "note"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestChainVerifies(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		appendN(t, d, 5)
		res, err := audit.Verify(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Checked != 10 || res.HeadSeq != 10 {
			t.Fatalf("verify = %+v, want OK with 10 entries", res)
		}
		es, err := audit.ForSubject(context.Background(), d, "case", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 5 || es[0].ActorName != "Ana" || es[0].RequestID != "req-1" || es[0].Before != `{"state":"open"}` {
			t.Fatalf("entries of c1 = %+v", es)
		}
	})
}

// In the event pipeline's batch transaction (db.InBatchTx) the entries are
// sent with the commit on PostgreSQL; appends in one transaction still
// chain on each other, and the chain verifies with the entries stored in
// the database exactly as an immediate append stores them.
func TestAppendInBatchTransaction(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		appendN(t, d, 1)
		ctx := audit.WithActor(context.Background(), audit.Actor{Type: "system", ID: "pipeline"})
		err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			for i := range 3 {
				if _, err := audit.Append(ctx, tx, t0.Add(time.Hour+time.Duration(i)*time.Second),
					audit.Record{Action: "case.opened", SubjectType: "case", SubjectID: "c9", After: map[string]int{"n": i}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, d, 1)
		res, err := audit.Verify(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || res.Checked != 7 || res.HeadSeq != 7 {
			t.Fatalf("verify = %+v, want OK with 7 entries", res)
		}
		es, err := audit.ForSubject(context.Background(), d, "case", "c9")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 3 || es[2].Seq != 5 || es[2].After != `{"n":2}` || !es[2].At.Equal(t0.Add(time.Hour+2*time.Second).Truncate(time.Microsecond)) {
			t.Fatalf("entries of c9 = %+v", es)
		}
	})
}

// dropGuards removes the append-only triggers, as an attacker with database
// rights could, so the test can tamper.
func dropGuards(t *testing.T, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}
	if d.IsPostgres() {
		stmts = []string{"DROP TRIGGER audit_log_no_update ON audit_log"}
	}
	for _, s := range stmts {
		if _, err := d.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTamperingIsFound(t *testing.T) {
	cases := []struct {
		name     string
		tamper   string
		wantSeq  int64
		wantText string
	}{
		{"edited detail", "UPDATE audit_log SET detail = 'forged' WHERE seq = 4", 4, "modified"},
		{"edited actor", "UPDATE audit_log SET actor_id = 'u2' WHERE seq = 7", 7, "modified"},
		{"deleted middle", "DELETE FROM audit_log WHERE seq = 5", 6, "missing"},
		{"deleted tail", "DELETE FROM audit_log WHERE seq = 10", 10, "deleted from the end"},
		{"rehashed entry", "UPDATE audit_log SET hash = prev_hash WHERE seq = 3", 3, "modified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testenv.EachDB(t, func(t *testing.T, d *db.DB) {
				appendN(t, d, 5)
				if _, err := d.ExecContext(context.Background(), tc.tamper); err == nil {
					t.Fatal("tampering succeeded while the append-only triggers are in place")
				}
				dropGuards(t, d)
				if _, err := d.ExecContext(context.Background(), tc.tamper); err != nil {
					t.Fatal(err)
				}
				res, err := audit.Verify(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.Broken == nil || res.Broken.Seq != tc.wantSeq || !strings.Contains(res.String(), tc.wantText) {
					t.Fatalf("verify = %s, want broken at %d (%s)", res, tc.wantSeq, tc.wantText)
				}
			})
		})
	}
}

func TestExport(t *testing.T) {
	d := testenv.DB(t)
	appendN(t, d, 3)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), d, audit.Filter{SubjectID: "c2", From: t0.Add(time.Minute)}, "csv", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || strings.Count(buf.String(), "\n") != 3 || !strings.HasPrefix(buf.String(), "seq,id,at,") {
		t.Fatalf("csv export wrote %d entries:\n%s", n, buf.String())
	}
	buf.Reset()
	n, err = audit.Export(context.Background(), d, audit.Filter{}, "jsonl", &buf)
	if err != nil || n != 6 || strings.Count(buf.String(), "\n") != 6 {
		t.Fatalf("jsonl export: n=%d err=%v", n, err)
	}
	if _, err := audit.Export(context.Background(), d, audit.Filter{}, "xml", &buf); err == nil {
		t.Fatal("unknown format accepted")
	}
}
