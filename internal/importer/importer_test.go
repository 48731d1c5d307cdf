package importer_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var catalogMap = map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}

type bundle struct {
	pool *pgxpool.Pool
	im   *importer.Importer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool := dbtest.Pool(t)
	return &bundle{pool: pool, im: &importer.Importer{Pool: pool, Config: settings.Default(), Logger: logging.Discard()}}
}

func (b *bundle) run(t *testing.T, path string, m map[string]string, opts importer.Options) (*importer.Summary, []importer.ReportLine, error) {
	t.Helper()
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: m})
	require.NoError(t, err)
	defer r.Close()
	var report bytes.Buffer
	opts.Report = &report
	sum, err := b.im.Import(context.Background(), r, opts)
	var lines []importer.ReportLine
	sc := bufio.NewScanner(&report)
	for sc.Scan() {
		var l importer.ReportLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		lines = append(lines, l)
	}
	return sum, lines, err
}

// snapshot is every catalog table's content, to compare runs.
func snapshot(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range map[string]string{
		"fragrances":        "SELECT id, brand_id, name, match_key, concentration, gender, year, notes_top, notes_middle, notes_base, notes_unsorted, accords, perfumers, rating, votes, url, description, content_hash, updated_at FROM fragrances",
		"brands":            "SELECT id, name, match_key FROM brands",
		"brand_aliases":     "SELECT alias_key, brand_id FROM brand_aliases",
		"source_identities": "SELECT source, source_id, fragrance_id, last_seen_at FROM source_identities",
		"merge_log":         "SELECT id, fragrance_id, merged_source, merged_source_id, replaced FROM merge_log",
	} {
		var digest string
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM ("+q+") t").Scan(&digest))
		out[q[strings.LastIndex(q, " ")+1:]] = digest
	}
	return out
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}

// sliceOfCatalog writes the first n data rows of the real 37k catalog.
func sliceOfCatalog(t *testing.T, n int) string {
	t.Helper()
	src, err := shareddata.Path("catalog-37k.csv.gz")
	require.NoError(t, err)
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	path := filepath.Join(t.TempDir(), "slice.csv")
	out, err := os.Create(path)
	require.NoError(t, err)
	defer out.Close()
	for i := 0; i <= n && sc.Scan(); i++ {
		fmt.Fprintln(out, sc.Text())
	}
	return path
}

func TestImportOfRealCatalogSliceIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := sliceOfCatalog(t, 1200)
	sum, lines, err := b.run(t, path, catalogMap, importer.Options{Source: "catalog37k", BatchSize: 250})
	require.NoError(t, err)
	require.Equal(t, 1200, sum.Records)
	require.Len(t, lines, 1200, "one report line per record")
	for i, l := range lines {
		require.Equal(t, i+1, l.Index)
		require.Equal(t, i+2, l.Line, "CSV rows start on line 2")
	}
	require.Equal(t, sum.Counts["inserted"], count(t, b.pool, "SELECT count(*) FROM fragrances"))
	require.Equal(t, sum.Counts["inserted"], count(t, b.pool, "SELECT count(*) FROM source_identities WHERE source = 'catalog37k'"))
	require.Positive(t, sum.Counts["inserted"])
	require.Equal(t, 100.0, sum.ImportSuccessRate)
	before := snapshot(t, b.pool)

	again, lines2, err := b.run(t, path, catalogMap, importer.Options{Source: "catalog37k", BatchSize: 97})
	require.NoError(t, err)
	require.Zero(t, again.Counts["inserted"])
	require.Zero(t, again.Counts["updated"])
	require.Equal(t, sum.Counts["inserted"], again.Counts["unchanged"])
	require.Equal(t, sum.Counts["duplicate"], again.Counts["duplicate"])
	require.Equal(t, sum.Counts["rejected"], again.Counts["rejected"])
	require.Equal(t, before, snapshot(t, b.pool), "a second import changes no table")
	for i := range lines {
		require.Equal(t, lines[i].FragranceID, lines2[i].FragranceID)
	}
	// Both runs are recorded with their counts.
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM import_runs WHERE status = 'succeeded'"))
}

