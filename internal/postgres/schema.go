package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaBehindError says the database needs migrations this build carries.
// Functions return it at cold start rather than run against an old schema.
type SchemaBehindError struct {
	Current, Target int64
}

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("database schema is at version %d but this build needs %d: run `scentmatch db migrate` (in AWS, `make deploy` runs the migrate function)", e.Current, e.Target)
}

// SchemaAheadError says the database was migrated by a newer build.
type SchemaAheadError struct {
	Current, Target int64
}

func (e *SchemaAheadError) Error() string {
	return fmt.Sprintf("database schema is at version %d, newer than this build's %d: deploy the newer build (or revert the schema with care)", e.Current, e.Target)
}

// CheckSchema returns nil when the database is exactly at this build's
// schema version, and a *SchemaBehindError or *SchemaAheadError otherwise.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) (SchemaStatus, error) {
	m, err := NewMigrator(pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return SchemaStatus{}, err
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		return st, err
	}
	switch {
	case st.Current < st.Target || st.Pending > 0:
		return st, &SchemaBehindError{Current: st.Current, Target: st.Target}
	case st.Current > st.Target:
		return st, &SchemaAheadError{Current: st.Current, Target: st.Target}
	}
	return st, nil
}
