package importer

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
)

// Pipelining: while a batch writes (COPY of its fragrances, keys and
// identities, then commit), the next batch is prepared and its lookups
// run on a second connection (readAhead), in a read-only snapshot that
// cannot see the writing batch's rows. What the writing batch changes is
// known to it, as an overlay: its new fragrances filed under their keys,
// its identities, records and merges. The next batch takes the lookups
// with the overlay applied, and loads in its own transaction only the
// fragrances the overlay names (finishLater). It is used only when that
// gives exactly what the lookups would have found after the commit:
//
//   - the writing batch updated no existing fragrance (an update refiles
//     keys and changes rows the overlay does not describe);
//   - nothing else wrote the catalog in between: the catalog stamp the
//     next batch reads under the import lock is the one the writing batch
//     left, as for the candidate cache;
//   - not in a dry run (its batches never commit) and only with a pool of
//     two connections or more.
//
// Otherwise the next batch looks everything up itself, as before.

// blockKeyer is a matcher whose candidate keys begin with the record's
// block keys (matching.FuzzyMatcher): the importer computes those once and
// files a new fragrance under them.
type blockKeyer interface {
	KeysAfter(f *catalog.Fragrance, block []string) []string
}

// preparedBatch is a batch's valid records with what matching needs
// looked up and loaded.
type preparedBatch struct {
	valid   []*item
	ids     []identity
	missing []string // keys looked up (not in the candidate cache)
	byKey   map[string][]int64
	found   *lookups
	plan    *candidatePlan
}

