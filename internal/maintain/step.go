package maintain

import (
	"context"
	"time"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/logging"
)

// Step is the cycle's Maintain step.
type Step struct {
	Maintainer *Maintainer
	// BackfillBudget bounds the embedding backfill (0: DefaultBackfillBudget).
	BackfillBudget time.Duration
	// Store keeps the cycle's lease and step results (nil: a store on the
	// maintainer's pool with the configured lease).
	Store *cycle.Store
}

// Handle maintains the database for the cycle (a dry-run cycle counts what
// would be purged and changes nothing). cycle.RunStep makes it idempotent
// by cycle id: a rerun for a cycle whose maintain result is stored returns
// it. Errors are typed for Step Functions (*cycle.TransientError, ...).
func (s *Step) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	ctx = logging.WithCycle(ctx, st.CycleID, cycle.StepMaintain)
	m := s.Maintainer
	store := s.Store
	if store == nil {
		store = &cycle.Store{DB: m.Pool, Lease: time.Duration(m.Config.Monitoring.Cycle.LeaseMinutes) * time.Minute, Now: m.Now}
	}
	return cycle.RunStep(ctx, store, st, cycle.StepMaintain, func(ctx context.Context) (*Result, error) {
		res, err := m.Run(ctx, Options{DryRun: st.DryRun, BackfillBudget: s.BackfillBudget})
		if err != nil {
			return nil, err
		}
		m.logger().InfoContext(ctx, "maintenance done", "purged", res.Purged, "embeddings_backfilled", res.EmbeddingsBackfilled,
			"pending_embeddings", res.PendingEmbeddings, "vacuumed", len(res.Vacuumed), "seconds", res.Seconds["total"])
		return res, nil
	})
}

// Handler is the maintain function's handler: it opens the step on first
// use and keeps it for the warm container's later invocations.
type Handler struct {
	Step func(ctx context.Context) (*Step, error)
}

// Handle runs the step.
func (h *Handler) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	s, err := h.Step(ctx)
	if err != nil {
		return nil, cycle.Classify(err)
	}
	return s.Handle(ctx, st)
}
