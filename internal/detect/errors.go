package detect

import "fmt"

// UpstreamBlockedError says robots.txt (or an unreachable robots.txt)
// shuts the source out of the catalog: no catalog request was sent and the
// run is not a success. Its type name is the Lambda errorType the cycle
// definition catches.
type UpstreamBlockedError struct {
	Source string
	Reason string
}

func (e *UpstreamBlockedError) Error() string {
	return fmt.Sprintf("source %s is blocked: %s", e.Source, e.Reason)
}
