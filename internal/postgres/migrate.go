package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the lock row that keeps two migrate runs apart.
const migrationLockID int64 = 0x5ce27a7c

// MigrationLockSchema holds goose's lock table (goose_lock), out of the
// public schema that backups and verify read.
const MigrationLockSchema = "scentmatch_migration"

// MigrationsFS returns the embedded SQL migrations (for tests and tools).
func MigrationsFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err))
	}
	return sub
}

// Migrator applies and inspects the schema migrations on one database.
//
// Applying migrations takes goose's table lock (a lock row in
// scentmatch_migration.goose_lock with a lease and a heartbeat), never a
// session advisory lock: nothing outlives a transaction, so the lock works
// through a transaction pooler too. Reading the version or the status
// (every cold start) takes no lock at all.
type Migrator struct {
	db       *sql.DB
	pool     *pgxpool.Pool
	provider *goose.Provider // locked: Up, UpTo, DownTo
	reader   *goose.Provider // unlocked: versions and status
}

// NewMigrator prepares the embedded migrations for pool. Close releases it
// (the pool stays open).
func NewMigrator(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	locker, err := lock.NewPostgresTableLocker(
		lock.WithTableName(MigrationLockSchema+".goose_lock"),
		lock.WithTableLockID(migrationLockID),
		lock.WithTableLockTimeout(time.Second, 300),
		lock.WithTableLogger(logger),
	)
	if err != nil {
		return nil, fmt.Errorf("creating migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	provider, err := goose.NewProvider(goose.DialectPostgres, db, MigrationsFS(),
		goose.WithLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goMigrations(logger)...),
	)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	reader, err := goose.NewProvider(goose.DialectPostgres, db, MigrationsFS(),
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goMigrations(logger)...),
	)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return &Migrator{db: db, pool: pool, provider: provider, reader: reader}, nil
}

// MigrationPoolConns is the pool size to apply migrations with: one
// connection runs them, one takes the lock row and one renews its lease
// (2 is the least that works).
const MigrationPoolConns = 3

// ensureLockSchema creates the lock table's schema (goose creates the
// table itself).
func (m *Migrator) ensureLockSchema(ctx context.Context) error {
	// With one connection goose would wait forever for a second one to
	// take the lock row; with two the lease renewal waits between
	// migrations.
	if n := m.pool.Config().MaxConns; n < 2 {
		return fmt.Errorf("applying migrations needs a pool of at least 2 connections (%d best), not %d: one runs them, one holds the lock row", MigrationPoolConns, n)
	}
	if _, err := m.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+MigrationLockSchema); err != nil {
		return fmt.Errorf("creating schema %s for the migration lock: %w", MigrationLockSchema, err)
	}
	return nil
}

// Close releases the migrator's database handle.
func (m *Migrator) Close() error { return m.db.Close() }

// MigrationStep is one applied (or reverted) migration.
type MigrationStep struct {
	Version    int64   `json:"version"`
	Name       string  `json:"name"`
	Direction  string  `json:"direction"`
	DurationMS float64 `json:"duration_ms"`
}

// MigrateResult reports what Up did.
type MigrateResult struct {
	From    int64           `json:"from_version"`
	To      int64           `json:"to_version"`
	Applied []MigrationStep `json:"applied"`
}

// Up applies every pending migration, holding goose's lock row so that
// concurrent runs apply each migration once.
func (m *Migrator) Up(ctx context.Context) (MigrateResult, error) {
	if err := m.ensureLockSchema(ctx); err != nil {
		return MigrateResult{}, err
	}
	from, err := m.reader.GetDBVersion(ctx)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("reading schema version: %w", err)
	}
	results, err := m.provider.Up(ctx)
	res := MigrateResult{From: from, To: from, Applied: steps(results)}
	if len(res.Applied) > 0 {
		res.To = res.Applied[len(res.Applied)-1].Version
	}
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return res, fmt.Errorf("applying migration %d (%s): %w", partial.Failed.Source.Version, migrationName(partial.Failed.Source), partial.Err)
		}
		return res, fmt.Errorf("applying migrations: %w", err)
	}
	return res, nil
}

// UpTo applies the pending migrations up to and including version, under
// the same lock as Up. Restore uses it to bring an empty database to the
// schema a backup was taken at.
func (m *Migrator) UpTo(ctx context.Context, version int64) (MigrateResult, error) {
	if err := m.ensureLockSchema(ctx); err != nil {
		return MigrateResult{}, err
	}
	from, err := m.reader.GetDBVersion(ctx)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("reading schema version: %w", err)
	}
	results, err := m.provider.UpTo(ctx, version)
	res := MigrateResult{From: from, To: from, Applied: steps(results)}
	if len(res.Applied) > 0 {
		res.To = res.Applied[len(res.Applied)-1].Version
	}
	if err != nil {
		return res, fmt.Errorf("applying migrations up to %d: %w", version, err)
	}
	return res, nil
}

// Version returns the database's schema version (0 when unmigrated).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	v, err := m.reader.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

// HasVersion reports whether this build carries a migration numbered version.
func (m *Migrator) HasVersion(version int64) bool {
	for _, s := range m.reader.ListSources() {
		if s.Version == version {
			return true
		}
	}
	return false
}

// DownTo reverts migrations down to (not including) version.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]MigrationStep, error) {
	if err := m.ensureLockSchema(ctx); err != nil {
		return nil, err
	}
	results, err := m.provider.DownTo(ctx, version)
	if err != nil {
		return steps(results), fmt.Errorf("reverting migrations to %d: %w", version, err)
	}
	return steps(results), nil
}

// MigrationState is one migration's status.
type MigrationState struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	Applied   bool       `json:"applied"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// SchemaStatus is the database's schema version against this build's.
type SchemaStatus struct {
	Current    int64            `json:"current_version"`
	Target     int64            `json:"target_version"`
	Pending    int              `json:"pending"`
	Migrations []MigrationState `json:"migrations"`
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) (SchemaStatus, error) {
	current, target, err := m.reader.GetVersions(ctx)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("reading schema version: %w", err)
	}
	list, err := m.reader.Status(ctx)
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("reading migration status: %w", err)
	}
	st := SchemaStatus{Current: current, Target: target}
	for _, s := range list {
		ms := MigrationState{Version: s.Source.Version, Name: migrationName(s.Source), Applied: s.State == goose.StateApplied}
		if ms.Applied {
			at := s.AppliedAt
			ms.AppliedAt = &at
		} else {
			st.Pending++
		}
		st.Migrations = append(st.Migrations, ms)
	}
	return st, nil
}

// TargetVersion is the newest migration this build carries.
func (m *Migrator) TargetVersion() int64 {
	sources := m.reader.ListSources()
	if len(sources) == 0 {
		return 0
	}
	return sources[len(sources)-1].Version
}

func steps(results []*goose.MigrationResult) []MigrationStep {
	out := make([]MigrationStep, 0, len(results))
	for _, r := range results {
		if r == nil || r.Source == nil || r.Error != nil {
			continue
		}
		out = append(out, MigrationStep{
			Version:    r.Source.Version,
			Name:       migrationName(r.Source),
			Direction:  r.Direction,
			DurationMS: float64(r.Duration.Microseconds()) / 1000,
		})
	}
	return out
}

// migrationName names a migration: its file for SQL, its registered name for Go.
func migrationName(src *goose.Source) string {
	if src.Path == "" {
		return goMigrationNames[src.Version]
	}
	return baseName(src.Path)
}

func baseName(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}
