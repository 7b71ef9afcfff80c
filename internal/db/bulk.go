package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
)

// Bulk inserts are the write path of the event pipeline: every batch
// stores hundreds of rows in a handful of tables. Building those
// statements with bun means formatting every value as an SQL literal
// (escaping kilobytes of JSON) and the database parsing it back. Insert
// instead sends parameterised statements whose text never changes:
//
//   - PostgreSQL: one INSERT … SELECT FROM unnest($1::text[], …) per table,
//     prepared once per connection and bound with binary arrays, whatever
//     the number of rows;
//   - SQLite: a prepared multi-row INSERT … VALUES (?, …), … per table and
//     chunk size, bound with the values as bun would have written them
//     (times as bun's UTC text, so string comparison in SQL still works).
//
// Rows are bun models; their values are converted the way bun converts
// them (driver.Valuer, pointers as NULL, times in UTC). Field kinds bun
// would store as JSON, and nullzero/msgpack fields, are refused so a model
// never silently changes representation; such tables keep bun inserts.

// InsertOptions adjust Insert.
type InsertOptions struct {
	// Suffix is appended to the statement, e.g. "ON CONFLICT (id) DO
	// NOTHING" or "ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a" (plain
	// SQL, the same on both databases).
	Suffix string
	// Defer queues the statement in a transaction begun by InBatchTx (on
	// PostgreSQL) to be sent with the transaction's other deferred writes
	// in one round trip just before COMMIT. Only for writes no later read
	// of the same transaction depends on. Elsewhere it runs at once.
	Defer bool
}

// ErrBulkUnsupported is returned for models Insert cannot write exactly as
// bun would.
var ErrBulkUnsupported = errors.New("db: bulk insert does not support this model")

// Insert writes rows, a slice (or pointer to a slice) of bun models of one
// table, inside idb (a bun.Tx, bun.Conn or *bun.DB). Nothing is sent for an
// empty slice. Bun query hooks do not see these statements.
func Insert(ctx context.Context, idb bun.IDB, rows any, opts InsertOptions) error {
	rv := reflect.ValueOf(rows)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice {
		return fmt.Errorf("%w: want a slice of models, got %T", ErrBulkUnsupported, rows)
	}
	if rv.Len() == 0 {
		return nil
	}
	et := rv.Type().Elem()
	ptr := et.Kind() == reflect.Pointer
	if ptr {
		et = et.Elem()
	}
	m, err := modelOf(idb.Dialect(), et)
	if err != nil {
		return err
	}
	elem := func(i int) reflect.Value {
		v := rv.Index(i)
		if ptr {
			v = v.Elem()
		}
		return v
	}
	x, err := executorOf(ctx, idb)
	if err != nil {
		return err
	}
	if x.pg {
		return m.insertPG(ctx, x, rv.Len(), elem, opts)
	}
	return m.insertSQLite(ctx, x, rv.Len(), elem, opts.Suffix)
}

// Exec runs a statement without arguments (e.g. the text of a bun query
// with its values formatted in); with defer it is queued like a deferred
// Insert.
func Exec(ctx context.Context, idb bun.IDB, query string, deferred bool) error {
	x, err := executorOf(ctx, idb)
	if err != nil {
		return err
	}
	if deferred && x.batch != nil && x.pg {
		x.batch.queue(query, nil)
		return nil
	}
	_, err = idb.ExecContext(ctx, query)
	return err
}

// ScanPrepared runs a PostgreSQL query with real parameters ($1, …; a key
// list as one array, e.g. "key = ANY($1::text[])") inside idb and scans the
// rows into dest as bun would. Its text never changes, so the statement is
// prepared once per connection: the hot lookups of the event pipeline then
// skip parsing and planning, which for a bun query with an IN list of a
// batch's keys cost more than running it. PostgreSQL only.
func ScanPrepared(ctx context.Context, idb bun.IDB, dest any, query string, args ...any) error {
	x, err := executorOf(ctx, idb)
	if err != nil {
		return err
	}
	if !x.pg {
		return fmt.Errorf("%w: prepared scans need PostgreSQL", ErrBulkUnsupported)
	}
	rows, err := x.runner().QueryContext(ctx, query, append([]any{pgx.QueryExecModeCacheStatement}, args...)...)
	if err != nil {
		return err
	}
	return idb.NewSelect().DB().ScanRows(ctx, rows, dest)
}

