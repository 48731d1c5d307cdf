// Package rusage reports the process's peak memory, so that every cycle
// step can put max_rss_mb in its result and the metrics step can take the
// maximum (the peak_memory_mb KPI).
package rusage

import "math"

// MaxRSSMB returns the largest resident set size this process has had, in
// megabytes (MiB), rounded to one decimal; 0 where the platform does not
// say. In a warm Lambda container it is the container's peak since its
// cold start, which bounds the current invocation's from above.
func MaxRSSMB() float64 {
	b := maxRSSBytes()
	return math.Round(float64(b)/(1<<20)*10) / 10
}
