// Package emf writes CloudWatch Embedded Metric Format lines: one JSON
// object per line whose "_aws" member tells CloudWatch Logs which of its
// members are metrics. In Lambda the lines go to stdout (the function's
// log), and CloudWatch extracts the metrics with no API call; in the CLI
// they go to stderr or a file.
//
// Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Namespace is the pipeline's CloudWatch namespace.
const Namespace = "ScentMatch/Pipeline"

// DimensionEnvironment is the one dimension every metric carries: the stage.
const DimensionEnvironment = "Environment"

// EnvStage names the environment variable holding the stage (template.yaml
// sets it from the Stage parameter); DefaultStage applies when it is unset.
const (
	EnvStage     = "SCENTMATCH_STAGE"
	DefaultStage = "local"
)

// Units CloudWatch accepts (the subset the pipeline uses).
const (
	Seconds   = "Seconds"
	Count     = "Count"
	Percent   = "Percent"
	Megabytes = "Megabytes"
	None      = "None"
)

// Metric is one value to publish.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Writer writes EMF lines to W. It is safe for concurrent use.
type Writer struct {
	W         io.Writer
	Namespace string // default Namespace
	Stage     string // default DefaultStage
	Now       func() time.Time

	mu sync.Mutex
}

// Stage returns the stage from getenv(EnvStage), or DefaultStage.
func Stage(getenv func(string) string) string {
	if getenv != nil {
		if s := getenv(EnvStage); s != "" {
			return s
		}
	}
	return DefaultStage
}

// MaxMetrics is the most metrics one EMF directive may name.
const MaxMetrics = 100

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes one line carrying metrics (NaN and infinite values are left
// out: EMF has no way to say "unknown") and properties, extra members
// that are searchable in Logs Insights but are not metrics (e.g. cycle_id).
// A property may not reuse a metric's or the dimension's name.
func (w *Writer) Emit(metrics []Metric, properties map[string]any) error {
	ns := w.Namespace
	if ns == "" {
		ns = Namespace
	}
	stage := w.Stage
	if stage == "" {
		stage = DefaultStage
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	line := map[string]any{}
	for k, v := range properties {
		line[k] = v
	}
	if _, clash := line[DimensionEnvironment]; clash {
		return fmt.Errorf("emf: property %q is the dimension's name", DimensionEnvironment)
	}
	line[DimensionEnvironment] = stage
	d := directive{Namespace: ns, Dimensions: [][]string{{DimensionEnvironment}}, Metrics: []metricDef{}}
	for _, m := range metrics {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		if m.Name == "" || len(m.Name) > 255 {
			return fmt.Errorf("emf: metric name %q: 1 to 255 characters", m.Name)
		}
		if _, clash := line[m.Name]; clash {
			return fmt.Errorf("emf: metric %q named twice or clashes with a property", m.Name)
		}
		line[m.Name] = m.Value
		d.Metrics = append(d.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
	}
	if len(d.Metrics) > MaxMetrics {
		return fmt.Errorf("emf: %d metrics in one line, at most %d", len(d.Metrics), MaxMetrics)
	}
	line["_aws"] = metadata{Timestamp: now().UnixMilli(), CloudWatchMetrics: []directive{d}}
	data, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("emf: encoding the line: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.W.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("emf: writing the line: %w", err)
	}
	return nil
}
