package settings

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/config"
)

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg, problems, err := Check(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, problems, "the shipped defaults must be clean")
	require.Equal(t, "cron(0 2 ? * SUN *)", cfg.Monitoring.Schedule.Expression)
	require.Equal(t, 20, cfg.Monitoring.Cycle.MaxFragrances)
	require.Equal(t, "local", cfg.Monitoring.Embedding.Provider)
	require.True(t, cfg.Sources["sandbox"].Enabled)
	require.Equal(t, 3000, cfg.Sources["fragrantica"].DelayMS)
	require.Equal(t, float64(20), cfg.Sources["fragrantica"].RateLimit)
	require.Equal(t, 200, cfg.Sources["sandbox"].MaxRequestsPerCycle)
	require.Equal(t, 7, cfg.Monitoring.DetectionOrDefault().DataFreshnessDays)
	require.NotEmpty(t, cfg.Brands.Brands)
	for _, f := range Files {
		require.Equal(t, "default", cfg.Origins[f])
	}
}

func writeDefaults(t *testing.T, dir string, edit map[string]func(string) string) {
	t.Helper()
	for name, fn := range edit {
		data, err := config.Files.ReadFile(name)
		require.NoError(t, err)
		out := fn(string(data))
		require.NotEqual(t, string(data), out, "edit of %s changed nothing", name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644))
	}
}

func TestBrokenConfigurationReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			s = strings.Replace(s, `"max_fragrances": 20`, `"max_fragrances": -5`, 1)
			s = strings.Replace(s, `"health_score_min": 80`, `"health_score_min": 180`, 1)
			s = strings.Replace(s, `"expression": "cron(0 2 ? * SUN *)"`, `"expression": "0 2 * * 0"`, 1)
			s = strings.Replace(s, `"weekly_report": ["ops@scentmatch.local"]`, `"weekly_report": ["not-an-address"]`, 1)
			s = strings.Replace(s, `"dry_run": false`, `"dry_run": "no", "max_fragances": 3`, 1)
			s = strings.Replace(s, `"timezone": "UTC"`, `"timezone": "Mars/Olympus"`, 1)
			return s
		},
		EthicsFile: func(s string) string {
			return strings.Replace(s, `"delay_ms": 100`, `"delay_ms": -1`, 1)
		},
	})
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	want := []struct{ file, path, rule string }{
		{MonitoringFile, "$.cycle.max_fragrances", "minimum"},
		{MonitoringFile, "$.thresholds.health_score_min", "maximum"},
		{MonitoringFile, "$.cycle.dry_run", "type"},
		{MonitoringFile, "$.cycle.max_fragances", "unknown-key"},
		{EthicsFile, "$.sandbox.delay_ms", "minimum"},
	}
	for _, w := range want {
		require.True(t, hasProblem(problems, w.file, w.path, w.rule), "missing %s %s %s in:\n%s", w.file, w.path, w.rule, dump(problems))
	}
	for _, p := range problems {
		require.Equal(t, SeverityError, p.Severity)
		require.True(t, strings.HasPrefix(p.File, dir), "file names the override: %s", p.File)
	}

	// Semantic rules run once the schema passes: fix the schema errors and
	// the cron, address and timezone problems surface together.
	dir2 := t.TempDir()
	writeDefaults(t, dir2, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			s = strings.Replace(s, `"expression": "cron(0 2 ? * SUN *)"`, `"expression": "0 2 * * 0"`, 1)
			s = strings.Replace(s, `"weekly_report": ["ops@scentmatch.local"]`, `"weekly_report": ["not-an-address"]`, 1)
			s = strings.Replace(s, `"timezone": "UTC"`, `"timezone": "Mars/Olympus"`, 1)
			s = strings.Replace(s, `"import_success_rate": { "warn": 99, "error": 98 }`, `"import_success_rate": { "warn": 90, "error": 98 }`, 1)
			return s
		},
	})
	_, problems, err = Check(context.Background(), Dir(dir2))
	require.NoError(t, err)
	for _, w := range []struct{ path, rule string }{
		{"$.schedule.expression", "aws-cron"},
		{"$.schedule.timezone", "timezone"},
		{"$.notifications.recipients.weekly_report[0]", "email"},
	} {
		require.True(t, hasProblem(problems, MonitoringFile, w.path, w.rule), "missing %s %s in:\n%s", w.path, w.rule, dump(problems))
	}
	require.True(t, hasProblem(problems, MonitoringFile, "$.kpis.import_success_rate", "threshold-order"))
	require.Len(t, problems.Warnings(), 1, dump(problems))

	_, err = Load(context.Background(), Dir(dir2))
	var invalid *InvalidError
	require.ErrorAs(t, err, &invalid)
	require.Contains(t, err.Error(), "$.schedule.expression")
	require.Contains(t, err.Error(), "3 error(s)")
}