// TestResolvedReviewsAndUnmergesFollowRecordsWithoutSourceIDs: a record
// with no source_id is the fragrance an operator's review decision or an
// unmerge made it, when it is imported again.
func TestResolvedReviewsAndUnmergesFollowRecordsWithoutSourceIDs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	base := writeFile(t, "base.jsonl", strings.Join([]string{
		`{"source_id": "3", "brand": "Guerlain", "name": "Shalimar", "year": 1925}`,
		`{"source_id": "4", "brand": "Calvin Klein", "name": "Eternity", "gender": "women", "year": 1988}`,
		`{"source_id": "5", "brand": "Calvin Klein", "name": "Eternity", "gender": "men", "year": 1989}`,
	}, "\n"))
	_, baseLines, err := b.run(t, base, nil, importer.Options{Source: "cat"})
	require.NoError(t, err)
	shalimar, eternityWomen := *baseLines[0].FragranceID, *baseLines[1].FragranceID
	shop := writeFile(t, "shop.jsonl", strings.Join([]string{
		`{"brand": "Calvin Klein", "name": "Eternity"}`,
		`{"brand": "Guerlain", "name": "Shalimr", "year": 1925, "notes": ["Vanilla", "Iris"]}`,
	}, "\n"))
	_, lines, err := b.run(t, shop, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Equal(t, "review", lines[0].Outcome, "%+v", lines[0])
	require.Equal(t, "duplicate", lines[1].Outcome, "%+v", lines[1])
	require.Equal(t, shalimar, *lines[1].FragranceID)

	var reviewID, mergeID int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id FROM review_queue WHERE status = 'open'`).Scan(&reviewID))
	got, err := b.im.ResolveReview(ctx, reviewID, true, "test")
	require.NoError(t, err)
	require.Equal(t, eternityWomen, got)
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT id FROM merge_log WHERE fragrance_id = $1 AND merged_source = 'shop'`, shalimar).Scan(&mergeID))
	split, err := b.im.Unmerge(ctx, mergeID)
	require.NoError(t, err)
	require.NotEqual(t, shalimar, split)

	again, lines, err := b.run(t, shop, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Equal(t, 2, again.Counts["unchanged"], "%+v", lines)
	require.Equal(t, eternityWomen, *lines[0].FragranceID, "the review's answer")
	require.Equal(t, split, *lines[1].FragranceID, "the fragrance the unmerge made, not Shalimar")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM review_queue"), "no second question")
}

var retailMap = map[string]string{"name_1": "name", "category": "concentration", "top_note": "notes_top", "heart_note": "notes_middle",
	"base_note": "notes_base", "customer_rating": "rating", "review_count": "votes"}

// TestReimportOfRecordsWithoutSourceIDsIsIdempotent: retail listings carry
// no source_id. Their first import inserts, merges and reviews; importing
// the same file again changes no fragrance and gives every record the same
// fragrance or the same review. Before record_identities, 20 records the
// first run had inserted or merged went to review the second time: a
// record with no concentration found, besides its own fragrance, one the
// first run inserted after it.
func TestReimportOfRecordsWithoutSourceIDsIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.run(t, sliceOfCatalog(t, 4740), catalogMap, importer.Options{Source: "catalog37k"})
	require.NoError(t, err)
	retail := filepath.Join(t.TempDir(), "retail.csv")
	require.NoError(t, shareddata.Head("retail-3k.csv", 1500, retail))

	first, lines1, err := b.run(t, retail, retailMap, importer.Options{Source: "retail3k"})
	require.NoError(t, err)
	require.Positive(t, first.Counts["inserted"])
	require.Positive(t, first.Counts["duplicate"])
	require.Positive(t, first.Counts["review"])
	catalogAfterFirst := digestFragrances(t, b.pool)

	for round := 2; round <= 3; round++ {
		again, lines, err := b.run(t, retail, retailMap, importer.Options{Source: "retail3k", BatchSize: 137})
		require.NoError(t, err)
		require.Zero(t, again.Counts["inserted"], "round %d", round)
		require.Zero(t, again.Counts["updated"], "round %d", round)
		require.Equal(t, first.Counts["inserted"]+first.Counts["duplicate"], again.Counts["unchanged"], "round %d: every record that became a fragrance is that fragrance", round)
		require.Equal(t, first.Counts["review"], again.Counts["review"], "round %d", round)
		require.Equal(t, catalogAfterFirst, digestFragrances(t, b.pool), "round %d changes no fragrance", round)
		for i := range lines1 {
			require.Equal(t, lines1[i].FragranceID, lines[i].FragranceID, "round %d, line %d", round, lines1[i].Line)
			if lines1[i].Outcome == "review" {
				require.Equal(t, "review", lines[i].Outcome, "round %d, line %d", round, lines1[i].Line)
			}
		}
	}
}

