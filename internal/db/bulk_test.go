package db_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

type label string

// tagList is stored through driver.Valuer, like triage's tag sets.
type tagList []string

func (t tagList) Value() (driver.Value, error) { return strings.Join(t, ","), nil }

type bulkRow struct {
	bun.BaseModel `bun:"table:bulk_rows"`

	ID    string     `bun:"id,pk"`
	S     string     `bun:"s"`
	L     label      `bun:"l"`
	I     int        `bun:"i"`
	I64   int64      `bun:"i64"`
	U     uint32     `bun:"u"`
	F     float64    `bun:"f"`
	PF    *float64   `bun:"pf"`
	B     bool       `bun:"b"`
	T     time.Time  `bun:"t"`
	TP    *time.Time `bun:"tp"`
	Blob  []byte     `bun:"blob"`
	Tags  tagList    `bun:"tags,type:text"`
	Count int        `bun:"count"`
}

func createBulkTable(t *testing.T, d *db.DB) {
	t.Helper()
	ts, blob := "TEXT", "BLOB"
	if d.IsPostgres() {
		ts, blob = "TIMESTAMPTZ", "BYTEA"
	}
	_, err := d.ExecContext(context.Background(), fmt.Sprintf(`CREATE TABLE bulk_rows (id TEXT PRIMARY KEY, s TEXT NOT NULL,
		l TEXT NOT NULL, i INTEGER NOT NULL, i64 BIGINT NOT NULL, u BIGINT NOT NULL, f DOUBLE PRECISION NOT NULL, pf DOUBLE PRECISION,
		b BOOLEAN NOT NULL, t %s NOT NULL, tp %s, blob %s, tags TEXT, count INTEGER NOT NULL)`, ts, ts, blob))
	if err != nil {
		t.Fatal(err)
	}
}

func sampleRows(n int) []*bulkRow {
	at := time.Date(2026, 3, 1, 10, 4, 5, 123456789, time.FixedZone("x", 3600))
	rows := make([]*bulkRow, n)
	for i := range rows {
		r := &bulkRow{ID: fmt.Sprintf("r%04d", i), S: fmt.Sprintf(`it's "row" %d ✓ \ end`, i), L: label("lbl"), I: -i, I64: int64(i) << 40,
			U: uint32(i), F: float64(i) / 3, B: i%2 == 0, T: at.Add(time.Duration(i) * time.Second), Tags: tagList{"a", fmt.Sprint(i)}}
		if i%3 == 0 {
			pf := float64(i) * 1.5
			tp := at.Add(time.Duration(i) * time.Minute)
			r.PF, r.TP, r.Blob = &pf, &tp, []byte{0, 1, byte(i), '\''}
		}
		rows[i] = r
	}
	return rows
}

// rawRows reads every column as the database keeps it, in text, so two
// ways of writing can be compared exactly.
func rawRows(t *testing.T, d *db.DB) []string {
	t.Helper()
	cols := []string{"id", "s", "l", "i", "i64", "u", "f", "pf", "b", "t", "tp", "blob", "tags", "count"}
	expr := make([]string, len(cols))
	for i, c := range cols {
		if d.IsPostgres() {
			expr[i] = fmt.Sprintf("coalesce(%s::text, 'NULL')", c)
		} else {
			expr[i] = fmt.Sprintf("typeof(%s) || ':' || quote(%s)", c, c)
		}
	}
	sep := " || '|' || "
	var out []string
	if err := d.NewRaw("SELECT "+strings.Join(expr, sep)+" FROM bulk_rows ORDER BY id").Scan(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInsertStoresWhatBunStores(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		createBulkTable(t, d)
		rows := sampleRows(300)
		if _, err := d.NewInsert().Model(&rows).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		want := rawRows(t, d)
		for _, how := range []string{"plain tx", "batch tx", "batch tx deferred", "no tx"} {
			if _, err := d.ExecContext(ctx, "DELETE FROM bulk_rows"); err != nil {
				t.Fatal(err)
			}
			var err error
			switch how {
			case "plain tx":
				err = d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return db.Insert(ctx, tx, rows, db.InsertOptions{}) })
			case "batch tx":
				err = d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error { return db.Insert(ctx, tx, rows, db.InsertOptions{}) })
			case "batch tx deferred":
				err = d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
					return db.Insert(ctx, tx, &rows, db.InsertOptions{Defer: true})
				})
			case "no tx":
				err = db.Insert(ctx, d.DB, rows, db.InsertOptions{})
			}
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			if diff := cmp.Diff(want, rawRows(t, d)); diff != "" {
				t.Fatalf("%s: rows differ from bun's (-bun +bulk):\n%s", how, diff)
			}
		}
	})
}

func TestInsertUpsertsWithSuffix(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		createBulkTable(t, d)
		rows := sampleRows(5)
		if err := db.Insert(ctx, d.DB, rows, db.InsertOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			r.S, r.Count = "changed", 7
		}
		err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			return db.Insert(ctx, tx, rows[:3], db.InsertOptions{Defer: true,
				Suffix: db.UpdateSet("id", []string{"s"}) + ", count = bulk_rows.count + EXCLUDED.count"})
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []struct {
			ID    string `bun:"id"`
			S     string `bun:"s"`
			Count int    `bun:"count"`
		}
		if err := d.NewRaw("SELECT id, s, count FROM bulk_rows ORDER BY id").Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			wantS, wantC := "changed", 7
			if i >= 3 {
				wantS, wantC = rows[i].S, 0
				wantS = fmt.Sprintf(`it's "row" %d ✓ \ end`, i)
			}
			if g.S != wantS || g.Count != wantC {
				t.Errorf("row %s = %q, %d; want %q, %d", g.ID, g.S, g.Count, wantS, wantC)
			}
		}
	})
}

