package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune Backup.
type Options struct {
	// Source names the database in the manifest; pass it masked
	// (redact.URL).
	Source string
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress is called as rows stream (may be nil). Total is the
	// planner's estimate of all tables' rows (0 when unknown).
	Progress func(Progress)
}

// Progress reports a running backup or restore.
type Progress struct {
	Table      string
	Rows       int64 // rows done so far, all tables
	Total      int64 // rows expected, all tables (estimate for a backup)
	TableIndex int   // 1-based
	Tables     int
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Backup writes every table of the database and then the manifest to
// store, from one REPEATABLE READ READ ONLY transaction. On error the
// file being written is discarded and no manifest is written: a backup
// without a manifest is incomplete and restore refuses it.
func Backup(ctx context.Context, pool *pgxpool.Pool, store Store, opts Options) (*Manifest, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquiring a connection: %w", err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("starting the snapshot transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck

	m := &Manifest{Format: FormatName, FormatVersion: FormatVersion, Encoding: Encoding, Source: opts.Source}
	if err := tx.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&m.ServerVersion); err != nil {
		return nil, fmt.Errorf("reading the server version: %w", err)
	}
	if m.SchemaVersion, err = schemaVersion(ctx, tx); err != nil {
		return nil, err
	}
	// The snapshot's time: every row in the backup was committed before it.
	m.CreatedAt = opts.now().UTC()
	tables, err := listTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	var total int64
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1)`, names).Scan(&total); err != nil {
		return nil, fmt.Errorf("estimating rows: %w", err)
	}

	var done int64
	for i, t := range tables {
		p := Progress{Table: t.Name, Total: total, TableIndex: i + 1, Tables: len(tables)}
		onRows := func(n int64) {
			if opts.Progress != nil {
				p.Rows = done + n
				opts.Progress(p)
			}
		}
		tf, err := backupTable(ctx, tx, store, t, onRows)
		if err != nil {
			return nil, err
		}
		done += tf.Rows
		m.Tables = append(m.Tables, tf)
		logger.DebugContext(ctx, "table backed up", "table", t.Name, "rows", tf.Rows, "bytes", tf.Bytes)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("ending the snapshot transaction: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the manifest: %w", err)
	}
	w, err := store.Create(ctx, ManifestFile)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		w.Abort()
		return nil, fmt.Errorf("writing the manifest: %w", err)
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	return m, nil
}

// schemaVersion reads goose's version inside the snapshot.
func schemaVersion(ctx context.Context, q querier) (int64, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+versionTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if !exists {
		return 0, fmt.Errorf("the database has no schema yet (no %s table): run scentmatch db migrate", versionTable)
	}
	var v int64
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM public.`+versionTable+` WHERE is_applied`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if v == 0 {
		return 0, fmt.Errorf("the database has no migrations applied: run scentmatch db migrate")
	}
	return v, nil
}

// backupTable streams one table: COPY TO STDOUT -> row counter -> gzip ->
// (sha256, byte counter, store).
func backupTable(ctx context.Context, tx pgx.Tx, store Store, t table, onRows func(int64)) (TableFile, error) {
	tf := TableFile{Table: t.Name, File: t.Name + ".copy.gz", Columns: t.Columns}
	w, err := store.Create(ctx, tf.File)
	if err != nil {
		return tf, err
	}
	h := sha256.New()
	cw := &countWriter{}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(w, h, cw), gzip.BestSpeed)
	if err != nil {
		w.Abort()
		return tf, err
	}
	lines := &lineCounter{w: gz, every: 10000, report: onRows}
	tag, err := tx.Conn().PgConn().CopyTo(ctx, lines, "COPY "+copyTarget(t.Name, t.Columns)+" TO STDOUT")
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		w.Abort()
		return tf, fmt.Errorf("backing up table %s: %w", t.Name, err)
	}
	if err := w.Commit(); err != nil {
		return tf, fmt.Errorf("backing up table %s: %w", t.Name, err)
	}
	tf.Rows, tf.Bytes, tf.SHA256 = tag.RowsAffected(), cw.n, hex.EncodeToString(h.Sum(nil))
	onRows(tf.Rows)
	return tf, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// lineCounter counts COPY text rows (one per line: newlines inside values
// are escaped) and reports every `every` rows.
type lineCounter struct {
	w      io.Writer
	n      int64
	next   int64
	every  int64
	report func(int64)
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += int64(bytes.Count(p, []byte{'\n'}))
	if l.report != nil && l.n >= l.next {
		l.report(l.n)
		l.next = l.n + l.every
	}
	return l.w.Write(p)
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}