func digestFragrances(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var d string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT md5(string_agg(id || ':' || content_hash || ':' || match_key, ',' ORDER BY id)) FROM fragrances`).Scan(&d))
	return d
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestIdentityMergeAndFlankerRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := writeFile(t, "catalog.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Christian Dior", "name": "Sauvage Eau de Parfum", "year": 2018, "notes": {"top": ["Bergamot"], "middle": ["Lavender"], "base": ["Ambroxan"]}}`,
		`{"source_id": "2", "brand": "Dior", "name": "Sauvage Elixir", "year": 2021}`,
		`{"source_id": "3", "brand": "Dolce & Gabbana", "name": "Light Blue", "gender": "for women"}`,
		`{"source_id": "4", "brand": "Dolce & Gabbana", "name": "Light Blue Intense", "gender": "for women"}`,
		`{"source_id": "5", "brand": "Hermes", "name": "Terre d Hermes", "concentration": "EDT"}`,
		`{"source_id": "6", "brand": "Hermes", "name": "Terre d Hermes", "concentration": "EDT"}`,
	}, "\n"))
	sum, lines, err := b.run(t, first, nil, importer.Options{Source: "shopA"})
	require.NoError(t, err)
	require.Equal(t, 6, sum.Counts["inserted"], "flankers and two ids of one source stay apart: %+v", lines)

	retail := writeFile(t, "retail.csv", "brand,name_1,category,gender,customer_rating,review_count,id\n"+
		"DIOR,Sauvage,Eau de Parfum Spray,Men,\"4,6\",120,r1\n"+
		"Hermès,Terre d'Hermès,Eau de Toilette Spray,,\"4,8\",90,r2\n")
	m := map[string]string{"name_1": "name", "category": "concentration", "customer_rating": "rating", "review_count": "votes", "id": "source_id"}
	sum, lines, err = b.run(t, retail, m, importer.Options{Source: "retail"})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Counts["duplicate"], "%+v", lines)
	require.Zero(t, sum.Counts["inserted"], "the men's Sauvage EDP is the only Sauvage EDP: its gender fills the gap: %+v", lines)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE name = 'Sauvage' AND gender = 'men' AND concentration = 'EDP'"))
	dup := lines[1]
	require.Equal(t, "duplicate", dup.Outcome)
	require.NotNil(t, dup.DuplicateOf)

	// The merge filled what the catalog lacked and logged it.
	var rating *float64
	var votes *int
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT rating::float8, votes FROM fragrances WHERE id = $1", *dup.DuplicateOf).Scan(&rating, &votes))
	require.Equal(t, 4.8, *rating)
	require.Equal(t, 90, *votes)
	var replaced map[string]any
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT replaced FROM merge_log WHERE merged_source = 'retail' AND merged_source_id = 'r2'").Scan(&replaced))
	require.Contains(t, replaced, "rating")
	require.Contains(t, replaced, "votes")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM source_identities WHERE source = 'retail' AND source_id = 'r2' AND fragrance_id = $1", *dup.DuplicateOf))

	// Re-running both files changes nothing, merged identities included.
	before := snapshot(t, b.pool)
	for _, run := range []struct {
		path string
		m    map[string]string
		src  string
	}{{first, nil, "shopA"}, {retail, m, "retail"}} {
		again, _, err := b.run(t, run.path, run.m, importer.Options{Source: run.src})
		require.NoError(t, err)
		require.Zero(t, again.Counts["inserted"]+again.Counts["updated"], "%s: %+v", run.src, again.Counts)
	}
	require.Equal(t, before, snapshot(t, b.pool))

	// A source's newer view of its own record is an update.
	changed := writeFile(t, "changed.jsonl", `{"source_id": "2", "brand": "Dior", "name": "Sauvage Elixir", "year": 2021, "perfumers": ["François Demachy"]}`)
	sum, lines, err = b.run(t, changed, nil, importer.Options{Source: "shopA"})
	require.NoError(t, err)
	require.Equal(t, 1, sum.Counts["updated"], "%+v", lines)
}

