package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Step is the cycle's Maintain step.
type Step struct {
	Maintainer *Maintainer
	// BackfillBudget bounds the embedding backfill (0: DefaultBackfillBudget).
	BackfillBudget time.Duration
}

// Handle maintains the database for the cycle (a dry-run cycle counts
// what would be purged and changes nothing) and stores the result in
// cycles.step_results.maintain; a rerun for a cycle whose result is stored
// returns it. Errors are *cycle.BadInputError (no such cycle) or
// *cycle.TransientError (the database), unwrapped.
func (s *Step) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	ctx = logging.WithCycle(ctx, st.CycleID, cycle.StepMaintain)
	m := s.Maintainer
	raw, found, err := cycle.StoredStepResult(ctx, m.Pool, st.CycleID, cycle.StepMaintain)
	if err != nil {
		return nil, stepError(err)
	}
	if found {
		var res Result
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, &cycle.BadInputError{Err: fmt.Errorf("the stored maintain result of cycle %s: %w", st.CycleID, err)}
		}
		m.logger().InfoContext(ctx, "maintenance already done for this cycle; returning its result")
		return &res, nil
	}
	started := m.now()
	res, err := m.Run(ctx, Options{DryRun: st.DryRun, BackfillBudget: s.BackfillBudget})
	if err != nil {
		return nil, stepError(err)
	}
	if err := cycle.SaveStepResult(ctx, m.Pool, st.CycleID, cycle.StepMaintain, res, started, m.now()); err != nil {
		return nil, stepError(err)
	}
	m.logger().InfoContext(ctx, "maintenance done", "purged", res.Purged, "embeddings_backfilled", res.EmbeddingsBackfilled,
		"pending_embeddings", res.PendingEmbeddings, "vacuumed", len(res.Vacuumed), "seconds", res.Seconds["total"])
	return res, nil
}

// stepError gives err the type Step Functions retries or catches on.
func stepError(err error) error {
	if errors.Is(err, cycle.ErrCycleNotFound) {
		return &cycle.BadInputError{Err: err}
	}
	if postgres.IsTransient(err) {
		return &cycle.TransientError{Err: err}
	}
	return err
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
		return nil, openError(err)
	}
	return s.Handle(ctx, st)
}

// openError types a failure to open the database: a connection that may
// come back is transient, the rest (configuration, schema) is not.
func openError(err error) error {
	var ce *postgres.ConnectError
	if errors.As(err, &ce) && ce.Transient() {
		return &cycle.TransientError{Err: err}
	}
	return err
}
