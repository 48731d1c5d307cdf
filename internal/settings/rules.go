package settings

import (
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // timezones must resolve in Lambda too

	"github.com/scentmatch/pipeline/internal/namefold"
	"github.com/scentmatch/pipeline/internal/schedule"
)

// semanticChecks runs the rules JSON Schema cannot express, on a file that
// already passed its schema.
func semanticChecks(name, label string, cfg *Config) Problems {
	var ps Problems
	add := func(sev Severity, path, rule, format string, args ...any) {
		ps = append(ps, Problem{Severity: sev, File: label, Path: path, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	switch name {
	case MonitoringFile:
		checkMonitoring(&cfg.Monitoring, add)
	case EthicsFile:
		checkSources(cfg.Sources, add)
	case BrandsFile:
		checkBrands(&cfg.Brands, add)
	}
	return ps
}

type addFunc func(sev Severity, path, rule, format string, args ...any)

// crossChecks runs the rules that read more than one file, once every file
// is valid on its own; a problem is filed under scraping_ethics.json.
func crossChecks(cfg *Config) Problems {
	var ps Problems
	label := EthicsFile
	if o := cfg.Origins[EthicsFile]; o != "" && o != "default" {
		label = o
	}
	det := cfg.Monitoring.DetectionOrDefault()
	// A cycle's detect crawl and its import's fetch share the budget: at
	// least robots.txt twice, the trending pages, and one request per
	// candidate (brand pages come on top).
	need := 2 + det.TrendingMaxPages + cfg.Monitoring.Cycle.MaxFragrances
	names := slices.Sorted(maps.Keys(cfg.Sources))
	for _, n := range names {
		s := cfg.Sources[n]
		if !s.Enabled || (s.Kind != "http" && s.Kind != "sandbox") || s.MaxRequestsPerCycle <= 0 || s.MaxRequestsPerCycle >= need {
			continue
		}
		ps = append(ps, Problem{Severity: SeverityWarning, File: label, Path: "$." + n + ".max_requests_per_cycle", Rule: "request-budget",
			Message: fmt.Sprintf("%d requests per cycle cannot cover robots.txt twice, %d trending pages and %d candidates (cycle.max_fragrances): "+
				"the detect crawl and the import's fetch share this budget, so some candidates would not be fetched; %d or more fits",
				s.MaxRequestsPerCycle, det.TrendingMaxPages, cfg.Monitoring.Cycle.MaxFragrances, need)})
	}
	return ps
}

func checkMonitoring(m *Monitoring, add addFunc) {
	if _, err := schedule.Parse(m.Schedule.Expression); err != nil {
		add(SeverityError, "$.schedule.expression", "aws-cron", "%v", err)
	}
	if _, err := time.LoadLocation(m.Schedule.Timezone); err != nil {
		add(SeverityError, "$.schedule.timezone", "timezone", "unknown IANA time zone %q (e.g. UTC, Europe/Paris)", m.Schedule.Timezone)
	}
	if m.Cycle.MaxFragrances == 0 {
		add(SeverityWarning, "$.cycle.max_fragrances", "cycle-scope", "0 means scheduled cycles import nothing")
	}
	if m.Cycle.LeaseMinutes < m.Cycle.TimeoutMinutes {
		add(SeverityWarning, "$.cycle.lease_minutes", "lease", "lease (%d min) is shorter than the cycle timeout (%d min): a long cycle could lose its lease to a second one",
			m.Cycle.LeaseMinutes, m.Cycle.TimeoutMinutes)
	}
	kpiNames := slices.Sorted(maps.Keys(m.KPIs))
	for _, k := range kpiNames {
		t := m.KPIs[k]
		if HigherIsBetter[k] && t.Warn < t.Error {
			add(SeverityWarning, "$.kpis."+k, "threshold-order", "higher is better for %s, so warn (%g) should be at or above error (%g)", k, t.Warn, t.Error)
		}
		if !HigherIsBetter[k] && t.Warn > t.Error {
			add(SeverityWarning, "$.kpis."+k, "threshold-order", "lower is better for %s, so warn (%g) should be at or below error (%g)", k, t.Warn, t.Error)
		}
	}
	if mt := m.Matching; mt != nil && mt.ReviewThreshold > mt.MergeThreshold {
		add(SeverityError, "$.matching.review_threshold", "range", "review_threshold (%g) is above merge_threshold (%g)", mt.ReviewThreshold, mt.MergeThreshold)
	}
	if d := m.Detection; d != nil {
		if k, ok := m.KPIs["data_freshness_days"]; ok && float64(d.DataFreshnessDays) > k.Error {
			add(SeverityWarning, "$.detection.data_freshness_days", "freshness", "stale data is refreshed after %d days, when the data_freshness_days KPI is already in error (%g)", d.DataFreshnessDays, k.Error)
		}
	}
	if m.Quality.MinRating > m.Quality.MaxRating {
		add(SeverityError, "$.quality_thresholds.min_rating", "range", "min_rating (%g) is above max_rating (%g)", m.Quality.MinRating, m.Quality.MaxRating)
	}
	if _, err := mail.ParseAddress(m.Notifications.Sender); err != nil {
		add(SeverityError, "$.notifications.sender", "email", "%q is not an e-mail address: %v", m.Notifications.Sender, err)
	}
	kinds := slices.Sorted(maps.Keys(m.Notifications.Recipients))
	for _, k := range kinds {
		list := m.Notifications.Recipients[k]
		for i, addr := range list {
			if _, err := mail.ParseAddress(addr); err != nil {
				add(SeverityError, fmt.Sprintf("$.notifications.recipients.%s[%d]", k, i), "email", "%q is not an e-mail address: %v", addr, err)
			}
		}
		if m.Notifications.TypeEnabled(k) && len(list) == 0 {
			add(SeverityWarning, "$.notifications.recipients."+k, "recipients", "no recipients: %s notifications go nowhere", k)
		}
	}
	if m.Embedding.Provider == "bedrock" && m.Embedding.Bedrock == nil {
		add(SeverityError, "$.embedding.bedrock", "required-with", "provider is bedrock but the bedrock section is missing")
	}
	checkBedrock(&m.Embedding, add)
}

// TitanDimensions are the vector sizes Amazon Titan Text Embeddings V2
// answers with.
var TitanDimensions = []int{256, 512, 1024}

func checkBedrock(e *Embedding, add addFunc) {
	if e.Provider != "bedrock" || e.Bedrock == nil {
		return
	}
	if !slices.Contains(TitanDimensions, e.Dimension) {
		add(SeverityError, "$.embedding.dimension", "titan-dimension", "%d: Titan Text Embeddings V2 answers 256, 512 or 1024 dimensions", e.Dimension)
	}
	if e.Model != e.Bedrock.ModelID {
		add(SeverityError, "$.embedding.model", "bedrock-model", "%q: with provider bedrock, model names the stored vectors and must be the Bedrock model id %q", e.Model, e.Bedrock.ModelID)
	}
}

func checkSources(sources map[string]Source, add addFunc) {
	names := slices.Sorted(maps.Keys(sources))
	enabled := 0
	for _, n := range names {
		s := sources[n]
		p := "$." + n
		if s.Enabled {
			enabled++
		}
		if s.Kind == "http" || s.Kind == "sandbox" {
			u, err := url.Parse(s.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(SeverityError, p+".base_url", "url", "%q is not an absolute http(s) URL", s.BaseURL)
			}
			if s.BackoffMaxOrDefault() < s.BackoffInitialOrDefault() {
				add(SeverityError, p+".backoff_max_ms", "range", "backoff_max_ms (%d) is below backoff_initial_ms (%d)", s.BackoffMaxOrDefault(), s.BackoffInitialOrDefault())
			}
		}
		if s.Kind != "http" || !s.Enabled {
			continue
		}
		if !s.RespectRobotsTxt {
			add(SeverityError, p+".respect_robots_txt", "robots", "an enabled HTTP source must respect robots.txt")
		}
		if !s.TermsReviewed {
			add(SeverityError, p+".terms_reviewed", "terms", "read the site's terms of use and robots.txt, then set terms_reviewed to true")
		}
		if s.DelayMS < 1000 {
			add(SeverityWarning, p+".delay_ms", "polite-delay", "%d ms between requests is aggressive for a public site; 1000 or more is polite", s.DelayMS)
		}
		if s.RateLimit > 60 {
			add(SeverityWarning, p+".rate_limit", "polite-rate", "%g requests per minute is aggressive for a public site; 60 or fewer is polite", s.RateLimit)
		}
		if s.MaxConcurrency > 2 {
			add(SeverityWarning, p+".max_concurrency", "polite-concurrency", "%d requests at once is aggressive for a public site; 1 or 2 is polite", s.MaxConcurrency)
		}
		if !strings.Contains(s.UserAgent, "@") && !strings.Contains(s.UserAgent, "http") {
			add(SeverityWarning, p+".user_agent", "contact", "the user agent should say how to reach us (a URL or an e-mail address)")
		}
		if ProductToken(s.UserAgent) == "" {
			add(SeverityWarning, p+".user_agent", "product-token", "no robots.txt product token can be derived from %q (expected e.g. ScentMatchBot/1.0, or Mozilla/5.0 (compatible; ScentMatchBot/1.0)): only robots.txt's User-agent: * group would apply", s.UserAgent)
		}
	}
	if enabled == 0 {
		add(SeverityWarning, "$", "enabled-source", "no source is enabled: detection will find nothing")
	}
}

func checkBrands(b *BrandPriorities, add addFunc) {
	type entry struct {
		brand      int
		name, path string
	}
	seen := map[string]entry{}
	leaders := 0
	for i, brand := range b.Brands {
		if brand.MarketLeader {
			leaders++
		}
		names := append([]string{brand.Name}, brand.Aliases...)
		for j, n := range names {
			// The key detect identifies brands by: accents, case and
			// "&"/"and" ignored ("Hermès" is "Hermes").
			key := namefold.BrandKey(n)
			path := fmt.Sprintf("$.brands[%d].name", i)
			if j > 0 {
				path = fmt.Sprintf("$.brands[%d].aliases[%d]", i, j-1)
			}
			if prev, ok := seen[key]; ok {
				if prev.brand == i {
					// An alias spelling its own brand's name another way
					// ("Hermès", "Hermes") is redundant, not a conflict.
					continue
				}
				add(SeverityError, path, "unique", "%q is the same brand as %q at %s (case, accents and \"&\"/\"and\" are ignored)", n, prev.name, prev.path)
				continue
			}
			seen[key] = entry{i, n, path}
		}
	}
	if leaders == 0 {
		add(SeverityWarning, "$.brands", "market-leaders", "no brand is a market leader: coverage completeness cannot be measured")
	}
}
