package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var week1 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// fakeAPI is an upstream catalog API whose data a test changes between
// runs, with a log of the requests it served.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	robots   string
	records  []map[string]any // the catalog, votes included
	trending []string         // source_ids, rank order
	hits     []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	a := &fakeAPI{robots: "User-agent: *\nAllow: /\n"}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hits = append(a.hits, r.URL.RequestURI())
	if r.URL.Path == "/robots.txt" {
		fmt.Fprint(w, a.robots)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	w.Header().Set("Content-Type", "application/json")
	byID := map[string]map[string]any{}
	for _, rec := range a.records {
		byID[rec["source_id"].(string)] = rec
	}
	paged := func(all []map[string]any, size int) map[string]any {
		out := map[string]any{"items": []map[string]any{}, "next_page": nil, "total": len(all)}
		lo := (page - 1) * size
		if lo < len(all) {
			out["items"] = all[lo:min(lo+size, len(all))]
		}
		if lo+size < len(all) {
			out["next_page"] = page + 1
		}
		return out
	}
	switch {
	case r.URL.Path == upstream.PathTrending:
		var list []map[string]any
		for i, id := range a.trending {
			rec := byID[id]
			list = append(list, map[string]any{"source_id": id, "brand": rec["brand"], "name": rec["name"], "rank": i + 1, "votes": rec["votes"], "rating": rec["rating"]})
		}
		_ = json.NewEncoder(w).Encode(paged(list, 5))
	case r.URL.Path == upstream.PathFragrances:
		var list []map[string]any
		for _, rec := range a.records {
			if b := r.URL.Query().Get("brand"); b == "" || looseKey(b) == looseKey(rec["brand"].(string)) {
				list = append(list, rec)
			}
		}
		_ = json.NewEncoder(w).Encode(paged(list, 3))
	case strings.HasPrefix(r.URL.Path, upstream.PathFragrances+"/"):
		rec, ok := byID[strings.TrimPrefix(r.URL.Path, upstream.PathFragrances+"/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(rec)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (a *fakeAPI) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.hits...)
}

func (a *fakeAPI) setVotes(id string, votes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rec := range a.records {
		if rec["source_id"] == id {
			rec["votes"] = votes
		}
	}
}

func rec(id, brand, name string, votes int) map[string]any {
	return map[string]any{"source_id": id, "brand": brand, "name": name, "votes": votes, "rating": 4.2, "accords": []string{"woody"}}
}

// demo is a small upstream: four Chanel, two Dior (listed as Christian
// Dior), a Creed, and three brands of no priority.
func demo(t *testing.T) *fakeAPI {
	a := newFakeAPI(t)
	a.records = []map[string]any{
		rec("1", "Chanel", "Bleu de Chanel", 900), rec("2", "Chanel", "Coco Mademoiselle", 800),
		rec("3", "Chanel", "Chance", 300), rec("4", "Chanel", "Coco Noir", 100),
		rec("5", "Christian Dior", "Sauvage", 1000), rec("6", "Christian Dior", "J'adore", 700),
		rec("7", "Creed", "Aventus", 950),
		rec("8", "Acme", "Oud One", 50), rec("9", "Acme", "Oud Two", 40), rec("10", "Zeta", "Musk", 30),
	}
	a.trending = []string{"8", "5", "9", "1", "10", "7", "2", "3"}
	return a
}

type bundle struct {
	pool *pgxpool.Pool
	api  *fakeAPI
	cfg  *settings.Config
	now  time.Time
	det  *Detector
}

func setup(t *testing.T, api *fakeAPI) *bundle {
	t.Helper()
	cfg := settings.Default()
	s := cfg.Sources["sandbox"]
	s.DelayMS, s.RateLimit = 1, 6000
	cfg.Sources = map[string]settings.Source{"sandbox": s}
	// Only the brands the fake upstream has, so the runs stay short.
	var brands []settings.PriorityBrand
	for _, b := range cfg.Brands.Brands {
		if b.Name == "Chanel" || b.Name == "Dior" || b.Name == "Creed" {
			brands = append(brands, b)
		}
	}
	cfg.Brands.Brands = brands
	b := &bundle{pool: dbtest.Pool(t), api: api, cfg: cfg, now: week1}
	b.det = &Detector{Pool: b.pool, Config: cfg, Logger: logging.Discard(), Now: func() time.Time { return b.now },
		Open: func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
			deps.BaseURL = api.URL
			src, err := upstream.Open(name, s, deps)
			return src, func() {}, err
		}}
	return b
}

func (b *bundle) newCycle(t *testing.T, id string) cycle.State {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), `INSERT INTO cycles (id, trigger, status, started_at) VALUES ($1, 'manual', 'succeeded', $2)`, id, b.now)
	require.NoError(t, err)
	return cycle.State{CycleID: id, Trigger: "manual"}
}

