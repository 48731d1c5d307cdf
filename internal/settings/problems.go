package settings

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a problem refuses the configuration.
type Severity string

// Severities: an error refuses to start, a warning is reported.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	// Path is a JSON path into the file, e.g. $.kpis.error_rate.warn.
	Path string `json:"path"`
	// Rule names the check that failed (a JSON Schema keyword or ours).
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s %s: %s (rule %s)", p.Severity, p.File, p.Path, p.Message, p.Rule)
}

// Problems is every problem found in one load.
type Problems []Problem

// Errors returns only the error-level problems.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == SeverityError {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns only the warning-level problems.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == SeverityWarning {
			out = append(out, p)
		}
	}
	return out
}

func (ps Problems) sorted() Problems {
	out := append(Problems(nil), ps...)
	order := map[string]int{MonitoringFile: 0, EthicsFile: 1, BrandsFile: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return order[baseName(out[i].File)] < order[baseName(out[j].File)]
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// InvalidError is returned when a configuration has error-level problems.
// Its message lists all of them, one per line.
type InvalidError struct {
	Problems Problems
}

func (e *InvalidError) Error() string {
	errs := e.Problems.Errors()
	var b strings.Builder
	fmt.Fprintf(&b, "configuration is invalid (%d error(s)); fix these and run `scentmatch config validate`:", len(errs))
	for _, p := range errs {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, "/\\"); i >= 0 {
		return path[i+1:]
	}
	return path
}
