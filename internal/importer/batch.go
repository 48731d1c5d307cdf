package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// importLockID serialises the batches of concurrent imports, so two runs
// never both insert the same new product.
const importLockID int64 = 0x5ce2_1a70

// batcher processes the batches of one run.
type batcher struct {
	im     *Importer
	db     runDB
	opts   Options
	runID  int64
	brands *catalog.BrandResolver
	// brandIndex resolves the brand spellings brands does not know
	// (matching.BrandIndex); brands this run creates join it.
	brandIndex *matching.BrandIndex
	// inserted counts fragrances this run inserted; analyzedAt is the
	// count at the last ANALYZE.
	inserted, analyzedAt int
	// cache keeps candidate lists and screening columns across batches;
	// end is where the batch being processed leaves it.
	cache *candidateCache
	end   batchEnd
	// brandIDs keeps brand ids across batches the same way.
	brandIDs *brandCache
	// seen holds the identities (source, source_id) of the batches this
	// run committed; pendingSeen those of the batch being processed, added
	// once it commits. Kept in memory, not in a temporary table: through a
	// transaction pooler each batch may run on another server connection.
	// Keys are 12-byte digests, not the strings, in a seenSet: a
	// 1M-record import holds about 14 MB here (a map took 33 MB).
	seen        seenSet
	pendingSeen []seenKey
	// superseded counts the open quarantine rows of earlier runs this
	// run's committed batches replaced (the same records quarantined
	// again); pendingSuperseded those of the batch being processed.
	superseded, pendingSuperseded int
	// brandLineups files the catalog's brands by the names they list, for
	// brand-alias proposals (alias.go); loaded when first needed, for the
	// sources lineupSources names.
	brandLineups  *matching.BrandLineups
	lineupSources string
	// ahead is the second connection the next batch is prepared on while
	// this one writes (nil: one connection, no read-ahead); next is that
	// batch, ra its read-ahead, adopting the prepared batch being matched.
	ahead    *pgxpool.Conn
	next     []*item
	ra       *readAhead
	adopting *preparedBatch
	peeked   *peeked
}

// runRef is the run's id for the rows it writes (nil when a review
// decision redoes a batch whose run is gone).
func (b *batcher) runRef() *int64 {
	if b.runID == 0 {
		return nil
	}
	id := b.runID
	return &id
}

// batchEnd is what a batch tells the cache once it commits.
type batchEnd struct {
	stamp    int64 // catalog_changes after the batch's writes
	wrote    bool  // the batch wrote the catalog (stamp to read again)
	updated  bool  // the batch changed existing fragrances
	firstNew int64 // lowest id inserted (0: none)
}

// analyzeIfGrown refreshes the planner's statistics each time this run has
// doubled the fragrances it inserted: an import into an empty catalog would
// otherwise keep planning its lookups for an empty table (sequential scans
// where the indexes pay), until autovacuum catches up. Only the columns the
// import's lookups filter and join on are sampled (and the row counts
// refreshed): statistics of the notes, accords and other wide columns took
// 95% of the time, and autovacuum still analyzes the whole table, since a
// column list does not reset its change counter.
func (b *batcher) analyzeIfGrown(ctx context.Context) error {
	if b.inserted < 2*b.analyzedAt+1000 {
		return nil
	}
	if _, err := b.db.Exec(ctx, `ANALYZE fragrances (id, brand_id), source_identities (source, source_id, fragrance_id)`); err != nil {
		return fmt.Errorf("refreshing statistics: %w", err)
	}
	b.analyzedAt = b.inserted
	return nil
}

// mergeRow is one merge_log row to write.
type mergeRow struct {
	target   int64
	it       *item
	replaced map[string]any
	score    float64
	reason   string
}