func TestSyntaxErrorNamesLineAndColumn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, BrandsFile), []byte("{\n  \"brands\": [\n    {\"name\": \"Chanel\",}\n  ]\n}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "monitoring.json"), []byte("{}"), 0o644))
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, BrandsFile, "$", "json-syntax"), dump(problems))
	require.Contains(t, dump(problems), "line 3")
	require.True(t, hasProblem(problems, "monitoring.json", "$", "known-file"), dump(problems))
}

func TestOverrideReplacesWholeFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, BrandsFile), []byte(`{"brands": [{"name": "Chanel", "priority": 1, "market_leader": true}]}`), 0o644))
	cfg, err := Load(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.Len(t, cfg.Brands.Brands, 1)
	require.Equal(t, filepath.Join(dir, BrandsFile), cfg.Origins[BrandsFile])
	require.Equal(t, "default", cfg.Origins[MonitoringFile])

	// A partial monitoring file is not merged with the default: the missing
	// sections are errors.
	require.NoError(t, os.WriteFile(filepath.Join(dir, MonitoringFile), []byte(`{"monitoring_enabled": false}`), 0o644))
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, MonitoringFile, "$.cycle", "required"), dump(problems))
}

func TestEthicsAndBrandRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		EthicsFile: func(s string) string {
			s = strings.Replace(s, `"enabled": false`, `"enabled": true`, 1)
			return strings.Replace(s, `"respect_robots_txt": true,
    "terms_reviewed": false`, `"respect_robots_txt": false,
    "terms_reviewed": false`, 1)
		},
		BrandsFile: func(s string) string {
			return strings.Replace(s, `"aliases": ["Hermes"]`, `"aliases": ["Hermes", "DIOR"]`, 1)
		},
	})
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, EthicsFile, "$.fragrantica.respect_robots_txt", "robots"), dump(problems))
	require.True(t, hasProblem(problems, EthicsFile, "$.fragrantica.terms_reviewed", "terms"), dump(problems))
	require.True(t, hasProblem(problems, BrandsFile, "$.brands[3].aliases[1]", "unique"), dump(problems))
}

// s3Bucket serves GetObject and ListObjectsV2 for one bucket, path-style.
func s3Bucket(t *testing.T, bucket string, objects map[string]string) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/"+bucket)
		key = strings.TrimPrefix(key, "/")
		if key == "" && r.URL.Query().Get("list-type") == "2" {
			prefix := r.URL.Query().Get("prefix")
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>` + bucket + `</Name><IsTruncated>false</IsTruncated>`)
			for k := range objects {
				if strings.HasPrefix(k, prefix) {
					fmt.Fprintf(&b, "<Contents><Key>%s</Key><Size>%d</Size></Contents>", k, len(objects[k]))
				}
			}
			b.WriteString("</ListBucketResult>")
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, b.String())
			return
		}
		body, ok := objects[key]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>%s</Key></Error>`, key)
			return
		}
		w.Header().Set("x-amz-version-id", "v42")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  aws.AnonymousCredentials{},
	})
}

func TestS3PrefixOverride(t *testing.T) {
	t.Parallel()
	client := s3Bucket(t, "cfg-bucket", map[string]string{
		"config/v2/brand_priorities.json": `{"brands": [{"name": "Creed", "priority": 1, "market_leader": true}]}`,
		"config/v2/typo.json":             `{}`,
		"config/v1/brand_priorities.json": `{"brands": []}`,
	})
	ov, err := ParseS3("s3://cfg-bucket/config/v2", client)
	require.NoError(t, err)
	cfg, problems, err := Check(context.Background(), ov)
	require.NoError(t, err)
	require.Equal(t, "Creed", cfg.Brands.Brands[0].Name)
	require.Equal(t, "s3://cfg-bucket/config/v2/brand_priorities.json?versionId=v42", cfg.Origins[BrandsFile])
	require.Equal(t, "default", cfg.Origins[MonitoringFile])
	require.True(t, hasProblem(problems, "s3://cfg-bucket/config/v2/typo.json", "$", "known-file"), dump(problems))
}