// batchTx is the state InBatchTx keeps for one transaction.
type batchTx struct {
	conn     *sql.Conn
	tx       *sql.Tx
	pg       bool
	mu       sync.Mutex
	deferred []deferredStmt
	local    map[any]any // DeferredState
}

type deferredStmt struct {
	query string
	args  []any
}

type batchKey struct{}

func (b *batchTx) queue(query string, args []any) {
	b.mu.Lock()
	b.deferred = append(b.deferred, deferredStmt{query, args})
	b.mu.Unlock()
}

// flush sends the deferred statements in one round trip.
//
// It encodes the parameters itself into a reused buffer and hands the
// bytes to pgconn: through pgx.Batch, the driver regrows a buffer from 256
// bytes for every statement, and for a batch's arrays of kilobytes of JSON
// those copies were a quarter of everything the process allocated under
// load (and the garbage collector's work with them).
func (b *batchTx) flush(ctx context.Context) error {
	b.mu.Lock()
	stmts := b.deferred
	b.deferred = nil
	b.mu.Unlock()
	if len(stmts) == 0 {
		return nil
	}
	return b.conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return fmt.Errorf("db: deferred writes need the pgx driver, have %T", dc)
		}
		pc := c.Conn()
		m := pc.TypeMap()
		bp := paramBufs.Get().(*[]byte)
		defer paramBufs.Put(bp)
		var pb pgconn.Batch
		for _, s := range stmts {
			if s.args == nil {
				pb.ExecParams(s.query, nil, nil, nil, nil)
				continue
			}
			// Insert's statements (a few fixed texts) are prepared once per
			// connection; Prepare is a map lookup after that.
			sd, err := pc.Prepare(ctx, s.query, s.query)
			if err != nil {
				return fmt.Errorf("db: prepare deferred write: %w", err)
			}
			if len(sd.ParamOIDs) != len(s.args) {
				return fmt.Errorf("db: deferred write has %d arguments for %d parameters", len(s.args), len(sd.ParamOIDs))
			}
			buf := (*bp)[:0]
			ends := make([]int, len(s.args)) // -1: NULL
			formats := make([]int16, len(s.args))
			for i, a := range s.args {
				formats[i] = m.FormatCodeForOID(sd.ParamOIDs[i])
				out, err := m.Encode(sd.ParamOIDs[i], formats[i], a, buf)
				if err != nil {
					return fmt.Errorf("db: encode deferred write argument %d: %w", i+1, err)
				}
				if out == nil {
					ends[i] = -1
					continue
				}
				buf, ends[i] = out, len(out)
			}
			params := make([][]byte, len(s.args))
			from := 0
			for i, e := range ends {
				if e >= 0 {
					params[i], from = buf[from:e:e], e
				}
			}
			pb.ExecStatement(sd, params, formats, nil) // copies the bytes
			*bp = buf[:0]
		}
		if _, err := pc.PgConn().ExecBatch(ctx, &pb).ReadAll(); err != nil {
			return fmt.Errorf("db: deferred write: %w", err)
		}
		return nil
	})
}