func TestHostileValuesAreQuarantinedOrStoredVerbatim(t *testing.T) {
	t.Parallel()
	b := setup(t)
	huge := strings.Repeat("x", 10<<20)
	path := writeFile(t, "hostile.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Acme", "name": "<script>alert('x')</script>"}`,
		`{"source_id": "b", "brand": "Acme", "name": "Robert'); DROP TABLE fragrances;--"}`,
		`{"source_id": "c", "brand": "Acme", "name": "Big", "description": "` + huge + `"}`,
		`{"source_id": "d", "brand": "Acme", "name": "Nul\u0000Byte"}`,
		"{\"source_id\": \"e\", \"brand\": \"Acme\", \"name\": \"Bad \xff\xfe UTF\"}",
		`{"source_id": "f", "brand": "Acme", "name": "Fine", "year": 1492}`,
		`{"source_id": "g", "brand": "Acme", "name": "` + strings.Repeat("y", dataset.MaxRecordBytes) + `"}`,
	}, "\n"))
	sum, lines, err := b.run(t, path, nil, importer.Options{Source: "hostile"})
	require.NoError(t, err)
	require.Equal(t, 7, sum.Records)
	outcomes := map[string]string{}
	for _, l := range lines {
		outcomes[l.SourceID] = l.Outcome
	}
	require.Equal(t, "inserted", outcomes["a"])
	require.Equal(t, "inserted", outcomes["b"])
	require.Equal(t, "rejected", outcomes["c"])
	require.Equal(t, "rejected", outcomes["d"])
	require.Equal(t, "rejected", outcomes["e"], "invalid UTF-8 is refused in JSON as in CSV, though encoding/json replaced it")
	require.Equal(t, "rejected", outcomes["f"])
	require.Equal(t, "rejected", lines[6].Outcome, "a 16 MiB line is one quarantined record")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE name = $1", "<script>alert('x')</script>"))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE name = $1", "Robert'); DROP TABLE fragrances;--"))
	rules := map[string]string{}
	rows, err := b.pool.Query(context.Background(), "SELECT coalesce(source_id, ''), rule, length(excerpt), length(record::text) FROM quarantined_records ORDER BY record_index")
	require.NoError(t, err)
	for rows.Next() {
		var sid, rule string
		var excerptLen, recordLen int
		require.NoError(t, rows.Scan(&sid, &rule, &excerptLen, &recordLen))
		rules[sid] = rule
		require.LessOrEqual(t, excerptLen, 200)
		require.Less(t, recordLen, 1<<20, "stored records are bounded")
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"c": "length", "d": "nul-byte", "e": "utf8", "f": "year-range", "": "too-large"}, rules)
}

func TestUnreadableFileKeepsCommittedBatchesAndRerunCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var good, broken strings.Builder
	good.WriteString("source_id,brand,name\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&good, "%d,Acme,Scent %d\n", i, i)
		if i == 15 {
			// A quote that never closes: the rest of the file is one cell.
			broken.WriteString(good.String() + "x,Acme,\"Scent x\n")
		}
	}
	path := writeFile(t, "broken.csv", broken.String())
	sum, _, err := b.run(t, path, nil, importer.Options{Source: "s", BatchSize: 5})
	var se *dataset.SyntaxError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 17, se.Line)
	require.Equal(t, "failed", sum.Status)
	committed := count(t, b.pool, "SELECT count(*) FROM fragrances")
	require.Equal(t, 15, committed, "three batches of five committed, nothing of the batch in progress")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM import_runs WHERE status = 'failed'"))

	fixed := writeFile(t, "fixed.csv", good.String())
	sum, _, err = b.run(t, fixed, nil, importer.Options{Source: "s", BatchSize: 5})
	require.NoError(t, err)
	require.Equal(t, 15, sum.Counts["inserted"])
	require.Equal(t, 15, sum.Counts["unchanged"])
	require.Equal(t, 30, count(t, b.pool, "SELECT count(*) FROM fragrances"))
}

// TestInterruptedRunsAreClosedByTheNextImport: a run whose process died
// (here: rows left 'running', as a SIGKILL leaves them) is marked failed by
// the next import once its last batch is older than StaleRunAfter; a run
// that committed a batch recently is left running.
func TestInterruptedRunsAreClosedByTheNextImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	b.im.Now = func() time.Time { return now }
	var dead, alive int64
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO import_runs (kind, started_at, heartbeat_at) VALUES ('manual', $1, $2) RETURNING id`,
		now.Add(-2*time.Hour), now.Add(-importer.StaleRunAfter-time.Minute)).Scan(&dead))
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO import_runs (kind, started_at, heartbeat_at) VALUES ('manual', $1, $2) RETURNING id`,
		now.Add(-2*time.Hour), now.Add(-time.Minute)).Scan(&alive))

	path := writeFile(t, "next.jsonl", `{"source_id": "1", "brand": "Acme", "name": "One"}`+"\n"+`{"source_id": "2", "brand": "Acme", "name": "Two"}`+"\n")
	sum, _, err := b.run(t, path, nil, importer.Options{Source: "s", BatchSize: 1})
	require.NoError(t, err)

	var status, msg string
	var finished, heartbeat time.Time
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status, error, finished_at, heartbeat_at FROM import_runs WHERE id = $1`, dead).Scan(&status, &msg, &finished, &heartbeat))
	require.Equal(t, "failed", status)
	require.Contains(t, msg, "interrupted: no batch committed since "+heartbeat.UTC().Format("2006-01-02T15:04:05Z"))
	require.True(t, finished.Equal(heartbeat), "finished when it last made progress")
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status FROM import_runs WHERE id = $1`, alive).Scan(&status))
	require.Equal(t, "running", status, "a run that committed a minute ago is left alone")

	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status, heartbeat_at FROM import_runs WHERE id = $1`, sum.RunID).Scan(&status, &heartbeat))
	require.Equal(t, "succeeded", status)
	require.True(t, heartbeat.Equal(now), "each committed batch moves the heartbeat")
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := writeFile(t, "d.jsonl", `{"source_id": "1", "brand": "Acme", "name": "One"}`+"\n"+`{"source_id": "1", "brand": "Acme", "name": "One"}`+"\n"+`{"brand": "Acme"}`)
	sum, lines, err := b.run(t, path, nil, importer.Options{Source: "s", DryRun: true, BatchSize: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"inserted", "duplicate", "rejected"}, []string{lines[0].Outcome, lines[1].Outcome, lines[2].Outcome})
	require.True(t, sum.DryRun)
	for _, table := range []string{"fragrances", "brands", "source_identities", "import_runs", "quarantined_records"} {
		require.Zero(t, count(t, b.pool, "SELECT count(*) FROM "+table), table)
	}
}

