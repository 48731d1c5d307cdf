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
	Detection         *Detection        `json:"detection,omitempty"`
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

// Detection tunes trend detection and gap analysis (the detect step).
type Detection struct {
	// TrendWindowDays is the period growth is measured over: an
	// observation at least this old (less a day of slack, at most twice as
	// old) is the baseline.
	TrendWindowDays int `json:"trend_window_days"`
	// MinVotesGrowthPercent and MinRankGain make a fragrance trending:
	// votes grown by at least this percent over the window, or climbed at
	// least this many places in the upstream's trending list.
	MinVotesGrowthPercent float64 `json:"min_votes_growth_percent"`
	MinRankGain           int     `json:"min_rank_gain"`
	// MinVotes ignores growth measured on fewer votes than this.
	MinVotes int64 `json:"min_votes"`
	// DataFreshnessDays: a trending fragrance whose catalog data is older
	// than this is a refresh candidate.
	DataFreshnessDays int `json:"data_freshness_days"`
	// CoverageTargetPercent: a priority brand covered below this (ours /
	// upstream's) is a coverage gap.
	CoverageTargetPercent float64 `json:"coverage_target_percent"`
	// TrendingMaxPages and BrandMaxPages bound the pages read per cycle of
	// the trending list and of each priority brand's listing.
	TrendingMaxPages int `json:"trending_max_pages"`
	BrandMaxPages    int `json:"brand_max_pages"`
	// InlineCandidatesMax: more candidates than this travel as a bucket
	// reference (candidates_ref) instead of inline.
	InlineCandidatesMax int `json:"inline_candidates_max"`
}

// DefaultDetection applies when monitoring_config.json has no detection section.
var DefaultDetection = Detection{TrendWindowDays: 7, MinVotesGrowthPercent: 10, MinRankGain: 5, MinVotes: 20, DataFreshnessDays: 7,
	CoverageTargetPercent: 80, TrendingMaxPages: 10, BrandMaxPages: 5, InlineCandidatesMax: 100}

// DetectionOrDefault returns the detection section, or DefaultDetection.
func (m *Monitoring) DetectionOrDefault() Detection {
	if m.Detection == nil {
		return DefaultDetection
	}
	return *m.Detection
}

// Retention says how long maintenance keeps things.
type Retention struct {
	ObservationsDays       int `json:"observations_days"`
	ResolvedQuarantineDays int `json:"resolved_quarantine_days"`
	ResolvedReviewDays     int `json:"resolved_review_days"`
	CyclesKeep             int `json:"cycles_keep"`
	NotificationsDays      int `json:"notifications_days"`
	BackupsKeep            int `json:"backups_keep"`
	// ValidatorsDays keeps the crawl's HTTP validators and parsed pages
	// (crawl_cache) this long after they were last confirmed (0: 30).
	ValidatorsDays int `json:"validators_days,omitempty"`
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

// Source is one upstream's crawling rules (one entry of
// scraping_ethics.json). The politeness keys are required for the http and
// sandbox kinds; the optional ones default as the ...OrDefault methods say.
type Source struct {
	Enabled          bool   `json:"enabled"`
	Kind             string `json:"kind"` // http | snapshot | sandbox
	BaseURL          string `json:"base_url,omitempty"`
	UserAgent        string `json:"user_agent,omitempty"`
	RespectRobotsTxt bool   `json:"respect_robots_txt"`
	TermsReviewed    bool   `json:"terms_reviewed"`
	// RateLimit is the ceiling in requests per minute.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// DelayMS is the least time between the starts of two requests.
	DelayMS             int `json:"delay_ms"`
	MaxConcurrency      int `json:"max_concurrency,omitempty"`
	TimeoutMS           int `json:"timeout_ms,omitempty"`
	MaxRetries          int `json:"max_retries"`
	MaxRequestsPerCycle int `json:"max_requests_per_cycle,omitempty"`
	// BackoffInitialMS and BackoffMaxMS bound the exponential backoff
	// (full jitter) between retries; 0 means 500 and 60000.
	BackoffInitialMS int `json:"backoff_initial_ms,omitempty"`
	BackoffMaxMS     int `json:"backoff_max_ms,omitempty"`
	// CircuitBreakerFailures consecutive failed attempts open the circuit
	// for the rest of the cycle; 0 means 5.
	CircuitBreakerFailures int `json:"circuit_breaker_failures,omitempty"`
	// MaxBodyBytes bounds one response body; 0 means 5 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// SnapshotDir is a snapshot source's directory (kind snapshot).
	SnapshotDir string `json:"snapshot_dir,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Defaults of the optional politeness keys.
const (
	DefaultBackoffInitialMS       = 500
	DefaultBackoffMaxMS           = 60000
	DefaultCircuitBreakerFailures = 5
	DefaultMaxBodyBytes           = 5 << 20
)

// BackoffInitialOrDefault returns backoff_initial_ms, or its default.
func (s Source) BackoffInitialOrDefault() int {
	if s.BackoffInitialMS > 0 {
		return s.BackoffInitialMS
	}
	return DefaultBackoffInitialMS
}

// BackoffMaxOrDefault returns backoff_max_ms, or its default.
func (s Source) BackoffMaxOrDefault() int {
	if s.BackoffMaxMS > 0 {
		return s.BackoffMaxMS
	}
	return DefaultBackoffMaxMS
}

// CircuitBreakerFailuresOrDefault returns circuit_breaker_failures, or its default.
func (s Source) CircuitBreakerFailuresOrDefault() int {
	if s.CircuitBreakerFailures > 0 {
		return s.CircuitBreakerFailures
	}
	return DefaultCircuitBreakerFailures
}

// MaxBodyBytesOrDefault returns max_body_bytes, or its default.
func (s Source) MaxBodyBytesOrDefault() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
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
