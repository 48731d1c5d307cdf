// Package maintain is the cycle's Maintain step and `scentmatch maintain`:
// retention purges from monitoring_config.json, a time-boxed backfill of
// pending embeddings, VACUUM (ANALYZE) of the pipeline's tables, and table
// and index sizes and dead tuples before and after. It returns what it did
// and how long each part took.
package maintain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/rusage"
	"github.com/scentmatch/pipeline/internal/settings"
)

// DefaultBackfillBudget bounds the embedding backfill when the caller sets
// no budget; what does not fit stays pending for the next run.
const DefaultBackfillBudget = 2 * time.Minute

// Purge is one retention rule: a DELETE whose $1 is the cutoff time (or
// the number of rows to keep, for cycles) and a COUNT of what it would
// delete, for dry runs.
type Purge struct {
	Table string
	// Arg returns the rule's parameter from the retention settings and the
	// current time; ok false disables the rule.
	Arg    func(r settings.Retention, now time.Time) (arg any, ok bool)
	Delete string
	Count  string
}

func daysAgo(days int, now time.Time) time.Time { return now.AddDate(0, 0, -days) }

// DefaultPurges are the retention rules of monitoring_config.json
// "retention". A running cycle is never purged; pending notifications
// are kept whatever their age.
var DefaultPurges = []Purge{
	{
		Table:  "source_observations",
		Arg:    func(r settings.Retention, now time.Time) (any, bool) { return daysAgo(r.ObservationsDays, now), true },
		Delete: `DELETE FROM source_observations WHERE observed_at < $1`,
		Count:  `SELECT count(*) FROM source_observations WHERE observed_at < $1`,
	},
	{
		Table: "quarantined_records",
		Arg: func(r settings.Retention, now time.Time) (any, bool) {
			return daysAgo(r.ResolvedQuarantineDays, now), true
		},
		Delete: `DELETE FROM quarantined_records WHERE status <> 'open' AND coalesce(resolved_at, created_at) < $1`,
		Count:  `SELECT count(*) FROM quarantined_records WHERE status <> 'open' AND coalesce(resolved_at, created_at) < $1`,
	},
	{
		Table:  "review_queue",
		Arg:    func(r settings.Retention, now time.Time) (any, bool) { return daysAgo(r.ResolvedReviewDays, now), true },
		Delete: `DELETE FROM review_queue WHERE status <> 'open' AND coalesce(resolved_at, created_at) < $1`,
		Count:  `SELECT count(*) FROM review_queue WHERE status <> 'open' AND coalesce(resolved_at, created_at) < $1`,
	},
	{
		Table:  "notifications",
		Arg:    func(r settings.Retention, now time.Time) (any, bool) { return daysAgo(r.NotificationsDays, now), true },
		Delete: `DELETE FROM notifications WHERE status <> 'pending' AND created_at < $1`,
		Count:  `SELECT count(*) FROM notifications WHERE status <> 'pending' AND created_at < $1`,
	},
	{
		Table: "crawl_cache",
		Arg: func(r settings.Retention, now time.Time) (any, bool) {
			days := r.ValidatorsDays
			if days <= 0 {
				days = 30
			}
			return daysAgo(days, now), true
		},
		Delete: `DELETE FROM crawl_cache WHERE validated_at < $1`,
		Count:  `SELECT count(*) FROM crawl_cache WHERE validated_at < $1`,
	},
	{
		Table: "cycles",
		Arg:   func(r settings.Retention, _ time.Time) (any, bool) { return r.CyclesKeep, r.CyclesKeep > 0 },
		Delete: `DELETE FROM cycles WHERE status <> 'running'
			AND id NOT IN (SELECT id FROM cycles ORDER BY started_at DESC, id DESC LIMIT $1)`,
		Count: `SELECT count(*) FROM cycles WHERE status <> 'running'
			AND id NOT IN (SELECT id FROM cycles ORDER BY started_at DESC, id DESC LIMIT $1)`,
	},
}

