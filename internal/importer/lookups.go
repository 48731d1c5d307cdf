package importer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// batchSender is where a batch's lookups run: its transaction, or (read
// ahead) another connection.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// lookupQuery is what a batch of records looks up before matching.
type lookupQuery struct {
	ids    []identity  // source identities
	keys   []string    // candidate keys (the cache's are not looked up)
	perKey int         // at most this many fragrances per key, lowest ids first
	recs   []recordKey // records without a source identity
}

// lookups is what the database answered to a lookupQuery.
type lookups struct {
	// byIdentity: the fragrance each known identity points at.
	byIdentity map[identity]int64
	// mergedIn: identities that joined their fragrance by a merge (not
	// undone), whose updates only fill gaps.
	mergedIn map[identity]bool
	// byRecord: the fragrance each record without a source identity
	// became in an earlier import (record_identities).
	byRecord map[recordKey]int64
}

// lookupAll sends every lookup of q in one round trip (a pgx batch:
// source identities, candidate keys, merged identities, records seen
// before), instead of one query after another, and files the candidate
// lists in byKey. Each query is the one the lookups ran on their own.
func lookupAll(ctx context.Context, db batchSender, q lookupQuery, byKey map[string][]int64) (*lookups, error) {
	out := &lookups{byIdentity: map[identity]int64{}, mergedIn: map[identity]bool{}, byRecord: map[recordKey]int64{}}
	b := &pgx.Batch{}
	if len(q.ids) > 0 {
		sources, sourceIDs := splitIdentities(q.ids)
		b.Queue(`SELECT si.source, si.source_id, si.fragrance_id
		FROM source_identities si JOIN unnest($1::text[], $2::text[]) AS q(source, source_id)
		ON si.source = q.source AND si.source_id = q.source_id`, sources, sourceIDs).Query(func(r pgx.Rows) error {
			for r.Next() {
				var id identity
				var fid int64
				if err := r.Scan(&id.Source, &id.SourceID, &fid); err != nil {
					return fmt.Errorf("reading source identity: %w", err)
				}
				out.byIdentity[id] = fid
			}
			if err := r.Err(); err != nil {
				return fmt.Errorf("looking up source identities: %w", err)
			}
			return nil
		})
	}
	if len(q.keys) > 0 {
		keys := q.keys
		// One B-tree probe per key (by its hash, postgres.BlockKeyHash);
		// only ids travel back, one array per key found with its position
		// in keys (a row per id was 29,000 rows per batch of a 200k import,
		// each a protocol message to decode). An ARRAY(subquery) keeps the
		// subquery's order and costs a fifth less than a lateral join with
		// an ordered array_agg (the largest statement of an import: 13 of
		// PostgreSQL's 25 s at 200k); OFFSET 0 keeps it from being
		// evaluated again for the WHERE.
		b.Queue(`SELECT i, ids FROM (SELECT q.i, ARRAY(SELECT fk.fragrance_id FROM fragrance_keys fk
				WHERE fk.key = q.k ORDER BY fk.fragrance_id LIMIT $2) AS ids
			FROM unnest($1::bigint[]) WITH ORDINALITY AS q(k, i) OFFSET 0) c
		WHERE cardinality(ids) > 0`, keyHashes(keys), q.perKey).Query(func(r pgx.Rows) error {
			for r.Next() {
				var i int64
				var fids []int64
				if err := r.Scan(&i, &fids); err != nil {
					return fmt.Errorf("reading candidate: %w", err)
				}
				if i < 1 || i > int64(len(keys)) {
					return fmt.Errorf("reading candidates: key position %d out of 1..%d", i, len(keys))
				}
				byKey[keys[i-1]] = fids
			}
			if err := r.Err(); err != nil {
				return fmt.Errorf("looking up candidates: %w", err)
			}
			return nil
		})
	}
	if len(q.ids) > 0 {
		sources, sourceIDs := splitIdentities(q.ids)
		b.Queue(`SELECT DISTINCT m.merged_source, m.merged_source_id FROM merge_log m
		JOIN unnest($1::text[], $2::text[]) AS q(source, source_id)
		ON m.merged_source = q.source AND m.merged_source_id = q.source_id WHERE m.undone_at IS NULL`, sources, sourceIDs).Query(func(r pgx.Rows) error {
			for r.Next() {
				var id identity
				if err := r.Scan(&id.Source, &id.SourceID); err != nil {
					return fmt.Errorf("looking up merged identities: %w", err)
				}
				out.mergedIn[id] = true
			}
			if err := r.Err(); err != nil {
				return fmt.Errorf("looking up merged identities: %w", err)
			}
			return nil
		})
	}
	if len(q.recs) > 0 {
		sources, hashes := make([]string, len(q.recs)), make([]string, len(q.recs))
		for i, r := range q.recs {
			sources[i], hashes[i] = r.source, r.hash
		}
		b.Queue(`SELECT r.source, r.content_hash, r.fragrance_id
		FROM unnest($1::text[], $2::text[]) AS k(source, content_hash)
		JOIN record_identities r ON r.source = k.source AND r.content_hash = k.content_hash`, sources, hashes).Query(func(r pgx.Rows) error {
			for r.Next() {
				var k recordKey
				var fid int64
				if err := r.Scan(&k.source, &k.hash, &fid); err != nil {
					return fmt.Errorf("looking up records imported before: %w", err)
				}
				out.byRecord[k] = fid
			}
			if err := r.Err(); err != nil {
				return fmt.Errorf("looking up records imported before: %w", err)
			}
			return nil
		})
	}
	if b.Len() == 0 {
		return out, nil
	}
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("looking up the batch's identities and candidates: %w", err)
	}
	return out, nil
}