func (b *bundle) importRecords(t *testing.T, source string, lines ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{})
	require.NoError(t, err)
	defer r.Close()
	im := &importer.Importer{Pool: b.pool, Config: b.cfg, Logger: logging.Discard()}
	_, err = im.Import(context.Background(), r, importer.Options{Source: source})
	require.NoError(t, err)
}

func ids(cands []Candidate) []string {
	var out []string
	for _, c := range cands {
		out = append(out, c.Reason+":"+c.SourceID)
	}
	return out
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}

func TestFirstRunFallsBackToTheTrendingListAndIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	st := b.newCycle(t, "manual-20261122T0200")
	st.MaxFragrances = 6
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)

	require.True(t, res.Trends.Fallback)
	require.Equal(t, 8, res.Trends.Listed)
	require.Equal(t, 6, res.CandidateCount, "capped by max_fragrances")
	require.Len(t, res.Candidates, 6)
	for i, c := range res.Candidates {
		require.Equal(t, "sandbox", c.Source)
		require.Contains(t, []string{ReasonTrending, ReasonCoverageGap}, c.Reason)
		if i > 0 {
			require.LessOrEqual(t, c.Score, res.Candidates[i-1].Score, "ranked by score")
		}
	}
	// Sauvage: second in the list and a priority-1 brand, first overall.
	require.Equal(t, "trending:5", ids(res.Candidates)[0])
	require.Equal(t, 1, res.Candidates[0].BrandPriority)

	// Every fragrance seen is stored once, with the cycle.
	require.Equal(t, 10, res.Trends.Observed)
	require.Equal(t, 10, res.Trends.Stored)
	require.Equal(t, 10, count(t, b.pool, `SELECT count(*) FROM source_observations WHERE cycle_id = $1 AND source = 'sandbox'`, st.CycleID))
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM source_observations WHERE source_id = '5' AND rank = 2 AND votes = 1000`))

	require.Positive(t, res.Crawl.Requests)
	require.Zero(t, res.Crawl.Errors)
	require.Equal(t, len(b.api.requests()), res.Crawl.Requests, "the server saw what the client counted")
	require.Positive(t, res.CrawlSeconds, "the time spent on the listings is reported")

	// A rerun of the cycle returns the stored result and sends nothing.
	before := len(b.api.requests())
	again, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	require.Equal(t, before, len(b.api.requests()))
	require.Equal(t, ids(res.Candidates), ids(again.Candidates))
	require.Equal(t, 10, count(t, b.pool, `SELECT count(*) FROM source_observations`))
}

func TestWeekOverWeekGrowthAndRankMakeTrends(t *testing.T) {
	t.Parallel()
	api := demo(t)
	b := setup(t, api)
	_, err := b.det.Handle(context.Background(), b.newCycle(t, "schedule-20261122T0200"))
	require.NoError(t, err)

	// A week later: Coco Noir (4) enters the list at 3; Chance (3) grows 50%;
	// Bleu de Chanel (1) does not move.
	b.now = week1.Add(7 * 24 * time.Hour)
	api.mu.Lock()
	api.trending = []string{"8", "5", "4", "9", "1", "10", "7", "2", "3"}
	api.mu.Unlock()
	api.setVotes("3", 450)
	st := b.newCycle(t, "schedule-20261129T0200")
	st.MaxFragrances = 20
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	require.False(t, res.Trends.Fallback)
	require.Equal(t, 9, res.Trends.WithHistory)

	byID := map[string]Candidate{}
	for _, c := range res.Candidates {
		byID[c.SourceID] = c
	}
	require.Equal(t, ReasonTrending, byID["4"].Reason)
	require.Equal(t, 7, *byID["4"].RankChange, "from outside the list of eight (9th) to 3rd")
	require.Equal(t, ReasonTrending, byID["3"].Reason)
	require.Equal(t, 50.0, *byID["3"].VotesGrowthPercent)
	// Bleu de Chanel did not rise: no longer a trending candidate (it may
	// still be a coverage gap of Chanel).
	require.NotEqual(t, ReasonTrending, byID["1"].Reason)
	require.Greater(t, byID["3"].Signal, 0.45, "votes growth of five times the threshold counts in full")
}

func TestCatalogFragrancesAreNotCandidatesAndStaleOnesAreRefreshed(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	// The catalog knows Sauvage under another source, J'adore and Aventus
	// under this one, and Oud One, which it last heard of a month ago.
	b.importRecords(t, "shop",
		`{"source_id": "s-1", "brand": "Dior", "name": "Sauvage"}`,
		`{"source_id": "s-2", "brand": "Dior", "name": "J'adore"}`)
	b.importRecords(t, "sandbox",
		`{"source_id": "7", "brand": "Creed", "name": "Aventus"}`,
		`{"source_id": "8", "brand": "Acme", "name": "Oud One"}`,
		`{"source_id": "66", "brand": "Acme", "name": "Oud One Intense"}`)
	_, err := b.pool.Exec(context.Background(), `UPDATE fragrances SET updated_at = $1`, week1.AddDate(0, -1, 0))
	require.NoError(t, err)
	_, err = b.pool.Exec(context.Background(), `UPDATE source_identities SET first_seen_at = $1, last_seen_at = $1`, week1.AddDate(0, -1, 0))
	require.NoError(t, err)

	st := b.newCycle(t, "manual-20261122T0200")
	st.MaxFragrances = 50
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	got := map[string]Candidate{}
	for _, c := range res.Candidates {
		got[c.SourceID] = c
	}
	// Sauvage is in the catalog (the matcher: Christian Dior is Dior) and
	// old: refresh it; so is Oud One (same identity) and Aventus.
	require.Equal(t, ReasonStale, got["5"].Reason)
	require.NotZero(t, got["5"].FragranceID)
	require.InDelta(t, 30, *got["5"].DataAgeDays, 1.5)
	require.Equal(t, ReasonStale, got["8"].Reason)
	require.Equal(t, ReasonStale, got["7"].Reason)
	// Oud Two is missing (a flanker-like sibling is no match).
	require.Equal(t, ReasonTrending, got["9"].Reason)
	// J'adore is present and not trending: no candidate.
	require.NotContains(t, got, "6")

	// Refreshed data is not stale.
	_, err = b.pool.Exec(context.Background(), `UPDATE fragrances SET updated_at = $1`, week1.Add(-time.Hour))
	require.NoError(t, err)
	b.now = week1.Add(time.Hour)
	res, err = b.det.Handle(context.Background(), b.newCycle(t, "manual-20261122T0300"))
	require.NoError(t, err)
	for _, c := range res.Candidates {
		require.NotEqual(t, ReasonStale, c.Reason, c.String())
	}
}

func TestCoverageGapsAndTheMarketLeaderKPI(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	// One Chanel of four; both Dior; no Creed.
	b.importRecords(t, "shop",
		`{"source_id": "a", "brand": "Chanel", "name": "Coco Mademoiselle"}`,
		`{"source_id": "b", "brand": "Christian Dior", "name": "Sauvage"}`,
		`{"source_id": "c", "brand": "Dior", "name": "J'adore"}`)
	st := b.newCycle(t, "manual-20261122T0200")
	st.MaxFragrances = 50
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)

	cov := map[string]BrandCoverage{}
	for _, bc := range res.Coverage.Brands {
		cov[bc.Brand] = bc
	}
	require.Equal(t, "gap", cov["Chanel"].Status)
	require.Equal(t, 1, cov["Chanel"].Ours)
	require.Equal(t, 4, *cov["Chanel"].Upstream)
	require.Equal(t, 25.0, *cov["Chanel"].Percent)
	require.Equal(t, 3, cov["Chanel"].Missing)
	require.Equal(t, "ok", cov["Dior"].Status)
	require.Equal(t, "Christian Dior", cov["Dior"].Spelling, "the alias found the brand upstream")
	require.Equal(t, 2, cov["Dior"].Ours)
	require.Equal(t, "gap", cov["Creed"].Status)

	kpi := res.Coverage.MarketLeaders
	require.Equal(t, 3, kpi.Measured)
	require.Equal(t, 42.9, *kpi.Value, "3 of 7 market-leader fragrances")
	require.Equal(t, "error", kpi.Status)

	var gaps []string
	for _, c := range res.Candidates {
		if c.Reason == ReasonCoverageGap {
			gaps = append(gaps, c.SourceID)
		}
		require.NotEqual(t, "2", c.SourceID, "Coco Mademoiselle is in the catalog")
		require.NotEqual(t, "6", c.SourceID, "J'adore is in the catalog")
	}
	require.Contains(t, gaps, "4", "Coco Noir: a Chanel the catalog lacks, and not trending")
}

func TestBlockedSourceIsReportedNotSucceeded(t *testing.T) {
	t.Parallel()
	api := demo(t)
	api.robots = "User-agent: *\nDisallow: /\n"
	b := setup(t, api)
	st := b.newCycle(t, "manual-20261122T0200")
	res, err := b.det.Run(context.Background(), st)
	var blocked *UpstreamBlockedError
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, "UpstreamBlockedError", reflect.TypeOf(err).Elem().Name(), "the Lambda errorType the definition catches")
	require.True(t, res.Crawl.Blocked)
	require.Equal(t, []string{"/robots.txt"}, api.requests(), "zero catalog requests")
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM source_observations`))
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM cycles WHERE step_results ? 'detect'`))

	_, err = b.det.Handle(context.Background(), st)
	require.ErrorAs(t, err, &blocked)
}

func TestDryRunStoresNoObservations(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	st := b.newCycle(t, "manual-20261122T0200")
	st.DryRun = true
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	require.True(t, res.DryRun)
	require.Positive(t, res.CandidateCount)
	require.Zero(t, res.Trends.Stored)
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM source_observations`))
	require.Equal(t, 1, count(t, b.pool, `SELECT count(*) FROM cycles WHERE step_results->'detect'->>'dry_run' = 'true'`))
}

