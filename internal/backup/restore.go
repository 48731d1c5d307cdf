package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// Problem is one thing wrong with a backup: the file and the reason.
type Problem struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return p.File + ": " + p.Reason }

// InvalidError says a backup cannot be restored. The database was not
// changed: either nothing was touched yet, or the restore transaction was
// rolled back (RolledBack).
type InvalidError struct {
	Location   string
	Problems   []Problem
	RolledBack bool
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	state := "nothing was restored, the database is untouched"
	if e.RolledBack {
		state = "the restore was rolled back, the database is as it was"
	}
	return fmt.Sprintf("backup %s cannot be restored (%s): %s", e.Location, state, strings.Join(parts, "; "))
}

// FileCheck is the outcome of checking one file.
type FileCheck struct {
	Table  string `json:"table"`
	File   string `json:"file"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Check reads the manifest and streams every file of the backup fully,
// comparing size, SHA-256, gzip integrity and row count with the
// manifest; the schema version must be one of versions (this build's)
// and not newer than the last. It returns an *InvalidError listing every
// problem, and the per-file outcomes either way.
func Check(ctx context.Context, store Store, versions []int64) (*Manifest, []FileCheck, error) {
	invalid := func(ps ...Problem) error { return &InvalidError{Location: store.Location(), Problems: ps} }
	m, err := ReadManifest(ctx, store)
	if err != nil {
		return nil, nil, invalid(Problem{File: ManifestFile, Reason: err.Error()})
	}
	if p := checkSchemaVersion(m, versions); p != nil {
		return m, nil, invalid(*p)
	}
	var checks []FileCheck
	var problems []Problem
	for _, tf := range m.Tables {
		fc := FileCheck{Table: tf.Table, File: tf.File, Rows: tf.Rows, Bytes: tf.Bytes, OK: true}
		if reason := checkFile(ctx, store, tf); reason != "" {
			fc.OK, fc.Reason = false, reason
			problems = append(problems, Problem{File: tf.File, Reason: reason})
		}
		checks = append(checks, fc)
		if ctx.Err() != nil {
			return m, checks, ctx.Err()
		}
	}
	if len(problems) > 0 {
		return m, checks, invalid(problems...)
	}
	return m, checks, nil
}

// ReadManifest reads and checks a backup's manifest (not its files).
func ReadManifest(ctx context.Context, store Store) (*Manifest, error) {
	r, err := store.Open(ctx, ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("missing: no manifest, so no complete backup here (a backup writes its manifest last)")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	return parseManifest(data)
}

func checkSchemaVersion(m *Manifest, versions []int64) *Problem {
	if len(versions) == 0 {
		return nil
	}
	latest := versions[len(versions)-1]
	switch {
	case m.SchemaVersion > latest:
		return &Problem{File: ManifestFile, Reason: fmt.Sprintf("schema version %d is newer than this build's %d: restore it with the build that took it (or a newer one)", m.SchemaVersion, latest)}
	case !slices.Contains(versions, m.SchemaVersion):
		return &Problem{File: ManifestFile, Reason: fmt.Sprintf("schema version %d is not a migration this build carries (%v)", m.SchemaVersion, versions)}
	}
	return nil
}

// checkFile streams one file and returns what is wrong with it ("" for nothing).
func checkFile(ctx context.Context, store Store, tf TableFile) string {
	r, err := store.Open(ctx, tf.File)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return "cannot read: " + err.Error()
	}
	defer r.Close()
	hr := &hashingReader{r: r, h: sha256.New()}
	var rows int64
	var decodeErr error
	gz, err := gzip.NewReader(hr)
	if err == nil {
		rows, decodeErr = countLines(gz)
	} else {
		decodeErr = err
	}
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return "cannot read: " + err.Error()
	}
	sum := hex.EncodeToString(hr.h.Sum(nil))
	switch {
	case hr.n < tf.Bytes && decodeErr != nil:
		return fmt.Sprintf("truncated: %d of %d bytes (gzip: %v)", hr.n, tf.Bytes, decodeErr)
	case hr.n != tf.Bytes:
		return fmt.Sprintf("size %d bytes, the manifest says %d", hr.n, tf.Bytes)
	case sum != tf.SHA256:
		return fmt.Sprintf("sha256 %s, the manifest says %s: the file was changed", sum, tf.SHA256)
	case decodeErr != nil:
		return fmt.Sprintf("corrupt gzip: %v", decodeErr)
	case rows != tf.Rows:
		return fmt.Sprintf("%d rows, the manifest says %d", rows, tf.Rows)
	}
	return ""
}

func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force replaces a target that holds rows.
	Force bool
	// KeepSettings are pipeline_settings keys whose target rows survive
	// the restore (control.SettingKeys: a restore during a stop must not
	// restart the pipeline). They do not count as data in the target.
	KeepSettings []string
	// Versions are this build's schema versions (default: the embedded ones).
	Versions []int64
	Logger   *slog.Logger
	// Progress is called as rows load, from the goroutine pgx feeds COPY
	// with: never concurrently, and never after Restore returns.
	Progress func(Progress)
	// LockTimeout bounds the wait for other sessions' locks (default 60s).
	LockTimeout time.Duration
}

// RestoreResult reports a restore.
type RestoreResult struct {
	Location string `json:"location"`
	// BackupSchema is the backup's schema version; TargetSchemaBefore the
	// target's before the restore; SchemaVersion the target's after it.
	BackupSchema       int64 `json:"backup_schema_version"`
	TargetSchemaBefore int64 `json:"target_schema_version_before"`
	SchemaVersion      int64 `json:"schema_version"`
	// Tables are the rows restored per table, with the manifest's count.
	Tables []RestoredTable `json:"tables"`
	// Replaced counts the rows the target held before (with --force).
	Replaced     map[string]int64 `json:"replaced,omitempty"`
	KeptSettings []string         `json:"kept_settings,omitempty"`
	Seconds      float64          `json:"seconds"`
}

// RestoredTable is one table's outcome.
type RestoredTable struct {
	Table        string `json:"table"`
	ManifestRows int64  `json:"manifest_rows"`
	Rows         int64  `json:"rows"`
}

// NotEmptyError refuses to restore over data without Force.
type NotEmptyError struct{ Rows map[string]int64 }

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("the target database is not empty (%s): pass --force to replace its contents, or restore into an empty database", describeRows(e.Rows))
}

// SchemaConflictError refuses to downgrade a target that holds data.
type SchemaConflictError struct {
	Backup, Target int64
	Rows           map[string]int64
}

func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("the backup is at schema version %d and the target at %d with data (%s): restoring would first revert migrations outside the restore transaction. Restore into an empty database (then point DATABASE_URL at it), or empty this one first",
		e.Backup, e.Target, describeRows(e.Rows))
}

func describeRows(rows map[string]int64) string {
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s: %d rows", n, rows[n]))
	}
	return strings.Join(parts, ", ")
}

// Restore checks the backup fully, then loads it into the database in one
// transaction, and migrates the result up to this build's schema. See the
// package documentation for the order of things.
func Restore(ctx context.Context, pool *pgxpool.Pool, store Store, opts RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Versions == nil {
		opts.Versions = postgres.EmbeddedVersions()
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Minute
	}
	m, _, err := Check(ctx, store, opts.Versions)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Location: store.Location(), BackupSchema: m.SchemaVersion}

	mig, err := postgres.NewMigrator(pool, logger)
	if err != nil {
		return nil, err
	}
	defer mig.Close()
	if res.TargetSchemaBefore, err = mig.Version(ctx); err != nil {
		return nil, err
	}
	existing, err := listTables(ctx, pool)
	if err != nil {
		return nil, err
	}
	rows, err := countRows(ctx, pool, existing, opts.KeepSettings)
	if err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		if res.TargetSchemaBefore > m.SchemaVersion {
			return nil, &SchemaConflictError{Backup: m.SchemaVersion, Target: res.TargetSchemaBefore, Rows: rows}
		}
		if !opts.Force {
			return nil, &NotEmptyError{Rows: rows}
		}
		res.Replaced = rows
	}

	// The target's schema must be the backup's for COPY to fit.
	switch {
	case res.TargetSchemaBefore < m.SchemaVersion:
		if _, err := mig.UpTo(ctx, m.SchemaVersion); err != nil {
			return nil, fmt.Errorf("migrating the target to the backup's schema version %d: %w", m.SchemaVersion, err)
		}
	case res.TargetSchemaBefore > m.SchemaVersion:
		// Only an empty target gets here.
		if _, err := mig.DownTo(ctx, m.SchemaVersion); err != nil {
			return nil, fmt.Errorf("reverting the empty target to the backup's schema version %d: %w", m.SchemaVersion, err)
		}
	}
	target, err := listTables(ctx, pool)
	if err != nil {
		return nil, err
	}
	if err := compareTables(m, target); err != nil {
		return nil, err
	}

	if err := load(ctx, pool, store, m, opts, res); err != nil {
		if res.TargetSchemaBefore > m.SchemaVersion {
			// The empty target was reverted for nothing: put its schema back.
			if _, upErr := mig.Up(context.WithoutCancel(ctx)); upErr != nil {
				logger.ErrorContext(ctx, "migrating the empty target back up after the failed restore (run scentmatch db migrate)", "err", upErr)
			}
		}
		return nil, err
	}
	names := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		names[i] = pgx.Identifier{"public", t.Table}.Sanitize()
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+strings.Join(names, ", ")); err != nil {
		logger.WarnContext(ctx, "refreshing planner statistics after the restore", "err", err)
	}
	up, err := mig.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("the backup was restored at schema version %d, but migrating it up failed (run scentmatch db migrate): %w", m.SchemaVersion, err)
	}
	res.SchemaVersion = up.To
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// countRows returns the tables that hold rows (settings rows of the kept
// keys aside).
func countRows(ctx context.Context, q querier, tables []table, keep []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range tables {
		sql := "SELECT count(*) FROM " + pgx.Identifier{"public", t.Name}.Sanitize()
		var args []any
		if t.Name == "pipeline_settings" && len(keep) > 0 {
			sql += " WHERE key <> ALL($1)"
			args = append(args, keep)
		}
		var n int64
		if err := q.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting rows of %s: %w", t.Name, err)
		}
		if n > 0 {
			out[t.Name] = n
		}
	}
	return out, nil
}

// compareTables checks that every backed-up table exists in the target
// with every backed-up column.
func compareTables(m *Manifest, target []table) error {
	byName := map[string]table{}
	for _, t := range target {
		byName[t.Name] = t
	}
	for _, tf := range m.Tables {
		t, ok := byName[tf.Table]
		if !ok {
			return fmt.Errorf("table %s of the backup does not exist in the target at schema version %d", tf.Table, m.SchemaVersion)
		}
		for _, c := range tf.Columns {
			if !slices.Contains(t.Columns, c) {
				return fmt.Errorf("column %s.%s of the backup does not exist in the target at schema version %d", tf.Table, c, m.SchemaVersion)
			}
		}
	}
	return nil
}

// load is the one restore transaction.
func load(ctx context.Context, pool *pgxpool.Pool, store Store, m *Manifest, opts RestoreOptions, res *RestoreResult) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring a connection: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("starting the restore transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", opts.LockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("setting the lock timeout: %w", err)
	}

	type setting struct {
		key     string
		value   []byte
		updated time.Time
	}
	var kept []setting
	_, hasSettings := m.Table("pipeline_settings")
	if hasSettings && len(opts.KeepSettings) > 0 {
		rows, err := tx.Query(ctx, `SELECT key, value, updated_at FROM pipeline_settings WHERE key = ANY($1) ORDER BY key`, opts.KeepSettings)
		if err == nil {
			kept, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (setting, error) {
				var s setting
				return s, r.Scan(&s.key, &s.value, &s.updated)
			})
		}
		if err != nil {
			return fmt.Errorf("reading the settings to keep: %w", err)
		}
	}

	names := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		names[i] = pgx.Identifier{"public", t.Table}.Sanitize()
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")+" RESTART IDENTITY CASCADE"); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
			return fmt.Errorf("other sessions hold the tables (an import or a cycle?): stop the pipeline first (scentmatch stop), then restore: %w", err)
		}
		return fmt.Errorf("emptying the tables: %w", err)
	}

	total := m.TotalRows()
	var done int64
	for i, tf := range m.Tables {
		p := Progress{Table: tf.Table, Total: total, TableIndex: i + 1, Tables: len(m.Tables)}
		n, err := loadTable(ctx, tx, store, tf, func(rows int64) {
			if opts.Progress != nil {
				p.Rows = done + rows
				opts.Progress(p)
			}
		})
		if err != nil {
			var prob *problemError
			if errors.As(err, &prob) {
				return &InvalidError{Location: store.Location(), Problems: []Problem{prob.Problem}, RolledBack: true}
			}
			return fmt.Errorf("restoring %s (rolled back, the database is as it was): %w", tf.File, err)
		}
		done += n
		res.Tables = append(res.Tables, RestoredTable{Table: tf.Table, ManifestRows: tf.Rows, Rows: n})
	}

	if len(kept) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM pipeline_settings WHERE key = ANY($1)`, opts.KeepSettings); err != nil {
			return fmt.Errorf("keeping settings: %w", err)
		}
		for _, s := range kept {
			if _, err := tx.Exec(ctx, `INSERT INTO pipeline_settings (key, value, updated_at) VALUES ($1, $2::jsonb, $3)`, s.key, postgres.JSONArg(s.value), s.updated); err != nil {
				return fmt.Errorf("keeping setting %s: %w", s.key, err)
			}
			res.KeptSettings = append(res.KeptSettings, s.key)
		}
	}
	if err := resetSequences(ctx, tx, m); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing the restore: %w", err)
	}
	return nil
}

