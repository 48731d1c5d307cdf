//go:build !linux

package notify

// maxRSSMB is not measured outside Linux (Lambda runs Linux).
func maxRSSMB() float64 { return 0 }
