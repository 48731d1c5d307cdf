package embedding

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Fragrance names one catalog fragrance in search results.
type Fragrance struct {
	ID            int64  `json:"id"`
	Brand         string `json:"brand"`
	Name          string `json:"name"`
	Concentration string `json:"concentration,omitempty"`
	Gender        string `json:"gender,omitempty"`
}

// Neighbour is one result of a similarity search.
type Neighbour struct {
	Rank int `json:"rank"`
	Fragrance
	Similarity float64 `json:"similarity"`
}

// Search methods.
const (
	// MethodExact scans every vector of the model and keeps the k best in
	// a bounded heap, in this process.
	MethodExact = "exact"
	// MethodHNSW asks the pgvector HNSW index (approximate).
	MethodHNSW = "hnsw"
)

// NoVectorError says a fragrance has no vector of the model yet.
type NoVectorError struct {
	Fragrance Fragrance
	Model     string
	Dimension int
}

func (e *NoVectorError) Error() string {
	return fmt.Sprintf("%s %s (id %d) has no %s vector (%d dimensions) yet: run `scentmatch embeddings regenerate`, or wait for the maintenance backfill",
		e.Fragrance.Brand, e.Fragrance.Name, e.Fragrance.ID, e.Model, e.Dimension)
}

// FindByName returns the fragrances whose name is name, compared without
// case, accents or punctuation (catalog.Fold), of the brand when brand is
// not empty (its name or an alias). A name that ends in a concentration
// ("Sauvage Eau de Parfum") also matches that variant. At most 50.
//
// The name is normalized as the importer normalizes a record's: with
// --brand, the brand's words are taken off the start or end of the name
// ("John Richmond for Men" at "John Richmond" is stored as "for Men"),
// then a trailing concentration.
func FindByName(ctx context.Context, pool *pgxpool.Pool, name, brand string) ([]Fragrance, error) {
	var names, concs []string
	seen := map[string]bool{}
	add := func(n, c string) {
		if n != "" && !seen[n+"|"+c] {
			seen[n+"|"+c] = true
			names, concs = append(names, n), append(concs, c)
		}
	}
	readings := []string{name}
	if brand != "" {
		if stripped := catalog.StripBrand(name, brand); stripped != name && stripped != "" {
			readings = append(readings, stripped)
		}
	}
	for _, n := range readings {
		add(catalog.Fold(n), "")
		// Both readings: a name may itself end in a concentration word.
		if rest, c := catalog.SplitConcentration(n); c != "" && rest != "" {
			add(catalog.Fold(rest), strings.ToLower(c))
		}
	}
	return findByKey(ctx, pool, names, concs, catalog.Fold(brand))
}

