//go:build !unix

package rusage

func maxRSSBytes() int64 { return 0 }