// Maintainer runs maintenance on one database.
type Maintainer struct {
	Pool   *pgxpool.Pool
	Config *settings.Config
	Logger *slog.Logger
	Now    func() time.Time
	// Embedder backfills pending vectors (nil: the configured one).
	Embedder embedding.Embedder
	// Purges are the retention rules (nil: DefaultPurges).
	Purges []Purge
}

// Options tune one run.
type Options struct {
	// DryRun counts what would be purged and embedded; it changes nothing.
	DryRun bool
	// BackfillBudget bounds the embedding backfill (0: DefaultBackfillBudget;
	// negative: no backfill).
	BackfillBudget time.Duration
}

// TableSize is one table's footprint.
type TableSize struct {
	Table      string `json:"table"`
	TotalBytes int64  `json:"total_bytes"`
	TableBytes int64  `json:"table_bytes"`
	IndexBytes int64  `json:"index_bytes"`
	LiveTuples int64  `json:"live_tuples"`
	DeadTuples int64  `json:"dead_tuples"`
}

// Sizes are the database's and its tables' footprints at one moment.
type Sizes struct {
	DatabaseBytes int64       `json:"database_bytes"`
	DeadTuples    int64       `json:"dead_tuples"`
	Tables        []TableSize `json:"tables"`
}

// Result is what a maintenance run did (in a dry run: would do).
type Result struct {
	DryRun bool `json:"dry_run"`
	// Purged counts the rows deleted per table.
	Purged   map[string]int64 `json:"purged"`
	Vacuumed []string         `json:"vacuumed"`
	// EmbeddingsBackfilled counts the vectors written; Embedding has the
	// backfill's details (failed, timed_out, pending after).
	EmbeddingsBackfilled int               `json:"embeddings_backfilled"`
	Embedding            *embedding.Result `json:"embedding,omitempty"`
	// EmbeddingSkipped says why no backfill ran, when none did.
	EmbeddingSkipped  string `json:"embedding_skipped,omitempty"`
	PendingEmbeddings int64  `json:"pending_embeddings"`
	Before            Sizes  `json:"before"`
	After             Sizes  `json:"after"`
	// Seconds is how long each part took: sizes_before, purge, backfill,
	// vacuum, sizes_after and total.
	Seconds  map[string]float64 `json:"seconds"`
	MaxRSSMB float64            `json:"max_rss_mb"`
}