// process writes one batch in one transaction; on error nothing of it
// stays. next is the batch after it (nil: none, or not read ahead), which
// may be prepared while this one writes.
func (b *batcher) process(ctx context.Context, items, next []*item) (err error) {
	ra := b.ra
	b.ra, b.next = nil, next
	defer func() {
		if err != nil {
			b.ra.stop()
			b.ra = nil
		}
	}()
	tx, err := b.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("starting transaction: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// The import lock, then where the catalog stands, in one round trip.
	var stamp int64
	q := &pgx.Batch{}
	q.Queue(`SELECT pg_advisory_xact_lock($1)`, importLockID)
	queueStamp(q, &stamp)
	if err := sendBatch(ctx, tx, q); err != nil {
		return fmt.Errorf("waiting for other imports: %w", err)
	}
	if ra.usable(items, stamp) {
		b.adopting = ra.p
	}
	b.cache.begin(stamp)
	b.brandIDs.begin(stamp)
	b.end = batchEnd{stamp: stamp}
	lap(ctx, "begin")
	b.pendingSeen = b.pendingSeen[:0]
	if err := b.quarantine(ctx, tx, items); err != nil {
		return err
	}
	lap(ctx, "quarantine")
	if err := b.match(ctx, tx, items); err != nil {
		return err
	}
	// Where the batch leaves the catalog, and the run's heartbeat (it
	// commits with the batch), in one round trip.
	q = &pgx.Batch{}
	if b.end.wrote {
		queueStamp(q, &b.end.stamp)
	}
	q.Queue(`UPDATE import_runs SET heartbeat_at = $2 WHERE id = $1`, b.runID, b.im.now())
	if err := sendBatch(ctx, tx, q); err != nil {
		return fmt.Errorf("recording the import run's progress: %w", err)
	}
	lap(ctx, "heartbeat")
	// The read-ahead must not see this batch's rows: its overlay adds them.
	if b.ra.settle() {
		b.ra = nil // stopped before it began: the next batch looks up itself
	} else if b.ra != nil && b.ra.err != nil {
		// The second connection failed: one connection for the rest of
		// the run.
		b.ra = nil
		b.ahead.Release()
		b.ahead = nil
	}
	lap(ctx, "wait for read-ahead")
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	lap(ctx, "commit")
	for _, k := range b.pendingSeen {
		b.seen.add(k)
	}
	b.superseded += b.pendingSuperseded
	if b.ra != nil {
		b.ra.after, b.ra.committed = b.end.stamp, true
	}
	b.cache.committed(b.end.stamp, b.end.updated, b.end.firstNew)
	b.brandIDs.committed(b.end.stamp)
	for _, it := range items {
		if it.outcome == OutcomeInserted {
			b.inserted++
		}
	}
	return nil
}

func (b *batcher) quarantine(ctx context.Context, tx pgx.Tx, items []*item) error {
	b.pendingSuperseded = 0
	var rows [][]any
	var indexes []int32
	for _, it := range items {
		if it.f != nil {
			for _, is := range it.issues {
				it.reasons = append(it.reasons, "warning: "+is.String())
			}
			continue
		}
		it.outcome = OutcomeRejected
		for _, is := range it.issues {
			it.reasons = append(it.reasons, string(is.Severity)+": "+is.String())
		}
		first, _ := catalog.FirstError(it.issues)
		var source, sourceID *string
		if s, ok := it.raw.Fields["source"].(string); ok && s != "" {
			source = &s
		} else if b.opts.Source != "" {
			source = &b.opts.Source
		}
		if s, ok := it.raw.Fields["source_id"].(string); ok && s != "" {
			s = sanitizeText(s, 500)
			sourceID = &s
		}
		record, altered := sanitizeRecord(it.raw, first.Rule)
		if altered == nil {
			altered = []string{}
		}
		indexes = append(indexes, int32(it.raw.Index))
		rows = append(rows, []any{b.runID, it.raw.Index, it.raw.Line, source, sourceID, first.Rule, nullStr(first.Field),
			sanitizeText(first.Message, 1000), sanitizeText(first.Excerpt, 200), string(record), altered})
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"quarantined_records"},
		[]string{"import_run_id", "record_index", "line", "source", "source_id", "rule", "field", "reason", "excerpt", "record", "altered"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("quarantining %d record(s): %w", len(rows), err)
	}
	// A record quarantined again supersedes its open rows of earlier runs,
	// so a rerun of a file, or the weekly cycle meeting the same upstream
	// faults, does not pile them up: the same record is the same source
	// and source_id, or, without a source_id (or too large to read one),
	// the same source and stored copy (record_hash, migration 00018).
	tag, err := tx.Exec(ctx, `UPDATE quarantined_records o SET status = 'discarded', resolved_at = $2
		FROM quarantined_records n
		WHERE n.import_run_id = $1 AND n.record_index = ANY($3::integer[])
		  AND o.status = 'open' AND o.import_run_id <> $1
		  AND (o.record_hash = n.record_hash AND o.source IS NOT DISTINCT FROM n.source
		       OR n.source_id IS NOT NULL AND o.source = n.source AND o.source_id = n.source_id)`,
		b.runID, b.im.now(), indexes)
	if err != nil {
		return fmt.Errorf("superseding earlier quarantine rows: %w", err)
	}
	b.pendingSuperseded = int(tag.RowsAffected())
	return nil
}

// match decides each valid record's fate and writes the batch.
func (b *batcher) match(ctx context.Context, tx pgx.Tx, items []*item) error {
	p := b.adopting
	b.adopting = nil
	adopted := p != nil
	if p == nil {
		var valid []*item
		for _, it := range items {
			if it.f != nil {
				valid = append(valid, it)
			}
		}
		if len(valid) == 0 {
			return nil
		}
		var err error
		if p, err = b.prepare(ctx, tx, valid, nil); err != nil {
			return err
		}
	}
	if len(p.valid) == 0 {
		return nil
	}
	if err := b.adopt(ctx, tx, p); err != nil {
		return err
	}
	if adopted {
		lap(ctx, "adopt read-ahead")
	}
	valid, ids := p.valid, p.ids
	// Spellings no rule resolves: a brand-alias proposal holds their records.
	heldBrands, err := b.proposeAliases(ctx, tx, valid)
	if err != nil {
		return err
	}
	// Which identities this run has already seen in earlier batches.
	firstInRun := b.markSeen(ids)
	maxCands := b.im.Config.Monitoring.MatchingOrDefault().MaxCandidates
	byKey := p.byKey
	byIdentity, mergedIn, byRecord := p.found.byIdentity, p.found.mergedIn, p.found.byRecord
	cs := p.plan.cs
	rows := cs.rows
	newRecs := map[recordKey]int64{}
	sib := groupSiblings(valid)
	picker, _ := b.im.Matcher.(versionPicker)

	// The per-identity maps are made at the batch's size: growing them
	// was 0.1 GB of a 200k import's allocations.
	var (
		pending      []*row                               // new fragrances, ids -1, -2, ...
		updates      = map[int64]bool{}                   // existing rows changed
		newIDs       = make(map[identity]int64, len(ids)) // identities to record
		merges       []mergeRow
		reviews      []reviewRow
		seenInBatch  = make(map[identity]bool, len(ids))
		newIdentURLs = make(map[identity]string, len(ids))
		held         []heldRow
	)
	// matchSibling is what the loop below decides for a later record of a
	// same-source group (ok false: it never reaches the matcher).
	matchSibling := func(m *item) (matching.Decision, bool, error) {
		f := m.f
		id := identity{Source: f.Source, SourceID: f.SourceID}
		hasID := f.Source != "" && f.SourceID != ""
		if heldBrands[f.BrandKey] != nil {
			return matching.Decision{}, false, nil // held by a brand-alias proposal, or known
		}
		if hasID {
			if seenInBatch[id] || !firstInRun[id] {
				return matching.Decision{}, false, nil
			}
			if _, ok := byIdentity[id]; ok {
				return matching.Decision{}, false, nil
			}
		} else if _, ok := byRecord[m.rec]; ok {
			return matching.Decision{}, false, nil
		}
		cands, err := cs.candidates(ctx, tx, m, byKey, maxCands)
		if err != nil {
			return matching.Decision{}, false, err
		}
		if !hasID && exactCopy(cands, rows, f.MatchKey, m.rec.hash) != 0 {
			return matching.Decision{}, false, nil
		}
		return b.im.Matcher.Match(f, cands), true, nil
	}
	for _, it := range valid {
		f := it.f
		id := identity{Source: f.Source, SourceID: f.SourceID}
		hasID := f.Source != "" && f.SourceID != ""
		if hb := heldBrands[f.BrandKey]; hb != nil {
			_, known := byIdentity[id]
			if !hasID {
				_, known = byRecord[it.rec]
			}
			if !known {
				held = append(held, hold(it, hb))
				continue
			}
		}
		if hasID && (seenInBatch[id] || !firstInRun[id]) {
			it.outcome = OutcomeDuplicate
			it.fid = byIdentity[id]
			if it.fid == 0 {
				it.fid = newIDs[id]
			}
			it.dupOf = it.fid
			it.reasons = append(it.reasons, "source_id "+f.SourceID+" appears earlier in this input")
			continue
		}
		if hasID {
			seenInBatch[id] = true
		}
		if fid, ok := byIdentity[id]; hasID && ok {
			r := rows[fid]
			next := r.Fragrance
			if mergedIn[id] {
				fill(&next, f)
			} else {
				overwrite(&next, f)
			}
			it.fid = fid
			if h := catalog.ContentHash(&next); h != r.ContentHash {
				r.Fragrance, r.ContentHash = next, h
				updates[fid] = true
				fileUnder(byKey, r.block.get(&r.Fragrance), fid)
				it.outcome = OutcomeUpdated
				it.reasons = append(it.reasons, "same source identity, content changed")
			} else {
				it.outcome = OutcomeUnchanged
			}
			continue
		}
		if !hasID {
			if fid, ok := byRecord[it.rec]; ok {
				it.outcome, it.fid = OutcomeUnchanged, fid
				it.reasons = append(it.reasons, fmt.Sprintf("the same record (source and content) was imported before as fragrance %d", fid))
				continue
			}
		}
		cands, err := cs.candidates(ctx, tx, it, byKey, maxCands)
		if err != nil {
			return err
		}
		// A record with no source identity that is an exact copy of a
		// catalog fragrance (same match key, same content) is that
		// fragrance: a re-import changes nothing and queues no review.
		if !hasID {
			if fid := exactCopy(cands, rows, f.MatchKey, it.rec.hash); fid != 0 {
				it.outcome, it.fid = OutcomeUnchanged, fid
				it.reasons = append(it.reasons, "identical to a catalog fragrance")
				newRecs[it.rec] = fid
				continue
			}
		}
		d := b.im.Matcher.Match(f, cands)
		if d, err = sib.decide(it, d, picker, rows, matchSibling); err != nil {
			return err
		}
		switch d.Kind {
		case matching.Merge:
			r := rows[d.Target]
			replaced := fill(&r.Fragrance, f)
			it.outcome, it.fid, it.dupOf = OutcomeDuplicate, d.Target, d.Target
			it.reasons = append(it.reasons, d.Reason)
			if h := catalog.ContentHash(&r.Fragrance); h != r.ContentHash {
				r.ContentHash = h
				if d.Target > 0 {
					updates[d.Target] = true
				}
				fileUnder(byKey, r.block.get(&r.Fragrance), d.Target)
			}
			if hasID {
				newIDs[id] = d.Target
				newIdentURLs[id] = f.URL
				r.Identities = append(r.Identities, id)
			} else {
				newRecs[it.rec] = d.Target
				r.Records = append(r.Records, identity{Source: it.rec.source, SourceID: it.rec.hash})
			}
			if len(replaced) > 0 || hasID {
				merges = append(merges, mergeRow{target: d.Target, it: it, replaced: replaced, score: d.Score, reason: d.Reason})
			}
		case matching.Review:
			it.outcome, it.dupOf = OutcomeReview, d.Target
			it.reasons = append(it.reasons, fmt.Sprintf("review (score %.3f): %s", d.Score, d.Reason))
			reviews = append(reviews, reviewRow{target: d.Target, it: it, score: d.Score, reason: d.Reason, cands: topCandidates(f, cands)})
		default:
			r := &row{ID: -int64(len(pending) + 1), Fragrance: *f, block: it.block}
			r.ContentHash = catalog.ContentHash(f)
			if hasID {
				r.Identities = []identity{id}
				newIDs[id] = r.ID
				newIdentURLs[id] = f.URL
			} else {
				newRecs[it.rec] = r.ID
				r.Records = []identity{{Source: it.rec.source, SourceID: it.rec.hash}}
			}
			pending = append(pending, r)
			rows[r.ID] = r
			fileUnder(byKey, r.block.get(&r.Fragrance), r.ID)
			it.outcome, it.fid = OutcomeInserted, r.ID
			if d.Reason != "" {
				it.reasons = append(it.reasons, d.Reason)
			}
		}
	}

	lap(ctx, "match (lookups, candidates, scoring)")
	brandNames := map[string]string{}
	brandAliases := map[string][]string{}
	for _, r := range pending {
		name, key, aliases := b.brands.Resolve(r.Fragrance.Brand)
		if key == r.Fragrance.BrandKey {
			brandNames[key] = name
			brandAliases[key] = aliases
		} else {
			brandNames[r.Fragrance.BrandKey] = r.Fragrance.Brand
		}
	}
	// Real ids for the new fragrances, and their brands' ids, in one round trip.
	var real []int64
	q := &pgx.Batch{}
	queueNextIDs(q, len(pending), &real)
	brandIDs := b.brandIDs.queue(q, brandNames, brandAliases)
	if err := sendBatch(ctx, tx, q); err != nil {
		return fmt.Errorf("reserving ids and brands: %w", err)
	}
	remap := func(id int64) int64 {
		if id < 0 {
			return real[-id-1]
		}
		return id
	}
	for _, it := range valid {
		it.fid, it.dupOf = remap(it.fid), remap(it.dupOf)
	}
	if b.brandIndex != nil {
		for _, name := range brandNames {
			b.brandIndex.Add(name)
		}
	}
	now := b.im.now()
	var cycleID *string
	if b.opts.CycleID != "" {
		cycleID = &b.opts.CycleID
	}
	writes := make([]write, 0, len(pending)+len(updates))
	for _, r := range pending {
		writes = append(writes, write{op: "insert", id: remap(r.ID), brandID: brandIDs[r.Fragrance.BrandKey], f: &r.Fragrance,
			hash: r.ContentHash, cycleID: cycleID, importRun: b.runRef(), keys: r.block.get(&r.Fragrance)})
	}
	for id := range updates {
		r := rows[id]
		writes = append(writes, write{op: "update", id: id, brandID: r.BrandID, f: &r.Fragrance, hash: r.ContentHash, keys: r.block.get(&r.Fragrance)})
	}
	// The next batch is prepared while this one writes, when its lookups
	// can be told what this batch changes (pipeline.go).
	if b.ahead != nil && b.next != nil && len(updates) == 0 {
		b.ra = b.startReadAhead(ctx, b.ahead, b.next, newOverlay(writes, newIDs, newRecs, merges, remap))
	}
	lap(ctx, "ids + brands")
	if err := applyWrites(ctx, tx, writes, now); err != nil {
		return err
	}
	if err := insertIdentities(ctx, tx, newIDs, newIdentURLs, remap, now); err != nil {
		return err
	}
	lap(ctx, "write source_identities")
	if err := insertRecords(ctx, tx, newRecs, remap, now); err != nil {
		return err
	}
	lap(ctx, "write record_identities")
	if err := b.insertReviews(ctx, tx, reviews, remap); err != nil {
		return err
	}
	if err := b.insertHeld(ctx, tx, held); err != nil {
		return err
	}
	if err := b.insertMerges(ctx, tx, merges, remap); err != nil {
		return err
	}
	lap(ctx, "write reviews + merges")
	b.end.wrote, b.end.updated = true, len(updates) > 0
	if len(real) > 0 {
		b.end.firstNew = real[0]
	}
	return nil
}

// exactCopy returns the candidate with match key matchKey and content hash
// hash (0: none).
func exactCopy(cands []matching.Candidate, rows map[int64]*row, matchKey, hash string) int64 {
	for _, c := range cands {
		if c.Fragrance.MatchKey != matchKey {
			continue
		}
		if r := rows[c.ID]; r != nil && r.ContentHash == hash {
			return c.ID
		}
	}
	return 0
}

// rankCandidates orders the fragrances filed under keys by how many keys
// they share (ties: first seen first, keys in order), and keeps at most max.
func rankCandidates(keys []string, byKey map[string][]int64, max int) []int64 {
	sc := rankPool.Get().(*rankScratch)
	defer sc.put()
	order, at := sc.order[:0], sc.at // order: in order of first appearance
	for ki, k := range keys {
		weight := 1
		if ki == 0 || matching.IsExactKey(k) {
			// keys[0] is the exact match key: such a fragrance always
			// makes the cut, however many flankers share its tokens.
			weight += len(keys)
		}
		for _, id := range byKey[k] {
			if i, ok := at[id]; ok {
				order[i].shared += weight
				continue
			}
			at[id] = len(order)
			order = append(order, rankedID{id, weight})
		}
	}
	sc.order = order
	// Stable: equal counts keep their order of first appearance.
	slices.SortStableFunc(order, func(a, b rankedID) int { return b.shared - a.shared })
	if len(order) > max {
		order = order[:max]
	}
	out := make([]int64, len(order))
	for i, r := range order {
		out[i] = r.id
	}
	return out
}

type rankedID struct {
	id     int64
	shared int
}

// rankScratch is rankCandidates' working space, reused from one call to
// the next (by the batch's goroutine and its read-ahead): a map made for
// each record was a fifth of the bytes a 200k import allocated.
type rankScratch struct {
	at    map[int64]int
	order []rankedID
}

var rankPool = sync.Pool{New: func() any { return &rankScratch{at: make(map[int64]int, 64)} }}

// put empties sc and returns it to the pool; one grown past a few
// thousand candidates is left to the collector instead.
func (sc *rankScratch) put() {
	if len(sc.at) > 4096 {
		return
	}
	clear(sc.at)
	sc.order = sc.order[:0]
	rankPool.Put(sc)
}

// screener is a Matcher that can rule a candidate out from its brand,
// name, match key, concentration and gender alone
// (matching.FuzzyMatcher.Excludes): such candidates are never loaded in
// full.
type screener interface {
	Excludes(f *catalog.Fragrance, ft []string, c *catalog.Fragrance, ct []string) bool
}

// candidateSet is what one batch loaded for matching: rows in full
// (identity matches, candidates the screener kept, this batch's new
// fragrances) and, with a screener, the other candidates' few columns.
type candidateSet struct {
	screen screener
	// records: the batch has records without a source_id, so candidates
	// carry the records that became them (row.Records).
	records bool
	rows    map[int64]*row
	light   map[int64]*lightRow
}

// lightRow is a candidate read as the columns a screener looks at, with
// its name's words.
type lightRow struct {
	f      catalog.Fragrance
	tokens []string
}

// loadCandidates loads only the rows matching will look at: identity
// matches, and each record's best-ranked candidates (most keys shared).
// With a screener, the candidates are read first as a few columns, and
// only those some record's hard rules do not exclude are loaded in full:
// most share a word with the record but are another product (a flanker,
// another number), and their notes, accords and identities would be read
// for nothing.
func loadCandidates(ctx context.Context, tx pgx.Tx, screen screener, valid []*item, byIdentity map[identity]int64,
	byKey map[string][]int64, max int, cache *candidateCache) (*candidateSet, error) {
	cp, err := planCandidates(ctx, tx, screen, valid, byIdentity, byKey, max, cache, nil)
	if err != nil {
		return nil, err
	}
	cache.rememberLight(cp.loadedLight)
	return cp.cs, nil
}

// candidatePlan is a candidateSet being loaded: which candidates each
// record ranks, which are loaded in full, and (read ahead) the ids left
// for the batch's own transaction.
type candidatePlan struct {
	cs     *candidateSet
	ranked [][]int64
	full   map[int64]bool
	// loadedLight are the screening columns read from the database, for
	// the cache.
	loadedLight map[int64]*lightRow
	// later are candidates neither screened nor loaded yet: the fragrances
	// the batch before wrote while this one was read ahead (finishLater).
	later map[int64]bool
}

// planCandidates is loadCandidates leaving out the candidates in later.
// Whether a candidate is loaded in full, and for which records the
// screener ruled it out, depends on that candidate alone (its columns, and
// the records in order), so the ones in later can be screened afterwards
// with the same result.
func planCandidates(ctx context.Context, tx pgx.Tx, screen screener, valid []*item, byIdentity map[identity]int64,
	byKey map[string][]int64, max int, cache *candidateCache, later map[int64]bool) (*candidatePlan, error) {
	cs := &candidateSet{screen: screen, light: map[int64]*lightRow{}}
	cp := &candidatePlan{cs: cs, full: map[int64]bool{}, later: later}
	full := cp.full
	for _, fid := range byIdentity {
		full[fid] = true
	}
	ranked := make([][]int64, len(valid))
	want := map[int64]bool{}
	for i, it := range valid {
		ranked[i] = rankCandidates(it.keys, byKey, max)
		for _, id := range ranked[i] {
			if !full[id] {
				want[id] = true
			}
		}
	}
	cp.ranked = ranked
	if screen == nil {
		for id := range want {
			full[id] = true
		}
	} else {
		light := make(map[int64]*lightRow, len(want))
		var missing []int64
		for id := range want {
			if later[id] {
				continue
			}
			if l, ok := cache.light[id]; ok {
				light[id] = l
			} else {
				missing = append(missing, id)
			}
		}
		loaded, err := loadLight(ctx, tx, missing)
		if err != nil {
			return nil, err
		}
		cp.loadedLight = loaded
		for id, l := range loaded {
			light[id] = l
		}
		cp.screen(valid, light)
	}
	var now []int64
	for id := range full {
		if !later[id] {
			now = append(now, id)
		}
	}
	rows, err := loadRows(ctx, tx, now)
	if err != nil {
		return nil, err
	}
	for _, it := range valid {
		if it.f.Source != "" && it.f.SourceID == "" {
			cs.records = true
			break
		}
	}
	if cs.records {
		if err := loadRecords(ctx, tx, rows); err != nil {
			return nil, err
		}
	}
	cs.rows = rows
	return cp, nil
}

// screen rules candidates out per record from their screening columns
// (light), records in order: a candidate some record does not exclude is
// loaded in full; the others stay light. Only candidates in light are
// looked at.
func (cp *candidatePlan) screen(valid []*item, light map[int64]*lightRow) {
	screen, full := cp.cs.screen, cp.full
	for i, it := range valid {
		for _, id := range cp.ranked[i] {
			l, ok := light[id]
			if !ok || full[id] {
				continue
			}
			if !exactKeyOf(it, l.f.MatchKey) && screen.Excludes(it.f, it.tokens, &l.f, l.tokens) {
				// Light rows do not change during the batch: remembered
				// for when the record is matched.
				if it.excluded == nil {
					it.excluded = map[int64]bool{}
				}
				it.excluded[id] = true
			} else {
				full[id] = true
			}
		}
	}
	for id, l := range light {
		if !full[id] {
			cp.cs.light[id] = l
		}
	}
}

// finishLater loads, in the batch's transaction, the candidates planned
// for later: in full (they are few), their screening columns taken from
// the full rows, then screened as planCandidates would have.
func (cp *candidatePlan) finishLater(ctx context.Context, tx pgx.Tx, valid []*item, cache *candidateCache) error {
	var ids []int64
	for i := range valid {
		for _, id := range cp.ranked[i] {
			if cp.later[id] {
				ids = append(ids, id)
			}
		}
	}
	for id := range cp.full {
		if cp.later[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	got, err := loadRows(ctx, tx, ids)
	if err != nil {
		return err
	}
	if cp.cs.records {
		if err := loadRecords(ctx, tx, got); err != nil {
			return err
		}
	}
	if cp.cs.screen != nil {
		light := map[int64]*lightRow{}
		for id, r := range got {
			if cp.full[id] {
				continue
			}
			f := &r.Fragrance
			l := &lightRow{f: catalog.Fragrance{BrandKey: f.BrandKey, Name: f.Name, MatchKey: f.MatchKey, Concentration: f.Concentration, Gender: f.Gender}}
			l.tokens = matching.NameTokens(&l.f)
			light[id] = l
		}
		cache.rememberLight(light)
		cp.screen(valid, light)
	} else {
		for id := range got {
			cp.full[id] = true
		}
	}
	for id, r := range got {
		if cp.full[id] {
			cp.cs.rows[id] = r
		}
	}
	return nil
}

func setIDs(set map[int64]bool) []int64 {
	out := make([]int64, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out
}

// candidates returns the loaded fragrances among the best-ranked under
// it's keys (rows includes this batch's new ones). A candidate read only
// as a few columns is left out when the screener excludes it, and loaded
// in full when not (it ranks higher now than when the batch began).
func (cs *candidateSet) candidates(ctx context.Context, tx pgx.Tx, it *item, byKey map[string][]int64, max int) ([]matching.Candidate, error) {
	ids := rankCandidates(it.keys, byKey, max)
	out := make([]matching.Candidate, 0, len(ids))
	for _, id := range ids {
		r, ok := cs.rows[id]
		if !ok {
			l, ok := cs.light[id]
			if !ok || it.excluded[id] || !exactKeyOf(it, l.f.MatchKey) && cs.screen.Excludes(it.f, it.tokens, &l.f, l.tokens) {
				continue
			}
			loaded, err := loadRows(ctx, tx, []int64{id})
			if err != nil {
				return nil, err
			}
			if cs.records {
				if err := loadRecords(ctx, tx, loaded); err != nil {
					return nil, err
				}
			}
			delete(cs.light, id)
			if r, ok = loaded[id]; !ok {
				continue
			}
			cs.rows[id] = r
		}
		out = append(out, matching.Candidate{ID: id, Fragrance: &r.Fragrance, Identities: r.Identities, Records: r.Records})
	}
	return out, nil
}

// exactKeyOf reports whether matchKey is one of it's keys: a candidate
// filed under an exact key of the record (its edition, another reading of
// its name) is never screened out by the name words it was read with.
func exactKeyOf(it *item, matchKey string) bool {
	for _, k := range it.keys {
		if k == matchKey {
			return true
		}
	}
	return false
}

// fileUnder registers a fragrance under its block keys for the rest of the batch.
func fileUnder(byKey map[string][]int64, keys []string, id int64) {
	for _, k := range keys {
		byKey[k] = appendID(byKey[k], id)
	}
}

// reviewRow is one review_queue row to write.
type reviewRow struct {
	target int64
	it     *item
	score  float64
	reason string
	cands  []ReviewCandidate
}

// insertReviews queues the gray-band records with both sides' data; a
// record already waiting on the same candidate is not queued twice.
func (b *batcher) insertReviews(ctx context.Context, tx pgx.Tx, reviews []reviewRow, remap func(int64) int64) error {
	for _, rv := range reviews {
		f := rv.it.f
		record, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("encoding review candidate: %w", err)
		}
		key := candidateKey(f)
		reasons, _ := json.Marshal([]string{rv.reason})
		for i := range rv.cands {
			rv.cands[i].FragranceID = remap(rv.cands[i].FragranceID)
		}
		cands, _ := json.Marshal(rv.cands)
		if rv.cands == nil {
			cands = []byte("[]")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO review_queue (import_run_id, fragrance_id, candidate, score, reasons, candidate_key, candidates)
			VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6, $7::jsonb) ON CONFLICT (fragrance_id, candidate_key) WHERE status = 'open' DO NOTHING`,
			b.runRef(), remap(rv.target), postgres.JSONArg(record), float32(rv.score), postgres.JSONArg(reasons), key, postgres.JSONArg(cands)); err != nil {
			return fmt.Errorf("queueing a review: %w", err)
		}
	}
	return nil
}

func appendID(list []int64, id int64) []int64 {
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

// markSeen returns the identities that no batch of this run committed
// before, and records them for when this batch commits.
func (b *batcher) markSeen(ids []identity) map[identity]bool {
	out := make(map[identity]bool, len(ids))
	for _, id := range ids {
		k := seenKeyOf(id)
		if !b.seen.has(k) {
			out[id] = true
			b.pendingSeen = append(b.pendingSeen, k)
		}
	}
	return out
}

func splitIdentities(ids []identity) ([]string, []string) {
	sources := make([]string, len(ids))
	sourceIDs := make([]string, len(ids))
	for i, id := range ids {
		sources[i], sourceIDs[i] = id.Source, id.SourceID
	}
	return sources, sourceIDs
}

// insertIdentities records new source identities by COPY: they were
// looked up in this transaction under importLockID, so none exists yet.
func insertIdentities(ctx context.Context, tx pgx.Tx, ids map[identity]int64, urls map[identity]string, remap func(int64) int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(ids))
	for id, fid := range ids {
		rows = append(rows, []any{id.Source, id.SourceID, remap(fid), nullStr(urls[id]), now, now})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"source_identities"},
		[]string{"source", "source_id", "fragrance_id", "url", "first_seen_at", "last_seen_at"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("recording source identities: %w", err)
	}
	return nil
}

// recordKey identifies a record without a source_id: its source and the
// content hash of the record as read.
type recordKey struct{ source, hash string }

// insertRecords remembers the fragrance each record without a source_id
// became; the first import of a record wins.
func insertRecords(ctx context.Context, tx pgx.Tx, recs map[recordKey]int64, remap func(int64) int64, now time.Time) error {
	if len(recs) == 0 {
		return nil
	}
	sources, hashes, fids := make([]string, 0, len(recs)), make([]string, 0, len(recs)), make([]int64, 0, len(recs))
	for k, fid := range recs {
		sources, hashes, fids = append(sources, k.source), append(hashes, k.hash), append(fids, remap(fid))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO record_identities (source, content_hash, fragrance_id, first_seen_at)
		SELECT s, h, f, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(s, h, f)
		ON CONFLICT (source, content_hash) DO NOTHING`, sources, hashes, fids, now); err != nil {
		return fmt.Errorf("recording records without a source_id: %w", err)
	}
	return nil
}

func (b *batcher) insertMerges(ctx context.Context, tx pgx.Tx, merges []mergeRow, remap func(int64) int64) error {
	if len(merges) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(merges))
	for _, m := range merges {
		record, err := json.Marshal(m.it.f)
		if err != nil {
			return fmt.Errorf("encoding merged record: %w", err)
		}
		replaced, err := json.Marshal(m.replaced)
		if err != nil {
			return fmt.Errorf("encoding replaced values: %w", err)
		}
		score := float32(m.score)
		rows = append(rows, []any{b.runRef(), remap(m.target), nullStr(m.it.f.Source), nullStr(m.it.f.SourceID), string(record), string(replaced), &score, m.reason})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"merge_log"},
		[]string{"import_run_id", "fragrance_id", "merged_source", "merged_source_id", "merged_record", "replaced", "score", "reason"},
		pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("writing the merge log: %w", err)
	}
	return nil
}

// resolveBrand moves a record whose brand spelling the catalog does not
// know to the catalog brand the brand index resolves it to ("Viktor&Rolf"
// to "Viktor Rolf", "Mugler" to "Thierry Mugler"), and takes that brand's
// names out of the record's name as the validator does for known brands.
func resolveBrand(brands *catalog.BrandResolver, index *matching.BrandIndex, it *item) {
	f := it.f
	if index == nil || index.Known(f.BrandKey) {
		return
	}
	r := index.ResolveWhy(f.Brand)
	if r.Key == "" || r.Key == f.BrandKey {
		return
	}
	moveToBrand(brands, it, r)
}

// moveToBrand moves it to the catalog brand r names, taking that brand's
// names out of its name.
func moveToBrand(brands *catalog.BrandResolver, it *item, r matching.BrandResolution) {
	f := it.f
	name, key, aliases := brands.Resolve(r.Name)
	if key != r.Key {
		name, aliases = r.Name, nil
	}
	it.reasons = append(it.reasons, fmt.Sprintf("brand %q resolved to %q (%s)", f.Brand, name, r.Rule))
	stripped := catalog.StripBrand(f.Name, append([]string{name}, aliases...)...)
	if stripped != "" {
		f.Name = stripped
	}
	f.Brand, f.BrandKey = name, key
	f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
}

// parenYear is a year in parentheses ending a listed name: "Infini (1970)".
var parenYear = regexp.MustCompile(`\((1[7-9]\d\d|20\d\d)\)\s*$`)

// statedYear takes the launch year a listing states in parentheses after
// the name ("Nocturnes (2023)"; the validator drops it from the name as
// decoration) as the record's year when it has none: upstreams mark a
// relaunch that way, and matching must not fold it into the original.
func statedYear(it *item) {
	if it.f.Year != nil || it.raw == nil {
		return
	}
	name, _ := it.raw.Fields["name"].(string)
	if m := parenYear.FindStringSubmatch(name); m != nil {
		if y, err := strconv.Atoi(m[1]); err == nil {
			it.f.Year = &y
		}
	}
}