func hasProblem(ps Problems, file, path, rule string) bool {
	for _, p := range ps {
		if (p.File == file || strings.HasSuffix(p.File, "/"+file)) && p.Path == path && p.Rule == rule {
			return true
		}
	}
	return false
}

func dump(ps Problems) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestNotificationTypesAndDedupeWindow(t *testing.T) {
	t.Parallel()
	// Defaults: every type on, a 24-hour window.
	n := Default().Monitoring.Notifications
	for _, k := range []string{"weekly_report", "new_fragrance", "performance_warning", "error", "health_failure"} {
		require.True(t, n.TypeEnabled(k), k)
		require.Equal(t, 24*time.Hour, n.DedupeWindow(k), k)
	}

	// An override written before the types and dedupe_window_hours keys
	// existed still loads, with every type on and the default window.
	dir := t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			i := strings.Index(s, `,
    "dedupe_window_hours"`)
			j := strings.Index(s, `"embedding"`)
			return s[:i] + "\n  },\n  " + s[j:]
		},
	})
	cfg, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.Empty(t, problems, dump(problems))
	n = cfg.Monitoring.Notifications
	require.Nil(t, n.Types)
	require.True(t, n.TypeEnabled("error"))
	require.Equal(t, 24*time.Hour, n.DedupeWindow("health_failure"))

	// A type switched off needs no recipients; a per-type window wins over
	// the section's; an unknown type is an error.
	dir = t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			s = strings.Replace(s, `"new_fragrance": ["catalog@scentmatch.local"]`, `"new_fragrance": []`, 1)
			s = strings.Replace(s, `"performance_warning": ["ops@scentmatch.local"]`, `"performance_warning": []`, 1)
			s = strings.Replace(s, `"new_fragrance": { "enabled": true }`, `"new_fragrance": { "enabled": false }`, 1)
			s = strings.Replace(s, `"error": { "enabled": true }`, `"error": { "enabled": true, "dedupe_window_hours": 1.5 }`, 1)
			return s
		},
	})
	cfg, problems, err = Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.Len(t, problems, 1, dump(problems))
	require.True(t, hasProblem(problems, MonitoringFile, "$.notifications.recipients.performance_warning", "recipients"), dump(problems))
	n = cfg.Monitoring.Notifications
	require.False(t, n.TypeEnabled("new_fragrance"))
	require.Equal(t, 90*time.Minute, n.DedupeWindow("error"))
	require.Equal(t, 24*time.Hour, n.DedupeWindow("weekly_report"))

	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			return strings.Replace(s, `"error": { "enabled": true }`, `"errors": { "enabled": true }, "error": { "dedupe_window_hours": -1 }`, 1)
		},
	})
	_, problems, err = Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, MonitoringFile, "$.notifications.types.errors", "unknown-key"), dump(problems))
	require.True(t, hasProblem(problems, MonitoringFile, "$.notifications.types.error.dedupe_window_hours", "minimum"), dump(problems))

	off := false
	n = Notifications{Enabled: false}
	require.False(t, n.TypeEnabled("error"), "the section switch wins")
	n = Notifications{Enabled: true, Types: map[string]NotificationType{"error": {Enabled: &off}}}
	require.False(t, n.TypeEnabled("error"))
	require.True(t, n.TypeEnabled("weekly_report"))
}

func TestBedrockEmbeddingRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			return strings.Replace(s, `"provider": "local"`, `"provider": "bedrock"`, 1)
		},
	})
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, MonitoringFile, "$.embedding.dimension", "titan-dimension"), dump(problems))
	require.True(t, hasProblem(problems, MonitoringFile, "$.embedding.model", "bedrock-model"), dump(problems))
	for _, p := range problems {
		if p.Rule == "titan-dimension" {
			require.Contains(t, p.Message, "384: Titan Text Embeddings V2 answers 256, 512 or 1024 dimensions")
		}
	}

	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			s = strings.Replace(s, `"provider": "local"`, `"provider": "bedrock"`, 1)
			s = strings.Replace(s, `"model": "scent-profile-v1"`, `"model": "amazon.titan-embed-text-v2:0"`, 1)
			return strings.Replace(s, `"dimension": 384`, `"dimension": 512`, 1)
		},
	})
	_, problems, err = Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.Empty(t, problems.Errors(), dump(problems))
}

func TestSourceRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, EthicsFile), []byte(`{
  "site": {"enabled": true, "kind": "http", "base_url": "https://example.com", "user_agent": "Bot/1.0",
    "respect_robots_txt": true, "terms_reviewed": true, "rate_limit": 120, "delay_ms": 200, "max_concurrency": 4,
    "timeout_ms": 1000, "max_retries": 2, "max_requests_per_cycle": 10, "backoff_initial_ms": 5000, "backoff_max_ms": 1000},
  "files": {"enabled": false, "kind": "snapshot"},
  "lab": {"enabled": false, "kind": "sandbox", "base_url": "not a url"}
}`), 0o644))
	_, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	// The schema: a snapshot source needs its directory, a sandbox the politeness keys.
	require.True(t, hasProblem(problems, EthicsFile, "$.files.snapshot_dir", "required"), dump(problems))
	require.True(t, hasProblem(problems, EthicsFile, "$.lab.rate_limit", "required"), dump(problems))

	// Semantic rules run once the schema passes.
	require.NoError(t, os.WriteFile(filepath.Join(dir, EthicsFile), []byte(`{
  "site": {"enabled": true, "kind": "http", "base_url": "https://example.com", "user_agent": "Bot/1.0",
    "respect_robots_txt": true, "terms_reviewed": true, "rate_limit": 120, "delay_ms": 200, "max_concurrency": 4,
    "timeout_ms": 1000, "max_retries": 2, "max_requests_per_cycle": 10, "backoff_initial_ms": 5000, "backoff_max_ms": 1000},
  "files": {"enabled": false, "kind": "snapshot", "snapshot_dir": "/data/snapshots"}
}`), 0o644))
	_, problems, err = Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	for _, w := range []struct {
		path, rule string
		sev        Severity
	}{
		{"$.site.backoff_max_ms", "range", SeverityError},
		{"$.site.delay_ms", "polite-delay", SeverityWarning},
		{"$.site.rate_limit", "polite-rate", SeverityWarning},
		{"$.site.max_concurrency", "polite-concurrency", SeverityWarning},
		{"$.site.user_agent", "contact", SeverityWarning},
	} {
		require.True(t, hasProblem(problems, EthicsFile, w.path, w.rule), "missing %s %s in:\n%s", w.path, w.rule, dump(problems))
		for _, p := range problems {
			if p.Path == w.path && p.Rule == w.rule {
				require.Equal(t, w.sev, p.Severity, p.String())
			}
		}
	}
	require.Len(t, problems, 5, dump(problems))
}

func TestDetectionSection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeDefaults(t, dir, map[string]func(string) string{
		MonitoringFile: func(s string) string {
			return strings.Replace(s, `"data_freshness_days": 7,
    "coverage_target_percent"`, `"data_freshness_days": 30,
    "coverage_target_percent"`, 1)
		},
	})
	cfg, problems, err := Check(context.Background(), Dir(dir))
	require.NoError(t, err)
	require.True(t, hasProblem(problems, MonitoringFile, "$.detection.data_freshness_days", "freshness"), dump(problems))
	require.Equal(t, 30, cfg.Monitoring.DetectionOrDefault().DataFreshnessDays)

	// Without the section, the defaults apply.
	var m Monitoring
	require.Equal(t, DefaultDetection, m.DetectionOrDefault())
}

// TestRequestBudgetFitsTheCycle: the detect crawl and the import's fetch
// share max_requests_per_cycle, so a budget below robots.txt twice, the
// trending pages and one request per candidate is reported (a warning: the
// cycle still runs, with fetch errors for what does not fit).
func TestRequestBudgetFitsTheCycle(t *testing.T) {
	t.Parallel()
	ethics := func(budget int) string {
		return fmt.Sprintf(`{
  "site": {"enabled": true, "kind": "http", "base_url": "https://example.com", "user_agent": "Bot/1.0 (+https://example.com/bot)",
    "respect_robots_txt": true, "terms_reviewed": true, "rate_limit": 30, "delay_ms": 2000, "max_concurrency": 1,
    "timeout_ms": 1000, "max_retries": 2, "max_requests_per_cycle": %d},
  "off": {"enabled": false, "kind": "http", "base_url": "https://example.org", "user_agent": "Bot/1.0 (+https://example.com/bot)",
    "respect_robots_txt": true, "terms_reviewed": true, "rate_limit": 30, "delay_ms": 2000, "max_concurrency": 1,
    "timeout_ms": 1000, "max_retries": 2, "max_requests_per_cycle": 1}
}`, budget)
	}
	def := Default()
	need := 2 + def.Monitoring.DetectionOrDefault().TrendingMaxPages + def.Monitoring.Cycle.MaxFragrances
	for _, tc := range []struct {
		budget int
		warned bool
	}{{need - 1, true}, {need, false}} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, EthicsFile), []byte(ethics(tc.budget)), 0o644))
		cfg, problems, err := Check(context.Background(), Dir(dir))
		require.NoError(t, err)
		require.Empty(t, problems.Errors(), dump(problems))
		require.Equal(t, tc.warned, hasProblem(problems, EthicsFile, "$.site.max_requests_per_cycle", "request-budget"), "budget %d:\n%s", tc.budget, dump(problems))
		require.False(t, hasProblem(problems, EthicsFile, "$.off.max_requests_per_cycle", "request-budget"), "a disabled source is not checked")
		if tc.warned {
			require.Len(t, cfg.Problems, 1, "a warning: the configuration loads")
			require.Contains(t, cfg.Problems[0].Message, fmt.Sprintf("%d or more fits", need))
		}
	}
}

