package detect

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/sandbox"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

// TestTrendsAcrossSandboxWeeks runs two weekly cycles against the sandbox
// upstream, whose clock is the detector's: the first falls back to the
// trending list, the second measures growth against the first's
// observations.
func TestTrendsAcrossSandboxWeeks(t *testing.T) {
	t.Parallel()
	cfg := settings.Default()
	s := cfg.Sources["sandbox"]
	s.DelayMS, s.RateLimit = 1, 6000
	cfg.Sources["sandbox"] = s
	pool := dbtest.Pool(t)
	// A catalog of 1,500 (the demo catalog is tested in its package): the
	// popularity model over it is the sandbox's.
	var list []sandbox.Fragrance
	brands := []string{"Chanel", "Christian Dior", "Creed", "Guerlain", "Acme", "Zeta Parfums", "Maison Nova"}
	for i := 1; i <= 1500; i++ {
		list = append(list, sandbox.Fragrance{SourceID: strconv.Itoa(i), Brand: brands[i%len(brands)], Name: fmt.Sprintf("Scent %d", i),
			Accords: []string{"woody", "amber"}})
	}
	cat := sandbox.NewCatalog(list)
	now := week1
	clock := func() time.Time { return now }
	d := &Detector{Pool: pool, Config: cfg, Logger: logging.Discard(), Now: clock,
		Open: func(ctx context.Context, name string, s settings.Source, deps upstream.Deps) (upstream.Source, func(), error) {
			srv, err := sandbox.New(sandbox.Options{Now: clock, Catalog: cat})
			if err != nil {
				return nil, nil, err
			}
			run, err := sandbox.Start(srv, "")
			if err != nil {
				return nil, nil, err
			}
			deps.BaseURL = run.URL
			src, err := upstream.Open(name, s, deps)
			return src, func() { _ = run.Close() }, err
		}}
	b := &bundle{pool: pool, now: week1}
	first, err := d.Handle(context.Background(), b.newCycle(t, "schedule-20261122T0200"))
	require.NoError(t, err)
	require.True(t, first.Trends.Fallback)
	require.Equal(t, 100, first.Trends.Listed)
	require.LessOrEqual(t, first.Crawl.Requests, s.MaxRequestsPerCycle)

	now = week1.Add(7 * 24 * time.Hour)
	b.now = now
	second, err := d.Handle(context.Background(), b.newCycle(t, "schedule-20261129T0200"))
	require.NoError(t, err)
	require.False(t, second.Trends.Fallback)
	require.Positive(t, second.Trends.WithHistory)
	require.Less(t, second.Trends.Rising, second.Trends.Listed, "with history, only the risers are trending")
	var grew int
	for _, c := range second.Candidates {
		if c.Reason == ReasonTrending && c.VotesGrowthPercent != nil && *c.VotesGrowthPercent >= 10 {
			grew++
		}
	}
	require.Positive(t, grew, "candidates trending by week-over-week growth")
	require.Equal(t, 20, second.CandidateCount)
}
