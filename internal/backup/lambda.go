package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvLocation names the root location of scheduled backups (in AWS the
// backup bucket, s3://bucket/backups/): each backup goes to a new
// timestamped prefix under it.
const EnvLocation = "BACKUP_LOCATION"

// Event is the backup function's input; the monthly schedule sends {}.
type Event struct {
	// To is the backup's own location; default <root>/<timestamp>/.
	To string `json:"to,omitempty"`
}

// Result is the backup function's answer.
type Result struct {
	Location      string  `json:"location"`
	SchemaVersion int64   `json:"schema_version"`
	Tables        int     `json:"tables"`
	Rows          int64   `json:"rows"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	// Pruned lists the older backups under Root deleted to keep
	// retention.backups_keep.
	Pruned []string `json:"pruned,omitempty"`
}

// Handler takes one backup per invocation.
type Handler struct {
	// Pool returns the database and its masked URL for the manifest.
	Pool func(ctx context.Context) (*pgxpool.Pool, string, error)
	S3   S3API
	// Root is where backups go by default ($BACKUP_LOCATION).
	Root string
	// Keep returns how many timestamped backups to keep under Root
	// (retention.backups_keep); after a backup there, older ones are
	// pruned (Prune). Nil keeps them all.
	Keep   func(ctx context.Context) (int, error)
	Logger *slog.Logger
	Now    func() time.Time
}

// Handle takes a backup. A failed backup leaves files without a manifest,
// which restore refuses; the bucket's lifecycle rule removes them with
// the old backups.
func (h *Handler) Handle(ctx context.Context, ev Event) (*Result, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	logger := h.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := now()
	to := ev.To
	if to == "" {
		if h.Root == "" {
			return nil, errors.New(`no backup location: set ` + EnvLocation + ` or send {"to": "s3://bucket/prefix"}`)
		}
		to = Join(h.Root, TimestampName(start))
	}
	store, err := OpenStore(to, h.S3)
	if err != nil {
		return nil, err
	}
	pool, source, err := h.Pool(ctx)
	if err != nil {
		return nil, err
	}
	m, err := Backup(ctx, pool, store, Options{Source: source, Logger: logger, Now: now})
	if err != nil {
		return nil, fmt.Errorf("backup to %s: %w", store.Location(), err)
	}
	res := &Result{Location: store.Location(), SchemaVersion: m.SchemaVersion, Tables: len(m.Tables), Rows: m.TotalRows(),
		Bytes: m.TotalBytes(), Seconds: now().Sub(start).Seconds()}
	logger.InfoContext(ctx, "backup taken", "location", res.Location, "tables", res.Tables, "rows", res.Rows, "bytes", res.Bytes)
	if ev.To == "" && h.Keep != nil {
		// The backup is taken: a failed prune is logged, not retried with
		// another backup.
		keep, err := h.Keep(ctx)
		if err == nil {
			res.Pruned, err = Prune(ctx, h.Root, h.S3, keep)
		}
		if err != nil {
			logger.WarnContext(ctx, "old backups not pruned", "root", h.Root, "err", err)
		} else if len(res.Pruned) > 0 {
			logger.InfoContext(ctx, "old backups pruned", "keep", keep, "deleted", res.Pruned)
		}
	}
	return res, nil
}
