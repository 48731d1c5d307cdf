// Package memlimit derives the Go runtime's soft memory limit from a
// process's memory budget, so that the garbage collector's headroom
// (GOGC=100 lets the heap reach twice what is live) stays within the
// budget: the CLI import's 100 MB, a Lambda function's MemorySize.
//
// GOMEMLIMIT is the setting: the Go runtime reads it at start. A Lambda
// function gets it from template.yaml (Env of its MemorySize; a test
// checks every function's); a command with a budget of its own (the
// import) calls Default, which leaves a GOMEMLIMIT set by hand alone.
package memlimit

import (
	"fmt"
	"os"
	"runtime/debug"
)

// OutsideMB is the part of a budget the Go runtime's limit does not
// count: the binary's code and read-only data paged in (a scentmatch
// command that only prints its help has 24 MB resident), and what the
// runtime has not yet returned to the system.
const OutsideMB = 32

// ImportBudgetMB is the CLI import's budget: a 1M-record import stays
// under 100 MB of peak RSS (issue 19, docs/BENCHMARKS.md "Peak RSS").
const ImportBudgetMB = 100

// Bytes is the soft memory limit for a budget of budgetMB megabytes (MiB).
func Bytes(budgetMB int) int64 {
	return int64(budgetMB-OutsideMB) << 20
}

// Env is GOMEMLIMIT's value for a budget of budgetMB megabytes.
func Env(budgetMB int) string {
	return fmt.Sprintf("%dMiB", budgetMB-OutsideMB)
}

// Default sets the limit for a budget of budgetMB megabytes unless
// GOMEMLIMIT is set (the runtime applied it), and returns what puts the
// limit back as it was (a command run inside tests must not leave it
// set for the rest of the process).
func Default(budgetMB int) (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(Bytes(budgetMB))
	return func() { debug.SetMemoryLimit(prev) }
}
