package embedding_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func bedrockConfig(dim, concurrency int) settings.Embedding {
	return settings.Embedding{Provider: "bedrock", Model: titanID, Dimension: dim, BatchSize: 8, TimeoutSeconds: 10,
		Bedrock: &settings.Bedrock{ModelID: titanID, Region: "eu-west-1", MaxConcurrency: concurrency}}
}

// importLines imports JSON Lines records with the real importer; the
// embedder (nil: none) runs within timeout after the writes.
func importLines(t *testing.T, pool *pgxpool.Pool, e embedding.Embedder, timeout time.Duration, lines ...string) *importer.Summary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{})
	require.NoError(t, err)
	defer r.Close()
	im := &importer.Importer{Pool: pool, Config: settings.Default(), Logger: logging.Discard(), Embedder: e}
	sum, err := im.Import(context.Background(), r, importer.Options{Source: "s", EmbeddingTimeout: timeout})
	require.NoError(t, err)
	return sum
}

var threeScents = []string{
	`{"source_id": "1", "brand": "Acme", "name": "Oud One", "notes": ["Oud", "Rose"], "accords": ["oud", "rose"]}`,
	`{"source_id": "2", "brand": "Acme", "name": "Citrus Two", "accords": ["citrus"]}`,
	`{"source_id": "3", "brand": "Acme", "name": "Bare Three"}`,
}

func status(t *testing.T, pool *pgxpool.Pool, model string, dim int) embedding.Status {
	t.Helper()
	st, err := embedding.GetStatus(context.Background(), pool, model, dim)
	require.NoError(t, err)
	return st
}

func TestFreshnessByContentHashAndModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	v1 := embedding.Local{ModelName: "scent-profile-v1", Dim: 384}
	importLines(t, pool, v1, 10*time.Second, threeScents...)
	require.Equal(t, embedding.Status{Model: "scent-profile-v1", Dimension: 384, Fragrances: 3, Current: 2, NotEmbeddable: 1}, status(t, pool, "scent-profile-v1", 384))

	// A changed fragrance (new content hash) is pending again; its old
	// vector is replaced, not duplicated.
	importLines(t, pool, nil, 0, `{"source_id": "2", "brand": "Acme", "name": "Citrus Two", "accords": ["citrus", "aromatic"]}`)
	require.Equal(t, int64(1), status(t, pool, "scent-profile-v1", 384).Pending)
	res, err := embedding.Backfill(ctx, pool, v1, 8)
	require.NoError(t, err)
	require.Equal(t, 1, res.Embedded)
	require.Zero(t, res.Pending)

	// Changing the configured model (or its dimension) makes every vector
	// pending for it; the old model's vectors stay, and stay current.
	v2 := embedding.Local{ModelName: "scent-profile-v2", Dim: 128}
	require.Equal(t, embedding.Status{Model: "scent-profile-v2", Dimension: 128, Fragrances: 3, Pending: 2, NotEmbeddable: 1}, status(t, pool, "scent-profile-v2", 128))
	require.Equal(t, int64(2), status(t, pool, "scent-profile-v2", 384).Pending, "same model name, other dimension: pending")
	res, err = embedding.Backfill(ctx, pool, v2, 8)
	require.NoError(t, err)
	require.Equal(t, 2, res.Embedded)
	require.Equal(t, int64(2), status(t, pool, "scent-profile-v2", 128).Current)
	require.Equal(t, int64(2), status(t, pool, "scent-profile-v1", 384).Current)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM embeddings`).Scan(&n))
	require.Equal(t, 4, n)
}

func TestImportNeverFailsBecauseOfBedrock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, errType string
		status        int
		want          string
	}{
		{"access denied", "AccessDeniedException", http.StatusForbidden, "access denied"},
		{"throttled", "ThrottlingException", http.StatusTooManyRequests, "throttled after retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			_, srv := newFakeBedrock(t, func(titanRequest, int) (int, string, int) { return tc.status, tc.errType, 0 })
			e := bedrockEmbedder(t, srv, 256, 2)
			sum := importLines(t, pool, e, 10*time.Second, threeScents...)
			require.Equal(t, "succeeded", sum.Status)
			require.NotNil(t, sum.Embedding)
			require.Contains(t, sum.Embedding.Error, tc.want)
			require.Zero(t, sum.Embedding.Embedded)
			require.Zero(t, sum.Embedding.Failed, "stopped, not failed: they stay pending")
			require.Equal(t, int64(2), sum.Embedding.Pending)
		})
	}
}

func TestBackfillSkipsRecordsThatFailAndFinishesTheRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	lines := []string{}
	for _, n := range []string{"Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa", "Lambda", "Mu"} {
		lines = append(lines, `{"source_id": "`+n+`", "brand": "Acme", "name": "`+n+`", "accords": ["woody"]}`)
	}
	importLines(t, pool, nil, 0, lines...)
	// Gamma always comes back with a wrong dimension; the others are
	// throttled once, which the retryer absorbs.
	fb, srv := newFakeBedrock(t, func(req titanRequest, n int) (int, string, int) {
		if strings.Contains(req.InputText, "Gamma") {
			return 200, "", 128
		}
		if n == 1 {
			return http.StatusTooManyRequests, "ThrottlingException", 0
		}
		return 200, "", 256
	})
	e := bedrockEmbedder(t, srv, 256, 3)
	res, err := embedding.Backfill(ctx, pool, e, 4)
	require.NoError(t, err)
	require.Equal(t, 11, res.Embedded)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, int64(1), res.Pending, "the failed one is pending for a later run")
	require.Equal(t, 12+11, fb.totalCalls(), "each record once, plus one retry per record that succeeded")

	st := status(t, pool, titanID, 256)
	require.Equal(t, int64(11), st.Current)
}

func TestImportEmbeddingTimeoutLeavesTheRestPending(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	fb, srv := newFakeBedrock(t, ok(256))
	fb.delay.Store(int64(200 * time.Millisecond))
	e := bedrockEmbedder(t, srv, 256, 1)
	lines := []string{}
	for i := 0; i < 20; i++ {
		lines = append(lines, fmt.Sprintf(`{"source_id": "%d", "brand": "Acme", "name": "Slow %d", "accords": ["woody"]}`, i, i))
	}
	// 20 calls of 200 ms one at a time cannot fit in 500 ms.
	sum := importLines(t, pool, e, 500*time.Millisecond, lines...)
	require.Equal(t, "succeeded", sum.Status)
	require.True(t, sum.Embedding.TimedOut)
	require.Empty(t, sum.Embedding.Error)
	require.Zero(t, sum.Embedding.Failed, "cut short is pending, not failed")
	require.Less(t, sum.Embedding.Embedded, 20)
	require.Equal(t, int64(20-sum.Embedding.Embedded), sum.Embedding.Pending)
	st := status(t, pool, titanID, 256)
	require.Equal(t, int64(sum.Embedding.Embedded), st.Current, "vectors computed before the deadline are kept")

	// The next backfill finishes the job.
	fb.delay.Store(0)
	res, err := embedding.Backfill(context.Background(), pool, e, 8)
	require.NoError(t, err)
	require.Equal(t, 20-sum.Embedding.Embedded, res.Embedded)
	require.Zero(t, res.Pending)
}
