package notify

import (
	"context"
	"sync"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/cycle"
)

// Lambda is the notify function's handler, on the cycle's success path and
// on its Catch path alike. It opens the database, the configuration and
// the sender on the first invocation and keeps them for the warm
// container; a failed open is retried on the next invocation.
type Lambda struct {
	Env  *app.Env
	Deps *app.Lazy

	mu    sync.Mutex
	setup *Setup
}

// Handle runs the Notify step.
func (l *Lambda) Handle(ctx context.Context, st cycle.State) (*Result, error) {
	d, err := l.Deps.Get(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.setup == nil {
		s, err := FromEnv(ctx, l.Env, d.Config)
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		l.setup = &s
	}
	s := *l.setup
	l.mu.Unlock()
	n := &Notifier{DB: d.Pool, Config: d.Config, Sender: s.Sender, From: s.From, StateMachineARN: s.StateMachineARN, Logger: d.Logger}
	return n.Handle(ctx, st)
}
