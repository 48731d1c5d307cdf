package embedding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// embeddable is the SQL twin of the embedder's rule: notes or accords.
const embeddable = `(cardinality(f.notes_top) + cardinality(f.notes_middle) + cardinality(f.notes_base) + cardinality(f.notes_unsorted) > 0 OR f.accords <> '[]'::jsonb)`

// current: a vector of this model and dimension for this content. A scalar
// subquery on the primary key (one row at most per fragrance and model)
// rather than EXISTS: while a first backfill fills the embeddings table it
// has no statistics, and EXISTS was planned as a nested loop over all of
// it per fragrance (17 s for one page of the 37k catalog); a key probe per
// fragrance costs the same whatever the statistics say.
const current = `coalesce((SELECT e.dimension = $2 AND e.content_hash = f.content_hash FROM embeddings e WHERE e.fragrance_id = f.id AND e.model = $1), false)`

// Status counts the catalog's vectors for one model.
type Status struct {
	Model         string `json:"model"`
	Dimension     int    `json:"dimension"`
	Fragrances    int64  `json:"fragrances"`
	Current       int64  `json:"current"`
	Pending       int64  `json:"pending"`
	NotEmbeddable int64  `json:"not_embeddable"`
}

// GetStatus counts current, pending and not-embeddable fragrances.
func GetStatus(ctx context.Context, pool *pgxpool.Pool, model string, dim int) (Status, error) {
	s := Status{Model: model, Dimension: dim}
	// Each fragrance's key probe once (OFFSET 0 keeps the subquery from
	// being flattened into both filters): 3.4 s instead of 8.5 s over a
	// million fragrances.
	err := pool.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE cur),
			count(*) FILTER (WHERE emb AND NOT cur),
			count(*) FILTER (WHERE NOT emb)
		FROM (SELECT `+embeddable+` AS emb, `+current+` AS cur FROM fragrances f OFFSET 0) f`, model, dim).
		Scan(&s.Fragrances, &s.Current, &s.Pending, &s.NotEmbeddable)
	if err != nil {
		return s, fmt.Errorf("counting embeddings: %w", err)
	}
	return s, nil
}

// Result is what a backfill did.
type Result struct {
	Embedded int     `json:"embedded"`
	Failed   int     `json:"failed"`
	Pending  int64   `json:"pending"`
	Seconds  float64 `json:"seconds"`
	TimedOut bool    `json:"timed_out"`
	// Error says why the backfill stopped early (throttling that outlasted
	// the retries, access denied, a database error); what it did not reach
	// stays pending.
	Error string `json:"error,omitempty"`
}

// storeGrace bounds the write of vectors already computed when the time
// budget ran out: finished work is kept, not thrown away.
const storeGrace = 30 * time.Second

// Backfill embeds pending fragrances, newest first, in batches, until none
// is left or ctx ends (a deadline is the time budget: what does not finish
// stays pending for the next backfill).
//
// It lists the pending fragrances once per round (one pass over the
// catalog), then loads, embeds and stores them a page at a time; a second
// round picks up what changed meanwhile. A fragrance that fails on its
// own (a wrong dimension in the answer) is counted as failed and skipped
// for the rest of the run; an error that would fail every call alike
// (StopsRun: throttling after the retries, access denied) ends the run and
// is returned with the result, the rest staying pending.
func Backfill(ctx context.Context, pool *pgxpool.Pool, e Embedder, batch int) (Result, error) {
	start := time.Now()
	var res Result
	if batch <= 0 {
		batch = 64
	}
	page := 16 * batch
	var failedIDs []int64
	var runErr error
	// drained: the last listing found nothing but the failed ones, so
	// they are what is pending (no count over the catalog needed).
	drained := false
	for runErr == nil && ctx.Err() == nil {
		todo, err := pendingIDs(ctx, pool, e, failedIDs)
		if err != nil {
			if ctx.Err() == nil {
				runErr = err
			}
			break
		}
		if len(todo) == 0 {
			drained = true
			break
		}
		progressed := false
		for lo := 0; lo < len(todo) && runErr == nil && ctx.Err() == nil; lo += page {
			fs, ids, hashes, err := load(ctx, pool, e, todo[lo:min(lo+page, len(todo))])
			if err != nil {
				if ctx.Err() == nil {
					runErr = err
				}
				break
			}
			rows := make([][]any, 0, len(fs))
			for blo := 0; blo < len(fs) && ctx.Err() == nil && runErr == nil; blo += batch {
				bhi := min(blo+batch, len(fs))
				vecs, errs, err := e.Embed(ctx, fs[blo:bhi])
				if err != nil {
					if ctx.Err() == nil {
						runErr = fmt.Errorf("embedding: %w", err)
					}
					break
				}
				for i := range vecs {
					switch {
					case errs[i] == nil && vecs[i] != nil:
						rows = append(rows, []any{ids[blo+i], e.Model(), e.Dimension(), vecs[i], hashes[blo+i]})
					case errors.Is(errs[i], context.Canceled) || errors.Is(errs[i], context.DeadlineExceeded):
						// cut short by the time budget: pending
					case StopsRun(errs[i]):
						if runErr == nil {
							runErr = errs[i]
						}
					default:
						res.Failed++
						failedIDs = append(failedIDs, ids[blo+i])
						progressed = true
					}
				}
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeGrace)
			err = store(wctx, pool, rows)
			cancel()
			if err != nil {
				runErr = err
				break
			}
			res.Embedded += len(rows)
			progressed = progressed || len(rows) > 0
		}
		if !progressed {
			break // nothing stored and nothing new to skip: do not spin
		}
	}
	if ctx.Err() != nil {
		res.TimedOut = true
	}
	res.Seconds = time.Since(start).Seconds()
	if drained {
		res.Pending = int64(len(failedIDs))
	} else if st, err := GetStatus(context.WithoutCancel(ctx), pool, e.Model(), e.Dimension()); err == nil {
		res.Pending = st.Pending
	} else if runErr == nil {
		runErr = err
	}
	if runErr != nil {
		res.Error = runErr.Error()
	}
	return res, runErr
}

// pendingIDs lists the fragrances to embed, newest first, but skip.
func pendingIDs(ctx context.Context, pool *pgxpool.Pool, e Embedder, skip []int64) ([]int64, error) {
	if skip == nil {
		skip = []int64{}
	}
	rows, err := pool.Query(ctx, `SELECT f.id FROM fragrances f
		WHERE `+embeddable+` AND NOT `+current+` AND f.id <> ALL($3::bigint[])
		ORDER BY f.updated_at DESC, f.id`, e.Model(), e.Dimension(), skip)
	if err != nil {
		return nil, fmt.Errorf("finding pending embeddings: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("finding pending embeddings: %w", err)
	}
	return ids, nil
}

// load reads the fragrances of ids that are still pending, in ids' order.
func load(ctx context.Context, pool *pgxpool.Pool, e Embedder, want []int64) ([]*catalog.Fragrance, []int64, []string, error) {
	rows, err := pool.Query(ctx, `SELECT f.id, f.content_hash, b.name, f.name,
			f.notes_top, f.notes_middle, f.notes_base, f.notes_unsorted, f.accords, coalesce(f.gender, ''), coalesce(f.concentration, '')
		FROM unnest($3::bigint[]) WITH ORDINALITY AS u(id, n)
		JOIN fragrances f ON f.id = u.id JOIN brands b ON b.id = f.brand_id
		WHERE `+embeddable+` AND NOT `+current+`
		ORDER BY u.n`, e.Model(), e.Dimension(), want)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading pending fragrances: %w", err)
	}
	defer rows.Close()
	var fs []*catalog.Fragrance
	var ids []int64
	var hashes []string
	for rows.Next() {
		f := &catalog.Fragrance{}
		var id int64
		var hash string
		var accords []byte
		if err := rows.Scan(&id, &hash, &f.Brand, &f.Name, &f.NotesTop, &f.NotesMiddle, &f.NotesBase, &f.NotesUnsorted, &accords, &f.Gender, &f.Concentration); err != nil {
			return nil, nil, nil, fmt.Errorf("reading pending fragrances: %w", err)
		}
		if err := json.Unmarshal(accords, &f.Accords); err != nil {
			return nil, nil, nil, fmt.Errorf("reading accords of fragrance %d: %w", id, err)
		}
		fs, ids, hashes = append(fs, f), append(ids, id), append(hashes, hash)
	}
	return fs, ids, hashes, rows.Err()
}

// store writes vectors through a COPY-filled staging table: one COPY and
// one upsert per batch. Vectors of fragrances deleted meanwhile are dropped.
func store(ctx context.Context, pool *pgxpool.Pool, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS embedding_stage (
			fragrance_id bigint, model text, dimension integer, vector real[], content_hash text) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("creating the embedding staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"embedding_stage"},
			[]string{"fragrance_id", "model", "dimension", "vector", "content_hash"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copying embeddings: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO embeddings (fragrance_id, model, dimension, vector, content_hash)
			SELECT s.fragrance_id, s.model, s.dimension, s.vector, s.content_hash FROM embedding_stage s
			WHERE EXISTS (SELECT 1 FROM fragrances f WHERE f.id = s.fragrance_id)
			ON CONFLICT (fragrance_id, model) DO UPDATE SET dimension = excluded.dimension, vector = excluded.vector,
				content_hash = excluded.content_hash, created_at = now()`); err != nil {
			return fmt.Errorf("storing embeddings: %w", err)
		}
		return nil
	})
}

// MarkStale makes every vector of model (all models when empty) stale, so
// the next backfill regenerates them.
func MarkStale(ctx context.Context, pool *pgxpool.Pool, model string) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE embeddings SET content_hash = 'stale:' || content_hash WHERE ($1 = '' OR model = $1) AND content_hash NOT LIKE 'stale:%'`, model)
	if err != nil {
		return 0, fmt.Errorf("marking embeddings stale: %w", err)
	}
	return tag.RowsAffected(), nil
}
