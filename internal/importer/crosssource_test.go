package importer_test

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/matching"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

// crossFigures are one half's cross-source scores.
type crossFigures struct {
	records, truePairs        int
	links, rightLinks, review int
	merges, rightMerges       int // links by merge alone (reviews left out)
	naiveLinks, naiveRight    int
	brands, brandTruth        int // distinct source brands; those with a catalog brand in the truth
	brandResolved, brandRight int
	wrong, missed             []string // examples, for tuning (printed with -v on the tuning half only)
}

func (c crossFigures) precision() float64 { return ratio(c.rightLinks, c.links) }
func (c crossFigures) recall() float64    { return ratio(c.rightLinks, c.truePairs) }
func (c crossFigures) reviewRate() float64 {
	return ratio(c.review, c.records)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// readCSV reads a (gzipped) CSV file's header and rows.
func readCSV(t *testing.T, name string) ([]string, [][]string) {
	t.Helper()
	p, err := shareddata.Path(name)
	require.NoError(t, err)
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(f)
		require.NoError(t, err)
		r = gz
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	all, err := cr.ReadAll()
	require.NoError(t, err)
	return all[0], all[1:]
}

func column(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	panic("no column " + name)
}

// halfOf splits brands by an FNV-1a hash of the folded catalog brand: one
// brand never sits in both halves.
func halfOf(catalogBrand string) string {
	h := fnv.New32a()
	h.Write([]byte(catalog.Fold(catalogBrand)))
	if h.Sum32()%2 == 0 {
		return "tune"
	}
	return "heldout"
}

// TestCrossSourceMatching imports the real catalog-37k, then
// catalog2026-13k (a later scrape of the same upstream with other brand
// forms, accents kept, brands cut into names) through the real importer,
// and scores each catalog2026 record's report-line link against
// catalog2026-13k.truth.csv: precision, recall, review rate, brand
// resolution, on the tuning half and the held-out half of the brands, with
// the naive exact key (folded brand + name) as the baseline. It asserts the
// issue-18 targets on the held-out half.
func TestCrossSourceMatching(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 51k real records")
	}
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	// 1. The catalog.
	p37, err := shareddata.Path("catalog-37k.csv.gz")
	require.NoError(t, err)
	start := time.Now()
	sum, lines37, err := b.run(t, p37, catalogMap, importer.Options{Source: "catalog37k"})
	require.NoError(t, err)
	t.Logf("catalog-37k: %d records in %.1fs: %v", sum.Records, time.Since(start).Seconds(), sum.Counts)
	h37, rows37 := readCSV(t, "catalog-37k.csv.gz")
	require.Len(t, lines37, len(rows37), "one report line per catalog row")
	bi, ni := column(h37, "brand"), column(h37, "perfume")
	fid37 := make([]int64, len(rows37))
	catalogFID := map[int64]bool{}
	groupFIDs := map[string][]int64{} // folded brand + name -> the fragrances of those rows
	for i, l := range lines37 {
		require.Equal(t, i+1, l.Index)
		if l.FragranceID != nil {
			fid37[i] = *l.FragranceID
			catalogFID[*l.FragranceID] = true
			k := catalog.Fold(rows37[i][bi]) + "|" + catalog.Fold(rows37[i][ni])
			groupFIDs[k] = append(groupFIDs[k], *l.FragranceID)
		}
	}
	// The brand list a later import resolves against (catalog and
	// configured brands, with their aliases), as the importer loads it, and
	// each catalog fragrance's brand as stored.
	brandIndex := loadBrandIndex(t, b)
	brandOf := map[int64]string{}
	rows, err := b.pool.Query(ctx, `SELECT f.id, b.match_key FROM fragrances f JOIN brands b ON b.id = f.brand_id`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var k string
		require.NoError(t, rows.Scan(&id, &k))
		brandOf[id] = k
	}
	require.NoError(t, rows.Err())

	// 2. The second source.
	p26, err := shareddata.Path("catalog2026-13k.csv.gz")
	require.NoError(t, err)
	start = time.Now()
	sum, lines26, err := b.run(t, p26, nil, importer.Options{Source: "catalog2026"})
	require.NoError(t, err)
	t.Logf("catalog2026-13k: %d records in %.1fs: %v", sum.Records, time.Since(start).Seconds(), sum.Counts)
	// Brand-alias proposals: a spelling no rule resolves whose records
	// share distinctive names with one catalog brand. Its records wait in
	// review (held) and are scored as reviews: no link.
	props, err := b.im.ListReviews(ctx, false, 1000)
	require.NoError(t, err)
	for _, p := range props {
		if p.Kind == importer.KindBrandAlias {
			t.Logf("brand-alias proposal %d: %q -> %q, %d records held: %s", p.ID, p.Alias, p.Brand, p.HeldRecords, p.Reasons[0])
		}
	}
	h26, rows26 := readCSV(t, "catalog2026-13k.csv.gz")
	require.Len(t, lines26, len(rows26))
	b26, n26 := column(h26, "brand"), column(h26, "name")
	_, truth := readCSV(t, "catalog2026-13k.truth.csv")
	require.Len(t, truth, len(rows26))

	// Each source brand's catalog brand: the stored brand most of its true
	// pairs belong to (the split and the brand-resolution truth).
	// The split hashes the catalog file's own brand spelling, so no
	// change to the importer moves a brand from one half to the other.
	votes, rawVotes := map[string]map[string]int{}, map[string]map[string]int{}
	for i, tr := range truth {
		if tr[1] == "" {
			continue
		}
		cr, err := strconv.Atoi(tr[1])
		require.NoError(t, err)
		src := rows26[i][b26]
		if votes[src] == nil {
			votes[src], rawVotes[src] = map[string]int{}, map[string]int{}
		}
		votes[src][brandOf[fid37[cr]]]++
		rawVotes[src][catalog.Fold(rows37[cr][bi])]++
	}
	majority := func(v map[string]int) string {
		best, n := "", 0
		for k, c := range v {
			if c > n || c == n && k < best {
				best, n = k, c
			}
		}
		return best
	}
	brandTruth, splitBrand := map[string]string{}, map[string]string{}
	for src, v := range votes {
		brandTruth[src], splitBrand[src] = majority(v), majority(rawVotes[src])
	}
	half := func(src string) string {
		if c, ok := splitBrand[src]; ok {
			return halfOf(c)
		}
		return halfOf(src)
	}

	// The naive exact key: folded brand + name, against any catalog row.
	naive := map[string]int64{}
	for i, r := range rows37 {
		k := catalog.Fold(r[bi]) + "|" + catalog.Fold(r[ni])
		if _, ok := naive[k]; !ok && fid37[i] != 0 {
			naive[k] = fid37[i]
		}
	}

	figs := map[string]*crossFigures{"tune": {}, "heldout": {}}
	seenBrand := map[string]bool{}
	for i, r := range rows26 {
		src := r[b26]
		fg := figs[half(src)]
		fg.records++
		if !seenBrand[src] {
			seenBrand[src] = true
			fg.brands++
			got, ok := brandIndex.Resolve(src)
			want, has := brandTruth[src]
			if has {
				fg.brandTruth++
			}
			if ok && has {
				fg.brandResolved++
				if got == want {
					fg.brandRight++
				}
			}
			if has && got != want || !has && ok {
				fg.wrong = append(fg.wrong, fmt.Sprintf("BRAND %s -> %q (%v), truth %q", src, got, ok, want))
			}
		}
		right := map[int64]bool{}
		if cr := truth[i][1]; cr != "" {
			c, _ := strconv.Atoi(cr)
			fg.truePairs++
			for _, id := range groupFIDs[catalog.Fold(rows37[c][bi])+"|"+catalog.Fold(rows37[c][ni])] {
				right[id] = true
			}
			right[fid37[c]] = true
		}
		l := lines26[i]
		require.Equal(t, i+1, l.Index)
		// The rule: duplicate_of (a review's too: its top
		// candidate), else fragrance_id for duplicate, updated, unchanged.
		var link int64
		if l.Outcome == importer.OutcomeReview {
			fg.review++
		}
		switch {
		case l.DuplicateOf != nil:
			link = *l.DuplicateOf
		case l.FragranceID != nil && l.Outcome != importer.OutcomeInserted:
			link = *l.FragranceID
		}
		if link != 0 && catalogFID[link] && l.Outcome != importer.OutcomeReview {
			fg.merges++
			if right[link] {
				fg.rightMerges++
			}
		}
		desc := fmt.Sprintf("%s / %s -> %d (%s)", src, r[n26], link, strings.Join(l.Reasons, "; "))
		if cr := truth[i][1]; cr != "" {
			c, _ := strconv.Atoi(cr)
			desc += fmt.Sprintf(" truth: %s / %s", rows37[c][bi], rows37[c][ni])
		}
		if link != 0 && catalogFID[link] {
			fg.links++
			if right[link] {
				fg.rightLinks++
			} else {
				fg.wrong = append(fg.wrong, desc)
			}
		} else if len(right) > 0 {
			fg.missed = append(fg.missed, l.Outcome+": "+desc)
		}
		if id, ok := naive[catalog.Fold(src)+"|"+catalog.Fold(r[n26])]; ok {
			fg.naiveLinks++
			if right[id] {
				fg.naiveRight++
			}
		}
	}
	for _, h := range []string{"tune", "heldout"} {
		fg := figs[h]
		t.Logf("%-8s merges alone (a review's candidate not counted): precision %.4f recall %.4f", h,
			ratio(fg.rightMerges, fg.merges), ratio(fg.rightMerges, fg.truePairs))
		t.Logf("%-8s records %5d, true pairs %4d | matcher precision %.4f recall %.4f review %.2f%% (%d links, %d wrong) | naive key precision %.4f recall %.4f | brands %d: resolution precision %.4f recall %.4f",
			h, fg.records, fg.truePairs, fg.precision(), fg.recall(), 100*fg.reviewRate(), fg.links, fg.links-fg.rightLinks,
			ratio(fg.naiveRight, fg.naiveLinks), ratio(fg.naiveRight, fg.truePairs),
			fg.brands, ratio(fg.brandRight, fg.brandResolved), ratio(fg.brandRight, fg.brandTruth))
	}
	if out := os.Getenv("SCENTMATCH_CROSS_DUMP"); out != "" {
		// Tuning aid: the tuning half's wrong links and misses only.
		tune := figs["tune"]
		sort.Strings(tune.wrong)
		sort.Strings(tune.missed)
		dump := "WRONG\n" + strings.Join(tune.wrong, "\n") + "\nMISSED\n" + strings.Join(tune.missed, "\n") + "\n"
		require.NoError(t, os.WriteFile(out, []byte(dump), 0o644))
	}

	// What accepting the proposals does with the records they hold.
	for _, p := range props {
		if p.Kind == importer.KindBrandAlias {
			res, err := b.im.Resolve(ctx, p.ID, true, "crosssource")
			require.NoError(t, err)
			t.Logf("accepting proposal %d (%q -> %q): %d held records now %v", p.ID, p.Alias, p.Brand, res.Alias.Held, res.Alias.Counts)
		}
	}

	// Held-out floors: what the matcher measured on the held-out half
	// (0.9158 / 0.8238 / 4.53% when this test was written, 0.906 / 0.835 /
	// 5.2% over the whole file as issue 18 says; 0.977 / 0.917 / 1.31%
	// with brand resolution and editions; 0.985 / 0.910 / 1.28% once a
	// source listing one name twice keeps two products; 0.9927 / 0.9306 /
	// 1.28% with the name's other readings as exact keys and same-source
	// versions decided together, 1.62% to review once brand-alias
	// proposals hold their records there), rounded down (the review rate
	// up), so a regression fails.
	ho := figs["heldout"]
	require.GreaterOrEqual(t, ho.precision(), crossFloor.precision, "held-out precision")
	require.GreaterOrEqual(t, ho.recall(), crossFloor.recall, "held-out recall")
	require.LessOrEqual(t, ho.reviewRate(), crossFloor.review, "held-out review rate")
}

// crossFloor is what the held-out half must reach.
var crossFloor = struct{ precision, recall, review float64 }{0.99, 0.93, 0.0175}

// loadBrandIndex reads the catalog's brands and aliases, and the
// configured ones, as the importer does before a run.
func loadBrandIndex(t *testing.T, b *bundle) *matching.BrandIndex {
	t.Helper()
	idx := matching.NewBrandIndex()
	rows, err := b.pool.Query(context.Background(), `SELECT b.name, coalesce(array_agg(a.alias) FILTER (WHERE a.alias IS NOT NULL), '{}')
		FROM brands b LEFT JOIN brand_aliases a ON a.brand_id = b.id GROUP BY b.id ORDER BY b.id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var name string
		var aliases []string
		require.NoError(t, rows.Scan(&name, &aliases))
		idx.Add(name, aliases...)
	}
	require.NoError(t, rows.Err())
	for _, br := range settings.Default().Brands.Brands {
		idx.Add(br.Name, br.Aliases...)
	}
	return idx
}
