package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// cycleRow is what the detect step reads of its cycle.
type cycleRow struct {
	exists bool
	stored json.RawMessage // the detect result already stored, if any
}

func loadCycle(ctx context.Context, db postgres.DBTX, id string) (cycleRow, error) {
	var stored []byte
	err := db.QueryRow(ctx, `SELECT step_results->'detect' FROM cycles WHERE id = $1`, id).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return cycleRow{}, nil
	}
	if err != nil {
		return cycleRow{}, fmt.Errorf("reading cycle %s: %w", id, err)
	}
	row := cycleRow{exists: true}
	if len(stored) > 0 && string(stored) != "null" {
		row.stored = stored
	}
	return row, nil
}

// observation is one fragrance as seen this run.
type observation struct {
	sourceID   string
	brand      string
	name       string
	rank       *int
	votes      *int64
	rating     *float64
	observedAt time.Time
}

// observe merges an item into the run's observations (the trending list
// gives the rank, a listing may give the votes again).
func observe(obs map[string]*observation, it upstream.Item, at time.Time) {
	o, ok := obs[it.SourceID]
	if !ok {
		o = &observation{sourceID: it.SourceID, brand: it.Brand, name: it.Name, observedAt: at}
		obs[it.SourceID] = o
	}
	if it.Rank != nil {
		o.rank = it.Rank
	}
	if it.Votes != nil {
		o.votes = it.Votes
	}
	if it.Rating != nil {
		o.rating = it.Rating
	}
	if at.After(o.observedAt) {
		o.observedAt = at
	}
}

// storeObservations writes the run's observations, at most one per cycle,
// source and item (a retried step keeps the first), and returns how many
// were new. Without a cycles row the observations carry no cycle id.
func storeObservations(ctx context.Context, tx pgx.Tx, source, cycleID string, obs map[string]*observation) (int, error) {
	n := len(obs)
	ids, brands, names := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	at := make([]time.Time, 0, n)
	ranks, votes, ratings := make([]*int32, 0, n), make([]*int32, 0, n), make([]*float64, 0, n)
	for _, o := range obs {
		ids, brands, names, at = append(ids, o.sourceID), append(brands, o.brand), append(names, o.name), append(at, o.observedAt)
		var r, v *int32
		if o.rank != nil {
			x := int32(*o.rank)
			r = &x
		}
		if o.votes != nil && *o.votes <= 1<<31-1 {
			x := int32(*o.votes)
			v = &x
		}
		ranks, votes, ratings = append(ranks, r), append(votes, v), append(ratings, o.rating)
	}
	var cycle *string
	if cycleID != "" {
		cycle = &cycleID
	}
	tag, err := tx.Exec(ctx, `INSERT INTO source_observations (source, source_id, observed_at, cycle_id, brand, name, rank, votes, rating)
		SELECT $1, q.source_id, q.observed_at, $2, q.brand, q.name, q.rank, q.votes, q.rating
		FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::int[], $8::int[], $9::float8[])
			AS q(source_id, observed_at, brand, name, rank, votes, rating)
		ORDER BY q.source_id
		ON CONFLICT DO NOTHING`, source, cycle, ids, at, brands, names, ranks, votes, ratings)
	if err != nil {
		return 0, fmt.Errorf("storing %d observation(s): %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// baseline is an item's observation of about a window ago.
type baseline struct {
	at    time.Time
	votes *int64
	rank  *int
}

// baselines returns, per item, the latest observation between maxAge and
// minAge old, and whether any trending list was observed in that span
// (so an item absent from it then has entered the list since).
func baselines(ctx context.Context, db postgres.DBTX, source string, ids []string, now time.Time, minAge, maxAge time.Duration) (map[string]baseline, bool, error) {
	out := map[string]baseline{}
	from, to := now.Add(-maxAge), now.Add(-minAge)
	rows, err := db.Query(ctx, `SELECT DISTINCT ON (source_id) source_id, observed_at, votes, rank
		FROM source_observations
		WHERE source = $1 AND source_id = ANY($2::text[]) AND observed_at BETWEEN $3 AND $4
		ORDER BY source_id, observed_at DESC`, source, ids, from, to)
	if err != nil {
		return nil, false, fmt.Errorf("reading observation history: %w", err)
	}
	for rows.Next() {
		var id string
		var b baseline
		var votes, rank *int32
		if err := rows.Scan(&id, &b.at, &votes, &rank); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("reading observation history: %w", err)
		}
		if votes != nil {
			v := int64(*votes)
			b.votes = &v
		}
		if rank != nil {
			r := int(*rank)
			b.rank = &r
		}
		out[id] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading observation history: %w", err)
	}
	var listed bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM source_observations
		WHERE source = $1 AND rank IS NOT NULL AND observed_at BETWEEN $2 AND $3)`, source, from, to).Scan(&listed); err != nil {
		return nil, false, fmt.Errorf("reading observation history: %w", err)
	}
	return out, listed, nil
}

// countOurs counts the catalog's fragrances of a brand, by any of its
// folded spellings (brand match keys and aliases).
func countOurs(ctx context.Context, db postgres.DBTX, keys []string) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM fragrances WHERE brand_id IN (
		SELECT id FROM brands WHERE match_key = ANY($1::text[])
		UNION SELECT brand_id FROM brand_aliases WHERE alias_key = ANY($1::text[]))`, keys).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the catalog's fragrances of %v: %w", keys, err)
	}
	return n, nil
}

// storeResult records the result in cycles.step_results.detect unless
// another run of the cycle did first; it returns the result that stands.
func storeResult(ctx context.Context, tx pgx.Tx, cycleID string, res json.RawMessage) (json.RawMessage, error) {
	var stored []byte
	err := tx.QueryRow(ctx, `UPDATE cycles SET step_results = step_results || jsonb_build_object('detect', $2::jsonb)
		WHERE id = $1 AND NOT step_results ? 'detect' RETURNING step_results->'detect'`, cycleID, postgres.JSONArg(res)).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := tx.QueryRow(ctx, `SELECT step_results->'detect' FROM cycles WHERE id = $1`, cycleID).Scan(&stored); err != nil {
			return nil, fmt.Errorf("reading the detect result of cycle %s: %w", cycleID, err)
		}
		return stored, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storing the detect result of cycle %s: %w", cycleID, err)
	}
	return stored, nil
}
