package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/matching"
)

// VectorIndexDimension is the embedding dimension the optional pgvector HNSW
// index covers (the default of monitoring_config.json embedding.dimension).
// Vectors of another dimension are still searched exactly, without it.
const VectorIndexDimension = 384

// GoMigrationsRevision changes whenever a Go migration changes, so that
// test templates built from the old code are not reused.
const GoMigrationsRevision = "2:vector-index-v1,5:fragrance-keys-v1,16:fragrance-key-hash-v1"

// goMigrationNames names the Go migrations in status output.
var goMigrationNames = map[int64]string{2: "00002_vector_index.go", 5: "00005_block_keys.go", 16: "00016_fragrance_key_hash.go"}

// goMigrations are the migrations that need a decision SQL cannot make.
func goMigrations(logger *slog.Logger) []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(2,
			// RunTx, not RunDB: the migration runs on the connection that holds
			// the migration lock, so a one-connection pool cannot deadlock.
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return vectorIndexUp(ctx, tx, logger) }},
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS embeddings_vector_hnsw`)
				return err
			}},
		),
		goose.NewGoMigration(5,
			&goose.GoFunc{RunTx: backfillBlockKeys},
			&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM fragrance_keys`)
				return err
			}},
		),
		goose.NewGoMigration(16,
			&goose.GoFunc{RunTx: hashBlockKeysUp},
			&goose.GoFunc{RunTx: hashBlockKeysDown},
		),
	}
}

// hashBlockKeysUp stores fragrance_keys.key as BlockKeyHash of the key
// text (a bigint instead of text), converting the rows in place with the
// SQL function fragrance_key_hash, which computes the same value.
func hashBlockKeysUp(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		`CREATE FUNCTION fragrance_key_hash(key text) RETURNS bigint
			LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
			AS $$ SELECT ('x' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 16))::bit(64)::bigint $$`,
		`COMMENT ON FUNCTION fragrance_key_hash(text) IS 'fragrance_keys.key of a candidate key text: the first 8 bytes of its SHA-256, big-endian (postgres.BlockKeyHash)'`,
		`ALTER TABLE fragrance_keys ALTER COLUMN key TYPE bigint USING fragrance_key_hash(key)`,
		// Changing a column's type removes its statistics: without them the
		// first import after this migration would plan its key lookups
		// blind until the maintain step analyzes.
		`ANALYZE fragrance_keys`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("hashing candidate keys: %w", err)
		}
	}
	return nil
}

// hashBlockKeysDown goes back to text keys: a hash cannot be turned back
// into its text, so every fragrance is filed again (as 00005 does).
func hashBlockKeysDown(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		`DELETE FROM fragrance_keys`,
		`ALTER TABLE fragrance_keys ALTER COLUMN key TYPE text USING key::text`,
		`DROP FUNCTION fragrance_key_hash(text)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("unhashing candidate keys: %w", err)
		}
	}
	return backfillBlockKeys(ctx, tx)
}

// backfillBlockKeys files every existing fragrance under its candidate
// keys, computed by the same code the importer writes them with.
func backfillBlockKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT f.id, b.match_key, f.name, f.match_key FROM fragrances f JOIN brands b ON b.id = f.brand_id
		WHERE NOT EXISTS (SELECT 1 FROM fragrance_keys k WHERE k.fragrance_id = f.id)`)
	if err != nil {
		return fmt.Errorf("reading fragrances: %w", err)
	}
	type upd struct {
		id   int64
		keys []string
	}
	var updates []upd
	for rows.Next() {
		var f catalog.Fragrance
		var id int64
		if err := rows.Scan(&id, &f.BrandKey, &f.Name, &f.MatchKey); err != nil {
			rows.Close()
			return fmt.Errorf("reading fragrances: %w", err)
		}
		updates = append(updates, upd{id, matching.BlockKeys(&f)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading fragrances: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO fragrance_keys (key, fragrance_id) SELECT unnest($2::text[]), $1 ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, u := range updates {
		if _, err := stmt.ExecContext(ctx, u.id, u.keys); err != nil {
			return fmt.Errorf("filing fragrance %d: %w", u.id, err)
		}
	}
	return nil
}

// vectorIndexUp adds an HNSW expression index over the real[] embeddings
// when the server offers the vector extension (Supabase, RDS), and skips
// with one log line when it does not.
func vectorIndexUp(ctx context.Context, tx *sql.Tx, logger *slog.Logger) error {
	var available bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&available); err != nil {
		return fmt.Errorf("looking for the vector extension: %w", err)
	}
	if !available {
		logger.Info("vector extension not available on this server: skipping the HNSW index; similarity search runs exactly over real[]")
		return nil
	}
	if _, err := tx.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
		return fmt.Errorf("creating the vector extension (grant CREATE on the database, or install it first): %w", err)
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(
		`CREATE INDEX IF NOT EXISTS embeddings_vector_hnsw ON embeddings
		 USING hnsw ((vector::vector(%d)) vector_cosine_ops) WHERE dimension = %d`,
		VectorIndexDimension, VectorIndexDimension))
	if err != nil {
		return fmt.Errorf("creating the HNSW index: %w", err)
	}
	return nil
}

// EmbeddedVersions lists the schema versions this build carries, SQL and
// Go migrations together, in order, without a database.
func EmbeddedVersions() []int64 {
	seen := map[int64]bool{}
	for v := range goMigrationNames {
		seen[v] = true
	}
	entries, err := fs.ReadDir(MigrationsFS(), ".")
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err))
	}
	for _, e := range entries {
		digits := e.Name()
		if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i > 0 {
			digits = digits[:i]
		}
		if v, err := strconv.ParseInt(digits, 10, 64); err == nil && strings.HasSuffix(e.Name(), ".sql") {
			seen[v] = true
		}
	}
	out := make([]int64, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
