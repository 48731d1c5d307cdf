package settings

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // timezones must resolve in Lambda too

	"golang.org/x/text/cases"

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
	kpiNames := make([]string, 0, len(m.KPIs))
	for k := range m.KPIs {
		kpiNames = append(kpiNames, k)
	}
	sort.Strings(kpiNames)
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
	if m.Quality.MinRating > m.Quality.MaxRating {
		add(SeverityError, "$.quality_thresholds.min_rating", "range", "min_rating (%g) is above max_rating (%g)", m.Quality.MinRating, m.Quality.MaxRating)
	}
	if _, err := mail.ParseAddress(m.Notifications.Sender); err != nil {
		add(SeverityError, "$.notifications.sender", "email", "%q is not an e-mail address: %v", m.Notifications.Sender, err)
	}
	kinds := make([]string, 0, len(m.Notifications.Recipients))
	for k := range m.Notifications.Recipients {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
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
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
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
		}
		if s.Backoff.MaxMS < s.Backoff.InitialMS {
			add(SeverityError, p+".backoff.max_ms", "range", "max_ms (%d) is below initial_ms (%d)", s.Backoff.MaxMS, s.Backoff.InitialMS)
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
		if s.RateLimit.DelayMS < 1000 {
			add(SeverityWarning, p+".rate_limit.delay_ms", "polite-delay", "%d ms between requests is aggressive for a public site; 1000 or more is polite", s.RateLimit.DelayMS)
		}
		if !strings.Contains(s.UserAgent, "@") && !strings.Contains(s.UserAgent, "http") {
			add(SeverityWarning, p+".user_agent", "contact", "the user agent should say how to reach us (a URL or an e-mail address)")
		}
	}
	if enabled == 0 {
		add(SeverityWarning, "$", "enabled-source", "no source is enabled: detection will find nothing")
	}
}

var fold = cases.Fold()

func checkBrands(b *BrandPriorities, add addFunc) {
	seen := map[string]string{}
	leaders := 0
	for i, brand := range b.Brands {
		if brand.MarketLeader {
			leaders++
		}
		names := append([]string{brand.Name}, brand.Aliases...)
		for j, n := range names {
			key := fold.String(strings.TrimSpace(n))
			path := fmt.Sprintf("$.brands[%d].name", i)
			if j > 0 {
				path = fmt.Sprintf("$.brands[%d].aliases[%d]", i, j-1)
			}
			if prev, ok := seen[key]; ok {
				add(SeverityError, path, "unique", "%q is already listed at %s", n, prev)
				continue
			}
			seen[key] = path
		}
	}
	if leaders == 0 {
		add(SeverityWarning, "$.brands", "market-leaders", "no brand is a market leader: coverage completeness cannot be measured")
	}
}
