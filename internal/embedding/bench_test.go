package embedding_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/embedding"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

// realCatalogMap maps the real catalog's columns (README's example).
var realCatalogMap = map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}

const (
	qualityQueries = 500 // query fragrances sampled
	qualityK       = 10  // neighbours per query
	qualitySeed    = 1   // fixed: the same sample every run
)

func realCatalog(b *testing.B) string {
	b.Helper()
	path, err := shareddata.Path("catalog-37k.csv.gz")
	if err != nil {
		b.Skipf("real catalog not available: %v", err)
	}
	return path
}

// BenchmarkLocalEmbedder measures the local embedder alone: vectors per
// second over the real catalog's validated records (read and validated
// before the timer starts).
//
//	go test -run '^$' -bench LocalEmbedder -benchtime 10x ./internal/embedding/
func BenchmarkLocalEmbedder(b *testing.B) {
	r, err := dataset.Open(realCatalog(b), catalog.Fields, dataset.Options{Map: realCatalogMap})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	v := &catalog.Validator{Quality: settings.Default().Monitoring.Quality, Source: "catalog37k"}
	var fs []*catalog.Fragrance
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if f, _ := v.Check(raw); f != nil {
			fs = append(fs, f)
		}
	}
	e := embedding.Local{ModelName: "scent-profile-v1", Dim: 384}
	b.ReportAllocs()
	b.ResetTimer()
	vectors := 0
	for i := 0; i < b.N; i++ {
		vecs, _, err := e.Embed(context.Background(), fs)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range vecs {
			if v != nil {
				vectors++
			}
		}
	}
	b.ReportMetric(float64(vectors)/b.Elapsed().Seconds(), "vectors/s")
}

// BenchmarkRealCatalog imports the real 37k catalog into a scratch
// database with the importer, backfills every vector with the local
// embedder (reported as vectors/s, database writes included), measures
// the neighbours' quality once, then times one similarity search two ways:
// the exact in-process scan `scentmatch similar` uses, and the same exact
// search as an SQL expression over unnest (the alternative not taken).
//
// Quality: for 500 query fragrances drawn with a fixed seed among those
// with a vector and an accord, the share of their 10 nearest neighbours
// whose top accord (the first listed: the catalog lists main accords
// strongest first) is the query's, against the same share for 10 random
// other fragrances per query.
//
//	go test -run '^$' -bench RealCatalog -benchtime 10x -timeout 30m ./internal/embedding/
func BenchmarkRealCatalog(b *testing.B) {
	ctx := context.Background()
	path := realCatalog(b)
	pool := dbtest.Pool(b)
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: realCatalogMap})
	if err != nil {
		b.Fatal(err)
	}
	im := &importer.Importer{Pool: pool, Config: settings.Default(), Logger: logging.Discard()}
	sum, err := im.Import(ctx, r, importer.Options{Source: "catalog37k"})
	r.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %d records in %.1f s: %v", sum.Records, sum.DurationSeconds, sum.Counts)

	e := embedding.Local{ModelName: "scent-profile-v1", Dim: 384}
	res, err := embedding.Backfill(ctx, pool, e, settings.Default().Monitoring.Embedding.BatchSize)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("backfill: %d vectors in %.1f s, %.0f vectors/s (embed + store), %d failed, %d pending",
		res.Embedded, res.Seconds, float64(res.Embedded)/res.Seconds, res.Failed, res.Pending)

	all := loadVectors(b, pool, e.Model(), e.Dimension())
	q := neighbourQuality(b, pool, e, all)
	b.Logf("neighbour quality over %d queries (seed %d): %.1f%% of the %d nearest share the query's top accord, %.1f%% of %d random others; %.1fx random",
		q.queries, qualitySeed, 100*q.nearest, qualityK, 100*q.random, qualityK, q.nearest/q.random)

	// The searches `similar` runs, on random query fragrances.
	rng := rand.New(rand.NewPCG(qualitySeed, 2))
	b.Run("similar/exact-in-process", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			qv := all[rng.IntN(len(all))]
			got, n, err := embedding.NearestExact(ctx, pool, qv.vec, qv.id, e.Model(), e.Dimension(), qualityK)
			if err != nil {
				b.Fatal(err)
			}
			if n != len(all)-1 || len(got) != qualityK {
				b.Fatalf("scanned %d of %d vectors, kept %d", n, len(all)-1, len(got))
			}
		}
	})
	b.Run("similar/exact-sql-unnest", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			qv := all[rng.IntN(len(all))]
			rows, err := pool.Query(ctx, `SELECT e.fragrance_id,
					(SELECT sum(a::float8 * b::float8) FROM unnest(e.vector, $1::real[]) AS t(a, b)) AS sim
				FROM embeddings e WHERE e.model = $2 AND e.dimension = $3 AND e.fragrance_id <> $4
				ORDER BY sim DESC, e.fragrance_id LIMIT $5`, qv.vec, e.Model(), e.Dimension(), qv.id, qualityK)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if rows.Err() != nil || n != qualityK {
				b.Fatalf("%d rows: %v", n, rows.Err())
			}
		}
	})
}