// problemError is a file found wrong while it was being loaded.
type problemError struct{ Problem }

func (e *problemError) Error() string { return e.Problem.String() }

// loadTable streams one file into COPY FROM, verifying it again as it goes:
// a file changed since Check fails the transaction.
func loadTable(ctx context.Context, tx pgx.Tx, store Store, tf TableFile, onRows func(int64)) (int64, error) {
	r, err := store.Open(ctx, tf.File)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, &problemError{Problem{File: tf.File, Reason: "missing (it was there when the backup was checked)"}}
	}
	if err != nil {
		return 0, err
	}
	defer r.Close()
	hr := &hashingReader{r: r, h: sha256.New()}
	gz, err := gzip.NewReader(hr)
	if err != nil {
		return 0, &problemError{Problem{File: tf.File, Reason: "corrupt gzip: " + err.Error()}}
	}
	lines := &lineReader{r: gz, every: 10000, report: onRows}
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, lines, "COPY "+copyTarget(tf.Table, tf.Columns)+" FROM STDIN")
	// On some errors pgconn returns while its goroutine may still read:
	// from here on the reader answers nothing and reports nothing.
	lines.close()
	if err != nil {
		lines.mu.Lock()
		readErr := lines.err
		lines.mu.Unlock()
		if readErr != nil && ctx.Err() == nil {
			return 0, &problemError{Problem{File: tf.File, Reason: fmt.Sprintf("unreadable while restoring (changed since it was checked?): %v", readErr)}}
		}
		return 0, err
	}
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return 0, err
	}
	if sum := hex.EncodeToString(hr.h.Sum(nil)); sum != tf.SHA256 || hr.n != tf.Bytes {
		return 0, &problemError{Problem{File: tf.File, Reason: fmt.Sprintf("changed since it was checked: sha256 %s (%d bytes), the manifest says %s (%d bytes)", sum, hr.n, tf.SHA256, tf.Bytes)}}
	}
	if tag.RowsAffected() != tf.Rows {
		return 0, &problemError{Problem{File: tf.File, Reason: fmt.Sprintf("%d rows loaded, the manifest says %d", tag.RowsAffected(), tf.Rows)}}
	}
	onRows(tf.Rows)
	return tf.Rows, nil
}

