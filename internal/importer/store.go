package importer

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// row is a fragrance as stored, with its id.
type row struct {
	ID          int64
	BrandID     int64
	Fragrance   catalog.Fragrance
	ContentHash string
	// Identities are the (source, source_id) pairs pointing at it.
	Identities []identity
	// Records are the records without a source_id that became it, as
	// (source, content hash) (record_identities).
	Records []identity
	// block holds its block keys once computed.
	block blockMemo
}

// blockMemo holds a fragrance's matching.BlockKeys with the fields they
// were computed from: a record's keys are needed when it is read (the
// head of its candidate keys), when it is filed for the rest of its batch,
// when its keys are written and when the read-ahead is told of it, and
// they only change when one of those fields does.
type blockMemo struct {
	of   matching.KeyFields
	keys []string
}

// get returns f's block keys, computing them unless the memo holds them
// for f's KeyFields.
func (m *blockMemo) get(f *catalog.Fragrance) []string {
	of := matching.KeyFieldsOf(f)
	if m.keys == nil || m.of != of {
		m.of, m.keys = of, matching.BlockKeys(f)
	}
	return m.keys
}

type identity = matching.Identity

const rowColumns = `f.id, f.brand_id, b.match_key, b.name, f.name, f.match_key, coalesce(f.concentration, ''), coalesce(f.gender, ''), f.year,
	f.notes_top, f.notes_middle, f.notes_base, f.notes_unsorted, f.accords, f.perfumers, f.rating::float8, f.votes,
	coalesce(f.url, ''), coalesce(f.description, ''), f.content_hash,
	coalesce((SELECT array_agg(si.source || chr(31) || si.source_id) FROM source_identities si WHERE si.fragrance_id = f.id), '{}')`

func scanRows(rows pgx.Rows) (map[int64]*row, error) {
	out := map[int64]*row{}
	for rows.Next() {
		r := &row{}
		f := &r.Fragrance
		var year *int16
		var votes *int32
		var accords []byte
		var ids []string
		if err := rows.Scan(&r.ID, &r.BrandID, &f.BrandKey, &f.Brand, &f.Name, &f.MatchKey, &f.Concentration, &f.Gender, &year,
			&f.NotesTop, &f.NotesMiddle, &f.NotesBase, &f.NotesUnsorted, &accords, &f.Perfumers, &f.Rating, &votes,
			&f.URL, &f.Description, &r.ContentHash, &ids); err != nil {
			return nil, fmt.Errorf("reading fragrance: %w", err)
		}
		if year != nil {
			y := int(*year)
			f.Year = &y
		}
		if votes != nil {
			v := int64(*votes)
			f.Votes = &v
		}
		if err := json.Unmarshal(accords, &f.Accords); err != nil {
			return nil, fmt.Errorf("reading accords of fragrance %d: %w", r.ID, err)
		}
		for _, s := range ids {
			for i := 0; i < len(s); i++ {
				if s[i] == 31 {
					r.Identities = append(r.Identities, identity{Source: s[:i], SourceID: s[i+1:]})
					break
				}
			}
		}
		normalizeEmpty(f)
		out[r.ID] = r
	}
	return out, rows.Err()
}

// normalizeEmpty makes stored empty lists nil, as the validator leaves them.
func normalizeEmpty(f *catalog.Fragrance) {
	for _, l := range []*[]string{&f.NotesTop, &f.NotesMiddle, &f.NotesBase, &f.NotesUnsorted, &f.Perfumers} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(f.Accords) == 0 {
		f.Accords = nil
	}
}

// lookup finds the fragrances reached by source identity, and per
// candidate key the fragrances filed under it (at most perKey each, lowest
// ids first), filed in byKey, in one round trip (lookupAll). Rows are not
// loaded here: see loadRows.
func lookup(ctx context.Context, tx pgx.Tx, ids []identity, keys []string, perKey int, byKey map[string][]int64) (map[identity]int64, error) {
	found, err := lookupAll(ctx, tx, lookupQuery{ids: ids, keys: keys, perKey: perKey}, byKey)
	if err != nil {
		return nil, err
	}
	return found.byIdentity, nil
}

// keyHashes are the keys as fragrance_keys stores them.
func keyHashes(keys []string) []int64 {
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = postgres.BlockKeyHash(k)
	}
	return out
}