// TestDryRunInsertsInSeveralBatches: a dry run's batches are savepoints
// of one transaction that never commits, so the staging table (ON COMMIT
// DELETE ROWS) must be emptied per batch, or the second batch re-inserts
// the first one's fragrances (a primary key violation).
func TestDryRunInsertsInSeveralBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var content strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&content, `{"source_id": "%d", "brand": "Acme", "name": "Scent %s"}`+"\n", i, strings.Repeat("X", i))
	}
	path := writeFile(t, "d.jsonl", content.String())
	sum, _, err := b.run(t, path, nil, importer.Options{Source: "s", DryRun: true, BatchSize: 2})
	require.NoError(t, err)
	require.Equal(t, 6, sum.Counts["inserted"])
	require.Equal(t, 3, sum.Batches)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM fragrances"))
}

// TestDatabaseLostMidImport stops a throwaway cluster after the first
// batch: the import fails with a transient error, and a rerun on the
// restarted server completes without duplicates.
func TestDatabaseLostMidImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := dbtest.NewCluster(t)
	require.NoError(t, cluster.EnsureDatabase(ctx, "catalog"))
	url := cluster.URL("catalog")
	pool, err := postgres.Connect(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	m, err := postgres.NewMigrator(pool, nil)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	m.Close()
	b := &bundle{pool: pool, im: &importer.Importer{Pool: pool, Config: settings.Default(), Logger: logging.Discard()}}

	var content strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&content, `{"source_id": "%d", "brand": "Acme", "name": "Scent %d"}`+"\n", i, i)
	}
	path := writeFile(t, "all.jsonl", content.String())
	stopped := false
	_, _, err = b.run(t, path, nil, importer.Options{Source: "s", BatchSize: 10, Progress: func(p importer.Progress) {
		if !stopped {
			stopped = true
			require.NoError(t, cluster.Stop(ctx))
		}
	}})
	require.Error(t, err)
	require.True(t, postgres.IsTransient(err), "losing the server is transient: %v", err)
	pool.Close()

	restarted, err := pglocalEnsure(t, cluster.Home())
	require.NoError(t, err)
	pool2, err := postgres.Connect(ctx, restarted.URL("catalog"), postgres.PoolOptions{})
	require.NoError(t, err)
	defer pool2.Close()
	b2 := &bundle{pool: pool2, im: &importer.Importer{Pool: pool2, Config: settings.Default(), Logger: logging.Discard()}}
	sum, _, err := b2.run(t, path, nil, importer.Options{Source: "s", BatchSize: 10})
	require.NoError(t, err)
	require.Equal(t, 10, sum.Counts["unchanged"], "the first batch was committed before the loss")
	require.Equal(t, 30, sum.Counts["inserted"])
	require.Equal(t, 40, count(t, pool2, "SELECT count(*) FROM fragrances"))
	require.Equal(t, 40, count(t, pool2, "SELECT count(DISTINCT match_key) FROM fragrances"))
}

