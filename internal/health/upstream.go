package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/scentmatch/pipeline/config"
	"github.com/scentmatch/pipeline/internal/settings"
)

// upstreamTimeout bounds one robots.txt request.
const upstreamTimeout = 5 * time.Second

// Source is the part of a scraping_ethics.json source the upstream check
// reads.
type Source struct {
	Name      string
	Kind      string
	BaseURL   string
	UserAgent string
	Enabled   bool
}

// ReadEthics returns scraping_ethics.json as the pipeline would load it:
// the override's copy when it has one, else the embedded default. The
// upstream check reads it raw so that it depends only on the keys it uses.
func ReadEthics(ctx context.Context, ov settings.Overrides) ([]byte, error) {
	if ov != nil {
		data, _, err := ov.Read(ctx, settings.EthicsFile)
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s from %s: %w", settings.EthicsFile, ov, err)
		}
	}
	data, err := config.Files.ReadFile(settings.EthicsFile)
	if err != nil {
		return nil, fmt.Errorf("reading the embedded %s: %w", settings.EthicsFile, err)
	}
	return data, nil
}

// Sources reads the sources of scraping_ethics.json, tolerating either
// shape: one source with flat keys at the top ({"base_url": ..., "kind":
// ...}) or an object of named sources ({"sandbox": {"base_url": ...}}).
// Only base_url, kind, enabled (default true), user_agent and name are
// read; other keys are ignored.
func Sources(data []byte) ([]Source, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", settings.EthicsFile, err)
	}
	type entry struct {
		Name      string `json:"name"`
		Kind      string `json:"kind"`
		BaseURL   string `json:"base_url"`
		UserAgent string `json:"user_agent"`
		Enabled   *bool  `json:"enabled"`
	}
	toSource := func(name string, raw []byte) (Source, bool) {
		var e entry
		if json.Unmarshal(raw, &e) != nil || e.BaseURL == "" {
			return Source{}, false
		}
		if e.Name != "" {
			name = e.Name
		}
		return Source{Name: name, Kind: e.Kind, BaseURL: e.BaseURL, UserAgent: e.UserAgent, Enabled: e.Enabled == nil || *e.Enabled}, true
	}
	if _, flat := top["base_url"]; flat {
		s, ok := toSource("upstream", data)
		if !ok {
			return nil, fmt.Errorf("%s: base_url must be a string", settings.EthicsFile)
		}
		return []Source{s}, nil
	}
	var out []Source
	for name, raw := range top {
		if s, ok := toSource(name, raw); ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func upstreamComponent(ctx context.Context, ethics []byte, client *http.Client) Component {
	if ethics == nil {
		return Component{Healthy: true, Skipped: true, Detail: "no source configuration to check"}
	}
	sources, err := Sources(ethics)
	if err != nil {
		return Component{Healthy: false, Detail: err.Error()}
	}
	if client == nil {
		client = &http.Client{Timeout: upstreamTimeout}
	}
	var details []string
	healthy, checked := true, 0
	start := time.Now()
	for _, s := range sources {
		if !s.Enabled {
			continue
		}
		c := checkRobots(ctx, client, s)
		if !c.Skipped {
			checked++
		}
		healthy = healthy && c.Healthy
		details = append(details, s.Name+": "+c.Detail)
	}
	if len(details) == 0 {
		return Component{Healthy: true, Skipped: true, Detail: "no enabled source"}
	}
	comp := Component{Healthy: healthy, Skipped: checked == 0, Detail: strings.Join(details, "; ")}
	if checked > 0 {
		ms := float64(time.Since(start).Microseconds()) / 1000
		comp.LatencyMS = &ms
	}
	return comp
}

// checkRobots fetches the source's robots.txt. Any answer below 500 but
// 429 means the site is reachable (404: no robots.txt, everything
// allowed). A sandbox source that refuses the connection is skipped: the
// local sandbox only runs while a cycle detects.
func checkRobots(ctx context.Context, client *http.Client, s Source) Component {
	base, err := url.Parse(s.BaseURL)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return Component{Healthy: false, Detail: fmt.Sprintf("base_url %q is not an http(s) URL", s.BaseURL)}
	}
	robots := base.ResolveReference(&url.URL{Path: "/robots.txt"}).String()
	ctx, cancel := context.WithTimeout(ctx, upstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, robots, nil)
	if err != nil {
		return Component{Healthy: false, Detail: err.Error()}
	}
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		if s.Kind == "sandbox" && refused(err) {
			return Component{Healthy: true, Skipped: true, Detail: fmt.Sprintf("the sandbox is not running (nothing listens at %s)", base.Host)}
		}
		return Component{Healthy: false, Detail: fmt.Sprintf("%s unreachable: %v", robots, err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 512<<10))
	ok := resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests
	verdict := "reachable"
	if !ok {
		verdict = "not answering well"
	}
	return Component{Healthy: ok, Detail: fmt.Sprintf("%s %s (HTTP %d)", robots, verdict, resp.StatusCode)}
}

func refused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