// lineReader counts rows as COPY reads them and keeps the read error.
// pgconn reads it from a goroutine of its own: a mutex orders each read
// (and progress report) before close, after which reads fail.
type lineReader struct {
	mu     sync.Mutex
	closed bool
	r      io.Reader
	n      int64
	next   int64
	every  int64
	report func(int64)
	err    error
}

func (l *lineReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("restore: the COPY ended")
	}
	if l.n >= l.next {
		l.report(l.n)
		l.next = l.n + l.every
	}
	n, err := l.r.Read(p)
	l.n += int64(bytes.Count(p[:n], []byte{'\n'}))
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

func (l *lineReader) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// resetSequences moves every identity or serial sequence past the
// largest restored value, so new rows do not collide.
func resetSequences(ctx context.Context, tx pgx.Tx, m *Manifest) error {
	tables := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		tables[i] = t.Table
	}
	rows, err := tx.Query(ctx, `SELECT c.relname::text, a.attname::text, s.seq
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		CROSS JOIN LATERAL (SELECT pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) AS seq) s
		WHERE n.nspname = 'public' AND c.relname = ANY($1) AND s.seq IS NOT NULL
		ORDER BY 1, 2`, tables)
	type seq struct{ table, column, name string }
	var seqs []seq
	if err == nil {
		seqs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (seq, error) {
			var s seq
			return s, r.Scan(&s.table, &s.column, &s.name)
		})
	}
	if err != nil {
		return fmt.Errorf("finding identity sequences: %w", err)
	}
	for _, s := range seqs {
		sql := fmt.Sprintf(`SELECT setval($1, coalesce(max(%s), 0) + 1, false) FROM %s`,
			pgx.Identifier{s.column}.Sanitize(), pgx.Identifier{"public", s.table}.Sanitize())
		if _, err := tx.Exec(ctx, sql, s.name); err != nil {
			return fmt.Errorf("resetting the sequence of %s.%s: %w", s.table, s.column, err)
		}
	}
	return nil
}
