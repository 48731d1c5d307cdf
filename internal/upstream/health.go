package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

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
	if transport == nil {
		transport = http.DefaultTransport
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := strings.TrimRight(base, "/") + "/robots.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Health{Status: HealthUnhealthy, Detail: fmt.Sprintf("source %s: %v", name, err)}
	}
	req.Header.Set("User-Agent", s.UserAgent)
	start := time.Now()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		if s.Kind == "sandbox" {
			return Health{Status: HealthSkipped, Detail: fmt.Sprintf("source %s is the sandbox and %s does not answer: not running", name, base)}
		}
		return Health{Status: HealthUnhealthy, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s unreachable: %v", name, u, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return Health{Status: HealthUnhealthy, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s answered %d", name, u, resp.StatusCode)}
	}
	return Health{Status: HealthOK, LatencyMS: &ms, Detail: fmt.Sprintf("source %s: %s answered %d", name, u, resp.StatusCode)}
}
