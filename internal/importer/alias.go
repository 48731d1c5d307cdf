package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Brand-alias proposals (issue 18): a source brand spelling that no rule of
// matching.BrandIndex resolves would become a new brand, and every record
// of it a new product. When its records in the batch share enough
// distinctive names with one catalog brand's line-up (matching.AliasName),
// the spelling goes to review as a brand-alias proposal instead, and its
// records wait there (held: review rows with no fragrance, naming the
// proposal) until an operator decides: accepting stores the alias and
// decides the held records again under the catalog brand; rejecting
// creates the brand and inserts them (decideAlias).

// heldBrand is an open proposal whose spelling's records wait in review.
type heldBrand struct {
	proposal int64
	spelling string
	brand    string // the catalog brand proposed
}

// heldRow is one record to hold.
type heldRow struct {
	it *item
	hb *heldBrand
}

// proposeAliases runs in the match phase, inside the batch's transaction:
// for the spellings among valid that resolve to no catalog brand, it looks
// up their state (an open proposal, an alias or brand stored since the run
// began, a proposal decided before) and applies the AliasName rule to the
// spellings never proposed. It returns the spellings whose records are
// held, by brand key.
func (b *batcher) proposeAliases(ctx context.Context, tx pgx.Tx, valid []*item) (map[string]*heldBrand, error) {
	if b.brandIndex == nil {
		return nil, nil
	}
	byKey := map[string][]*item{}
	var keys []string
	for _, it := range valid {
		k := it.f.BrandKey
		if k == "" || b.brandIndex.Known(k) {
			continue
		}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], it)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT k.key,
			(SELECT r.id FROM review_queue r WHERE r.kind = 'brand-alias' AND r.alias_key = k.key AND r.status = 'open'),
			(SELECT b.name FROM review_queue r JOIN brands b ON b.id = r.brand_id WHERE r.kind = 'brand-alias' AND r.alias_key = k.key AND r.status = 'open'),
			EXISTS (SELECT 1 FROM review_queue r WHERE r.kind = 'brand-alias' AND r.alias_key = k.key AND r.status <> 'open'),
			(SELECT b.name FROM brand_aliases a JOIN brands b ON b.id = a.brand_id WHERE a.alias_key = k.key),
			EXISTS (SELECT 1 FROM brands b WHERE b.match_key = k.key)
		FROM unnest($1::text[]) AS k(key)`, keys)
	if err != nil {
		return nil, fmt.Errorf("looking up brand-alias proposals: %w", err)
	}
	held := map[string]*heldBrand{}
	var fresh []string
	for rows.Next() {
		var key string
		var open *int64
		var proposed, aliasOf *string
		var decided, exists bool
		if err := rows.Scan(&key, &open, &proposed, &decided, &aliasOf, &exists); err != nil {
			rows.Close()
			return nil, fmt.Errorf("looking up brand-alias proposals: %w", err)
		}
		switch {
		case aliasOf != nil:
			// Accepted while this run was going: the alias applies now.
			b.brandIndex.Add(*aliasOf, byKey[key][0].f.Brand)
			for _, it := range byKey[key] {
				moveToBrand(b.brands, it, matching.BrandResolution{Key: catalog.Fold(*aliasOf), Name: *aliasOf, Rule: "alias"})
			}
		case open != nil:
			held[key] = &heldBrand{proposal: *open, spelling: byKey[key][0].f.Brand, brand: deref(proposed)}
		case decided || exists:
			// Decided before (the brand exists, or is about to): a new brand.
		default:
			fresh = append(fresh, key)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up brand-alias proposals: %w", err)
	}
	sources := map[string]bool{}
	for _, it := range valid {
		sources[it.f.Source] = true
	}
	for _, key := range fresh {
		items := byKey[key]
		names := make([]string, 0, len(items))
		distinct := map[string]bool{}
		for _, it := range items {
			if k := catalog.Fold(it.f.Name); k != "" && !distinct[k] {
				distinct[k] = true
				names = append(names, it.f.Name)
			}
		}
		if len(names) < matching.AliasMinShared {
			continue
		}
		lineups, err := b.lineups(ctx, tx, sortedKeys(sources))
		if err != nil {
			return nil, err
		}
		p, ok := matching.AliasName(items[0].f.Brand, len(names), lineups.SimilarBrands(names))
		if !ok {
			continue
		}
		id, err := b.insertProposal(ctx, tx, key, p)
		if err != nil {
			return nil, err
		}
		held[key] = &heldBrand{proposal: id, spelling: p.Spelling, brand: p.Best.Brand}
	}
	return held, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// lineups loads, once per run (and set of sources) and only when a
// spelling needs it, every catalog brand's line-up as the other sources
// list it: a fragrance only the batch's own sources know is left out. A
// source's spellings are compared only with brands another source listed,
// so what an import proposes depends neither on what it inserted before
// (an earlier batch, an interrupted run of the same file) nor on batch
// boundaries within one source.
func (b *batcher) lineups(ctx context.Context, tx pgx.Tx, sources []string) (*matching.BrandLineups, error) {
	key := strings.Join(sources, "\x00")
	if b.brandLineups != nil && b.lineupSources == key {
		return b.brandLineups, nil
	}
	x := matching.NewBrandLineups()
	rows, err := tx.Query(ctx, `SELECT f.brand_id, b.name, f.name FROM fragrances f JOIN brands b ON b.id = f.brand_id
		WHERE EXISTS (SELECT 1 FROM source_identities s WHERE s.fragrance_id = f.id AND s.source <> ALL($1))
		   OR EXISTS (SELECT 1 FROM record_identities r WHERE r.fragrance_id = f.id AND r.source <> ALL($1))
		   OR (NOT EXISTS (SELECT 1 FROM source_identities s WHERE s.fragrance_id = f.id)
		       AND NOT EXISTS (SELECT 1 FROM record_identities r WHERE r.fragrance_id = f.id))
		ORDER BY f.id`, sources)
	if err != nil {
		return nil, fmt.Errorf("loading brand line-ups: %w", err)
	}
	defer rows.Close()
	var id int64
	var brand, name string
	for rows.Next() {
		if err := rows.Scan(&id, &brand, &name); err != nil {
			return nil, fmt.Errorf("loading brand line-ups: %w", err)
		}
		x.Add(id, brand, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading brand line-ups: %w", err)
	}
	b.brandLineups, b.lineupSources = x, key
	return x, nil
}

// insertProposal queues a brand-alias proposal (one open per spelling).
func (b *batcher) insertProposal(ctx context.Context, tx pgx.Tx, key string, p matching.AliasProposal) (int64, error) {
	record, _ := json.Marshal(map[string]string{"brand": p.Spelling})
	reasons, _ := json.Marshal([]string{p.Reason})
	cands, _ := json.Marshal(p.Candidates)
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO review_queue (import_run_id, kind, brand_id, alias_key, candidate, score, reasons, candidates)
		VALUES ($1, 'brand-alias', $2, $3, $4::jsonb, $5, $6::jsonb, $7::jsonb)
		ON CONFLICT (alias_key) WHERE kind = 'brand-alias' AND status = 'open' DO UPDATE SET alias_key = EXCLUDED.alias_key
		RETURNING id`, b.runRef(), p.Best.BrandID, key, postgres.JSONArg(record), float32(p.Share),
		postgres.JSONArg(reasons), postgres.JSONArg(cands)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("queueing a brand-alias proposal: %w", err)
	}
	return id, nil
}

