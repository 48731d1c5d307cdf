package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// ErrNotFound is returned for a review or merge id that does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned when a review cannot be decided as asked (already
// decided, held by a proposal, an alias that would clash): the operator's
// input, not the database, is at fault.
var ErrInvalid = errors.New("cannot be decided that way")

// Review kinds.
const (
	KindMatch      = "match"       // is Candidate the catalog fragrance FragranceID?
	KindBrandAlias = "brand-alias" // is the spelling Alias another name of catalog brand BrandID?
)

// ReviewItem is one queued question. A match review asks whether Candidate
// is the same product as the catalog's fragrance (or, Held, waits on the
// brand-alias proposal ProposalID for its brand); a brand-alias review
// asks whether the source spelling Alias is another name of Brand.
type ReviewItem struct {
	ID          int64              `json:"id"`
	Kind        string             `json:"kind"`
	Status      string             `json:"status"`
	Score       float64            `json:"score"`
	Reasons     []string           `json:"reasons"`
	CreatedAt   time.Time          `json:"created_at"`
	ImportRunID *int64             `json:"import_run_id"`
	FragranceID int64              `json:"fragrance_id,omitempty"`
	Fragrance   *catalog.Fragrance `json:"fragrance,omitempty"`
	Candidate   *catalog.Fragrance `json:"candidate,omitempty"`
	// Held: a match review's record waits on brand-alias proposal ProposalID.
	Held       bool  `json:"held,omitempty"`
	ProposalID int64 `json:"proposal_id,omitempty"`
	// Alias, AliasKey, BrandID, Brand: a brand-alias proposal's spelling
	// (as the source spells it, and folded) and the catalog brand proposed;
	// HeldRecords the open records it holds.
	Alias       string `json:"alias,omitempty"`
	AliasKey    string `json:"alias_key,omitempty"`
	BrandID     int64  `json:"brand_id,omitempty"`
	Brand       string `json:"brand,omitempty"`
	HeldRecords int    `json:"held_records,omitempty"`
	// Candidates are the best catalog answers with their evidence: for a
	// match review the best-scoring fragrances ([]ReviewCandidate), for a
	// brand-alias review the brands sharing the most names
	// ([]matching.BrandEvidence).
	Candidates json.RawMessage `json:"candidates"`
}

// ReviewCandidate is one catalog fragrance a match review offers, with its
// score against the incoming record and what decided it.
type ReviewCandidate struct {
	FragranceID   int64   `json:"fragrance_id"`
	Brand         string  `json:"brand"`
	Name          string  `json:"name"`
	Concentration string  `json:"concentration,omitempty"`
	Gender        string  `json:"gender,omitempty"`
	Year          *int    `json:"year,omitempty"`
	Score         float64 `json:"score"`
	Why           string  `json:"why"`
}

