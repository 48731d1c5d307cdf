package importer

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Phases accumulates the wall time an import spends in each of its steps,
// for the benchmark's breakdown of where the time goes (the CLI prints it
// with its hidden --cpuprofile flag). Each lap charges the time since the
// previous lap to one phase. An import fills it from one goroutine.
type Phases struct {
	names []string
	d     map[string]time.Duration
	last  time.Time
}

// lap charges the time since the last lap to phase name (nil: no-op).
func (p *Phases) lap(name string) {
	if p == nil {
		return
	}
	now := time.Now()
	if p.d == nil {
		p.d = map[string]time.Duration{}
	}
	if _, ok := p.d[name]; !ok {
		p.names = append(p.names, name)
	}
	if !p.last.IsZero() {
		p.d[name] += now.Sub(p.last)
	}
	p.last = now
}

// Ran reports whether phase name was charged any time.
func (p *Phases) Ran(name string) bool {
	if p == nil {
		return false
	}
	_, ok := p.d[name]
	return ok
}

// String lists the phases in the order they first ran, with seconds and
// shares of their total.
func (p *Phases) String() string {
	if p == nil {
		return ""
	}
	var total time.Duration
	for _, d := range p.d {
		total += d
	}
	var b strings.Builder
	for _, n := range p.names {
		fmt.Fprintf(&b, "%-28s %8.2f s %5.1f%%\n", n, p.d[n].Seconds(), 100*p.d[n].Seconds()/max(total.Seconds(), 1e-9))
	}
	fmt.Fprintf(&b, "%-28s %8.2f s\n", "total", total.Seconds())
	return b.String()
}

type phasesKey struct{}

func withPhases(ctx context.Context, p *Phases) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, phasesKey{}, p)
}

// lap charges the time since the last lap to name on ctx's Phases, if any.
func lap(ctx context.Context, name string) {
	if p, ok := ctx.Value(phasesKey{}).(*Phases); ok {
		p.lap(name)
	}
}