// hold marks it as waiting on its spelling's proposal.
func hold(it *item, hb *heldBrand) heldRow {
	it.outcome = OutcomeReview
	it.reasons = append(it.reasons, fmt.Sprintf("held for review: brand %q may be the catalog's %q (brand-alias proposal %d: scentmatch review show %d)",
		hb.spelling, hb.brand, hb.proposal, hb.proposal))
	return heldRow{it: it, hb: hb}
}

// insertHeld queues the held records; a record already held for the same
// spelling is not queued twice.
func (b *batcher) insertHeld(ctx context.Context, tx pgx.Tx, held []heldRow) error {
	for _, h := range held {
		f := h.it.f
		record, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encoding a held record: %w", err)
		}
		reasons, _ := json.Marshal([]string{fmt.Sprintf("held: brand %q waits on brand-alias proposal %d (%q)", h.hb.spelling, h.hb.proposal, h.hb.brand)})
		if _, err := tx.Exec(ctx, `INSERT INTO review_queue (import_run_id, kind, alias_key, proposal_id, candidate, score, reasons, candidate_key)
			VALUES ($1, 'match', $2, $3, $4::jsonb, 0, $5::jsonb, $6)
			ON CONFLICT (alias_key, candidate_key) WHERE kind = 'match' AND fragrance_id IS NULL AND status = 'open' DO NOTHING`,
			b.runRef(), f.BrandKey, h.hb.proposal, postgres.JSONArg(record), postgres.JSONArg(reasons), candidateKey(f)); err != nil {
			return fmt.Errorf("holding a record for review: %w", err)
		}
	}
	return nil
}

// candidateKey identifies an incoming record in the review queue: its
// source identity, else its content.
func candidateKey(f *catalog.Fragrance) string {
	if f.Source != "" && f.SourceID != "" {
		return "id:" + f.Source + "|" + f.SourceID
	}
	return "hash:" + catalog.ContentHash(f)
}

// AliasDecision is what deciding a brand-alias proposal did.
type AliasDecision struct {
	Spelling string `json:"spelling"`
	BrandID  int64  `json:"brand_id"`
	Brand    string `json:"brand"`
	// Held is the number of records that waited on the proposal; Counts
	// their outcomes now (duplicate: merged into a catalog fragrance).
	Held   int            `json:"held_records"`
	Counts map[string]int `json:"counts"`
}