// topCandidates scores f against each candidate (matching.Score) and keeps
// the best three that no hard rule rules out.
func topCandidates(f *catalog.Fragrance, cands []matching.Candidate) []ReviewCandidate {
	var out []ReviewCandidate
	for _, c := range cands {
		s, why := matching.Score(f, c.Fragrance)
		if s <= 0 {
			continue
		}
		g := c.Fragrance
		out = append(out, ReviewCandidate{FragranceID: c.ID, Brand: g.Brand, Name: g.Name, Concentration: g.Concentration,
			Gender: g.Gender, Year: g.Year, Score: math.Round(s*1000) / 1000, Why: why})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out[:min(3, len(out))]
}

// ListReviews returns open reviews (all when all is set), oldest first.
func (im *Importer) ListReviews(ctx context.Context, all bool, limit int) ([]ReviewItem, error) {
	if limit <= 0 {
		limit = 100
	}
	r, err := im.Pool.Query(ctx, `SELECT id FROM review_queue WHERE $1 OR status = 'open' ORDER BY created_at, id LIMIT $2`, all, limit)
	if err != nil {
		return nil, fmt.Errorf("listing reviews: %w", err)
	}
	ids, err := pgx.CollectRows(r, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing reviews: %w", err)
	}
	out := make([]ReviewItem, 0, len(ids))
	for _, id := range ids {
		it, err := im.Review(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *it)
	}
	return out, nil
}

// Review returns one review with both records.
func (im *Importer) Review(ctx context.Context, id int64) (*ReviewItem, error) {
	return review(ctx, im.Pool, id, false)
}

func review(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, id int64, lock bool) (*ReviewItem, error) {
	it := &ReviewItem{ID: id}
	var candidate, reasons []byte
	var score float32
	var fid, brandID, proposal *int64
	var aliasKey, brand *string
	sql := `SELECT r.kind, r.status, r.score, r.reasons, r.created_at, r.import_run_id, r.fragrance_id, r.candidate, r.candidates,
		r.brand_id, r.alias_key, r.proposal_id, b.name,
		CASE WHEN r.kind = 'brand-alias' THEN (SELECT count(*) FROM review_queue h
			WHERE h.kind = 'match' AND h.fragrance_id IS NULL AND h.alias_key = r.alias_key AND h.status = 'open') ELSE 0 END
		FROM review_queue r LEFT JOIN brands b ON b.id = r.brand_id WHERE r.id = $1`
	if lock {
		sql += ` FOR UPDATE OF r`
	}
	err := q.QueryRow(ctx, sql, id).Scan(&it.Kind, &it.Status, &score, &reasons, &it.CreatedAt, &it.ImportRunID, &fid, &candidate, &it.Candidates,
		&brandID, &aliasKey, &proposal, &brand, &it.HeldRecords)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("review %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading review %d: %w", id, err)
	}
	it.Score = float64(score)
	if err := json.Unmarshal(reasons, &it.Reasons); err != nil {
		return nil, fmt.Errorf("reading review %d: %w", id, err)
	}
	if it.Candidate, err = decodeRecord(candidate); err != nil {
		return nil, fmt.Errorf("reading review %d: %w", id, err)
	}
	it.AliasKey, it.Brand = deref(aliasKey), deref(brand)
	if brandID != nil {
		it.BrandID = *brandID
	}
	if proposal != nil {
		it.ProposalID = *proposal
	}
	if it.Kind == KindBrandAlias {
		it.Alias, it.Candidate = it.Candidate.Brand, nil
		return it, nil
	}
	if fid == nil {
		it.Held = true
		return it, nil
	}
	it.FragranceID = *fid
	rows, err := q.Query(ctx, `SELECT `+rowColumns+` FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE f.id = $1`, it.FragranceID)
	if err != nil {
		return nil, fmt.Errorf("reading fragrance %d: %w", it.FragranceID, err)
	}
	found, err := scanRows(rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	if r := found[it.FragranceID]; r != nil {
		it.Fragrance = &r.Fragrance
	}
	return it, nil
}

// decodeRecord reads a stored record and restores its derived keys.
func decodeRecord(data []byte) (*catalog.Fragrance, error) {
	var f catalog.Fragrance
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	f.BrandKey = catalog.Fold(f.Brand)
	f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
	return &f, nil
}

// Resolution is what deciding a review did: a match review's record
// merged into or inserted as FragranceID; a brand-alias review's Alias.
type Resolution struct {
	ID          int64          `json:"id"`
	Kind        string         `json:"kind"`
	Status      string         `json:"status"`
	FragranceID int64          `json:"fragrance_id,omitempty"`
	Alias       *AliasDecision `json:"alias,omitempty"`
}

// ResolveReview is Resolve for a match review: the fragrance the record
// merged into or became (0 for a brand-alias review).
func (im *Importer) ResolveReview(ctx context.Context, id int64, accept bool, by string) (int64, error) {
	res, err := im.Resolve(ctx, id, accept, by)
	if err != nil {
		return 0, err
	}
	return res.FragranceID, nil
}

// Resolve decides an open review in one transaction, under the import
// lock. A match review: accept merges the candidate into the fragrance,
// reject inserts it as a product of its own. A brand-alias review: accept
// stores the alias and decides the records it held again (they merge,
// are inserted under the catalog brand, or go to a match review); reject
// creates the brand and inserts them. A held record is decided through its
// proposal, never on its own. by names the operator.
func (im *Importer) Resolve(ctx context.Context, id int64, accept bool, by string) (*Resolution, error) {
	res := &Resolution{ID: id}
	err := pgx.BeginFunc(ctx, im.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, importLockID); err != nil {
			return fmt.Errorf("waiting for imports: %w", err)
		}
		it, err := review(ctx, tx, id, true)
		if err != nil {
			return err
		}
		res.Kind = it.Kind
		if it.Status != "open" {
			return fmt.Errorf("review %d is already %s: %w", id, it.Status, ErrInvalid)
		}
		res.Status = "rejected"
		if accept {
			res.Status = "accepted"
		}
		if it.Kind == KindBrandAlias {
			res.Alias, err = im.decideAlias(ctx, tx, it, accept, by)
			return err
		}
		if it.Held {
			return fmt.Errorf("review %d waits on brand-alias proposal %d (brand %q): accept or reject %d instead: %w",
				id, it.ProposalID, it.Candidate.Brand, it.ProposalID, ErrInvalid)
		}
		var fragranceID int64
		status := "rejected"
		if accept {
			status = "accepted"
			if it.Fragrance == nil {
				return fmt.Errorf("review %d: fragrance %d no longer exists; reject it to insert the record: %w", id, it.FragranceID, ErrInvalid)
			}
			fragranceID = it.FragranceID
			err = im.mergeInto(ctx, tx, it.FragranceID, it.Candidate, float64(it.Score), fmt.Sprintf("review %d accepted by %s", id, by))
		} else {
			fragranceID, err = im.insertNew(ctx, tx, it.Candidate)
		}
		if err != nil {
			return err
		}
		// The record is that fragrance from now on: importing it again
		// finds it instead of asking the same question.
		if err := rememberRecord(ctx, tx, it.Candidate, fragranceID, im.now()); err != nil {
			return err
		}
		res.FragranceID = fragranceID
		_, err = tx.Exec(ctx, `UPDATE review_queue SET status = $2, resolved_at = $3, resolved_by = $4 WHERE id = $1`, id, status, im.now(), by)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// rememberRecord records that f, a record without a source identity, is
// fragrance fid (record_identities; see insertRecords).
func rememberRecord(ctx context.Context, tx pgx.Tx, f *catalog.Fragrance, fid int64, now time.Time) error {
	if f.Source != "" && f.SourceID != "" {
		return nil
	}
	return insertRecords(ctx, tx, map[recordKey]int64{{source: f.Source, hash: catalog.ContentHash(f)}: fid}, func(id int64) int64 { return id }, now)
}

// mergeInto fills fragrance id from f, records f's identity and logs the merge.
func (im *Importer) mergeInto(ctx context.Context, tx pgx.Tx, id int64, f *catalog.Fragrance, score float64, reason string) error {
	r, err := lockRow(ctx, tx, id)
	if err != nil {
		return err
	}
	replaced := fill(&r.Fragrance, f)
	now := im.now()
	if h := catalog.ContentHash(&r.Fragrance); h != r.ContentHash {
		if err := applyWrites(ctx, tx, []write{{op: "update", id: id, brandID: r.BrandID, f: &r.Fragrance, hash: h}}, now); err != nil {
			return err
		}
	}
	if f.Source != "" && f.SourceID != "" {
		ids := map[identity]int64{{Source: f.Source, SourceID: f.SourceID}: id}
		if err := insertIdentities(ctx, tx, ids, map[identity]string{}, func(x int64) int64 { return x }, now); err != nil {
			return err
		}
	}
	record, _ := json.Marshal(f)
	rep, _ := json.Marshal(replaced)
	if _, err := tx.Exec(ctx, `INSERT INTO merge_log (fragrance_id, merged_source, merged_source_id, merged_record, replaced, score, reason)
		VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7)`, id, nullStr(f.Source), nullStr(f.SourceID), postgres.JSONArg(record), postgres.JSONArg(rep), float32(score), reason); err != nil {
		return fmt.Errorf("writing the merge log: %w", err)
	}
	return nil
}

// lockRow reads fragrance id and locks it for the rest of the transaction.
func lockRow(ctx context.Context, tx pgx.Tx, id int64) (*row, error) {
	rows, err := tx.Query(ctx, `SELECT `+rowColumns+` FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE f.id = $1 FOR UPDATE OF f`, id)
	if err != nil {
		return nil, fmt.Errorf("reading fragrance %d: %w", id, err)
	}
	found, err := scanRows(rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	r := found[id]
	if r == nil {
		return nil, fmt.Errorf("fragrance %d: %w", id, ErrNotFound)
	}
	return r, nil
}

// insertNew inserts f as a fragrance of its own, with its identity.
func (im *Importer) insertNew(ctx context.Context, tx pgx.Tx, f *catalog.Fragrance) (int64, error) {
	brandIDs, err := ensureBrands(ctx, tx, map[string]string{f.BrandKey: f.Brand}, nil)
	if err != nil {
		return 0, err
	}
	ids, err := nextIDs(ctx, tx, 1)
	if err != nil {
		return 0, err
	}
	now := im.now()
	if err := applyWrites(ctx, tx, []write{{op: "insert", id: ids[0], brandID: brandIDs[f.BrandKey], f: f, hash: catalog.ContentHash(f)}}, now); err != nil {
		return 0, err
	}
	if f.Source != "" && f.SourceID != "" {
		m := map[identity]int64{{Source: f.Source, SourceID: f.SourceID}: ids[0]}
		if err := insertIdentities(ctx, tx, m, map[identity]string{}, func(x int64) int64 { return x }, now); err != nil {
			return 0, err
		}
	}
	return ids[0], nil
}

// Unmerge undoes merge mergeID: the fragrance gets back the values the
// merge replaced, and the merged record becomes a fragrance of its own
// (with its source identity). Returns the new fragrance's id.
func (im *Importer) Unmerge(ctx context.Context, mergeID int64) (int64, error) {
	var newID int64
	err := pgx.BeginFunc(ctx, im.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, importLockID); err != nil {
			return fmt.Errorf("waiting for imports: %w", err)
		}
		var fid int64
		var record, replaced []byte
		var undone *time.Time
		err := tx.QueryRow(ctx, `SELECT fragrance_id, merged_record, replaced, undone_at FROM merge_log WHERE id = $1 FOR UPDATE`, mergeID).
			Scan(&fid, &record, &replaced, &undone)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("merge %d: %w", mergeID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reading merge %d: %w", mergeID, err)
		}
		if undone != nil {
			return fmt.Errorf("merge %d was already undone at %s", mergeID, undone.Format(time.RFC3339))
		}
		merged, err := decodeRecord(record)
		if err != nil {
			return fmt.Errorf("reading merge %d: %w", mergeID, err)
		}
		var old map[string]json.RawMessage
		if err := json.Unmarshal(replaced, &old); err != nil {
			return fmt.Errorf("reading merge %d: %w", mergeID, err)
		}
		if len(old) > 0 {
			if err := restore(ctx, tx, fid, old, im.now()); err != nil {
				return err
			}
		}
		if merged.Source != "" && merged.SourceID != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM source_identities WHERE source = $1 AND source_id = $2 AND fragrance_id = $3`,
				merged.Source, merged.SourceID, fid); err != nil {
				return fmt.Errorf("detaching the merged identity: %w", err)
			}
		}
		if newID, err = im.insertNew(ctx, tx, merged); err != nil {
			return err
		}
		if merged.Source == "" || merged.SourceID == "" {
			// The record is the new fragrance now, not the one it was merged into.
			if _, err := tx.Exec(ctx, `UPDATE record_identities SET fragrance_id = $4 WHERE source = $1 AND content_hash = $2 AND fragrance_id = $3`,
				merged.Source, catalog.ContentHash(merged), fid, newID); err != nil {
				return fmt.Errorf("moving the merged record: %w", err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE merge_log SET undone_at = $2 WHERE id = $1`, mergeID, im.now())
		return err
	})
	return newID, err
}

