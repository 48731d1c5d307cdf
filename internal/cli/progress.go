package cli

import (
	"fmt"
	"io"
	"time"
)

// progress prints a single self-overwriting status line on a terminal:
// count, rate and (when the total is known) an ETA. It is silent when the
// output is not a terminal or --json is given.
type progress struct {
	w       io.Writer
	on      bool
	label   string
	total   int64 // bytes, 0 when unknown
	start   time.Time
	last    time.Time
	printed bool
}

func newProgress(w io.Writer, on bool, label string, totalBytes int64) *progress {
	now := time.Now()
	return &progress{w: w, on: on, label: label, total: totalBytes, start: now}
}

// update reports count records done after reading done bytes.
func (p *progress) update(count int, done int64) {
	if !p.on {
		return
	}
	now := time.Now()
	if p.printed && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.printed = now, true
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(count) / elapsed
	}
	line := fmt.Sprintf("\r%s: %d records, %.0f/s", p.label, count, rate)
	if p.total > 0 && done > 0 {
		frac := float64(done) / float64(p.total)
		if frac > 1 {
			frac = 1
		}
		eta := time.Duration(elapsed/frac*(1-frac)) * time.Second
		line += fmt.Sprintf(", %.0f%%, ETA %s", 100*frac, eta.Round(time.Second))
	}
	fmt.Fprint(p.w, line+"\033[K")
}

// done ends the status line.
func (p *progress) done() {
	if p.on && p.printed {
		fmt.Fprintln(p.w)
	}
}

// relabel changes the label of the status line (e.g. the table at work).
func (p *progress) relabel(label string) { p.label = label }