// paramBufs are the encoding buffers of flush, kept between batches.
var paramBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// InBatchTx runs fn in a write transaction like InTx, on a connection held
// for the transaction so that bulk statements can use the driver directly:
// on SQLite, Insert's statements stay prepared on the connection from one
// transaction to the next; on PostgreSQL, deferred writes (InsertOptions
// Defer, Exec with defer) are sent together in one round trip before
// COMMIT. On PostgreSQL the connection comes from the pipeline's own pool
// (sequential scans off, prepared statements planned once: see
// openPostgres). It is meant for the write-heavy group commit of the event
// pipeline; fn must not keep the transaction.
func (d *DB) InBatchTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) (err error) {
	if ctx.Value(txKey{}) != nil {
		return ErrNestedTx
	}
	pool := d.DB
	if d.batch != nil {
		pool = d.batch
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: write connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	b := &batchTx{conn: conn.Conn, tx: tx.Tx, pg: d.IsPostgres()}
	ctx = context.WithValue(ctx, txKey{}, true)
	ctx = context.WithValue(ctx, batchKey{}, b)
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := b.flush(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// executor runs statements with real parameters: bun would format the
// arguments into the text itself.
type executor struct {
	pg    bool
	pool  *sql.DB
	tx    *sql.Tx
	conn  *sql.Conn
	batch *batchTx // the InBatchTx transaction idb belongs to, if any
}

func executorOf(ctx context.Context, idb bun.IDB) (executor, error) {
	x := executor{pg: idb.Dialect().Name().String() == "pg", pool: idb.NewSelect().DB().DB}
	switch v := idb.(type) {
	case bun.Tx:
		x.tx = v.Tx
	case *bun.Tx:
		x.tx = v.Tx
	case bun.Conn:
		x.conn = v.Conn
	case *bun.Conn:
		x.conn = v.Conn
	case *bun.DB:
	default:
		return executor{}, fmt.Errorf("%w: unknown bun.IDB %T", ErrBulkUnsupported, idb)
	}
	if b, ok := ctx.Value(batchKey{}).(*batchTx); ok && x.tx != nil && b.tx == x.tx {
		x.batch = b
	}
	return x, nil
}

// DeferredState reports whether writes deferred in idb wait for its commit
// (a PostgreSQL transaction begun by InBatchTx), and then returns a map
// private to that transaction. A caller that defers writes keeps there what
// a later read of its own would otherwise miss, because the deferred rows
// are not in the database yet.
func DeferredState(ctx context.Context, idb bun.IDB) (map[any]any, bool) {
	x, err := executorOf(ctx, idb)
	if err != nil || !x.pg || x.batch == nil {
		return nil, false
	}
	x.batch.mu.Lock()
	defer x.batch.mu.Unlock()
	if x.batch.local == nil {
		x.batch.local = map[any]any{}
	}
	return x.batch.local, true
}

// sqliteStmts keeps prepared statements per SQLite driver connection (the
// write pool has one, open for the life of the process), at most
// maxPreparedPerConn of them.
var sqliteStmts sync.Map // driver conn → *connStmts

type connStmts struct {
	mu sync.Mutex
	m  map[string]driver.Stmt
}

const maxPreparedPerConn = 256

// runner is what statements run on: the transaction, else the connection,
// else the pool.
func (x executor) runner() interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
} {
	switch {
	case x.tx != nil:
		return x.tx
	case x.conn != nil:
		return x.conn
	}
	return x.pool
}

// exec runs query with args now.
func (x executor) exec(ctx context.Context, query string, args []any) error {
	if x.pg {
		// pgx prepares the statement once per connection.
		args = append([]any{pgx.QueryExecModeCacheStatement}, args...)
	}
	if x.pg || x.batch == nil {
		_, err := x.runner().ExecContext(ctx, query, args...)
		return err
	}
	return x.batch.conn.Raw(func(dc any) error {
		v, _ := sqliteStmts.LoadOrStore(dc, &connStmts{m: map[string]driver.Stmt{}})
		cs := v.(*connStmts)
		cs.mu.Lock()
		st := cs.m[query]
		cs.mu.Unlock()
		if st == nil {
			pc, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("db: driver connection %T cannot prepare", dc)
			}
			var err error
			if st, err = pc.PrepareContext(ctx, query); err != nil {
				return err
			}
			cs.mu.Lock()
			if len(cs.m) >= maxPreparedPerConn {
				for q, old := range cs.m {
					_ = old.Close()
					delete(cs.m, q)
				}
			}
			cs.m[query] = st
			cs.mu.Unlock()
		}
		se, ok := st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("db: driver statement %T cannot execute with a context", st)
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		_, err := se.ExecContext(ctx, named)
		return err
	})
}

// bulkModel is what Insert knows about a model type.
type bulkModel struct {
	table   string
	columns []string
	fields  []bulkField
	pgSQL   string
	colList string
}

type bulkField struct {
	name   string
	index  []int
	kind   valueKind
	null   bool // may be NULL (pointer or driver.Valuer)
	valuer bool
	pgType string
}

type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindUint
	kindFloat
	kindBool
	kindTime
	kindBytes
)

