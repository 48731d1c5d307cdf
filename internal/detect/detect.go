package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/bucket"
	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/namefold"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// OpenFunc opens a source for one run and returns a function that
// releases it (stops an in-process sandbox, say).
type OpenFunc func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error)

// OpenSource is the OpenFunc for deployments: http and snapshot sources
// (upstream.Open); a sandbox source is refused, it runs only locally.
func OpenSource(_ context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
	src, err := upstream.Open(name, s, deps)
	return src, func() {}, err
}

// Detector runs the detect step.
type Detector struct {
	Pool   *pgxpool.Pool
	Config *settings.Config
	Logger *slog.Logger
	Now    func() time.Time
	// Source names the source to crawl; empty picks the first enabled
	// source by name.
	Source string
	// Open opens the source (OpenSource when nil).
	Open OpenFunc
	// Bucket is where a long candidate list is written: "s3://bucket" in
	// AWS, bucket.Local(home) locally. S3 is the client for s3:// buckets.
	Bucket string
	S3     bucket.Putter
}

func (d *Detector) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Detector) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Handle is the detect step's Lambda handler: it returns only its own
// result, or an unwrapped typed error (*UpstreamBlockedError,
// *cycle.TransientError, *cycle.BadInputError) whose type name Step
// Functions catches.
func (d *Detector) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	res, err := d.Run(ctx, st)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// PickSource returns the source a run crawls: name when given, else the
// first enabled source by name.
func PickSource(cfg *settings.Config, name string) (string, settings.Source, error) {
	if name != "" {
		s, ok := cfg.Sources[name]
		if !ok {
			known := make([]string, 0, len(cfg.Sources))
			for n := range cfg.Sources {
				known = append(known, n)
			}
			sort.Strings(known)
			return "", settings.Source{}, &cycle.BadInputError{Err: fmt.Errorf("no source %q in scraping_ethics.json (sources: %s)", name, strings.Join(known, ", "))}
		}
		if !s.Enabled {
			return "", settings.Source{}, &cycle.BadInputError{Err: fmt.Errorf("source %s is disabled in scraping_ethics.json", name)}
		}
		return name, s, nil
	}
	names := make([]string, 0, len(cfg.Sources))
	for n, s := range cfg.Sources {
		if s.Enabled {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", settings.Source{}, &cycle.BadInputError{Err: ErrNoSourceEnabled}
	}
	sort.Strings(names)
	return names[0], cfg.Sources[names[0]], nil
}

// ErrNoSourceEnabled is PickSource's answer when scraping_ethics.json
// enables no source.
var ErrNoSourceEnabled = errors.New("no source is enabled in scraping_ethics.json")

// noSourceHint says how to enable one.
const noSourceHint = "enable an http or snapshot source in a scraping_ethics.json override (in AWS under the stack's ConfigLocation, README \"Enabling a source\"); until then cycles find no candidates"

// enabledAfter returns the enabled sources named after name, by name: the
// ones to try when name cannot be opened here.
func enabledAfter(cfg *settings.Config, name string) []string {
	var out []string
	for n, s := range cfg.Sources {
		if s.Enabled && n > name {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// noSource is the result of a run with no source to crawl: no candidates
// and a warning that names why and what to do.
func (d *Detector) noSource(ctx context.Context, log *slog.Logger, st cycle.State, why string) *Result {
	det := d.Config.Monitoring.DetectionOrDefault()
	w := NoSourceEnabled + ": " + why + "; " + noSourceHint
	log.WarnContext(ctx, "detect: "+NoSourceEnabled, "reason", why)
	return &Result{DryRun: st.DryRun, Candidates: []Candidate{}, Trends: Trends{WindowDays: det.TrendWindowDays},
		Coverage: Coverage{TargetPercent: det.CoverageTargetPercent}, Warnings: []string{w}}
}

// transient marks a database failure as worth a retry.
func transient(err error) error {
	if err == nil {
		return nil
	}
	return &cycle.TransientError{Err: err}
}

// Run detects. When the source is blocked it returns the result so far
// (crawl stats, blocked) with an *UpstreamBlockedError.
func (d *Detector) Run(ctx context.Context, st cycle.State) (*Result, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	log := d.logger().With("cycle_id", st.CycleID, "step", cycle.StepDetect)
	det := d.Config.Monitoring.DetectionOrDefault()
	maxN := st.MaxFragrances
	if maxN == 0 {
		maxN = d.Config.Monitoring.Cycle.MaxFragrances
	}
	row, err := loadCycle(ctx, d.Pool, st.CycleID)
	if err != nil {
		return nil, transient(err)
	}
	if row.stored != nil {
		var res Result
		if err := json.Unmarshal(row.stored, &res); err != nil {
			return nil, fmt.Errorf("reading the stored detect result of cycle %s: %w", st.CycleID, err)
		}
		log.InfoContext(ctx, "detect already ran for this cycle; returning its result", "candidates", res.CandidateCount)
		return &res, nil
	}
	name, srcCfg, err := PickSource(d.Config, d.Source)
	if err != nil {
		if d.Source == "" && errors.Is(err, ErrNoSourceEnabled) {
			return d.noSource(ctx, log, st, "scraping_ethics.json enables none"), nil
		}
		return nil, err
	}
	open := d.Open
	if open == nil {
		open = OpenSource
	}
	deps := upstream.Deps{Cache: crawl.PGCache{DB: d.Pool}, Logger: log, Now: d.now}
	source, release, err := open(ctx, name, srcCfg, deps)
	// Picking by itself, skip a local-only source (the sandbox in a
	// deployment) for the next enabled one; with none left, no source.
	for rest := enabledAfter(d.Config, name); err != nil && d.Source == "" && errors.Is(err, upstream.ErrLocalOnly); {
		if len(rest) == 0 {
			return d.noSource(ctx, log, st, "the enabled sources run only locally (the sandbox, the shipped default)"), nil
		}
		name, rest = rest[0], rest[1:]
		srcCfg = d.Config.Sources[name]
		source, release, err = open(ctx, name, srcCfg, deps)
	}
	if err != nil {
		return nil, &cycle.BadInputError{Err: err}
	}
	defer release()

	r := &run{d: d, st: st, det: det, maxN: maxN, source: source, log: log, now: d.now(), obs: map[string]*observation{},
		im: &importer.Importer{Pool: d.Pool, Config: d.Config, Logger: log, Now: d.Now}}
	res := &Result{DryRun: st.DryRun, Trends: Trends{WindowDays: det.TrendWindowDays}, Coverage: Coverage{TargetPercent: det.CoverageTargetPercent}}
	if err := source.Ready(ctx); err != nil {
		res.Crawl = source.Stats()
		var be *crawl.BlockedError
		if errors.As(err, &be) {
			log.WarnContext(ctx, "source blocked: no catalog request sent", "source", name, "reason", be.Reason)
			return res, &UpstreamBlockedError{Source: name, Reason: be.Reason}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, &cycle.BadInputError{Err: err}
	}

	cands, err := r.trending(ctx, res)
	if err != nil {
		return nil, err
	}
	gaps, err := r.coverage(ctx, res)
	if err != nil {
		return nil, err
	}
	cands = rankCandidates(append(cands, gaps...), maxN)
	res.Crawl = source.Stats()
	res.CrawlSeconds = math.Round(r.crawl.Seconds()*1000) / 1000
	res.Trends.Observed = len(r.obs)
	res.CandidateCount = len(cands)
	res.Candidates = cands
	if det.InlineCandidatesMax >= 0 && len(cands) > det.InlineCandidatesMax {
		ref, err := d.writeCandidates(ctx, st.CycleID, cands)
		if err != nil {
			return nil, transient(err)
		}
		res.Candidates, res.CandidatesRef = nil, ref
	}
	res.MaxRSSMB = math.Round(maxRSSMB()*10) / 10

	err = pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		if !st.DryRun && len(r.obs) > 0 {
			cycleID := ""
			if row.exists {
				cycleID = st.CycleID
			}
			n, err := storeObservations(ctx, tx, name, cycleID, r.obs)
			if err != nil {
				return err
			}
			res.Trends.Stored = n
		}
		if !row.exists {
			return nil
		}
		data, err := json.Marshal(res)
		if err != nil {
			return err
		}
		stored, err := storeResult(ctx, tx, st.CycleID, data)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, data) {
			var other Result
			if err := json.Unmarshal(stored, &other); err == nil {
				res = &other // another run of this cycle finished first
			}
		}
		return nil
	})
	if err != nil {
		return nil, transient(err)
	}
	log.InfoContext(ctx, "detect done", "source", name, "candidates", res.CandidateCount, "requests", res.Crawl.Requests,
		"observed", res.Trends.Observed, "dry_run", st.DryRun)
	return res, nil
}

// writeCandidates writes the list as JSON Lines in the bucket.
func (d *Detector) writeCandidates(ctx context.Context, cycleID string, cands []Candidate) (string, error) {
	if d.Bucket == "" {
		return "", fmt.Errorf("%d candidates need a bucket to travel in (candidates_ref), and none is configured", len(cands))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, c := range cands {
		if err := enc.Encode(c); err != nil {
			return "", err
		}
	}
	ref := bucket.Join(d.Bucket, "cycles/"+cycleID+"/detect/candidates.jsonl")
	if _, err := bucket.Put(ctx, ref, bytes.NewReader(buf.Bytes()), d.S3); err != nil {
		return "", err
	}
	return ref, nil
}

// run is one detect run's working state.
type run struct {
	d      *Detector
	st     cycle.State
	det    settings.Detection
	maxN   int
	source upstream.Source
	log    *slog.Logger
	now    time.Time
	im     *importer.Importer
	obs    map[string]*observation
	// stop is set once the budget is spent or the circuit open.
	stop bool
	// crawl is the time spent waiting on the source (listing pages),
	// without the detection work done on each page.
	crawl time.Duration
}

// list reads a listing; a budget or circuit stop is remembered and not an error.
func (r *run) list(ctx context.Context, l upstream.Listing, maxPages int, fn func(*upstream.Page) error) error {
	if r.stop {
		return nil
	}
	start := time.Now()
	var work time.Duration
	err := r.source.List(ctx, l, maxPages, func(p *upstream.Page) error {
		t0 := time.Now()
		defer func() { work += time.Since(t0) }()
		for _, it := range p.Items {
			observe(r.obs, it, p.ObservedAt)
		}
		return fn(p)
	})
	r.crawl += time.Since(start) - work
	if upstream.Exhausted(err) {
		r.stop = true
		r.log.WarnContext(ctx, "crawl stopped: going on with what it has", "listing", l.String(), "reason", err)
		return nil
	}
	return err
}

// probe asks the catalog about items.
func (r *run) probe(ctx context.Context, items []upstream.Item) ([]importer.Presence, error) {
	recs := make([]map[string]any, len(items))
	for i, it := range items {
		rec := map[string]any{}
		if len(it.Record) > 0 {
			dec := json.NewDecoder(bytes.NewReader(it.Record))
			dec.UseNumber()
			_ = dec.Decode(&rec)
		}
		rec["source"] = r.source.Name()
		rec["source_id"], rec["brand"], rec["name"] = it.SourceID, it.Brand, it.Name
		if it.Concentration != "" {
			rec["concentration"] = it.Concentration
		}
		if it.Gender != "" {
			rec["gender"] = it.Gender
		}
		recs[i] = rec
	}
	ps, err := r.im.Probe(ctx, r.source.Name(), recs)
	return ps, transient(err)
}

// trending reads the trending list, scores trends and returns the
// trending and stale candidates.
func (r *run) trending(ctx context.Context, res *Result) ([]Candidate, error) {
	var items []upstream.Item
	seen := map[string]bool{}
	if err := r.list(ctx, upstream.Listing{Trending: true}, r.det.TrendingMaxPages, func(p *upstream.Page) error {
		for _, it := range p.Items {
			if !seen[it.SourceID] {
				seen[it.SourceID] = true
				items = append(items, it)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	sort.SliceStable(items, func(i, j int) bool { return *items[i].Rank < *items[j].Rank })
	res.Trends.Listed = len(items)
	if len(items) == 0 {
		return nil, nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.SourceID
	}
	minAge, maxAge := windows(r.det)
	base, listedThen, err := baselines(ctx, r.d.Pool, r.source.Name(), ids, r.now, minAge, maxAge)
	if err != nil {
		return nil, transient(err)
	}
	trends := scoreTrends(items, base, listedThen, r.now, r.det)
	res.Trends.Fallback = !listedThen && len(base) == 0
	presence, err := r.probe(ctx, items)
	if err != nil {
		return nil, err
	}
	freshness := time.Duration(r.det.DataFreshnessDays) * 24 * time.Hour
	var out []Candidate
	for i, t := range trends {
		if t.history {
			res.Trends.WithHistory++
		}
		if !t.rising {
			continue
		}
		res.Trends.Rising++
		c := r.candidate(t.item, t.score)
		c.Rank, c.VotesGrowthPercent, c.RankChange = t.item.Rank, t.growthPct, t.rankChange
		p := presence[i]
		switch p.How {
		case importer.Missing:
			c.Reason = ReasonTrending
		case importer.PresentMaybe:
			c.Reason, c.FragranceID, c.Match = ReasonTrending, p.FragranceID, "review"
		case importer.PresentByIdentity, importer.PresentByMatch:
			age := r.now.Sub(p.DataAt)
			if p.DataAt.IsZero() || age <= freshness {
				continue
			}
			days := math.Round(age.Hours()/24*10) / 10
			c.Reason, c.FragranceID, c.DataAgeDays = ReasonStale, p.FragranceID, &days
		default: // invalid: the import would quarantine it
			r.log.InfoContext(ctx, "trending item not a candidate: it does not validate", "source_id", t.item.SourceID, "reason", p.Reason)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// candidate starts a candidate for an item with its signal and brand priority.
func (r *run) candidate(it upstream.Item, signal float64) Candidate {
	prio := r.priorityOf(it.Brand)
	return Candidate{Source: r.source.Name(), SourceID: it.SourceID, Brand: it.Brand, Name: it.Name, Signal: round3(signal),
		Score: round3(signal + priorityBonus(prio)), BrandPriority: prio, Votes: it.Votes, Rating: it.Rating}
}

// looseKey compares brand spellings as the upstreams write them (the
// key brand_priorities.json's rule unique uses too).
func looseKey(s string) string { return namefold.BrandKey(s) }

func (r *run) priorityOf(brand string) int {
	k := looseKey(brand)
	for _, b := range r.d.Config.Brands.Brands {
		if looseKey(b.Name) == k {
			return b.Priority
		}
		for _, a := range b.Aliases {
			if looseKey(a) == k {
				return b.Priority
			}
		}
	}
	return 0
}

// rankCandidates keeps one candidate per fragrance (trending before
// stale before coverage_gap, then the higher score), orders them by
// score, then brand priority, then source_id, and keeps max. Coverage gaps
// are a backlog: they take at most half of the places while trending or
// stale candidates are waiting, so the backlog of the priority brands
// never starves what is moving now.
func rankCandidates(cands []Candidate, maxN int) []Candidate {
	order := map[string]int{ReasonTrending: 0, ReasonStale: 1, ReasonCoverageGap: 2}
	best := map[string]int{}
	var out []Candidate
	for _, c := range cands {
		key := c.Source + "\x00" + c.SourceID
		i, ok := best[key]
		if !ok {
			best[key] = len(out)
			out = append(out, c)
			continue
		}
		if o := out[i]; order[c.Reason] < order[o.Reason] || order[c.Reason] == order[o.Reason] && c.Score > o.Score {
			out[i] = c
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		pa, pb := a.BrandPriority, b.BrandPriority
		if pa == 0 {
			pa = math.MaxInt
		}
		if pb == 0 {
			pb = math.MaxInt
		}
		if pa != pb {
			return pa < pb
		}
		return a.SourceID < b.SourceID
	})
	moving := 0
	for _, c := range out {
		if c.Reason != ReasonCoverageGap {
			moving++
		}
	}
	gapPlaces := maxN - min(moving, (maxN+1)/2)
	kept := make([]Candidate, 0, min(maxN, len(out)))
	for _, c := range out {
		if len(kept) == maxN {
			break
		}
		if c.Reason == ReasonCoverageGap {
			if gapPlaces == 0 {
				continue
			}
			gapPlaces--
		}
		kept = append(kept, c)
	}
	return kept
}

// EnvBucket names the bucket a deployment writes long candidate lists to.
const EnvBucket = "SCENTMATCH_BUCKET"

// StepHandler is the detect function's handler.
type StepHandler struct {
	// Detector returns the detector, opened once per warm container.
	Detector func(ctx context.Context) (*Detector, error)
}

// Handle runs the detect step for the cycle state.
func (h *StepHandler) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	d, err := h.Detector(ctx)
	if err != nil {
		return nil, err
	}
	return d.Handle(ctx, st)
}
