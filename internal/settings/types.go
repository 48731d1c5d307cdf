package settings

import "time"

// File names of the three configuration files.
const (
	MonitoringFile = "monitoring_config.json"
	EthicsFile     = "scraping_ethics.json"
	BrandsFile     = "brand_priorities.json"
)

// Files lists the configuration files in the order they are loaded.
var Files = []string{MonitoringFile, EthicsFile, BrandsFile}

// Config is the whole validated configuration.
type Config struct {
	Monitoring Monitoring
	// Sources maps a source name to its crawling rules (scraping_ethics.json).
	Sources map[string]Source
	Brands  BrandPriorities
	// Origins tells where each file came from: "default" or the override's location.
	Origins map[string]string
	// Problems holds the warnings found while loading (errors refuse the load).
	Problems Problems
}

// Monitoring is monitoring_config.json.
type Monitoring struct {
	MonitoringEnabled bool              `json:"monitoring_enabled"`
	Cycle             Cycle             `json:"cycle"`
	Schedule          ScheduleConfig    `json:"schedule"`
	Thresholds        Thresholds        `json:"thresholds"`
	KPIs              map[string]KPI    `json:"kpis"`
	Quality           QualityThresholds `json:"quality_thresholds"`
	Matching          *Matching         `json:"matching,omitempty"`
	Retention         Retention         `json:"retention"`
	Notifications     Notifications     `json:"notifications"`
	Embedding         Embedding         `json:"embedding"`
}

// Cycle holds the weekly cycle's defaults.
type Cycle struct {
	MaxFragrances  int  `json:"max_fragrances"`
	TimeoutMinutes int  `json:"timeout_minutes"`
	LeaseMinutes   int  `json:"lease_minutes"`
	BatchSize      int  `json:"batch_size"`
	DryRun         bool `json:"dry_run"`
}

// ScheduleConfig is when the cycle runs locally (in AWS: the template parameter).
type ScheduleConfig struct {
	Expression string `json:"expression"`
	Timezone   string `json:"timezone"`
}

// Thresholds drive alerts and the health check.
type Thresholds struct {
	HealthScoreMin            float64 `json:"health_score_min"`
	ErrorRateMaxPercent       float64 `json:"error_rate_max_percent"`
	PerformanceWarningMinutes float64 `json:"performance_warning_minutes"`
	LastCycleMaxAgeDays       float64 `json:"last_cycle_max_age_days"`
}

// KPI holds the warn and error thresholds of one KPI. Whether a higher value
// is better is a property of the KPI (HigherIsBetter), not of the file.
type KPI struct {
	Warn  float64 `json:"warn"`
	Error float64 `json:"error"`
}

// HigherIsBetter names the KPIs where a value below the threshold is bad;
// for every other KPI a value above it is bad.
var HigherIsBetter = map[string]bool{
	"import_success_rate":    true,
	"validation_pass_rate":   true,
	"embedding_success_rate": true,
	"coverage_completeness":  true,
}

// QualityThresholds bound what the import accepts.
type QualityThresholds struct {
	MinYear       int     `json:"min_year"`
	MaxYearAhead  int     `json:"max_year_ahead"`
	MaxNameLength int     `json:"max_name_length"`
	MaxTextLength int     `json:"max_text_length"`
	MaxListItems  int     `json:"max_list_items"`
	MinRating     float64 `json:"min_rating"`
	MaxRating     float64 `json:"max_rating"`
	MaxVotes      int64   `json:"max_votes"`
}

// Matching holds the duplicate-detection bands: a score at or above
// MergeThreshold merges, at or above ReviewThreshold goes to review, below
// it inserts.
type Matching struct {
	MergeThreshold  float64 `json:"merge_threshold"`
	ReviewThreshold float64 `json:"review_threshold"`
	MaxCandidates   int     `json:"max_candidates"`
}

// DefaultMatching applies when monitoring_config.json has no matching section.
var DefaultMatching = Matching{MergeThreshold: 0.92, ReviewThreshold: 0.8, MaxCandidates: 20}

// MatchingOrDefault returns the matching section, or DefaultMatching.
func (m *Monitoring) MatchingOrDefault() Matching {
	if m.Matching == nil {
		return DefaultMatching
	}
	return *m.Matching
}

