package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// VectorIndexDimension is the embedding dimension the optional pgvector HNSW
// index covers (the default of monitoring_config.json embedding.dimension).
// Vectors of another dimension are still searched exactly, without it.
const VectorIndexDimension = 384

// GoMigrationsRevision changes whenever a Go migration changes, so that
// test templates built from the old code are not reused.
const GoMigrationsRevision = "2:vector-index-v1"

// goMigrationNames names the Go migrations in status output.
var goMigrationNames = map[int64]string{2: "00002_vector_index.go"}

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
	}
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