// decideAlias accepts (store the alias) or rejects (create the brand) the
// open proposal it, and decides the records it held again, in tx.
func (im *Importer) decideAlias(ctx context.Context, tx pgx.Tx, it *ReviewItem, accept bool, by string) (*AliasDecision, error) {
	d := &AliasDecision{Spelling: it.Alias, Counts: map[string]int{}}
	if accept {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM brands WHERE match_key = $1)`, it.AliasKey).Scan(&exists); err != nil {
			return nil, fmt.Errorf("looking up brand %q: %w", it.Alias, err)
		}
		if exists {
			return nil, fmt.Errorf("review %d: a brand spelt %q exists now, so it cannot become an alias; reject the proposal: %w", it.ID, it.Alias, ErrInvalid)
		}
		var owner int64
		err := tx.QueryRow(ctx, `INSERT INTO brand_aliases (alias_key, alias, brand_id) VALUES ($1, $2, $3)
			ON CONFLICT (alias_key) DO UPDATE SET alias_key = EXCLUDED.alias_key RETURNING brand_id`, it.AliasKey, it.Alias, it.BrandID).Scan(&owner)
		if err != nil {
			return nil, fmt.Errorf("storing the alias %q: %w", it.Alias, err)
		}
		if owner != it.BrandID {
			return nil, fmt.Errorf("review %d: %q is already an alias of brand %d: %w", it.ID, it.Alias, owner, ErrInvalid)
		}
		d.BrandID, d.Brand = it.BrandID, it.Brand
	} else {
		ids, err := ensureBrands(ctx, tx, map[string]string{it.AliasKey: it.Alias}, nil)
		if err != nil {
			return nil, err
		}
		d.BrandID, d.Brand = ids[it.AliasKey], it.Alias
	}
	status := "rejected"
	if accept {
		status = "accepted"
	}
	if _, err := tx.Exec(ctx, `UPDATE review_queue SET status = $2, resolved_at = $3, resolved_by = $4 WHERE id = $1`, it.ID, status, im.now(), by); err != nil {
		return nil, fmt.Errorf("closing review %d: %w", it.ID, err)
	}
	return d, im.redecideHeld(ctx, tx, it, d)
}

// redecideHeld decides every open record held by the proposal's spelling
// again, through the import's own match step, now that the spelling is an
// alias or a brand: each merges, is inserted, or goes to an ordinary
// review. The held rows are then removed (their records' fate is in the
// catalog, the merge log or a new review).
func (im *Importer) redecideHeld(ctx context.Context, tx pgx.Tx, p *ReviewItem, d *AliasDecision) error {
	rows, err := tx.Query(ctx, `SELECT id, candidate FROM review_queue
		WHERE kind = 'match' AND fragrance_id IS NULL AND alias_key = $1 AND status = 'open' ORDER BY id FOR UPDATE`, p.AliasKey)
	if err != nil {
		return fmt.Errorf("reading the records held by review %d: %w", p.ID, err)
	}
	var ids []int64
	var items []*item
	for rows.Next() {
		var id int64
		var record []byte
		if err := rows.Scan(&id, &record); err != nil {
			rows.Close()
			return fmt.Errorf("reading the records held by review %d: %w", p.ID, err)
		}
		f, err := decodeRecord(record)
		if err != nil {
			rows.Close()
			return fmt.Errorf("reading held review %d: %w", id, err)
		}
		ids, items = append(ids, id), append(items, &item{f: f})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the records held by review %d: %w", p.ID, err)
	}
	d.Held = len(items)
	if len(items) == 0 {
		return nil
	}
	brands, index, err := im.brandResolver(ctx, tx)
	if err != nil {
		return err
	}
	for _, it := range items {
		// What the validator does for a known spelling: the alias's brand.
		if name, key, _ := brands.Resolve(it.f.Brand); key != "" && key != it.f.BrandKey {
			moveToBrand(brands, it, matching.BrandResolution{Key: key, Name: name, Rule: fmt.Sprintf("alias accepted in review %d", p.ID)})
		}
	}
	if im.Matcher == nil {
		im.Matcher = matching.FuzzyMatcher{Bands: im.Config.Monitoring.MatchingOrDefault()}
	}
	stamp, err := catalogStamp(ctx, tx)
	if err != nil {
		return err
	}
	var runID int64
	if p.ImportRunID != nil {
		runID = *p.ImportRunID
	}
	b := &batcher{im: im, runID: runID, brands: brands, brandIndex: index, cache: newCandidateCache(), brandIDs: newBrandCache()}
	b.cache.begin(stamp)
	b.brandIDs.begin(stamp)
	if err := b.match(ctx, tx, items); err != nil {
		return fmt.Errorf("deciding the records held by review %d: %w", p.ID, err)
	}
	for _, it := range items {
		d.Counts[it.outcome]++
	}
	if _, err := tx.Exec(ctx, `DELETE FROM review_queue WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("removing the held rows of review %d: %w", p.ID, err)
	}
	return nil
}