var (
	modelCache  sync.Map // modelKey → *bulkModel or error
	timeType    = reflect.TypeFor[time.Time]()
	bytesType   = reflect.TypeFor[[]byte]()
	valuerType  = reflect.TypeFor[driver.Valuer]()
	scalarKinds = map[reflect.Kind]valueKind{
		reflect.String: kindString, reflect.Bool: kindBool,
		reflect.Int: kindInt, reflect.Int8: kindInt, reflect.Int16: kindInt, reflect.Int32: kindInt, reflect.Int64: kindInt,
		reflect.Uint: kindUint, reflect.Uint8: kindUint, reflect.Uint16: kindUint, reflect.Uint32: kindUint, reflect.Uint64: kindUint,
		reflect.Float32: kindFloat, reflect.Float64: kindFloat,
	}
	pgTypes = map[valueKind]string{kindString: "text", kindInt: "int8", kindUint: "int8", kindFloat: "float8", kindBool: "bool",
		kindTime: "timestamptz", kindBytes: "bytea"}
)

type modelKey struct {
	dialect string
	typ     reflect.Type
}

func modelOf(d schema.Dialect, t reflect.Type) (*bulkModel, error) {
	k := modelKey{d.Name().String(), t}
	if v, ok := modelCache.Load(k); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*bulkModel), nil
	}
	m, err := buildModel(d, t)
	if err != nil {
		modelCache.Store(k, err)
		return nil, err
	}
	modelCache.Store(k, m)
	return m, nil
}

func buildModel(d schema.Dialect, t reflect.Type) (*bulkModel, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %s is not a struct", ErrBulkUnsupported, t)
	}
	tbl := d.Tables().Get(t)
	m := &bulkModel{table: string(tbl.SQLName)}
	for _, f := range tbl.Fields {
		if f.NullZero || f.Tag.HasOption("msgpack") || f.Tag.HasOption("scanonly") || f.Tag.HasOption("json_use_number") {
			return nil, fmt.Errorf("%w: %s.%s has options bun treats specially", ErrBulkUnsupported, t, f.GoName)
		}
		bf := bulkField{name: f.Name, index: f.Index}
		ft := f.StructField.Type
		switch {
		case ft.Implements(valuerType):
			bf.valuer, bf.null, bf.kind = true, true, kindString
			if u := strings.ToLower(f.UserSQLType); u != "" {
				bf.pgType = u
			}
		case ft == timeType:
			bf.kind = kindTime
		case ft.Kind() == reflect.Pointer && ft.Elem() == timeType:
			bf.kind, bf.null = kindTime, true
		case ft == bytesType:
			bf.kind, bf.null = kindBytes, true
		case ft.Kind() == reflect.Pointer:
			kind, ok := scalarKinds[ft.Elem().Kind()]
			if !ok || ft.Elem().Implements(valuerType) || reflect.PointerTo(ft.Elem()).Implements(valuerType) {
				return nil, fmt.Errorf("%w: %s.%s of type %s", ErrBulkUnsupported, t, f.GoName, ft)
			}
			bf.kind, bf.null = kind, true
		default:
			kind, ok := scalarKinds[ft.Kind()]
			if !ok || reflect.PointerTo(ft).Implements(valuerType) {
				return nil, fmt.Errorf("%w: %s.%s of type %s (bun stores it as JSON)", ErrBulkUnsupported, t, f.GoName, ft)
			}
			bf.kind = kind
		}
		if bf.pgType == "" {
			bf.pgType = pgTypes[bf.kind]
		}
		m.fields = append(m.fields, bf)
		m.columns = append(m.columns, f.Name)
	}
	quoted := make([]string, len(m.columns))
	for i, c := range m.columns {
		quoted[i] = `"` + c + `"`
	}
	m.colList = strings.Join(quoted, ", ")
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) SELECT * FROM unnest(", m.table, m.colList)
	for i, f := range m.fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::%s[]", i+1, f.pgType)
	}
	b.WriteString(")")
	m.pgSQL = b.String()
	return m, nil
}

