package detect

import (
	"context"
	"math"
	"sort"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// coverage measures each priority brand (ours / upstream's), walks the
// listings of the brands below the target for the fragrances the catalog
// lacks, and computes the market leaders' coverage completeness.
//
// Brands are taken by priority, market leaders first. Each costs one
// request for its first page (the upstream's total; the brand's aliases
// are tried in turn when a spelling finds nothing), and up to
// brand_max_pages when it is a gap, until 2 x max_fragrances gap
// candidates are in hand or the budget is spent; brands left over are
// reported not_crawled.
func (r *run) coverage(ctx context.Context, res *Result) ([]Candidate, error) {
	brands := append([]settings.PriorityBrand(nil), r.d.Config.Brands.Brands...)
	sort.SliceStable(brands, func(i, j int) bool {
		if brands[i].Priority != brands[j].Priority {
			return brands[i].Priority < brands[j].Priority
		}
		return brands[i].MarketLeader && !brands[j].MarketLeader
	})
	target := r.det.CoverageTargetPercent
	var out []Candidate
	for _, b := range brands {
		bc := BrandCoverage{Brand: b.Name, Priority: b.Priority, MarketLeader: b.MarketLeader}
		if r.stop {
			bc.Status = "not_crawled"
			res.Coverage.Brands = append(res.Coverage.Brands, bc)
			continue
		}
		walk := len(out) < 2*r.maxN
		gaps, err := r.brand(ctx, b, &bc, walk)
		if err != nil {
			return nil, err
		}
		out = append(out, gaps...)
		res.Coverage.Brands = append(res.Coverage.Brands, bc)
	}
	res.Coverage.MarketLeaders = r.marketLeaders(res.Coverage.Brands)
	r.log.InfoContext(ctx, "coverage measured", "brands", len(brands), "target_percent", target, "gap_candidates", len(out))
	return out, nil
}

// brand measures one brand and returns its gap candidates. A gap
// candidate's signal is 0.35 x (0.7 x popularity within the brand (log of
// votes over the brand's most voted) + 0.3 x how far below the target the
// brand is): at most 0.35, so a time-sensitive trend of a brand of the
// same priority usually ranks first; the backlog fills the rest.
func (r *run) brand(ctx context.Context, b settings.PriorityBrand, bc *BrandCoverage, walk bool) ([]Candidate, error) {
	target := r.det.CoverageTargetPercent
	keys := map[string]bool{catalog.Fold(b.Name): true}
	for _, a := range b.Aliases {
		keys[catalog.Fold(a)] = true
	}
	var items []upstream.Item
	var total *int
	complete := false
	measured := false
	var pages int
	for _, spelling := range append([]string{b.Name}, b.Aliases...) {
		pages = 0
		var cerr error
		err := r.list(ctx, upstream.Listing{Brand: spelling}, max(r.det.BrandMaxPages, 1), func(p *upstream.Page) error {
			pages++
			if pages == 1 {
				if len(p.Items) == 0 && (p.Total == nil || *p.Total == 0) {
					return upstream.ErrStop // not under this spelling
				}
				bc.Spelling, total = spelling, p.Total
			}
			items = append(items, p.Items...)
			for _, it := range p.Items {
				keys[catalog.Fold(it.Brand)] = true
			}
			if p.NextPage == nil {
				complete = true
			}
			if total == nil && !complete {
				return nil // the upstream gives no count: walk to count
			}
			if !measured {
				ours, err := countOurs(ctx, r.d.Pool, sortedKeys(keys))
				if err != nil {
					cerr = err
					return upstream.ErrStop
				}
				bc.Ours, measured = ours, true
			}
			if !walk || r.maxN == 0 || percentOf(bc.Ours, upTotal(total, len(items))) >= target {
				return upstream.ErrStop
			}
			return nil
		})
		if cerr != nil {
			return nil, transient(cerr)
		}
		if err != nil {
			return nil, err
		}
		if bc.Spelling != "" {
			break
		}
		if r.stop {
			break
		}
	}
	switch {
	case bc.Spelling == "" && r.stop:
		bc.Status = "not_crawled"
		return nil, nil
	case bc.Spelling == "":
		bc.Status = "not_found"
		return nil, nil
	}
	if !measured {
		ours, err := countOurs(ctx, r.d.Pool, sortedKeys(keys))
		if err != nil {
			return nil, transient(err)
		}
		bc.Ours = ours
	}
	up := upTotal(total, len(items))
	bc.Upstream = &up
	pct := percentOf(bc.Ours, up)
	bc.Percent = &pct
	bc.Status = "ok"
	if pct >= target {
		return nil, nil
	}
	bc.Status = "gap"
	// The fragrances the catalog lacks, most voted first.
	presence, err := r.probe(ctx, items)
	if err != nil {
		return nil, err
	}
	var maxVotes int64 = 1
	for _, it := range items {
		if it.Votes != nil && *it.Votes > maxVotes {
			maxVotes = *it.Votes
		}
	}
	gap := (target - pct) / math.Max(target, 1)
	var out []Candidate
	for i, it := range items {
		p := presence[i]
		if p.How != importer.Missing && p.How != importer.PresentMaybe {
			continue
		}
		var votes int64
		if it.Votes != nil {
			votes = *it.Votes
		}
		pop := math.Log1p(float64(votes)) / math.Log1p(float64(maxVotes))
		c := r.candidate(it, 0.35*(0.7*pop+0.3*gap))
		c.Reason = ReasonCoverageGap
		if p.How == importer.PresentMaybe {
			c.FragranceID, c.Match = p.FragranceID, "review"
		}
		if c.BrandPriority == 0 {
			c.BrandPriority = b.Priority
			c.Score = round3(c.Signal + priorityBonus(b.Priority))
		}
		out = append(out, c)
	}
	bc.Missing = len(out)
	return out, nil
}

// upTotal is the upstream's count: what it says, else what was listed.
func upTotal(total *int, listed int) int {
	if total != nil {
		return *total
	}
	return listed
}

func percentOf(ours, upstream int) float64 {
	if upstream <= 0 {
		return 100
	}
	return math.Round(math.Min(100, 100*float64(ours)/float64(upstream))*10) / 10
}

// marketLeaders is the coverage completeness KPI: over the market leaders
// the upstream listed, the sum of min(ours, upstream) over the sum of
// upstream, in percent.
func (r *run) marketLeaders(brands []BrandCoverage) KPI {
	t := r.d.Config.Monitoring.KPIs["coverage_completeness"]
	k := KPI{Unit: "percent", Warn: t.Warn, Error: t.Error, Status: "unknown"}
	var covered, total int
	for _, b := range brands {
		if !b.MarketLeader {
			continue
		}
		if b.Upstream == nil {
			k.Unknown++
			continue
		}
		k.Measured++
		covered += min(b.Ours, *b.Upstream)
		total += *b.Upstream
	}
	if total == 0 {
		return k
	}
	v := math.Round(1000*float64(covered)/float64(total)) / 10
	k.Value = &v
	switch {
	case v < t.Error:
		k.Status = "error"
	case v < t.Warn:
		k.Status = "warn"
	default:
		k.Status = "ok"
	}
	return k
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
