package upstream

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/scentmatch/pipeline/internal/crawl"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Health states of an upstream.
const (
	HealthOK        = "ok"
	HealthUnhealthy = "unhealthy"
	HealthSkipped   = "skipped"
)

// Health is an upstream's verdict in the health check.
type Health struct {
	Status    string
	Detail    string
	LatencyMS *float64
}

// CheckHealth sends one request to the source's robots.txt (an HTTP
// source), looks for its files (a snapshot source), or, for the sandbox,
// checks the one `scentmatch sandbox serve` runs at sandboxURL: a sandbox
// that is not running is skipped, not unhealthy (detect starts its own).
func CheckHealth(ctx context.Context, name string, s settings.Source, sandboxURL string, transport http.RoundTripper) Health {
	base := s.BaseURL
	switch s.Kind {
	case "snapshot":
		if err := NewSnapshot(name, s.SnapshotDir, Deps{}).Ready(ctx); err != nil {
			return Health{Status: HealthUnhealthy, Detail: err.Error()}
		}
		return Health{Status: HealthOK, Detail: fmt.Sprintf("source %s: snapshot files in %s", name, s.SnapshotDir)}
	case "sandbox":
		if sandboxURL == "" {
			return Health{Status: HealthSkipped, Detail: fmt.Sprintf("source %s is the sandbox and it is not running (scentmatch detect starts its own)", name)}
		}
		base = sandboxURL
	}
	// The request goes through the crawl's own client, so it is sent as
	// detect would send it: the user agent, timeout_ms, robots.txt's
	// redirects (up to five) and spacing. One attempt: a health check
	// reports, it does not insist.
	cfg, err := crawl.ConfigFrom(name, s, base)
	if err != nil {
		return Health{Status: HealthUnhealthy, Detail: err.Error()}
	}
	cfg.MaxRetries = 0
	client := crawl.New(cfg, crawl.Options{Transport: transport})
	start := time.Now()
	p, err := client.ProbeRobots(ctx)
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		if s.Kind == "sandbox" {
			return Health{Status: HealthSkipped, Detail: fmt.Sprintf("source %s is the sandbox and %s does not answer: not running", name, base)}
		}
		return Health{Status: HealthUnhealthy, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s unreachable: %v", name, p.URL, err)}
	}
	via := ""
	if p.Redirects > 0 {
		via = fmt.Sprintf(" after %d redirect(s)", p.Redirects)
	}
	switch {
	case p.Status >= 500:
		return Health{Status: HealthUnhealthy, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s answered %d%s", name, p.URL, p.Status, via)}
	case p.Status >= 300 && p.Status < 400:
		return Health{Status: HealthUnhealthy, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s answered %d%s: robots.txt cannot be reached, detect would treat it as disallow all", name, p.URL, p.Status, via)}
	}
	return Health{Status: HealthOK, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s answered %d%s", name, p.URL, p.Status, via)}
}