type benchVector struct {
	id        int64
	topAccord string
	vec       []float32
}

func loadVectors(b *testing.B, pool *pgxpool.Pool, model string, dim int) []benchVector {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT e.fragrance_id, coalesce(f.accords->0->>'name', ''), e.vector
		FROM embeddings e JOIN fragrances f ON f.id = e.fragrance_id
		WHERE e.model = $1 AND e.dimension = $2 ORDER BY e.fragrance_id`, model, dim)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []benchVector
	for rows.Next() {
		var v benchVector
		if err := rows.Scan(&v.id, &v.topAccord, &v.vec); err != nil {
			b.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

type quality struct {
	queries         int
	nearest, random float64
}

// neighbourQuality compares every sampled query against every vector in
// memory (a plain sort, independent of the search code), and checks a few
// queries against NearestExact on the way.
func neighbourQuality(b *testing.B, pool *pgxpool.Pool, e embedding.Embedder, all []benchVector) quality {
	b.Helper()
	start := time.Now()
	rng := rand.New(rand.NewPCG(qualitySeed, 1))
	var withAccord []int
	for i, v := range all {
		if v.topAccord != "" {
			withAccord = append(withAccord, i)
		}
	}
	rng.Shuffle(len(withAccord), func(i, j int) { withAccord[i], withAccord[j] = withAccord[j], withAccord[i] })
	queries := withAccord[:min(qualityQueries, len(withAccord))]
	type cand struct {
		i   int
		sim float64
	}
	better := func(a, c cand) bool {
		if a.sim != c.sim {
			return a.sim > c.sim
		}
		return all[a.i].id < all[c.i].id
	}
	var nearShared, randShared, total int
	cands := make([]cand, 0, qualityK+1)
	for n, qi := range queries {
		q := all[qi]
		// The k best by insertion into a short sorted list.
		cands = cands[:0]
		for j, v := range all {
			if j == qi {
				continue
			}
			c := cand{j, embedding.Cosine(q.vec, v.vec)}
			if len(cands) == qualityK && !better(c, cands[qualityK-1]) {
				continue
			}
			k := sort.Search(len(cands), func(x int) bool { return better(c, cands[x]) })
			if len(cands) < qualityK {
				cands = append(cands, cand{})
			}
			copy(cands[k+1:], cands[k:])
			cands[k] = c
		}
		if n < 5 {
			got, _, err := embedding.NearestExact(context.Background(), pool, q.vec, q.id, e.Model(), e.Dimension(), qualityK)
			if err != nil {
				b.Fatal(err)
			}
			for k, c := range cands[:qualityK] {
				if got[k].ID != all[c.i].id {
					b.Fatalf("query %d: NearestExact's neighbour %d is %d, the in-memory sort's %d", q.id, k+1, got[k].ID, all[c.i].id)
				}
			}
		}
		for _, c := range cands[:qualityK] {
			if all[c.i].topAccord == q.topAccord {
				nearShared++
			}
		}
		for picked := 0; picked < qualityK; {
			j := rng.IntN(len(all))
			if j == qi {
				continue
			}
			if all[j].topAccord == q.topAccord {
				randShared++
			}
			picked++
		}
		total += qualityK
	}
	b.Logf("quality pass: %d queries x %d vectors in %.1f s", len(queries), len(all), time.Since(start).Seconds())
	return quality{queries: len(queries), nearest: float64(nearShared) / float64(total), random: float64(randShared) / float64(total)}
}
