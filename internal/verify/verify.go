// Package verify checks the database's integrity: rows whose foreign keys
// (declared or implied) point nowhere, fragrances sharing a match key that
// no matching rule keeps apart, embeddings that disagree with the
// configured model, and more than one running cycle. Each check lists its
// violations with examples; none of them changes anything.
package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/backup"
)

// DB is the query surface the checks need.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Options configure the checks.
type Options struct {
	// Model and Dimension are the configured embedding
	// (monitoring_config.json embedding.model, embedding.dimension).
	Model     string
	Dimension int
	// Examples caps the examples listed per check (default 20).
	Examples int
}

// Result is one check's outcome.
type Result struct {
	Name string `json:"name"`
	// Rule says what the check requires.
	Rule       string   `json:"rule"`
	Violations int64    `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
}

// OK reports whether the check found nothing.
func (r Result) OK() bool { return r.Violations == 0 }

// Report is every check's outcome.
type Report struct {
	OK     bool     `json:"ok"`
	Checks []Result `json:"checks"`
}

// Violations counts all violations.
func (r *Report) Violations() int64 {
	var n int64
	for _, c := range r.Checks {
		n += c.Violations
	}
	return n
}

// Run runs every check. An error means a check could not run (the
// database failed), not that it found violations.
func Run(ctx context.Context, db DB, opts Options) (*Report, error) {
	if opts.Examples <= 0 {
		opts.Examples = 20
	}
	rep := &Report{OK: true}
	fks, err := foreignKeyChecks(ctx, db)
	if err != nil {
		return nil, err
	}
	checks := append(fks,
		check{"merge_identities", "a merge not undone keeps the merged record's source identity on the surviving fragrance",
			`SELECT format('merge %s: %s/%s is %s', m.id, m.merged_source, m.merged_source_id,
			        coalesce('on fragrance ' || si.fragrance_id || ', not ' || m.fragrance_id, 'recorded nowhere'))
			 FROM merge_log m
			 LEFT JOIN source_identities si ON si.source = m.merged_source AND si.source_id = m.merged_source_id
			 WHERE m.undone_at IS NULL AND m.merged_source IS NOT NULL AND m.merged_source_id IS NOT NULL
			   AND si.fragrance_id IS DISTINCT FROM m.fragrance_id
			 ORDER BY m.id`, nil},
		check{"review_identities", "a resolved review's incoming record (when it has a source identity) is in the catalog",
			`SELECT format('review %s (%s): %s is recorded nowhere', r.id, r.status, substr(r.candidate_key, 4))
			 FROM review_queue r
			 WHERE r.status IN ('accepted', 'rejected') AND r.candidate_key LIKE 'id:%'
			   AND NOT EXISTS (SELECT 1 FROM source_identities si WHERE 'id:' || si.source || '|' || si.source_id = r.candidate_key)
			 ORDER BY r.id`, nil},
		check{"fragrances_not_filed_under_their_key", "every fragrance is filed in fragrance_keys under its match key, or matching never finds it",
			`SELECT format('fragrance %s (%s)', f.id, f.match_key) FROM fragrances f
			 WHERE NOT EXISTS (SELECT 1 FROM fragrance_keys k WHERE k.key = fragrance_key_hash(f.match_key) AND k.fragrance_id = f.id)
			 ORDER BY f.id`, nil},
		check{"duplicate_match_keys", "two fragrances share a match key only when a rule keeps them apart: one source lists both under different source_ids, or the newer one was inserted by a rejected review or an undone merge",
			duplicateKeys, nil},
		check{"embeddings_disagree_with_configuration", fmt.Sprintf("every vector is of the configured model %q and dimension %d (else: scentmatch embeddings regenerate --all)", opts.Model, opts.Dimension),
			`SELECT format('%s vector(s) of model %s, dimension %s%s', count(*), model, dimension,
			        CASE WHEN bool_or(cardinality(vector) <> dimension) THEN ' (some of another length)' ELSE '' END)
			 FROM embeddings WHERE model <> $1 OR dimension <> $2 OR cardinality(vector) <> dimension
			 GROUP BY model, dimension ORDER BY model, dimension`, []any{opts.Model, opts.Dimension}},
		check{"more_than_one_running_cycle", "at most one cycle is running",
			`SELECT format('cycle %s running since %s', id, started_at) FROM cycles
			 WHERE status = 'running' AND (SELECT count(*) FROM cycles WHERE status = 'running') > 1
			 ORDER BY started_at`, nil},
	)
	for _, c := range checks {
		res, err := c.run(ctx, db, opts.Examples)
		if err != nil {
			return nil, err
		}
		if c.name == "embeddings_disagree_with_configuration" && res.Violations > 0 {
			// One row per model and dimension: count the vectors instead.
			if err := db.QueryRow(ctx, `SELECT count(*) FROM embeddings WHERE model <> $1 OR dimension <> $2 OR cardinality(vector) <> dimension`,
				opts.Model, opts.Dimension).Scan(&res.Violations); err != nil {
				return nil, fmt.Errorf("check %s: %w", c.name, err)
			}
		}
		rep.Checks = append(rep.Checks, res)
		if !res.OK() {
			rep.OK = false
		}
	}
	return rep, nil
}

// duplicateKeys lists pairs of fragrances with one match key that no rule
// keeps apart (internal/importer and docs/matching.md). Identity settles
// a source's own records, so two source_ids of one source stay two
// products. A rejected review inserts its record as a product of its own,
// and an undone merge re-inserts the merged record: such a fragrance is
// apart from every fragrance that existed before it (smaller id). It is
// found by its source identity, by the content hash a review keys it
// with, or by its insertion outside any import as the review was resolved
// or the merge undone.
const duplicateKeys = `
WITH dup AS (
	SELECT match_key FROM fragrances GROUP BY match_key HAVING count(*) > 1
), pairs AS (
	SELECT a.id AS a, b.id AS b, a.match_key
	FROM fragrances a JOIN fragrances b ON b.match_key = a.match_key AND b.id > a.id
	WHERE a.match_key IN (SELECT match_key FROM dup)
)
SELECT format('fragrances %s and %s: %s', p.a, p.b, p.match_key)
FROM pairs p JOIN fragrances nb ON nb.id = p.b
WHERE NOT EXISTS (
	SELECT 1 FROM source_identities sa
	JOIN source_identities sb ON sb.source = sa.source AND sb.source_id <> sa.source_id
	WHERE sa.fragrance_id = p.a AND sb.fragrance_id = p.b)
AND NOT EXISTS (
	SELECT 1 FROM review_queue r
	WHERE r.status = 'rejected' AND (
		EXISTS (SELECT 1 FROM source_identities si WHERE si.fragrance_id = p.b AND 'id:' || si.source || '|' || si.source_id = r.candidate_key)
		OR r.candidate_key = 'hash:' || nb.content_hash
		OR (nb.created_import_run_id IS NULL AND nb.created_at BETWEEN r.resolved_at - interval '1 minute' AND r.resolved_at)))
AND NOT EXISTS (
	SELECT 1 FROM merge_log m
	WHERE m.undone_at IS NOT NULL AND (
		EXISTS (SELECT 1 FROM source_identities si WHERE si.fragrance_id = p.b AND si.source = m.merged_source AND si.source_id = m.merged_source_id)
		OR (nb.created_import_run_id IS NULL AND nb.created_at BETWEEN m.undone_at - interval '1 minute' AND m.undone_at)))
ORDER BY p.match_key, p.a, p.b`

// check is one query listing violations, one text per violation.
type check struct {
	name, rule, sql string
	args            []any
}

func (c check) run(ctx context.Context, db DB, examples int) (Result, error) {
	res := Result{Name: c.name, Rule: c.rule}
	rows, err := db.Query(ctx, c.sql, c.args...)
	if err != nil {
		return res, fmt.Errorf("check %s: %w", c.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		res.Violations++
		if len(res.Examples) < examples {
			var s string
			if err := rows.Scan(&s); err != nil {
				return res, fmt.Errorf("check %s: %w", c.name, err)
			}
			res.Examples = append(res.Examples, s)
		}
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("check %s: %w", c.name, err)
	}
	return res, nil
}

// relation is a column list that must match a row of another table.
type relation struct {
	name          string
	child, parent string
	cols, pcols   []string
}

func (r relation) key() string {
	return r.child + "(" + strings.Join(r.cols, ",") + ")->" + r.parent + "(" + strings.Join(r.pcols, ",") + ")"
}

// catalogRelations are the references the pipeline relies on, checked
// whether or not the database still declares them (a restore or a manual
// fix with constraints dropped can leave rows pointing nowhere).
var catalogRelations = []relation{
	{name: "source_identities_point_nowhere", child: "source_identities", cols: []string{"fragrance_id"}, parent: "fragrances", pcols: []string{"id"}},
	{child: "fragrances", cols: []string{"brand_id"}, parent: "brands", pcols: []string{"id"}},
	{child: "fragrances", cols: []string{"created_import_run_id"}, parent: "import_runs", pcols: []string{"id"}},
	{child: "brand_aliases", cols: []string{"brand_id"}, parent: "brands", pcols: []string{"id"}},
	{child: "embeddings", cols: []string{"fragrance_id"}, parent: "fragrances", pcols: []string{"id"}},
	{child: "fragrance_keys", cols: []string{"fragrance_id"}, parent: "fragrances", pcols: []string{"id"}},
	{child: "review_queue", cols: []string{"fragrance_id"}, parent: "fragrances", pcols: []string{"id"}},
	{child: "merge_log", cols: []string{"fragrance_id"}, parent: "fragrances", pcols: []string{"id"}},
	{child: "quarantined_records", cols: []string{"import_run_id"}, parent: "import_runs", pcols: []string{"id"}},
}

// foreignKeyChecks builds one check per relation: the catalog's, and every
// foreign key the public schema declares.
func foreignKeyChecks(ctx context.Context, db DB) ([]check, error) {
	rows, err := db.Query(ctx, `SELECT cl.relname::text, pl.relname::text,
			array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
			array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
		FROM pg_constraint k
		JOIN pg_class cl ON cl.oid = k.conrelid
		JOIN pg_class pl ON pl.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		WHERE k.contype = 'f' AND n.nspname = 'public'
		ORDER BY cl.relname, k.conname`)
	if err != nil {
		return nil, fmt.Errorf("listing foreign keys: %w", err)
	}
	declared, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (relation, error) {
		var r relation
		err := row.Scan(&r.child, &r.parent, &r.cols, &r.pcols)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing foreign keys: %w", err)
	}
	var out []check
	seen := map[string]bool{}
	for _, r := range append(append([]relation(nil), catalogRelations...), declared...) {
		if seen[r.key()] {
			continue
		}
		seen[r.key()] = true
		var exists bool
		if err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL`,
			"public."+r.child, "public."+r.parent).Scan(&exists); err != nil {
			return nil, fmt.Errorf("looking up %s: %w", r.child, err)
		}
		if !exists {
			continue
		}
		var notNull, join, show []string
		for i, c := range r.cols {
			cc := "c." + pgx.Identifier{c}.Sanitize()
			notNull = append(notNull, cc+" IS NOT NULL")
			join = append(join, "p."+pgx.Identifier{r.pcols[i]}.Sanitize()+" = "+cc)
			show = append(show, cc+"::text")
		}
		// Names are identifiers here (quoted) and text in the message ($1).
		sql := fmt.Sprintf(`SELECT format($1, concat_ws(', ', %s))
			FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)`,
			strings.Join(show, ", "),
			pgx.Identifier{"public", r.child}.Sanitize(), strings.Join(notNull, " AND "),
			pgx.Identifier{"public", r.parent}.Sanitize(), strings.Join(join, " AND "))
		message := fmt.Sprintf("%s (%s) = (%%s): no such %s", strings.ReplaceAll(r.child, "%", "%%"),
			strings.ReplaceAll(strings.Join(r.cols, ", "), "%", "%%"), strings.ReplaceAll(r.parent, "%", "%%"))
		name := r.name
		if name == "" {
			name = "orphans " + r.child + "." + strings.Join(r.cols, ",")
		}
		out = append(out, check{name: name, rule: fmt.Sprintf("every %s (%s) names a row of %s (%s)", r.child, strings.Join(r.cols, ", "), r.parent, strings.Join(r.pcols, ", ")), sql: sql, args: []any{message}})
	}
	return out, nil
}

// TableCount is a table's rows now and in a backup.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// BackupRows is the backup's count (nil when the backup lacks the table).
	BackupRows *int64 `json:"backup_rows,omitempty"`
	// Missing: the backup has the table, the database does not.
	Missing bool `json:"missing,omitempty"`
}

// Counts counts every table the manifest lists, and every table of the
// database, for information: a catalog grows between backups.
func Counts(ctx context.Context, db DB, m *backup.Manifest) ([]TableCount, error) {
	rows, err := db.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	var out []TableCount
	seen := map[string]bool{}
	for _, n := range names {
		tc := TableCount{Table: n}
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{"public", n}.Sanitize()).Scan(&tc.Rows); err != nil {
			return nil, fmt.Errorf("counting %s: %w", n, err)
		}
		if m != nil {
			if tf, ok := m.Table(n); ok {
				r := tf.Rows
				tc.BackupRows = &r
			}
		}
		seen[n] = true
		out = append(out, tc)
	}
	if m != nil {
		for _, tf := range m.Tables {
			if !seen[tf.Table] {
				r := tf.Rows
				out = append(out, TableCount{Table: tf.Table, Missing: true, BackupRows: &r})
			}
		}
	}
	return out, nil
}
