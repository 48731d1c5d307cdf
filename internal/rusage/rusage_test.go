package rusage

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaxRSSGrowsWithAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ru_maxrss units checked on Linux only")
	}
	before := MaxRSSMB()
	require.Positive(t, before)
	// Touch 64 MiB more than the peak so far: the peak must rise by most of it.
	buf := make([]byte, int(before+64)<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after := MaxRSSMB()
	runtime.KeepAlive(buf)
	require.Greater(t, after, before+32, "before %.1f MB, after %.1f MB", before, after)
}
