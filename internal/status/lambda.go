package status

import (
	"context"
	"errors"

	"github.com/scentmatch/pipeline/internal/health"
	"github.com/scentmatch/pipeline/internal/redact"
)

// Handler is the status function's handler.
type Handler struct {
	// Reporter returns the reporter, opened once per warm container.
	Reporter func(ctx context.Context) (*Reporter, error)
	// HealthInputs returns the health check's inputs.
	HealthInputs func(ctx context.Context) health.Inputs
}

// Handle returns the status (the same JSON as `scentmatch status --json`),
// with the month's summary when the event names one and the health report
// when it asks. When the database cannot be read and health was asked for,
// it answers with the health report and the reason in "error" rather than
// failing, so the function doubles as a probe.
func (h *Handler) Handle(ctx context.Context, ev Event) (*Report, error) {
	if ev.Month != "" {
		if _, _, err := ParseMonth(ev.Month); err != nil {
			return nil, err
		}
	}
	var rep *Report
	r, err := h.Reporter(ctx)
	if err == nil {
		rep, err = r.Report(ctx, ev.Month)
	}
	if err != nil {
		var bad *BadMonthError
		if !ev.Health || errors.As(err, &bad) {
			return nil, err
		}
		rep = &Report{Error: redact.Secrets(err.Error()), Summary: "The status could not be read: see error and health."}
	}
	if ev.Health {
		hr := health.Check(ctx, h.HealthInputs(ctx))
		rep.Health = &hr
	}
	return rep, nil
}
