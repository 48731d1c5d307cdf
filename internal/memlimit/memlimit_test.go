package memlimit

import (
	"runtime/debug"
	"testing"
)

func TestEnvAndBytesAgree(t *testing.T) {
	if got, want := Env(512), "480MiB"; got != want {
		t.Fatalf("Env(512) = %q, want %q", got, want)
	}
	if got, want := Bytes(ImportBudgetMB), int64(68<<20); got != want {
		t.Fatalf("Bytes(%d) = %d, want %d", ImportBudgetMB, got, want)
	}
}

func TestDefaultLeavesGOMEMLIMITAlone(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	t.Setenv("GOMEMLIMIT", "")
	restore := Default(100)
	if got := debug.SetMemoryLimit(-1); got != 68<<20 {
		t.Fatalf("after Default(100) the limit is %d", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Fatalf("restored limit %d, want %d", got, old)
	}
	debug.SetMemoryLimit(1 << 30) // as the runtime would from GOMEMLIMIT=1GiB
	t.Setenv("GOMEMLIMIT", "1GiB")
	Default(100)()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("with GOMEMLIMIT set, the limit is %d", got)
	}
}