func pglocalEnsure(t *testing.T, home string) (*pglocal.Cluster, error) {
	t.Helper()
	return pglocal.Ensure(context.Background(), pglocal.Options{Home: home, Ephemeral: true})
}

func TestFuzzyMergesAndTheReviewBand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := writeFile(t, "base.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Dolce & Gabbana", "name": "Light Blue", "gender": "women", "year": 2001}`,
		`{"source_id": "2", "brand": "Dolce & Gabbana", "name": "Light Blue Pour Homme", "gender": "men", "year": 2007}`,
		`{"source_id": "3", "brand": "Guerlain", "name": "Shalimar", "year": 1925}`,
		`{"source_id": "4", "brand": "Calvin Klein", "name": "Eternity", "gender": "women", "year": 1988}`,
		`{"source_id": "5", "brand": "Calvin Klein", "name": "Eternity", "gender": "men", "year": 1989}`,
	}, "\n"))
	_, _, err := b.run(t, base, nil, importer.Options{Source: "cat"})
	require.NoError(t, err)

	incoming := writeFile(t, "incoming.jsonl", strings.Join([]string{
		`{"source_id": "a", "brand": "Guerlain", "name": "Shalimr", "year": 1925}`,
		`{"source_id": "b", "brand": "D&G", "name": "Light Blue Intense", "gender": "women"}`,
		`{"source_id": "c", "brand": "Calvin Klein", "name": "Eternity"}`,
		`{"source_id": "d", "brand": "Calvin Klein", "name": "Eternity Summer 2005", "gender": "women"}`,
		// The shop tied "a" to Shalimar already: its "e" is another product.
		`{"source_id": "e", "brand": "Guerlain", "name": "Shalimar (1925)", "concentration": "EDP"}`,
	}, "\n"))
	sum, lines, err := b.run(t, incoming, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	outcome := map[string]string{}
	for _, l := range lines {
		outcome[l.SourceID] = l.Outcome
	}
	require.Equal(t, map[string]string{
		"a": "duplicate", // a typo of Shalimar
		"b": "inserted",  // a flanker
		"c": "review",    // men's or women's Eternity?
		"d": "inserted",  // an edition of its own
		"e": "inserted",  // never merged with another source_id of the same source
	}, outcome, "%+v", lines)
	require.Equal(t, 1, sum.Counts["review"])

	// From another source, a trailing year and a concentration the catalog
	// lacks are the same Shalimar.
	other := writeFile(t, "other.jsonl", `{"source_id": "x", "brand": "Guerlain", "name": "Shalimar (1925)", "concentration": "Parfum"}`)
	_, lines2, err := b.run(t, other, nil, importer.Options{Source: "other"})
	require.NoError(t, err)
	require.Equal(t, "duplicate", lines2[0].Outcome, "%+v", lines2)

	var candidate map[string]any
	var score float64
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT candidate, score FROM review_queue WHERE status = 'open'").Scan(&candidate, &score))
	require.Equal(t, "Eternity", candidate["name"])

	// Re-importing queues no second review and changes nothing else.
	before := snapshot(t, b.pool)
	again, _, err := b.run(t, incoming, nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Zero(t, again.Counts["inserted"]+again.Counts["updated"])
	require.Equal(t, 1, again.Counts["review"])
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM review_queue"))
	require.Equal(t, before, snapshot(t, b.pool))
}

// TestExactKeyBeatsManyFlankers: a product with 40 flankers sharing its
// name's tokens is still found by its exact key when it arrives again
// without a source identity (the candidate cap is 20): no duplicate row.
func TestExactKeyBeatsManyFlankers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lines := []string{`{"brand": "Guerlain", "name": "Aqua Allegoria", "concentration": "EDT", "gender": "women", "notes": ["Bergamot"]}`}
	words := strings.Fields("Mandarine Basilic Pera Granita Nerolia Vetiver Pamplelune Bergamote Calabria Flora Salvaggia Limon Verde " +
		"Grosellina Rosa Rossa Orange Soleia Coconut Fizz Teazzurra Passiflora Herba Fresca Lys Soleia Ginger Piccante Nettare Di Sole " +
		"Mentha Fizz Oolong Tea Bosca Vanilla Forte Rosa Palissandro Cedrat Nera Tonka Coriandre Violette Iris Ambre Jasmin Tiare Cassis")
	for i := 0; i < 40; i++ {
		lines = append(lines, fmt.Sprintf(`{"brand": "Guerlain", "name": "Aqua Allegoria %s %s", "concentration": "EDT", "gender": "women", "notes": ["Bergamot"]}`, words[i], words[(i*7+3)%len(words)]))
	}
	sum, _, err := b.run(t, writeFile(t, "many.jsonl", strings.Join(lines, "\n")), nil, importer.Options{Source: "shop"})
	require.NoError(t, err)
	require.Greater(t, sum.Counts[importer.OutcomeInserted], 30, "%v", sum.Counts)

	again, rep, err := b.run(t, writeFile(t, "again.jsonl", lines[0]+"\n"), nil, importer.Options{Source: "retail"})
	require.NoError(t, err)
	require.Zero(t, again.Counts[importer.OutcomeInserted], "%+v", rep)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE match_key = (SELECT match_key FROM fragrances ORDER BY id LIMIT 1)"))
	require.Equal(t, importer.OutcomeUnchanged, rep[0].Outcome, "an identical record is the fragrance itself: %v", rep[0].Reasons)
}

// TestSelfContainedBadRecordsAreQuarantined: in JSON Lines each line is a
// record of its own and in a JSON array each element: one that is no
// object, holds invalid UTF-8 or gives a field twice is quarantined with
// its rule, line and text, and the records before and after it (in the
// same batch too) are imported. A replay does not take them for fixed.
func TestSelfContainedBadRecordsAreQuarantined(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := writeFile(t, "mixed.jsonl", strings.Join([]string{
		`{"source_id": "1", "brand": "Acme", "name": "One"}`,
		`{"source_id": "2", "brand": "Acme", "name": "Two"}`,
		`{"source_id": "3", "brand": "Acme", "name": Three}`,
		`[1, 2]`,
		"{\"source_id\": \"5\", \"brand\": \"Acme\", \"name\": \"Sauv\xe9ge\"}",
		`{"source_id": "6", "brand": "Acme", "name": "Six", "name": "Sechs"}`,
		`{"source_id": "7", "brand": "Acme", "name": "Seven"}`,
	}, "\n")+"\n")
	sum, lines, err := b.run(t, path, nil, importer.Options{Source: "s", BatchSize: 3})
	require.NoError(t, err)
	require.Equal(t, "succeeded", sum.Status)
	require.Equal(t, 7, sum.Records)
	require.Equal(t, 3, sum.Counts["inserted"])
	require.Equal(t, 4, sum.Counts["rejected"])
	require.Equal(t, map[string]int{"json": 1, "type": 1, "utf8": 1, "duplicate-field": 1}, sum.RejectedByRule)
	outcomes := []string{}
	for _, l := range lines {
		outcomes = append(outcomes, l.Outcome)
	}
	require.Equal(t, []string{"inserted", "inserted", "rejected", "rejected", "rejected", "rejected", "inserted"}, outcomes)
	require.Contains(t, lines[2].Reasons[0], "error: json: invalid JSON at column 45")
	require.Contains(t, lines[3].Reasons[0], "error: type: expected a JSON object (a record), found array")
	require.Equal(t, "error: utf8 (name): the value is not valid UTF-8", lines[4].Reasons[0])
	require.Contains(t, lines[5].Reasons[0], `error: duplicate-field (name): the key "name" appears twice`)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE name LIKE '%'||chr(65533)||'%'"), "no replacement character imported")

	type qrow struct {
		line              int
		rule, field, text string
		problem, excerpt  string
	}
	rows, err := b.pool.Query(context.Background(), `SELECT line, rule, coalesce(field, ''), coalesce(record->>'_problem', ''), coalesce(record->>'_text', ''), excerpt
		FROM quarantined_records ORDER BY record_index`)
	require.NoError(t, err)
	var got []qrow
	for rows.Next() {
		var q qrow
		require.NoError(t, rows.Scan(&q.line, &q.rule, &q.field, &q.problem, &q.text, &q.excerpt))
		got = append(got, q)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []qrow{
		{3, "json", "", `{"source_id": "3", "brand": "Acme", "name": Three}`, "json", `{"source_id": "3", "brand": "Acme", "name": Three}`},
		{4, "type", "", `[1, 2]`, "type", `[1, 2]`},
		{5, "utf8", "name", "{\"source_id\": \"5\", \"brand\": \"Acme\", \"name\": \"Sauv\ufffdge\"}", "utf8", "Sauv\ufffdge"},
		{6, "duplicate-field", "name", `{"source_id": "6", "brand": "Acme", "name": "Six", "name": "Sechs"}`, "duplicate-field",
			`{"source_id": "6", "brand": "Acme", "name": "Six", "name": "Sechs"}`},
	}, got, "each with its line, rule and the record as read")

	rep, err := b.im.Replay(context.Background(), 0, importer.Options{})
	require.NoError(t, err)
	require.Equal(t, 4, rep.StillFailing, "replaying does not clean what the file got wrong")
	require.Equal(t, map[string]int{"json": 1, "type": 1, "utf8": 1, "duplicate-field": 1}, rep.FailingByRule)
	require.Equal(t, 3, count(t, b.pool, "SELECT count(*) FROM fragrances"))

	// A JSON array element that is no object is one record too.
	arr := writeFile(t, "mixed.json", "[\n"+`{"source_id": "a1", "brand": "Acme", "name": "Alpha"},`+"\n42,\n"+`{"source_id": "a3", "brand": "Acme", "name": "Gamma"}`+"\n]")
	sum, lines, err = b.run(t, arr, nil, importer.Options{Source: "s"})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Counts["inserted"])
	require.Equal(t, 3, lines[1].Line)
	require.Equal(t, "rejected", lines[1].Outcome)
	require.Contains(t, lines[1].Reasons[0], "array element 2: expected a JSON object (a record), found number")
}

// TestReplayDoesNotImportSanitizedBytes: the quarantined copy of a record
// rejected for invalid UTF-8 or a NUL byte holds U+FFFD in their place
// (jsonb takes neither); a replay must not validate that copy and import
// the replacement character.
func TestReplayDoesNotImportSanitizedBytes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	csvPath := writeFile(t, "bytes.csv", "source_id,brand,name\nc1,Acme,Sauv\xe9ge\nc2,Acme,Fine\n")
	sum, _, err := b.run(t, csvPath, nil, importer.Options{Source: "s"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"utf8": 1}, sum.RejectedByRule)
	jsonPath := writeFile(t, "bytes.jsonl", `{"source_id": "j1", "brand": "Acme", "name": "Nul\u0000Byte"}`+"\n")
	sum, _, err = b.run(t, jsonPath, nil, importer.Options{Source: "s"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"nul-byte": 1}, sum.RejectedByRule)

	rep, err := b.im.Replay(context.Background(), 0, importer.Options{})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Checked)
	require.Len(t, rep.Refused, 2, "both stored copies were altered: refused, naming the row")
	for _, r := range rep.Refused {
		require.Contains(t, r.Reason, "invalid UTF-8 or NUL bytes replaced")
	}
	require.Nil(t, rep.Import, "nothing passed, nothing imported")
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM fragrances"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM fragrances WHERE name LIKE '%'||chr(65533)||'%'"))
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM quarantined_records WHERE status = 'open'"))
}