func (m *Maintainer) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Maintainer) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run purges, backfills, vacuums and measures, in that order (the vacuum
// reclaims what the purge and the backfill left dead).
func (m *Maintainer) Run(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{DryRun: opts.DryRun, Purged: map[string]int64{}, Vacuumed: []string{}, Seconds: map[string]float64{}}
	start := time.Now()
	lap := func(part string, t0 time.Time) { res.Seconds[part] = time.Since(t0).Seconds() }
	var err error

	t0 := time.Now()
	if res.Before, err = m.sizes(ctx); err != nil {
		return nil, err
	}
	lap("sizes_before", t0)

	t0 = time.Now()
	if err := m.purge(ctx, opts.DryRun, res); err != nil {
		return nil, err
	}
	lap("purge", t0)

	t0 = time.Now()
	if err := m.backfill(ctx, opts, res); err != nil {
		return nil, err
	}
	lap("backfill", t0)

	t0 = time.Now()
	if !opts.DryRun {
		if err := m.vacuum(ctx, res); err != nil {
			return nil, err
		}
	}
	lap("vacuum", t0)

	t0 = time.Now()
	if res.After, err = m.sizes(ctx); err != nil {
		return nil, err
	}
	lap("sizes_after", t0)
	res.Seconds["total"] = time.Since(start).Seconds()
	res.MaxRSSMB = rusage.MaxRSSMB()
	return res, nil
}

func (m *Maintainer) purge(ctx context.Context, dryRun bool, res *Result) error {
	purges := m.Purges
	if purges == nil {
		purges = DefaultPurges
	}
	now := m.now()
	for _, p := range purges {
		arg, ok := p.Arg(m.Config.Monitoring.Retention, now)
		if !ok {
			continue
		}
		if dryRun {
			var n int64
			if err := m.Pool.QueryRow(ctx, p.Count, arg).Scan(&n); err != nil {
				return fmt.Errorf("counting rows to purge from %s: %w", p.Table, err)
			}
			res.Purged[p.Table] = n
			continue
		}
		tag, err := m.Pool.Exec(ctx, p.Delete, arg)
		if err != nil {
			return fmt.Errorf("purging %s: %w", p.Table, err)
		}
		res.Purged[p.Table] = tag.RowsAffected()
		if n := tag.RowsAffected(); n > 0 {
			m.logger().InfoContext(ctx, "purged old rows", "table", p.Table, "rows", n)
		}
	}
	return nil
}

func (m *Maintainer) backfill(ctx context.Context, opts Options, res *Result) error {
	cfg := m.Config.Monitoring.Embedding
	e := m.Embedder
	if e == nil {
		var err error
		if e, err = embedding.FromConfig(cfg); err != nil {
			res.EmbeddingSkipped = err.Error()
		}
	}
	model, dim := cfg.Model, cfg.Dimension
	if e != nil {
		model, dim = e.Model(), e.Dimension()
	}
	switch {
	case res.EmbeddingSkipped != "":
	case opts.DryRun:
		res.EmbeddingSkipped = "dry run"
	case opts.BackfillBudget < 0:
		res.EmbeddingSkipped = "no backfill budget"
	default:
		budget := opts.BackfillBudget
		if budget == 0 {
			budget = DefaultBackfillBudget
		}
		bctx, cancel := context.WithTimeout(ctx, budget)
		r, err := embedding.Backfill(bctx, m.Pool, e, cfg.BatchSize)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("backfilling embeddings: %w", err)
		}
		res.Embedding, res.EmbeddingsBackfilled, res.PendingEmbeddings = &r, r.Embedded, r.Pending
		if err == nil {
			return nil
		}
	}
	st, err := embedding.GetStatus(ctx, m.Pool, model, dim)
	if err != nil {
		return err
	}
	res.PendingEmbeddings = st.Pending
	return nil
}

// vacuum runs VACUUM (ANALYZE) on every table of the schema, one statement
// per table outside any transaction (VACUUM refuses to run inside one).
func (m *Maintainer) vacuum(ctx context.Context, res *Result) error {
	tables, err := m.tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := m.Pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("vacuuming %s: %w", t, err)
		}
		res.Vacuumed = append(res.Vacuumed, t)
	}
	return nil
}

func (m *Maintainer) tables(ctx context.Context) ([]string, error) {
	rows, err := m.Pool.Query(ctx, `SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	return names, nil
}

func (m *Maintainer) sizes(ctx context.Context) (Sizes, error) {
	var s Sizes
	if err := m.Pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&s.DatabaseBytes); err != nil {
		return s, fmt.Errorf("measuring the database: %w", err)
	}
	rows, err := m.Pool.Query(ctx, `SELECT relname, pg_total_relation_size(relid), pg_relation_size(relid), pg_indexes_size(relid),
			n_live_tup, n_dead_tup
		FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname`)
	if err != nil {
		return s, fmt.Errorf("measuring tables: %w", err)
	}
	s.Tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableSize, error) {
		var t TableSize
		err := r.Scan(&t.Table, &t.TotalBytes, &t.TableBytes, &t.IndexBytes, &t.LiveTuples, &t.DeadTuples)
		return t, err
	})
	if err != nil {
		return s, fmt.Errorf("measuring tables: %w", err)
	}
	for _, t := range s.Tables {
		s.DeadTuples += t.DeadTuples
	}
	return s, nil
}
