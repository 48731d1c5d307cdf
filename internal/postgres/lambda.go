package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateEvent is the migrate function's input. make deploy invokes it
// once after each deploy, so migrations never race in concurrent cold
// starts of the step functions (which only check the version).
type MigrateEvent struct {
	// StatusOnly reports the schema status without applying anything.
	StatusOnly bool `json:"status_only"`
}

// MigrateOutput is the migrate function's result.
type MigrateOutput struct {
	MigrateResult
	Status SchemaStatus `json:"status"`
}

// MigrateHandler applies the embedded migrations to the configured database.
type MigrateHandler struct {
	// Connect opens a pool on the target database; the handler closes it.
	Connect func(ctx context.Context) (*pgxpool.Pool, error)
	Logger  *slog.Logger
}

// Handle runs one migrate invocation.
func (h *MigrateHandler) Handle(ctx context.Context, ev MigrateEvent) (MigrateOutput, error) {
	pool, err := h.Connect(ctx)
	if err != nil {
		return MigrateOutput{}, err
	}
	defer pool.Close()
	m, err := NewMigrator(pool, h.Logger)
	if err != nil {
		return MigrateOutput{}, err
	}
	defer m.Close()
	var out MigrateOutput
	if !ev.StatusOnly {
		if out.MigrateResult, err = m.Up(ctx); err != nil {
			return out, err
		}
		h.Logger.InfoContext(ctx, "migrations applied", "from", out.From, "to", out.To, "applied", len(out.Applied))
	}
	if out.Status, err = m.Status(ctx); err != nil {
		return out, fmt.Errorf("reading schema status after migrating: %w", err)
	}
	if ev.StatusOnly {
		out.From, out.To = out.Status.Current, out.Status.Current
	}
	if out.Applied == nil {
		out.Applied = []MigrationStep{}
	}
	return out, nil
}
