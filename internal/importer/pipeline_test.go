package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
	"github.com/scentmatch/pipeline/internal/synth"
)

// TestPipelinedImportMatchesOneConnection imports one sequence twice:
// with a pool of one connection (every batch looks everything up in its
// own transaction) and with two (the next batch is read ahead while one
// writes, with the writing batch's changes overlaid). Small batches of
// odd sizes make many batch boundaries; the sequence inserts, merges
// within and across sources, reviews, matches records without source_ids
// to earlier ones, updates (after which nothing is read ahead) and
// re-imports. Every report line and every catalog table must be the same.
func TestPipelinedImportMatchesOneConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	newBundle := func(conns int32) *bundle {
		pool, err := postgres.Connect(ctx, dbtest.URL(t), postgres.PoolOptions{MaxConns: conns})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return &bundle{pool: pool, im: &importer.Importer{Pool: pool, Config: settings.Default(), Logger: logging.Discard(),
			Now: func() time.Time { return now }}}
	}
	one, two := newBundle(1), newBundle(2)

	dir := t.TempDir()
	writeSynth := func(name string, n int, seed uint64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, synth.Write(f, synth.Options{Records: n, Seed: seed, Format: "jsonl", Messy: 0.05}))
		require.NoError(t, f.Close())
		return p
	}
	synthA := writeSynth("a.jsonl", 2500, 7)
	synthB := writeSynth("b.jsonl", 1200, 8) // the same source_ids, other content: updates
	retail := filepath.Join(dir, "retail.csv")
	require.NoError(t, shareddata.Head("retail-3k.csv", 1500, retail))
	cat := sliceOfCatalog(t, 3000)

	steps := []struct {
		path string
		m    map[string]string
		opts importer.Options
	}{
		{cat, catalogMap, importer.Options{Source: "catalog37k", BatchSize: 97}},
		{retail, retailMap, importer.Options{Source: "retail3k", BatchSize: 61}},
		{synthA, nil, importer.Options{Source: "synth", BatchSize: 113}},
		{synthB, nil, importer.Options{Source: "synth", BatchSize: 89}},
		{synthA, nil, importer.Options{Source: "synth2", BatchSize: 131}},
		{retail, retailMap, importer.Options{Source: "retail3k", BatchSize: 137}},
		{cat, catalogMap, importer.Options{Source: "catalog37k", BatchSize: 250}},
	}
	readAhead := 0
	for i, st := range steps {
		sum1, lines1, err := one.run(t, st.path, st.m, st.opts)
		require.NoError(t, err, "step %d", i)
		opts := st.opts
		opts.Phases = &importer.Phases{}
		sum2, lines2, err := two.run(t, st.path, st.m, opts)
		require.NoError(t, err, "step %d", i)
		require.Equal(t, sum1.Counts, sum2.Counts, "step %d", i)
		require.Equal(t, len(lines1), len(lines2), "step %d", i)
		for j := range lines1 {
			require.Equal(t, lines1[j], lines2[j], "step %d, line %d", i, lines1[j].Line)
		}
		require.Equal(t, snapshot(t, one.pool), snapshot(t, two.pool), "step %d", i)
		if opts.Phases.Ran("adopt read-ahead") {
			readAhead++
		}
	}
	// How many batches are read ahead depends on timing (a read-ahead that
	// has not begun when the batch before commits is dropped); outcomes
	// never do.
	require.Positive(t, readAhead, "batches were read ahead")
	for _, q := range []string{
		`SELECT key, fragrance_id FROM fragrance_keys`,
		`SELECT source, content_hash, fragrance_id FROM record_identities`,
		`SELECT fragrance_id, candidate_key, score, status FROM review_queue`,
	} {
		require.Equal(t, digestOf(t, one, q), digestOf(t, two, q), q)
	}
}

func digestOf(t *testing.T, b *bundle, q string) string {
	t.Helper()
	var n int
	var d string
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM (`+q+`) t`).Scan(&n, &d))
	require.Positive(t, n, q)
	return d
}
