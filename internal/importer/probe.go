package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/matching"
)

// How a probed record relates to the catalog.
const (
	// PresentByIdentity: the catalog has the same source and source_id.
	PresentByIdentity = "identity"
	// PresentByMatch: the matcher would merge the record into a fragrance.
	PresentByMatch = "match"
	// PresentMaybe: the matcher would ask an operator (the review band).
	PresentMaybe = "review"
	// Missing: the import would insert the record.
	Missing = "missing"
	// Invalid: the record does not validate; the import would quarantine it.
	Invalid = "invalid"
)

// Presence is what the catalog knows of one record.
type Presence struct {
	How string
	// FragranceID is the catalog fragrance the record is (or may be).
	FragranceID int64
	Score       float64
	Reason      string
	// DataAt is when the fragrance's data was last written or confirmed
	// by a source (the later of its updated_at and its identities'
	// last_seen_at).
	DataAt time.Time
}

// Probe tells for each record whether the catalog already has it, by the
// rules an import applies (source identity first, then the matcher, with
// the configured brands and aliases), and writes nothing: it runs in a
// read-only transaction. Records that name no source take source.
func (im *Importer) Probe(ctx context.Context, source string, records []map[string]any) ([]Presence, error) {
	out := make([]Presence, len(records))
	if len(records) == 0 {
		return out, nil
	}
	if im.Matcher == nil {
		im.Matcher = matching.FuzzyMatcher{Bands: im.Config.Monitoring.MatchingOrDefault()}
	}
	err := pgx.BeginTxFunc(ctx, im.Pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		brands, brandIndex, err := im.brandResolver(ctx, tx)
		if err != nil {
			return err
		}
		v := &catalog.Validator{Quality: im.Config.Monitoring.Quality, Brands: brands, Source: source, Now: im.Now}
		items := make([]*item, len(records))
		var valid []*item
		var ids []identity
		allKeys := map[string]bool{}
		screen, _ := im.Matcher.(screener)
		for i, rec := range records {
			f, issues := v.Check(&dataset.Raw{Index: i + 1, Fields: rec})
			if f == nil {
				first, _ := catalog.FirstError(issues)
				out[i] = Presence{How: Invalid, Reason: first.String()}
				continue
			}
			it := &item{f: f}
			resolveBrand(brands, brandIndex, it)
			it.keys = im.Matcher.Keys(f)
			if screen != nil {
				it.tokens = matching.NameTokens(f)
			}
			items[i] = it
			valid = append(valid, it)
			if f.Source != "" && f.SourceID != "" {
				ids = append(ids, identity{Source: f.Source, SourceID: f.SourceID})
			}
			for _, k := range it.keys {
				allKeys[k] = true
			}
		}
		maxCands := im.Config.Monitoring.MatchingOrDefault().MaxCandidates
		byKey := map[string][]int64{}
		byIdentity, err := lookup(ctx, tx, ids, sortedKeys(allKeys), maxCands, byKey)
		if err != nil {
			return err
		}
		cs, err := loadCandidates(ctx, tx, screen, valid, nil, byKey, maxCands, newCandidateCache())
		if err != nil {
			return err
		}
		for i, it := range items {
			if it == nil {
				continue
			}
			f := it.f
			if fid, ok := byIdentity[identity{Source: f.Source, SourceID: f.SourceID}]; ok {
				out[i] = Presence{How: PresentByIdentity, FragranceID: fid, Score: 1, Reason: "same source and source_id"}
				continue
			}
			cands, err := cs.candidates(ctx, tx, it, byKey, maxCands)
			if err != nil {
				return err
			}
			d := im.Matcher.Match(f, cands)
			switch d.Kind {
			case matching.Merge:
				out[i] = Presence{How: PresentByMatch, FragranceID: d.Target, Score: d.Score, Reason: d.Reason}
			case matching.Review:
				out[i] = Presence{How: PresentMaybe, FragranceID: d.Target, Score: d.Score, Reason: d.Reason}
			default:
				out[i] = Presence{How: Missing}
			}
		}
		return dataAt(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("probing %d record(s) against the catalog: %w", len(records), err)
	}
	return out, nil
}

// dataAt fills DataAt for the fragrances found.
func dataAt(ctx context.Context, tx pgx.Tx, ps []Presence) error {
	var ids []int64
	for _, p := range ps {
		if p.FragranceID != 0 {
			ids = append(ids, p.FragranceID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT f.id, greatest(f.updated_at, max(si.last_seen_at)) FROM fragrances f
		LEFT JOIN source_identities si ON si.fragrance_id = f.id WHERE f.id = ANY($1::bigint[]) GROUP BY f.id`, ids)
	if err != nil {
		return fmt.Errorf("reading data ages: %w", err)
	}
	at := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var t time.Time
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return fmt.Errorf("reading data ages: %w", err)
		}
		at[id] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading data ages: %w", err)
	}
	for i := range ps {
		if ps[i].FragranceID != 0 {
			ps[i].DataAt = at[ps[i].FragranceID]
		}
	}
	return nil
}