// loadRows reads the fragrances with the given ids.
func loadRows(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]*row, error) {
	if len(ids) == 0 {
		return map[int64]*row{}, nil
	}
	r, err := tx.Query(ctx, `SELECT `+rowColumns+` FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE f.id = ANY($1::bigint[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("loading fragrances: %w", err)
	}
	defer r.Close()
	return scanRows(r)
}

// loadRecords fills the Records of rows (record_identities), in one
// query: only a batch with records of a source without source_ids needs
// them (matching.FuzzyMatcher leaves out fragrances another record of the
// same source became).
func loadRecords(ctx context.Context, tx pgx.Tx, rows map[int64]*row) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	r, err := tx.Query(ctx, `SELECT fragrance_id, source, content_hash FROM record_identities WHERE fragrance_id = ANY($1::bigint[])`, ids)
	if err != nil {
		return fmt.Errorf("loading the records candidates became: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var id int64
		var rec identity
		if err := r.Scan(&id, &rec.Source, &rec.SourceID); err != nil {
			return fmt.Errorf("loading the records candidates became: %w", err)
		}
		if row := rows[id]; row != nil {
			row.Records = append(row.Records, rec)
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("loading the records candidates became: %w", err)
	}
	return nil
}

// loadLight reads the columns a screener looks at (brand key, name,
// match key, concentration, gender) of the fragrances with the given ids,
// and folds each name once.
func loadLight(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]*lightRow, error) {
	out := map[int64]*lightRow{}
	if len(ids) == 0 {
		return out, nil
	}
	r, err := tx.Query(ctx, `SELECT f.id, b.match_key, f.name, f.match_key, coalesce(f.concentration, ''), coalesce(f.gender, '')
		FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE f.id = ANY($1::bigint[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("loading candidates: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var id int64
		l := &lightRow{}
		f := &l.f
		if err := r.Scan(&id, &f.BrandKey, &f.Name, &f.MatchKey, &f.Concentration, &f.Gender); err != nil {
			return nil, fmt.Errorf("reading candidate: %w", err)
		}
		l.tokens = matching.NameTokens(f)
		out[id] = l
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("loading candidates: %w", err)
	}
	return out, nil
}

// ensureBrands upserts brands by key (and their aliases) and returns key -> id.
func ensureBrands(ctx context.Context, tx pgx.Tx, names map[string]string, aliases map[string][]string) (map[string]int64, error) {
	ids := make(map[string]int64, len(names))
	b := &pgx.Batch{}
	queueBrands(b, names, aliases, func(k string, id int64) { ids[k] = id })
	if err := sendBatch(ctx, tx, b); err != nil {
		return nil, fmt.Errorf("upserting brands: %w", err)
	}
	return ids, nil
}

// queueBrands queues on b the upsert of brands by key and of their
// aliases; got receives each key's id as b runs. The id lookups join the
// keys to brands: brands.match_key = ANY(keys) was planned on the unused
// trigram index (brands_match_key_trgm, which supports equality), 0.3-1.8 s
// for a hundred keys.
func queueBrands(b *pgx.Batch, names map[string]string, aliases map[string][]string, got func(key string, id int64)) {
	if len(names) == 0 {
		return
	}
	keys := make([]string, 0, len(names))
	display := make([]string, 0, len(names))
	for k, n := range names {
		keys = append(keys, k)
		display = append(display, n)
	}
	b.Queue(`INSERT INTO brands (name, match_key)
		SELECT n, k FROM unnest($1::text[], $2::text[]) AS q(n, k) ORDER BY k
		ON CONFLICT (match_key) DO NOTHING`, display, keys)
	b.Queue(`SELECT b.id, b.match_key FROM unnest($1::text[]) AS q(k) JOIN brands b ON b.match_key = q.k`, keys).Query(func(r pgx.Rows) error {
		for r.Next() {
			var id int64
			var k string
			if err := r.Scan(&id, &k); err != nil {
				return fmt.Errorf("reading brand id: %w", err)
			}
			got(k, id)
		}
		if err := r.Err(); err != nil {
			return fmt.Errorf("reading brand ids: %w", err)
		}
		return nil
	})
	var aliasKeys, aliasNames, aliasBrand []string
	for k := range names {
		for _, a := range aliases[k] {
			ak := catalog.Fold(a)
			if ak == "" || ak == k {
				continue
			}
			aliasKeys, aliasNames, aliasBrand = append(aliasKeys, ak), append(aliasNames, a), append(aliasBrand, k)
		}
	}
	if len(aliasKeys) > 0 {
		b.Queue(`INSERT INTO brand_aliases (alias_key, alias, brand_id)
			SELECT q.ak, q.a, b.id FROM unnest($1::text[], $2::text[], $3::text[]) AS q(ak, a, k)
			JOIN brands b ON b.match_key = q.k ORDER BY 1
			ON CONFLICT (alias_key) DO NOTHING`, aliasKeys, aliasNames, aliasBrand)
	}
}

// sendBatch runs the queries queued on b in one round trip (none: no
// round trip), each query's callback as its results arrive.
func sendBatch(ctx context.Context, db batchSender, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return db.SendBatch(ctx, b).Close()
}

// stageColumns are the staging table's columns, in COPY order. Only
// updates go through it (op 'update').
var stageColumns = []string{"op", "id", "brand_id", "name", "match_key", "concentration", "gender", "year",
	"notes_top", "notes_middle", "notes_base", "notes_unsorted", "accords", "perfumers", "rating", "votes",
	"url", "description", "content_hash", "created_cycle_id", "created_import_run_id"}

const createStage = `CREATE TEMP TABLE IF NOT EXISTS import_stage (
	op text NOT NULL, id bigint NOT NULL, brand_id bigint NOT NULL, name text NOT NULL, match_key text NOT NULL,
	concentration text, gender text, year smallint, notes_top text[], notes_middle text[], notes_base text[],
	notes_unsorted text[], accords jsonb, perfumers text[], rating numeric(3,2), votes integer, url text,
	description text, content_hash text NOT NULL, created_cycle_id text, created_import_run_id bigint
) ON COMMIT DROP`

// write is one staged change to the fragrances table.
type write struct {
	op        string // insert | update
	id        int64
	brandID   int64
	f         *catalog.Fragrance
	hash      string
	cycleID   *string
	importRun *int64
	// keys are f's candidate keys (nil: computed when filed).
	keys []string
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// insertColumns are the fragrances columns a new fragrance is copied
// into, in COPY order.
var insertColumns = []string{"id", "brand_id", "name", "match_key", "concentration", "gender", "year",
	"notes_top", "notes_middle", "notes_base", "notes_unsorted", "accords", "perfumers", "rating", "votes",
	"url", "description", "content_hash", "created_at", "updated_at", "created_cycle_id", "created_import_run_id"}

// applyWrites writes the batch's changes: new fragrances by COPY straight
// into fragrances (ids reserved by nextIDs, in id order; COPY takes the
// identity column's values as given), changed ones by COPY into the
// staging table and one UPDATE.
func applyWrites(ctx context.Context, tx pgx.Tx, writes []write, now time.Time) error {
	if len(writes) == 0 {
		return nil
	}
	inserts, updates := make([][]any, 0, len(writes)), [][]any(nil)
	nowValue := any(now) // boxed once, not twice a row
	for _, w := range writes {
		f := w.f
		accords, err := json.Marshal(f.Accords)
		if err != nil {
			return fmt.Errorf("encoding accords: %w", err)
		}
		if f.Accords == nil {
			accords = []byte("[]")
		}
		var year *int16
		if f.Year != nil {
			y := int16(*f.Year)
			year = &y
		}
		var votes *int32
		if f.Votes != nil {
			v := int32(*f.Votes)
			votes = &v
		}
		// One slice a row, made to its final length (insertColumns, or
		// stageColumns: the op first).
		row := make([]any, 0, len(insertColumns))
		if w.op != "insert" {
			row = append(row, w.op)
		}
		row = append(row, w.id, w.brandID, f.Name, f.MatchKey, nullStr(f.Concentration), nullStr(f.Gender), year,
			list(f.NotesTop), list(f.NotesMiddle), list(f.NotesBase), list(f.NotesUnsorted), string(accords), list(f.Perfumers),
			f.Rating, votes, nullStr(f.URL), nullStr(f.Description), w.hash)
		if w.op == "insert" {
			inserts = append(inserts, append(row, nowValue, nowValue, w.cycleID, w.importRun))
		} else {
			updates = append(updates, append(row, w.cycleID, w.importRun))
		}
	}
	if len(inserts) > 0 {
		sort.Slice(inserts, func(i, j int) bool { return inserts[i][0].(int64) < inserts[j][0].(int64) })
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"fragrances"}, insertColumns, pgx.CopyFromRows(inserts)); err != nil {
			return fmt.Errorf("inserting fragrances: %w", err)
		}
	}
	if len(updates) > 0 {
		if _, err := tx.Exec(ctx, createStage); err != nil {
			return fmt.Errorf("creating staging table: %w", err)
		}
		// ON COMMIT drops the table after each batch, but a dry run's
		// batches are savepoints of one transaction that never commits:
		// empty it here.
		if _, err := tx.Exec(ctx, `DELETE FROM import_stage`); err != nil {
			return fmt.Errorf("emptying staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, stageColumns, pgx.CopyFromRows(updates)); err != nil {
			return fmt.Errorf("copying batch to staging: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE fragrances f SET brand_id = s.brand_id, name = s.name, match_key = s.match_key,
			concentration = s.concentration, gender = s.gender, year = s.year, notes_top = s.notes_top,
			notes_middle = s.notes_middle, notes_base = s.notes_base, notes_unsorted = s.notes_unsorted,
			accords = s.accords, perfumers = s.perfumers, rating = s.rating, votes = s.votes, url = s.url,
			description = s.description, content_hash = s.content_hash, updated_at = $1
		FROM import_stage s WHERE s.op = 'update' AND f.id = s.id`, now); err != nil {
			return fmt.Errorf("updating fragrances: %w", err)
		}
	}
	lap(ctx, "write fragrances")
	err := fileKeys(ctx, tx, writes)
	lap(ctx, "write fragrance_keys")
	return err
}

// fileKeys files the written fragrances under their candidate keys,
// replacing an updated fragrance's old keys.
func fileKeys(ctx context.Context, tx pgx.Tx, writes []write) error {
	var updated []int64
	type keyRow struct{ key, id int64 }
	var filed []keyRow
	for _, w := range writes {
		if w.op == "update" {
			updated = append(updated, w.id)
		}
		keys := w.keys
		if keys == nil {
			keys = matching.BlockKeys(w.f)
		}
		for _, k := range keys {
			filed = append(filed, keyRow{postgres.BlockKeyHash(k), w.id})
		}
	}
	// In index order: the primary key's B-tree is then descended in
	// order, not at random leaves for each key.
	slices.SortFunc(filed, func(a, b keyRow) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	// One row buffer for them all: COPY encodes a row's values before it
	// asks for the next.
	row := make([]any, 2)
	rows := pgx.CopyFromSlice(len(filed), func(i int) ([]any, error) {
		row[0], row[1] = filed[i].key, filed[i].id
		return row, nil
	})
	if len(updated) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM fragrance_keys WHERE fragrance_id = ANY($1::bigint[])`, updated); err != nil {
			return fmt.Errorf("refiling updated fragrances: %w", err)
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"fragrance_keys"}, []string{"key", "fragrance_id"}, rows); err != nil {
		return fmt.Errorf("filing fragrances under their keys: %w", err)
	}
	return nil
}

// nextIDs reserves n consecutive fragrance ids in one statement (see
// queueNextIDs).
func nextIDs(ctx context.Context, tx pgx.Tx, n int) ([]int64, error) {
	var ids []int64
	b := &pgx.Batch{}
	queueNextIDs(b, n, &ids)
	if err := sendBatch(ctx, tx, b); err != nil {
		return nil, err
	}
	return ids, nil
}

// queueNextIDs queues on b the reservation of n consecutive fragrance ids
// (nextval, then setval past the block, in one statement), stored in *ids
// as b runs. Only imports insert fragrances, and they hold importLockID,
// so no one can draw from the sequence between the two.
func queueNextIDs(b *pgx.Batch, n int, ids *[]int64) {
	if n == 0 {
		return
	}
	b.Queue(`SELECT setval(pg_get_serial_sequence('fragrances', 'id'),
		nextval(pg_get_serial_sequence('fragrances', 'id')) + $1 - 1)`, int64(n)).QueryRow(func(r pgx.Row) error {
		var last int64
		if err := r.Scan(&last); err != nil {
			return fmt.Errorf("reserving fragrance ids: %w", err)
		}
		first := last - int64(n) + 1
		*ids = make([]int64, n)
		for i := range *ids {
			(*ids)[i] = first + int64(i)
		}
		return nil
	})
}