func TestProductToken(t *testing.T) {
	for ua, want := range map[string]string{
		"ScentMatchBot/1.0 (+mailto:ops@scentmatch.local)":                                                                "ScentMatchBot",
		"Mozilla/5.0 (compatible; ScentMatchBot/1.0; +mailto:ops@x)":                                                      "ScentMatchBot",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://g) Chrome/1 Safari/537.36": "Googlebot",
		"scent_match-bot":                 "scent_match-bot",
		"Mozilla/5.0 (X11; Linux x86_64)": "",
		"ScentMatch2/1.0":                 "",
		"":                                "",
	} {
		require.Equal(t, want, ProductToken(ua), ua)
	}
}

// A user agent without a robots.txt product token is a warning naming the
// file, the field and the rule.
func TestUserAgentWithoutProductTokenIsWarned(t *testing.T) {
	t.Parallel()
	for ua, warned := range map[string]bool{
		"Mozilla/5.0 (Windows NT 10.0; +mailto:ops@x)":               true,
		"Mozilla/5.0 (compatible; ScentMatchBot/1.0; +mailto:ops@x)": false,
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, EthicsFile), []byte(fmt.Sprintf(`{
  "site": {"enabled": true, "kind": "http", "base_url": "https://example.com", "user_agent": %q,
    "respect_robots_txt": true, "terms_reviewed": true, "rate_limit": 30, "delay_ms": 2000, "max_concurrency": 1,
    "timeout_ms": 1000, "max_retries": 2, "max_requests_per_cycle": 1000}
}`, ua)), 0o644))
		_, problems, err := Check(context.Background(), Dir(dir))
		require.NoError(t, err)
		require.Equal(t, warned, hasProblem(problems, EthicsFile, "$.site.user_agent", "product-token"), "%s:\n%s", ua, dump(problems))
		require.Empty(t, problems.Errors(), dump(problems))
	}
}

// Two brands that detect would take for one (accents, case and "&"/"and"
// ignored: its brand key) fail rule unique, naming both entries; an alias
// spelling its own brand another way is fine.
func TestBrandsUniqueByDetectsBrandKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ first, second, path string }{
		{"Hermès", "Hermes", "$.brands[1].name"},
		{"Dolce & Gabbana", "Dolce and Gabbana", "$.brands[1].name"},
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, BrandsFile), []byte(fmt.Sprintf(`{"brands": [
  {"name": %q, "aliases": [], "tier": "luxury", "priority": 1, "market_leader": true},
  {"name": %q, "aliases": [], "tier": "luxury", "priority": 2, "market_leader": false}
]}`, tc.first, tc.second)), 0o644))
		_, problems, err := Check(context.Background(), Dir(dir))
		require.NoError(t, err)
		errs := problems.Errors()
		require.Len(t, errs, 1, dump(problems))
		require.Equal(t, filepath.Join(dir, BrandsFile), errs[0].File)
		require.Equal(t, tc.path, errs[0].Path)
		require.Equal(t, "unique", errs[0].Rule)
		require.Contains(t, errs[0].Message, fmt.Sprintf("%q", tc.first))
		require.Contains(t, errs[0].Message, fmt.Sprintf("%q", tc.second))
		require.Contains(t, errs[0].Message, "$.brands[0].name")
	}
}