// value returns the field's value of row v as bun would store it: nil for
// NULL, else a string, int64, uint64, float64, bool, time.Time (UTC) or
// []byte.
func (f *bulkField) value(v reflect.Value) (any, error) {
	fv := v.FieldByIndex(f.index)
	if f.valuer {
		if fv.Kind() == reflect.Pointer && fv.IsNil() {
			return nil, nil
		}
		dv, err := fv.Interface().(driver.Valuer).Value()
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", f.name, err)
		}
		switch x := dv.(type) {
		case nil:
			return nil, nil
		case string:
			return checkNUL(f.name, x)
		case []byte:
			return checkNUL(f.name, string(x))
		default:
			return nil, fmt.Errorf("%w: %s's Value returned %T", ErrBulkUnsupported, f.name, dv)
		}
	}
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return nil, nil
		}
		fv = fv.Elem()
	}
	switch f.kind {
	case kindString:
		return checkNUL(f.name, fv.String())
	case kindInt:
		return fv.Int(), nil
	case kindUint:
		return int64(fv.Uint()), nil
	case kindFloat:
		return fv.Float(), nil
	case kindBool:
		return fv.Bool(), nil
	case kindTime:
		return fv.Interface().(time.Time).UTC(), nil
	case kindBytes:
		if fv.IsNil() {
			return nil, nil
		}
		return fv.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrBulkUnsupported, f.name)
}

// checkNUL refuses strings with a NUL byte, as bun does: neither database
// keeps them reliably as text.
func checkNUL(name, s string) (any, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("db: %s contains a NUL byte", name)
	}
	return s, nil
}

func (m *bulkModel) insertPG(ctx context.Context, x executor, n int, row func(int) reflect.Value, opts InsertOptions) error {
	cols := make([]any, len(m.fields))
	for j, f := range m.fields {
		cols[j] = newPGColumn(f, n)
	}
	for i := 0; i < n; i++ {
		r := row(i)
		for j := range m.fields {
			v, err := m.fields[j].value(r)
			if err != nil {
				return fmt.Errorf("insert into %s: %w", m.table, err)
			}
			appendPGColumn(cols[j], v)
		}
	}
	for j := range cols {
		cols[j] = reflect.ValueOf(cols[j]).Elem().Interface()
	}
	q := m.pgSQL
	if opts.Suffix != "" {
		q += " " + opts.Suffix
	}
	if opts.Defer && x.batch != nil {
		x.batch.queue(q, cols)
		return nil
	}
	if err := x.exec(ctx, q, cols); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, m.table, err)
	}
	return nil
}

// PostgreSQL array columns: a typed slice per column, pointers where NULL
// is possible.
func newPGColumn(f bulkField, n int) any {
	switch {
	case f.kind == kindString:
		return newColumn[string](f.null, n)
	case f.kind == kindInt || f.kind == kindUint:
		return newColumn[int64](f.null, n)
	case f.kind == kindFloat:
		return newColumn[float64](f.null, n)
	case f.kind == kindBool:
		return newColumn[bool](f.null, n)
	case f.kind == kindTime:
		return newColumn[time.Time](f.null, n)
	default:
		s := make([][]byte, 0, n)
		return &s
	}
}

