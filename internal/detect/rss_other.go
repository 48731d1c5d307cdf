//go:build !unix

package detect

func maxRSSMB() float64 { return 0 }
