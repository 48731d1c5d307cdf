package crawl

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/scentmatch/pipeline/internal/settings"
)

// Config is one source's politeness rules, in the units the client uses.
type Config struct {
	// Source names the source in logs and cache keys.
	Source    string
	BaseURL   *url.URL
	UserAgent string
	// RespectRobots fetches and obeys robots.txt.
	RespectRobots bool
	// RatePerMinute is the ceiling on request starts per minute (0: none).
	RatePerMinute float64
	// Delay is the least time between the starts of two requests.
	Delay          time.Duration
	MaxConcurrency int
	// Timeout bounds one attempt, headers and body.
	Timeout    time.Duration
	MaxRetries int
	// MaxRequests is the budget of requests per cycle (0: unlimited).
	MaxRequests      int
	BackoffInitial   time.Duration
	BackoffMax       time.Duration
	CircuitThreshold int
	MaxBodyBytes     int64
}

// ConfigFrom converts a scraping_ethics.json entry. baseURL, when not
// empty, replaces the configured one (the sandbox's real address).
func ConfigFrom(name string, s settings.Source, baseURL string) (Config, error) {
	if baseURL == "" {
		baseURL = s.BaseURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("source %s: base_url %q is not an absolute http(s) URL", name, baseURL)
	}
	return Config{
		Source:           name,
		BaseURL:          u,
		UserAgent:        s.UserAgent,
		RespectRobots:    s.RespectRobotsTxt,
		RatePerMinute:    s.RateLimit,
		Delay:            time.Duration(s.DelayMS) * time.Millisecond,
		MaxConcurrency:   s.MaxConcurrency,
		Timeout:          time.Duration(s.TimeoutMS) * time.Millisecond,
		MaxRetries:       s.MaxRetries,
		MaxRequests:      s.MaxRequestsPerCycle,
		BackoffInitial:   time.Duration(s.BackoffInitialOrDefault()) * time.Millisecond,
		BackoffMax:       time.Duration(s.BackoffMaxOrDefault()) * time.Millisecond,
		CircuitThreshold: s.CircuitBreakerFailuresOrDefault(),
		MaxBodyBytes:     s.MaxBodyBytesOrDefault(),
	}, nil
}

// interval is the least spacing between request starts the configuration
// asks for (robots.txt may ask for more).
func (c Config) interval() time.Duration {
	d := c.Delay
	if c.RatePerMinute > 0 {
		if r := time.Duration(float64(time.Minute) / c.RatePerMinute); r > d {
			d = r
		}
	}
	return d
}
