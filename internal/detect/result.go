package detect

import (
	"encoding/json"
	"fmt"

	"github.com/scentmatch/pipeline/internal/crawl"
)

// Reasons a fragrance is a candidate.
const (
	ReasonTrending    = "trending"
	ReasonCoverageGap = "coverage_gap"
	ReasonStale       = "stale"
)

// Result is the detect step's result, $.results.detect of the cycle state.
type Result struct {
	CandidateCount int `json:"candidate_count"`
	// Candidates are inline when there are at most
	// detection.inline_candidates_max of them; otherwise CandidatesRef
	// names a JSON Lines object in the bucket with one candidate a line.
	Candidates    []Candidate `json:"candidates"`
	CandidatesRef string      `json:"candidates_ref,omitempty"`
	Crawl         crawl.Stats `json:"crawl"`
	// CrawlSeconds is the time spent waiting on the source's listings
	// (politeness delays included), apart from detection's own work.
	CrawlSeconds float64  `json:"crawl_seconds"`
	Coverage     Coverage `json:"coverage"`
	Trends       Trends   `json:"trends"`
	DryRun       bool     `json:"dry_run"`
	MaxRSSMB     float64  `json:"max_rss_mb"`
	// Warnings are what the operator should know although the step
	// succeeded (NoSourceEnabled); the weekly report, status and health
	// show them.
	Warnings []string `json:"warnings,omitempty"`
}

// NoSourceEnabled starts the warning of a detect step that had no source
// to crawl: nothing enabled, or only the local sandbox in a deployment.
// The step succeeds with no candidates, so the cycle still maintains the
// catalog, computes its metrics and sends the weekly report.
const NoSourceEnabled = "no source enabled"

// MarshalJSON writes either "candidates" or "candidates_ref", never both.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	if r.CandidatesRef != "" {
		return json.Marshal(struct {
			plain
			Candidates []Candidate `json:"candidates,omitempty"`
		}{plain: plain(r)})
	}
	if r.Candidates == nil {
		r.Candidates = []Candidate{}
	}
	return json.Marshal(plain(r))
}

// Candidate is a fragrance the import step should fetch (by source and
// source_id, with Source.FetchRecord) and import.
type Candidate struct {
	Source   string `json:"source"`
	SourceID string `json:"source_id"`
	Brand    string `json:"brand"`
	Name     string `json:"name"`
	// Reason is trending, coverage_gap or stale.
	Reason string `json:"reason"`
	// Score ranks the candidates: the trend or gap signal (0-1) plus the
	// brand-priority bonus.
	Score         float64 `json:"score"`
	Signal        float64 `json:"signal"`
	BrandPriority int     `json:"brand_priority,omitempty"`
	Rank          *int    `json:"rank,omitempty"`
	Votes         *int64  `json:"votes,omitempty"`
	// Rating is the upstream's rating when observed.
	Rating             *float64 `json:"rating,omitempty"`
	VotesGrowthPercent *float64 `json:"votes_growth_percent,omitempty"`
	// RankChange is places climbed in the trending list over the window.
	RankChange *int `json:"rank_change,omitempty"`
	// FragranceID is the catalog fragrance to refresh (stale), or the one
	// the matcher thinks it may be (Match "review": the import will queue
	// the question for an operator).
	FragranceID int64    `json:"fragrance_id,omitempty"`
	Match       string   `json:"match,omitempty"`
	DataAgeDays *float64 `json:"data_age_days,omitempty"`
}

func (c Candidate) String() string {
	return fmt.Sprintf("%s %s/%s %s - %s (%.3f)", c.Reason, c.Source, c.SourceID, c.Brand, c.Name, c.Score)
}

// Trends summarises trend detection.
type Trends struct {
	WindowDays int `json:"window_days"`
	// Observed is how many fragrances the crawl saw (and stored, unless a dry run).
	Observed int `json:"observed"`
	// Stored is how many observations were written (0 in a dry run).
	Stored int `json:"stored"`
	// Listed is the length of the upstream's trending list as read.
	Listed int `json:"listed"`
	// WithHistory is how many listed fragrances had an observation about a
	// window ago (or a trending list of then to compare ranks with).
	WithHistory int `json:"with_history"`
	// Fallback is true when there was no history at all: the upstream's
	// own trending order decided.
	Fallback bool `json:"fallback"`
	// Rising is how many passed the growth or rank thresholds (all listed
	// ones in fallback).
	Rising int `json:"rising"`
}

// Coverage is the gap analysis of the priority brands.
type Coverage struct {
	TargetPercent float64 `json:"target_percent"`
	// MarketLeaders is the coverage completeness KPI: of the market
	// leaders' fragrances upstream, the percent the catalog covers.
	MarketLeaders KPI             `json:"market_leaders"`
	Brands        []BrandCoverage `json:"brands"`
}

// KPI is one key performance indicator, as the metrics step reports them.
type KPI struct {
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	Warn   float64  `json:"warn"`
	Error  float64  `json:"error"`
	Status string   `json:"status"` // ok | warn | error | unknown
	// Measured and Unknown count the brands with and without an upstream count.
	Measured int `json:"brands_measured"`
	Unknown  int `json:"brands_unknown"`
}

// BrandCoverage is one priority brand's coverage.
type BrandCoverage struct {
	Brand        string `json:"brand"`
	Priority     int    `json:"priority"`
	MarketLeader bool   `json:"market_leader"`
	// Spelling is the name the upstream lists the brand under.
	Spelling string `json:"upstream_spelling,omitempty"`
	Ours     int    `json:"ours"`
	// Upstream is the upstream's count (nil: not crawled or not found).
	Upstream *int     `json:"upstream"`
	Percent  *float64 `json:"percent"`
	// Status is ok, gap (below the target), not_found or not_crawled.
	Status  string `json:"status"`
	Missing int    `json:"missing_found"`
}
