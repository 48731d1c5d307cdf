package notify

import (
	"fmt"
	"strings"
)

// Kind is a notification type; the names are the keys of
// monitoring_config.json notifications.recipients and the values of
// notifications.kind.
type Kind string

// The five notification types.
const (
	WeeklyReport       Kind = "weekly_report"
	NewFragrance       Kind = "new_fragrance"
	PerformanceWarning Kind = "performance_warning"
	ErrorAlert         Kind = "error"
	HealthFailure      Kind = "health_failure"
)

// Kinds lists the types in the order a cycle's messages are decided and sent.
var Kinds = []Kind{WeeklyReport, NewFragrance, PerformanceWarning, HealthFailure, ErrorAlert}

// Label is the type's name for people.
func (k Kind) Label() string {
	switch k {
	case WeeklyReport:
		return "Weekly report"
	case NewFragrance:
		return "New fragrance alert"
	case PerformanceWarning:
		return "Performance warning"
	case ErrorAlert:
		return "Error alert"
	case HealthFailure:
		return "Health-check failure"
	}
	return string(k)
}

// Noun names the alert in a sentence ("the error alert").
func (k Kind) Noun() string {
	switch k {
	case ErrorAlert:
		return "error"
	case HealthFailure:
		return "health-check failure"
	case PerformanceWarning:
		return "performance warning"
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// ParseKind checks a type name given by an operator.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown notification type %q: use one of %s", s, strings.Join(names, ", "))
}