func TestInBatchTxRollsBackOnDeferredError(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		createBulkTable(t, d)
		rows := sampleRows(3)
		if err := db.Insert(ctx, d.DB, rows[:1], db.InsertOptions{}); err != nil {
			t.Fatal(err)
		}
		err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := db.Exec(ctx, tx, "INSERT INTO bulk_rows (id, s, l, i, i64, u, f, b, t, count) VALUES ('x', '', '', 0, 0, 0, 0, FALSE, '2026-01-01 00:00:00+00:00', 0)", true); err != nil {
				return err
			}
			return db.Insert(ctx, tx, rows, db.InsertOptions{Defer: true}) // r0000 exists
		})
		if !db.IsUniqueViolation(err) {
			t.Fatalf("err = %v, want a unique violation", err)
		}
		if got := rawRows(t, d); len(got) != 1 {
			t.Fatalf("%d rows after the failed transaction, want 1 (nothing of it kept)", len(got))
		}
		// The connection is usable afterwards.
		if err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			return db.Insert(ctx, tx, rows[1:], db.InsertOptions{Defer: true})
		}); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, d); len(got) != 3 {
			t.Fatalf("%d rows, want 3", len(got))
		}
		// A deferred Exec is written on either database (on SQLite at once).
		if err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			return db.Exec(ctx, tx, "INSERT INTO bulk_rows (id, s, l, i, i64, u, f, b, t, count) VALUES ('y', '', '', 0, 0, 0, 0, FALSE, '2026-01-01 00:00:00+00:00', 0)", true)
		}); err != nil {
			t.Fatal(err)
		}
		if got := rawRows(t, d); len(got) != 4 {
			t.Fatalf("%d rows, want 4", len(got))
		}
	})
}

func TestInsertRefusesWhatItCannotMirror(t *testing.T) {
	d := testenv.SQLite(t)
	ctx := context.Background()
	type withMap struct {
		bun.BaseModel `bun:"table:x"`
		ID            string         `bun:"id,pk"`
		M             map[string]int `bun:"m"`
	}
	type withNullZero struct {
		bun.BaseModel `bun:"table:x"`
		ID            string `bun:"id,pk,nullzero"`
	}
	for _, rows := range []any{[]withMap{{ID: "a"}}, []*withNullZero{{ID: "a"}}, "not a slice"} {
		if err := db.Insert(ctx, d.DB, rows, db.InsertOptions{}); !errors.Is(err, db.ErrBulkUnsupported) {
			t.Errorf("Insert(%T) = %v, want ErrBulkUnsupported", rows, err)
		}
	}
	createBulkTable(t, d)
	r := sampleRows(1)
	r[0].S = "nul\x00byte"
	if err := db.Insert(ctx, d.DB, r, db.InsertOptions{}); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Insert with a NUL byte = %v, want an error", err)
	}
	if err := db.Insert(ctx, d.DB, []*bulkRow{}, db.InsertOptions{}); err != nil {
		t.Errorf("empty Insert = %v", err)
	}
}

func TestInBatchTxRefusesNesting(t *testing.T) {
	d := testenv.SQLite(t)
	err := d.InBatchTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return d.InTx(ctx, func(context.Context, bun.Tx) error { return nil })
	})
	if !errors.Is(err, db.ErrNestedTx) {
		t.Fatalf("nested InTx in InBatchTx = %v, want ErrNestedTx", err)
	}
}

// A young table has no statistics until autovacuum first analyzes it, and
// PostgreSQL then guesses that a list of keys matches a third of the table
// and scans all of it. The pipeline's batch transactions stay on the index
// whatever the statistics say; other transactions keep the default.
func TestBatchTxPlansKeyLookupsOnIndexes(t *testing.T) {
	d := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := d.ExecContext(ctx, `CREATE TABLE lookup_rows (k TEXT PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO lookup_rows SELECT 'k' || i, 'v' || i FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i*300+1)
	}
	explain := func(ctx context.Context, tx bun.Tx) string {
		var lines []string
		if err := tx.NewRaw("EXPLAIN SELECT v FROM lookup_rows WHERE k IN (?)", bun.In(keys)).Scan(ctx, &lines); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	var plain, batch string
	if err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { plain = explain(ctx, tx); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		K string `bun:"k"`
		V string `bun:"v"`
	}
	var planCache string
	err := d.InBatchTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		batch = explain(ctx, tx)
		if err := tx.NewRaw("SHOW plan_cache_mode").Scan(ctx, &planCache); err != nil {
			return err
		}
		return db.ScanPrepared(ctx, tx, &got, `SELECT k, v FROM lookup_rows WHERE k = ANY($1::text[]) ORDER BY k`, keys)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plain, "Seq Scan") {
		t.Fatalf("without statistics the default plan was expected to scan the table (else this test shows nothing):\n%s", plain)
	}
	if strings.Contains(batch, "Seq Scan") || !strings.Contains(batch, "lookup_rows_pkey") {
		t.Fatalf("batch transaction plan does not use the key index:\n%s", batch)
	}
	if planCache != "force_generic_plan" {
		t.Errorf("plan_cache_mode = %q in the batch transaction", planCache)
	}
	if len(got) != len(keys) || got[0].K != "k1" || got[0].V != "v1" {
		t.Fatalf("prepared scan returned %d rows, first %+v", len(got), got)
	}
}

func TestScanPreparedRefusesSQLite(t *testing.T) {
	d := testenv.SQLite(t)
	var out []string
	err := db.ScanPrepared(context.Background(), d, &out, `SELECT 1`)
	if !errors.Is(err, db.ErrBulkUnsupported) {
		t.Fatalf("err = %v, want ErrBulkUnsupported", err)
	}
}