func newColumn[T any](null bool, n int) any {
	if null {
		s := make([]*T, 0, n)
		return &s
	}
	s := make([]T, 0, n)
	return &s
}

func appendPGColumn(col any, v any) {
	switch c := col.(type) {
	case *[]string:
		*c = append(*c, v.(string))
	case *[]*string:
		appendNullable(c, v)
	case *[]int64:
		*c = append(*c, v.(int64))
	case *[]*int64:
		appendNullable(c, v)
	case *[]float64:
		*c = append(*c, v.(float64))
	case *[]*float64:
		appendNullable(c, v)
	case *[]bool:
		*c = append(*c, v.(bool))
	case *[]*bool:
		appendNullable(c, v)
	case *[]time.Time:
		*c = append(*c, v.(time.Time))
	case *[]*time.Time:
		appendNullable(c, v)
	case *[][]byte:
		if v == nil {
			*c = append(*c, nil)
		} else {
			*c = append(*c, v.([]byte))
		}
	}
}

// appendNullable appends v (nil for NULL) to a column of pointers.
func appendNullable[T any](c *[]*T, v any) {
	if v == nil {
		*c = append(*c, nil)
		return
	}
	x := v.(T)
	*c = append(*c, &x)
}

// sqliteMaxVars keeps a statement under SQLite's bound-variable limit.
const sqliteMaxVars = 32000

func (m *bulkModel) insertSQLite(ctx context.Context, x executor, n int, row func(int) reflect.Value, suffix string) error {
	per := max(1, min(256, sqliteMaxVars/len(m.fields)))
	args := make([]any, 0, min(n, per)*len(m.fields))
	for start := 0; start < n; {
		// Chunks of a power-of-two size, so a few prepared statements
		// serve every batch size.
		k := 1
		for k*2 <= n-start && k*2 <= per {
			k *= 2
		}
		args = args[:0]
		for i := start; i < start+k; i++ {
			r := row(i)
			for j := range m.fields {
				v, err := m.fields[j].value(r)
				if err != nil {
					return fmt.Errorf("insert into %s: %w", m.table, err)
				}
				args = append(args, sqliteArg(v))
			}
		}
		if err := x.exec(ctx, m.sqliteSQL(k, suffix), args); err != nil {
			return fmt.Errorf("insert %d rows into %s: %w", k, m.table, err)
		}
		start += k
	}
	return nil
}

// sqliteArg converts a value to what bun writes on SQLite: times as text in
// bun's layout, booleans as 0/1.
func sqliteArg(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999-07:00")
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

var sqliteSQLCache sync.Map // sqliteSQLKey → string

type sqliteSQLKey struct {
	m      *bulkModel
	rows   int
	suffix string
}

func (m *bulkModel) sqliteSQL(rows int, suffix string) string {
	k := sqliteSQLKey{m, rows, suffix}
	if v, ok := sqliteSQLCache.Load(k); ok {
		return v.(string)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + m.table + " (" + m.colList + ") VALUES ")
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(m.fields)), ", ") + ")"
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	if suffix != "" {
		b.WriteString(" " + suffix)
	}
	s := b.String()
	sqliteSQLCache.Store(k, s)
	return s
}

// Columns returns the column names Insert writes for model (a struct or a
// pointer to one), in order; for building ON CONFLICT … DO UPDATE lists.
func Columns(idb bun.IDB, model any) ([]string, error) {
	t := reflect.TypeOf(model)
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	m, err := modelOf(idb.Dialect(), t)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), m.columns...), nil
}

// UpdateSet builds "ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, …" for
// the columns given.
func UpdateSet(key string, columns []string) string {
	var b strings.Builder
	b.WriteString("ON CONFLICT (" + key + ") DO UPDATE SET ")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = EXCLUDED." + c)
	}
	return b.String()
}