// restore puts back the values a merge replaced and recomputes the hash.
func restore(ctx context.Context, tx pgx.Tx, id int64, old map[string]json.RawMessage, now time.Time) error {
	r, err := lockRow(ctx, tx, id)
	if err != nil {
		return err
	}
	f := &r.Fragrance
	targets := map[string]any{
		"concentration": &f.Concentration, "gender": &f.Gender, "url": &f.URL, "description": &f.Description,
		"year": &f.Year, "notes_top": &f.NotesTop, "notes_middle": &f.NotesMiddle, "notes_base": &f.NotesBase,
		"notes_unsorted": &f.NotesUnsorted, "perfumers": &f.Perfumers, "accords": &f.Accords, "rating": &f.Rating, "votes": &f.Votes,
	}
	for field, raw := range old {
		dst, ok := targets[field]
		if !ok {
			return fmt.Errorf("merge log names unknown field %q", field)
		}
		// A JSON null restores the zero value: the field was empty.
		if err := json.Unmarshal(zeroIfNull(raw, dst), dst); err != nil {
			return fmt.Errorf("restoring %s: %w", field, err)
		}
	}
	normalizeEmpty(f)
	f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
	return applyWrites(ctx, tx, []write{{op: "update", id: id, brandID: r.BrandID, f: f, hash: catalog.ContentHash(f)}}, now)
}

func zeroIfNull(raw json.RawMessage, dst any) json.RawMessage {
	if string(raw) != "null" {
		return raw
	}
	switch dst.(type) {
	case *string:
		return json.RawMessage(`""`)
	case *[]string, *[]catalog.Accord:
		return json.RawMessage(`[]`)
	}
	return raw
}