// Retention says how long maintenance keeps things.
type Retention struct {
	ObservationsDays       int `json:"observations_days"`
	ResolvedQuarantineDays int `json:"resolved_quarantine_days"`
	ResolvedReviewDays     int `json:"resolved_review_days"`
	CyclesKeep             int `json:"cycles_keep"`
	NotificationsDays      int `json:"notifications_days"`
	BackupsKeep            int `json:"backups_keep"`
}

// Notifications configures e-mail.
type Notifications struct {
	Enabled             bool                `json:"enabled"`
	Sender              string              `json:"sender"`
	SESConfigurationSet string              `json:"ses_configuration_set"`
	Recipients          map[string][]string `json:"recipients"`
	// DedupeWindowHours is how long an alert that is still firing is not
	// sent again (optional; DefaultDedupeWindowHours without it).
	DedupeWindowHours *float64 `json:"dedupe_window_hours,omitempty"`
	// Types switches each notification type on or off and may override the
	// dedupe window (optional; a type not listed is on).
	Types map[string]NotificationType `json:"types,omitempty"`
}

// NotificationType holds one notification type's settings.
type NotificationType struct {
	Enabled           *bool    `json:"enabled,omitempty"`
	DedupeWindowHours *float64 `json:"dedupe_window_hours,omitempty"`
}

// DefaultDedupeWindowHours applies when neither the type nor the
// notifications section sets dedupe_window_hours.
const DefaultDedupeWindowHours = 24

// TypeEnabled reports whether notifications of kind are sent: e-mail is
// enabled and the type is not switched off.
func (n Notifications) TypeEnabled(kind string) bool {
	if !n.Enabled {
		return false
	}
	if t, ok := n.Types[kind]; ok && t.Enabled != nil {
		return *t.Enabled
	}
	return true
}

// DedupeWindow returns how long an alert of kind that is still firing is
// not sent again.
func (n Notifications) DedupeWindow(kind string) time.Duration {
	hours := float64(DefaultDedupeWindowHours)
	if n.DedupeWindowHours != nil {
		hours = *n.DedupeWindowHours
	}
	if t, ok := n.Types[kind]; ok && t.DedupeWindowHours != nil {
		hours = *t.DedupeWindowHours
	}
	return time.Duration(hours * float64(time.Hour))
}

// Embedding chooses and tunes the embedder.
type Embedding struct {
	Provider       string   `json:"provider"`
	Model          string   `json:"model"`
	Dimension      int      `json:"dimension"`
	BatchSize      int      `json:"batch_size"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
	Bedrock        *Bedrock `json:"bedrock,omitempty"`
}

// Bedrock configures Amazon Bedrock Titan embeddings.
type Bedrock struct {
	ModelID        string `json:"model_id"`
	Region         string `json:"region"`
	MaxConcurrency int    `json:"max_concurrency"`
}

// Source is one upstream's crawling rules.
type Source struct {
	Enabled            bool      `json:"enabled"`
	Kind               string    `json:"kind"`
	BaseURL            string    `json:"base_url"`
	UserAgent          string    `json:"user_agent"`
	RespectRobotsTxt   bool      `json:"respect_robots_txt"`
	TermsReviewed      bool      `json:"terms_reviewed"`
	RateLimit          RateLimit `json:"rate_limit"`
	Backoff            Backoff   `json:"backoff"`
	TimeoutMS          int       `json:"timeout_ms"`
	MaxPagesPerCycle   int       `json:"max_pages_per_cycle"`
	CrawlBudgetMinutes float64   `json:"crawl_budget_minutes"`
	Notes              string    `json:"notes,omitempty"`
}

// RateLimit spaces requests to one source.
type RateLimit struct {
	RequestsPerMinute float64 `json:"requests_per_minute"`
	DelayMS           int     `json:"delay_ms"`
	Burst             int     `json:"burst"`
}

// Backoff governs retries after 429 and 5xx answers.
type Backoff struct {
	InitialMS         int  `json:"initial_ms"`
	MaxMS             int  `json:"max_ms"`
	MaxRetries        int  `json:"max_retries"`
	RespectRetryAfter bool `json:"respect_retry_after"`
}

// BrandPriorities is brand_priorities.json.
type BrandPriorities struct {
	Brands []PriorityBrand `json:"brands"`
}

// PriorityBrand is one brand the catalog must cover.
type PriorityBrand struct {
	Name         string   `json:"name"`
	Aliases      []string `json:"aliases,omitempty"`
	Tier         string   `json:"tier,omitempty"`
	Priority     int      `json:"priority"`
	MarketLeader bool     `json:"market_leader"`
}