// prepare resolves brands and stated years, computes each record's keys,
// looks up identities, candidates and records, and plans the candidates
// (planCandidates) on db. With an overlay (read ahead of ov's batch), the
// overlay is applied to the lookups and the fragrances it names are left
// for later. The candidate cache is only read here: what the batch read
// joins it in adopt, on the batch's own goroutine.
func (b *batcher) prepare(ctx context.Context, db pgx.Tx, valid []*item, ov *overlay) (*preparedBatch, error) {
	p := &preparedBatch{valid: valid}
	for _, it := range valid {
		resolveBrand(b.brands, b.brandIndex, it)
		statedYear(it)
		it.excluded = nil
	}
	for _, it := range valid {
		if it.f.Source != "" && it.f.SourceID != "" {
			p.ids = append(p.ids, identity{Source: it.f.Source, SourceID: it.f.SourceID})
		}
	}
	// Each record's candidate keys, computed once for lookup, loading and matching.
	screen, _ := b.im.Matcher.(screener)
	after, _ := b.im.Matcher.(blockKeyer)
	n := 0
	for _, it := range valid {
		if after != nil {
			it.keys = after.KeysAfter(it.f, it.block.get(it.f))
		} else {
			it.keys = b.im.Matcher.Keys(it.f)
		}
		n += len(it.keys)
		if screen != nil {
			it.tokens = matching.NameTokens(it.f)
		}
	}
	keys := make(map[string]bool, n)
	for _, it := range valid {
		for _, k := range it.keys {
			keys[k] = true
		}
	}
	maxCands := b.im.Config.Monitoring.MatchingOrDefault().MaxCandidates
	p.byKey = make(map[string][]int64, len(keys))
	p.missing = b.cache.split(sortedKeys(keys), p.byKey)
	// Records without a source identity that an earlier import already
	// made into a fragrance, by source and content.
	var recs []recordKey
	for _, it := range valid {
		if it.f.Source == "" || it.f.SourceID == "" {
			it.rec = recordKey{source: it.f.Source, hash: catalog.ContentHash(it.f)}
			recs = append(recs, it.rec)
		} else {
			it.rec = recordKey{}
		}
	}
	var err error
	p.found, err = lookupAll(ctx, db, lookupQuery{ids: p.ids, keys: p.missing, perKey: maxCands, recs: recs}, p.byKey)
	if err != nil {
		return nil, err
	}
	var later map[int64]bool
	if ov != nil {
		ov.apply(p, keys, recs, maxCands)
		later = ov.touched
	}
	p.plan, err = planCandidates(ctx, db, screen, valid, p.found.byIdentity, p.byKey, maxCands, b.cache, later)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// adopt makes a prepared batch the batch's: the candidate cache learns
// what was read, and the candidates left for later are loaded in tx.
func (b *batcher) adopt(ctx context.Context, tx pgx.Tx, p *preparedBatch) error {
	maxCands := b.im.Config.Monitoring.MatchingOrDefault().MaxCandidates
	b.cache.remember(p.missing, p.byKey, maxCands)
	b.cache.rememberLight(p.plan.loadedLight)
	if len(p.plan.later) == 0 {
		return nil
	}
	return p.plan.finishLater(ctx, tx, p.valid, b.cache)
}

// overlay is what a batch wrote, as the next batch's lookups would find
// it once the batch commits.
type overlay struct {
	byKey      map[string][]int64 // new fragrances by key, ascending ids
	byIdentity map[identity]int64
	mergedIn   map[identity]bool
	byRecord   map[recordKey]int64
	// touched are the new fragrances and the existing ones that gained
	// an identity or a record: loaded by the next batch itself.
	touched map[int64]bool
}

// newOverlay describes a batch's writes (ids already real; the new
// fragrances' keys computed).
func newOverlay(writes []write, newIDs map[identity]int64, newRecs map[recordKey]int64, merges []mergeRow, remap func(int64) int64) *overlay {
	n := 0
	for _, w := range writes {
		n += len(w.keys)
	}
	ov := &overlay{byKey: make(map[string][]int64, n), byIdentity: make(map[identity]int64, len(newIDs)), mergedIn: map[identity]bool{},
		byRecord: map[recordKey]int64{}, touched: make(map[int64]bool, len(writes)+len(newIDs)+len(newRecs))}
	for _, w := range writes {
		if w.op != "insert" {
			continue
		}
		ov.touched[w.id] = true
		for _, k := range w.keys {
			ov.byKey[k] = append(ov.byKey[k], w.id)
		}
	}
	for k, l := range ov.byKey {
		slices.Sort(l)
		ov.byKey[k] = slices.Compact(l)
	}
	for id, fid := range newIDs {
		ov.byIdentity[id] = remap(fid)
		ov.touched[remap(fid)] = true
	}
	for rec, fid := range newRecs {
		ov.byRecord[rec] = remap(fid)
		ov.touched[remap(fid)] = true
	}
	for _, m := range merges {
		if f := m.it.f; f.Source != "" && f.SourceID != "" {
			ov.mergedIn[identity{Source: f.Source, SourceID: f.SourceID}] = true
		}
	}
	return ov
}

// apply adds the overlay to lookups made before its batch committed.
func (ov *overlay) apply(p *preparedBatch, keys map[string]bool, recs []recordKey, perKey int) {
	for _, id := range p.ids {
		if fid, ok := ov.byIdentity[id]; ok {
			p.found.byIdentity[id] = fid
		}
		if ov.mergedIn[id] {
			p.found.mergedIn[id] = true
		}
	}
	for _, rec := range recs {
		if _, ok := p.found.byRecord[rec]; ok {
			continue // the first import of a record wins
		}
		if fid, ok := ov.byRecord[rec]; ok {
			p.found.byRecord[rec] = fid
		}
	}
	for k := range keys {
		if extra := ov.byKey[k]; len(extra) > 0 {
			p.byKey[k] = mergeIDs(p.byKey[k], extra, perKey)
		}
	}
}

// mergeIDs returns the at most max lowest ids of two ascending lists,
// ascending, without duplicates, in a new slice: what a lookup of the key
// (its max lowest ids) returns once both lists are filed under it.
func mergeIDs(a, b []int64, max int) []int64 {
	out := make([]int64, 0, min(len(a)+len(b), max))
	i, j := 0, 0
	for len(out) < max && (i < len(a) || j < len(b)) {
		var x int64
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			x = a[i]
			i++
		case i >= len(a) || b[j] < a[i]:
			x = b[j]
			j++
		default:
			x = a[i]
			i++
			j++
		}
		if n := len(out); n == 0 || out[n-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// readAhead is the next batch being prepared on the second connection.
type readAhead struct {
	items  []*item
	valid  []*item
	cancel context.CancelFunc
	// begun is closed once the read-ahead holds its connection (its
	// transaction began); done once it finished.
	begun, done chan struct{}
	p           *preparedBatch
	err         error
	// after is the catalog stamp the writing batch left (set when it
	// commits): the prepared batch is valid only if the next batch finds
	// the catalog there.
	after     int64
	committed bool
}

// startReadAhead prepares items on conn (a connection of its own) in a
// read-only snapshot, with ov applied, while the caller writes.
func (b *batcher) startReadAhead(ctx context.Context, conn *pgxpool.Conn, items []*item, ov *overlay) *readAhead {
	ra := &readAhead{items: items, begun: make(chan struct{}), done: make(chan struct{})}
	for _, it := range items {
		if it.f != nil {
			ra.valid = append(ra.valid, it)
		}
	}
	ctx, ra.cancel = context.WithCancel(withoutPhases(ctx))
	go func() {
		defer close(ra.done)
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			ra.err = fmt.Errorf("reading ahead: %w", err)
			return
		}
		defer tx.Rollback(context.Background()) //nolint:errcheck
		close(ra.begun)
		ra.p, ra.err = b.prepare(ctx, tx, ra.valid, ov)
	}()
	return ra
}

// settle is called before the writing batch commits: the read-ahead
// must not see its rows. One that holds its connection finishes (reads
// wait on no lock); one still waiting for a connection (a transaction
// pooler with a single server connection gives it none until this batch
// commits) is stopped, and reports whether it was.
func (ra *readAhead) settle() (stopped bool) {
	if ra == nil {
		return false
	}
	select {
	case <-ra.begun:
		<-ra.done
		return false
	case <-ra.done:
		return false
	default:
		ra.stop()
		return true
	}
}

// stop abandons the read-ahead and waits for it.
func (ra *readAhead) stop() {
	if ra != nil {
		ra.cancel()
		<-ra.done
	}
}

// usable reports whether the read-ahead prepared exactly these items and
// the catalog is where the writing batch left it.
func (ra *readAhead) usable(items []*item, stamp int64) bool {
	if ra == nil || ra.err != nil || ra.p == nil || !ra.committed || ra.after != stamp || len(items) != len(ra.items) {
		return false
	}
	for i := range items {
		if items[i] != ra.items[i] {
			return false
		}
	}
	return true
}

// peek receives the batch after the current one, so that it can be
// prepared while the current one writes (only with a second connection):
// its items, or nil when there is none or it failed to read.
func (b *batcher) peek(ctx context.Context, batches <-chan readBatch) []*item {
	if b.ahead == nil {
		return nil
	}
	rb, ok := <-batches
	lap(ctx, "wait for read + validate")
	b.peeked = &peeked{rb, ok}
	if !ok || rb.err != nil {
		return nil
	}
	return rb.items
}

// peeked is a batch received ahead of its turn (ok false: none left).
type peeked struct {
	rb readBatch
	ok bool
}

// following returns the batch after the current one: the one peeked, or
// the next one received.
func (b *batcher) following(batches <-chan readBatch) (readBatch, bool) {
	if pk := b.peeked; pk != nil {
		b.peeked = nil
		return pk.rb, pk.ok
	}
	rb, ok := <-batches
	return rb, ok
}

func withoutPhases(ctx context.Context) context.Context {
	return context.WithValue(ctx, phasesKey{}, (*Phases)(nil))
}