func findByKey(ctx context.Context, pool *pgxpool.Pool, names, concs []string, brandKey string) ([]Fragrance, error) {
	// match_key is brand|name|concentration|gender, each part folded, so
	// its second part is the folded name.
	rows, err := pool.Query(ctx, `SELECT f.id, b.name, f.name, coalesce(f.concentration, ''), coalesce(f.gender, '')
		FROM fragrances f JOIN brands b ON b.id = f.brand_id
		JOIN unnest($1::text[], $2::text[]) AS q(name, conc)
		  ON split_part(f.match_key, '|', 2) = q.name AND (q.conc = '' OR split_part(f.match_key, '|', 3) = q.conc)
		WHERE $3 = '' OR b.match_key = $3 OR EXISTS (SELECT 1 FROM brand_aliases a WHERE a.brand_id = b.id AND a.alias_key = $3)
		ORDER BY b.name, f.name, f.concentration NULLS FIRST, f.gender NULLS FIRST, f.id
		LIMIT 50`, names, concs, brandKey)
	if err != nil {
		return nil, fmt.Errorf("finding fragrances by name: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Fragrance])
	if err != nil {
		return nil, fmt.Errorf("finding fragrances by name: %w", err)
	}
	return out, nil
}

// Suggest returns up to limit fragrances whose folded name contains
// name's, for a "did you mean" when FindByName finds nothing.
func Suggest(ctx context.Context, pool *pgxpool.Pool, name string, limit int) ([]Fragrance, error) {
	key := catalog.Fold(name)
	if key == "" {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT f.id, b.name, f.name, coalesce(f.concentration, ''), coalesce(f.gender, '')
		FROM fragrances f JOIN brands b ON b.id = f.brand_id
		WHERE strpos(split_part(f.match_key, '|', 2), $1) > 0 OR strpos($1, split_part(f.match_key, '|', 2)) > 0 AND length(split_part(f.match_key, '|', 2)) > 3
		ORDER BY abs(length(split_part(f.match_key, '|', 2)) - length($1)), b.name, f.name, f.id
		LIMIT $2`, key, limit)
	if err != nil {
		return nil, fmt.Errorf("suggesting fragrances: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Fragrance])
	if err != nil {
		return nil, fmt.Errorf("suggesting fragrances: %w", err)
	}
	return out, nil
}

// SearchOptions tunes Similar.
type SearchOptions struct {
	Model     string
	Dimension int
	K         int
	// Exact skips the HNSW index even where there is one.
	Exact bool
}

// SearchResult is what Similar found.
type SearchResult struct {
	Query      Fragrance   `json:"query"`
	Model      string      `json:"model"`
	Dimension  int         `json:"dimension"`
	Method     string      `json:"method"`
	Scanned    int         `json:"scanned,omitempty"` // vectors compared (exact)
	Neighbours []Neighbour `json:"neighbours"`
}

// Similar returns the K fragrances nearest to q by cosine similarity of
// their vectors of the model: through the pgvector HNSW index when the
// server has it for this dimension (approximate), else an exact scan.
// Every vector of the model and dimension takes part, current or stale
// (a stale vector is the fragrance as it was before its last change).
func Similar(ctx context.Context, pool *pgxpool.Pool, q Fragrance, o SearchOptions) (*SearchResult, error) {
	if o.K <= 0 {
		o.K = 10
	}
	res := &SearchResult{Query: q, Model: o.Model, Dimension: o.Dimension, Neighbours: []Neighbour{}}
	vec, err := VectorOf(ctx, pool, q.ID, o.Model, o.Dimension)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, &NoVectorError{Fragrance: q, Model: o.Model, Dimension: o.Dimension}
		}
		return nil, err
	}
	var scored []Scored
	res.Method = MethodExact
	if !o.Exact {
		ok, err := HNSWAvailable(ctx, pool, o.Dimension)
		if err != nil {
			return nil, err
		}
		if ok {
			res.Method = MethodHNSW
		}
	}
	if res.Method == MethodHNSW {
		scored, err = nearestHNSW(ctx, pool, vec, q.ID, o)
	} else {
		scored, res.Scanned, err = NearestExact(ctx, pool, vec, q.ID, o.Model, o.Dimension, o.K)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(scored))
	for i, s := range scored {
		ids[i] = s.ID
	}
	names, err := describe(ctx, pool, ids)
	if err != nil {
		return nil, err
	}
	for i, s := range scored {
		f, ok := names[s.ID]
		if !ok {
			continue // deleted meanwhile
		}
		res.Neighbours = append(res.Neighbours, Neighbour{Rank: i + 1, Fragrance: f, Similarity: s.Similarity})
	}
	return res, nil
}

// VectorOf returns a fragrance's vector of the model (pgx.ErrNoRows when
// it has none).
func VectorOf(ctx context.Context, pool *pgxpool.Pool, id int64, model string, dim int) ([]float32, error) {
	var v []float32
	err := pool.QueryRow(ctx, `SELECT vector FROM embeddings WHERE fragrance_id = $1 AND model = $2 AND dimension = $3`, id, model, dim).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading the vector of fragrance %d: %w", id, err)
	}
	return v, err
}

// HNSWAvailable reports whether the server can answer through the pgvector
// HNSW index for vectors of dim dimensions: the vector extension is
// installed and migration 00002 built embeddings_vector_hnsw (it covers
// postgres.VectorIndexDimension only).
func HNSWAvailable(ctx context.Context, pool *pgxpool.Pool, dim int) (bool, error) {
	if dim != postgres.VectorIndexDimension {
		return false, nil
	}
	var ok bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')
		AND to_regclass('embeddings_vector_hnsw') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking for the pgvector index: %w", err)
	}
	return ok, nil
}

// nearestHNSW orders by pgvector's cosine distance on the same expression
// the index is built on, so the planner can use it. Only reached when
// HNSWAvailable said yes: the SQL names pgvector's type and operator.
func nearestHNSW(ctx context.Context, pool *pgxpool.Pool, vec []float32, exclude int64, o SearchOptions) ([]Scored, error) {
	d := postgres.VectorIndexDimension
	rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT e.fragrance_id, 1 - (e.vector::vector(%[1]d) <=> $1::real[]::vector(%[1]d))
		FROM embeddings e WHERE e.dimension = %[1]d AND e.model = $2 AND e.fragrance_id <> $3
		ORDER BY e.vector::vector(%[1]d) <=> $1::real[]::vector(%[1]d) LIMIT $4`, d), vec, o.Model, exclude, o.K)
	if err != nil {
		return nil, fmt.Errorf("searching the HNSW index: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Scored, error) {
		var s Scored
		err := r.Scan(&s.ID, &s.Similarity)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("searching the HNSW index: %w", err)
	}
	return out, nil
}

// Scored is a fragrance id with its similarity to a query.
type Scored struct {
	ID         int64
	Similarity float64
}

// topK is a min-heap of the k best so far: the worst of them on top.
type topK []Scored

func (h topK) Len() int { return len(h) }
func (h topK) Less(i, j int) bool {
	if h[i].Similarity != h[j].Similarity {
		return h[i].Similarity < h[j].Similarity
	}
	return h[i].ID > h[j].ID // ties: the lower id ranks first
}
func (h topK) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *topK) Push(x any)   { *h = append(*h, x.(Scored)) }
func (h *topK) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// offer keeps s if it is among the k best.
func (h *topK) offer(s Scored, k int) {
	if h.Len() < k {
		heap.Push(h, s)
		return
	}
	if w := (*h)[0]; s.Similarity > w.Similarity || (s.Similarity == w.Similarity && s.ID < w.ID) {
		(*h)[0] = s
		heap.Fix(h, 0)
	}
}

// sorted returns the heap's content, best first.
func (h *topK) sorted() []Scored {
	out := make([]Scored, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(Scored)
	}
	return out
}

// NearestExact streams every vector of the model and dimension (but
// exclude's) and keeps the k most similar to vec in a bounded heap. Memory
// stays at one row and k results whatever the catalog's size. It returns
// the neighbours best first and how many vectors it compared.
func NearestExact(ctx context.Context, pool *pgxpool.Pool, vec []float32, exclude int64, model string, dim, k int) ([]Scored, int, error) {
	rows, err := pool.Query(ctx, `SELECT fragrance_id, vector FROM embeddings WHERE model = $1 AND dimension = $2 AND fragrance_id <> $3`,
		model, dim, exclude)
	if err != nil {
		return nil, 0, fmt.Errorf("scanning vectors: %w", err)
	}
	defer rows.Close()
	h := make(topK, 0, k+1)
	buf := make([]float32, dim)
	// Decoding the binary array by hand saves an allocation per row; a
	// pool in a text-result mode (simple protocol) takes pgx's path.
	binaryVectors := rows.FieldDescriptions()[1].Format == pgx.BinaryFormatCode
	n := 0
	for rows.Next() {
		var id int64
		var v []float32
		if binaryVectors {
			if err := rows.Scan(&id, nil); err != nil {
				return nil, n, fmt.Errorf("scanning vectors: %w", err)
			}
			if v, err = decodeFloat4Array(rows.RawValues()[1], buf); err != nil {
				return nil, n, fmt.Errorf("scanning the vector of fragrance %d: %w", id, err)
			}
		} else if err := rows.Scan(&id, &v); err != nil {
			return nil, n, fmt.Errorf("scanning vectors: %w", err)
		}
		if len(v) != len(vec) {
			return nil, n, fmt.Errorf("the vector of fragrance %d has %d dimensions, the query %d", id, len(v), len(vec))
		}
		h.offer(Scored{ID: id, Similarity: Cosine(vec, v)}, k)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, n, fmt.Errorf("scanning vectors: %w", err)
	}
	return h.sorted(), n, nil
}

func describeList(ctx context.Context, pool *pgxpool.Pool, ids []int64) ([]Fragrance, error) {
	rows, err := pool.Query(ctx, `SELECT f.id, b.name, f.name, coalesce(f.concentration, ''), coalesce(f.gender, '')
		FROM fragrances f JOIN brands b ON b.id = f.brand_id WHERE f.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("naming fragrances: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Fragrance])
	if err != nil {
		return nil, fmt.Errorf("naming fragrances: %w", err)
	}
	return list, nil
}

func describe(ctx context.Context, pool *pgxpool.Pool, ids []int64) (map[int64]Fragrance, error) {
	list, err := describeList(ctx, pool, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Fragrance, len(list))
	for _, f := range list {
		out[f.ID] = f
	}
	return out, nil
}

// decodeFloat4Array decodes PostgreSQL's binary form of a one-dimensional
// real[] without nulls into buf (no allocation per row): a header of
// ndim, flags, element type, then length and lower bound per dimension,
// then for each element its length (4) and its big-endian bits.
func decodeFloat4Array(b []byte, buf []float32) ([]float32, error) {
	const oidFloat4 = 700
	if len(b) < 12 {
		return nil, errors.New("short array header")
	}
	ndim, flags, elem := be32(b), be32(b[4:]), be32(b[8:])
	if ndim != 1 || flags != 0 || elem != oidFloat4 || len(b) < 20 {
		return nil, fmt.Errorf("not a one-dimensional real[] without nulls (ndim %d, flags %d, type %d)", ndim, flags, elem)
	}
	n := int(be32(b[12:]))
	b = b[20:]
	if len(b) != 8*n {
		return nil, fmt.Errorf("array of %d elements in %d bytes", n, len(b))
	}
	if cap(buf) < n {
		buf = make([]float32, n)
	}
	buf = buf[:n]
	for i := range buf {
		if be32(b[8*i:]) != 4 {
			return nil, errors.New("element is not a 4-byte real")
		}
		buf[i] = math.Float32frombits(be32(b[8*i+4:]))
	}
	return buf, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// FindByID returns the fragrance with this id (none when there is none).
func FindByID(ctx context.Context, pool *pgxpool.Pool, id int64) ([]Fragrance, error) {
	return describeList(ctx, pool, []int64{id})
}
