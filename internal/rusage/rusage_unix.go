//go:build unix

package rusage

import (
	"runtime"
	"syscall"
)

func maxRSSBytes() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	// getrusage(2): ru_maxrss is in kilobytes on Linux and the BSDs, in
	// bytes on macOS.
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}
