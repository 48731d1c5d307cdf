// Package logging builds the pipeline's slog loggers: JSON (in Lambda and
// under --json) or text on a terminal, each record carrying the cycle id,
// the step and the Lambda request id found in its context, and every string
// passed through redact so that no connection-string password is logged.
package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/scentmatch/pipeline/internal/redact"
)

// Format chooses the output encoding.
type Format string

// Formats.
const (
	JSON Format = "json"
	Text Format = "text"
)

// Options configure New.
type Options struct {
	Format Format
	Level  slog.Leveler
}

// New returns a logger writing to w.
func New(w io.Writer, opts Options) *slog.Logger {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	hopts := &slog.HandlerOptions{Level: opts.Level, ReplaceAttr: mask}
	var h slog.Handler
	if opts.Format == Text {
		h = slog.NewTextHandler(w, hopts)
	} else {
		h = slog.NewJSONHandler(w, hopts)
	}
	return slog.New(&contextHandler{Handler: h})
}

// Discard returns a logger that drops everything.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type ctxKey struct{}

type cycleInfo struct {
	cycleID string
	step    string
}

// WithCycle returns a context whose log records carry cycle_id and step.
func WithCycle(ctx context.Context, cycleID, step string) context.Context {
	return context.WithValue(ctx, ctxKey{}, cycleInfo{cycleID: cycleID, step: step})
}

type contextHandler struct {
	slog.Handler
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if info, ok := ctx.Value(ctxKey{}).(cycleInfo); ok {
			if info.cycleID != "" {
				r.AddAttrs(slog.String("cycle_id", info.cycleID))
			}
			if info.step != "" {
				r.AddAttrs(slog.String("step", info.step))
			}
		}
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			r.AddAttrs(slog.String("request_id", lc.AwsRequestID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithGroup(name)}
}

// mask redacts secrets in string and error values.
func mask(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(redact.Secrets(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(redact.Secrets(err.Error()))
		}
	}
	return a
}