func TestWithoutACycleRowObservationsCarryNoCycle(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	res, err := b.det.Handle(context.Background(), cycle.State{CycleID: "detect-20261122T020000"})
	require.NoError(t, err)
	require.Equal(t, 10, res.CandidateCount, "max_fragrances 0 means the configured 20: all ten")
	require.Equal(t, 10, count(t, b.pool, `SELECT count(*) FROM source_observations WHERE cycle_id IS NULL`))
	require.Zero(t, count(t, b.pool, `SELECT count(*) FROM cycles`))
}

func TestLongCandidateListTravelsAsAReference(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	b.cfg.Monitoring.Detection.InlineCandidatesMax = 2
	b.det.Bucket = bucket.Local(t.TempDir())
	st := b.newCycle(t, "manual-20261122T0200")
	st.MaxFragrances = 5
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	require.Equal(t, 5, res.CandidateCount)
	require.Nil(t, res.Candidates)
	require.True(t, strings.HasSuffix(res.CandidatesRef, "/cycles/manual-20261122T0200/detect/candidates.jsonl"), res.CandidatesRef)
	data, err := json.Marshal(res)
	require.NoError(t, err)
	require.NotContains(t, string(data), `"candidates":`)
	u, err := url.Parse(res.CandidatesRef)
	require.NoError(t, err)
	body, err := os.ReadFile(u.Path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	require.Len(t, lines, 5)
	var first Candidate
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NotEmpty(t, first.Reason)
}

func TestSampleEventsAtTheLambdaBoundary(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	for _, name := range []string{"detect.json", "detect-reduced.json"} {
		payload, err := os.ReadFile(filepath.Join("..", "..", "events", name))
		require.NoError(t, err)
		var st cycle.State
		require.NoError(t, json.Unmarshal(payload, &st))
		b.newCycle(t, st.CycleID)
		out, err := lambda.NewHandler(b.det.Handle).Invoke(context.Background(), payload)
		require.NoError(t, err, name)
		var res map[string]any
		require.NoError(t, json.Unmarshal(out, &res))
		for _, k := range []string{"candidate_count", "candidates", "crawl", "coverage"} {
			require.Contains(t, res, k, name)
		}
		crawl := res["crawl"].(map[string]any)
		for _, k := range []string{"requests", "not_modified", "status_429", "retries", "robots_blocked", "errors", "effective_rate_per_min", "circuit_open"} {
			require.Contains(t, crawl, k, name)
		}
		if st.MaxFragrances > 0 {
			require.LessOrEqual(t, res["candidate_count"], float64(st.MaxFragrances))
		}
	}
	// Bad input is a BadInputError.
	_, err := lambda.NewHandler(b.det.Handle).Invoke(context.Background(), []byte(`{"max_fragrances": 5}`))
	require.ErrorContains(t, err, "cycle_id")
}

// TestImportedCandidatesLeaveTheList closes the loop the cycle runs:
// detect, fetch each candidate's record (what the import step does),
// import it, detect again.
func TestImportedCandidatesLeaveTheList(t *testing.T) {
	t.Parallel()
	b := setup(t, demo(t))
	st := b.newCycle(t, "manual-20261122T0200")
	st.MaxFragrances = 4
	res, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	require.Len(t, res.Candidates, 4)

	src, err := upstream.Open("sandbox", b.cfg.Sources["sandbox"], upstream.Deps{BaseURL: b.api.URL})
	require.NoError(t, err)
	var lines []string
	imported := map[string]bool{}
	for _, c := range res.Candidates {
		rec, err := src.FetchRecord(context.Background(), c.SourceID)
		require.NoError(t, err)
		lines = append(lines, string(rec))
		imported[c.SourceID] = true
	}
	b.importRecords(t, "sandbox", lines...)
	require.Equal(t, 4, count(t, b.pool, `SELECT count(*) FROM source_identities WHERE source = 'sandbox'`))

	b.now = week1.Add(time.Hour)
	st = b.newCycle(t, "manual-20261122T0300")
	st.MaxFragrances = 50
	again, err := b.det.Handle(context.Background(), st)
	require.NoError(t, err)
	for _, c := range again.Candidates {
		require.False(t, imported[c.SourceID], "%s was imported: %s", c.SourceID, c)
	}
	require.Less(t, again.CandidateCount, 10)
}

// TestShippedDefaultsInADeploymentWarnNoSource: a deployment (OpenSource,
// which refuses the local sandbox) with the shipped configuration, whose
// only enabled source is the sandbox, succeeds with no candidates and a
// "no source enabled" warning instead of failing every week; the same
// with nothing enabled at all. Naming the sandbox explicitly still fails:
// the operator asked for it.
func TestShippedDefaultsInADeploymentWarnNoSource(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	shipped := settings.Default()
	none := settings.Default()
	none.Sources = map[string]settings.Source{}
	for n, s := range shipped.Sources {
		s.Enabled = false
		none.Sources[n] = s
	}
	for name, cfg := range map[string]*settings.Config{"shipped": shipped, "none enabled": none} {
		det := &Detector{Pool: pool, Config: cfg, Logger: logging.Discard()}
		out, err := lambda.NewHandler(det.Handle).Invoke(context.Background(), []byte(`{"cycle_id": "deployed-`+strings.ReplaceAll(name, " ", "-")+`", "trigger": "schedule"}`))
		require.NoError(t, err, name)
		var res Result
		require.NoError(t, json.Unmarshal(out, &res), name)
		require.Zero(t, res.CandidateCount, name)
		require.Len(t, res.Warnings, 1, name)
		require.True(t, strings.HasPrefix(res.Warnings[0], NoSourceEnabled+": "), "%s: %s", name, res.Warnings[0])
		require.Contains(t, res.Warnings[0], "ConfigLocation", name)
		require.Zero(t, res.Crawl.Requests, name)
	}

	det := &Detector{Pool: pool, Config: shipped, Logger: logging.Discard(), Source: "sandbox"}
	_, err := det.Run(context.Background(), cycle.State{CycleID: "deployed-named", Trigger: "manual"})
	var bad *cycle.BadInputError
	require.ErrorAs(t, err, &bad)
	require.ErrorIs(t, err, upstream.ErrLocalOnly)
}
