package emf

import (
	"encoding/json"
	"errors"
	"fmt"
)

// units are the units the EMF specification allows.
var units = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true, "Terabits/Second": true,
	"Count/Second": true, "None": true,
}

// Decoded is a validated EMF line: its metric values and dimension values.
type Decoded struct {
	Timestamp  int64
	Namespace  string
	Dimensions map[string]string
	Units      map[string]string
	Values     map[string]float64
	Members    map[string]json.RawMessage
}

// Validate decodes one line and checks it against the EMF specification:
// a JSON object whose "_aws" member has a millisecond Timestamp and a
// non-empty CloudWatchMetrics array of directives, each with a Namespace,
// Dimensions (an array of dimension sets of at most 30 keys, each key a
// string member of the root) and Metrics (at most 100 definitions with a
// Name and an allowed Unit, each name a numeric member of the root, or an
// array of at most 100 numbers).
func Validate(line []byte) (*Decoded, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	rawAWS, ok := root["_aws"]
	if !ok {
		return nil, errors.New(`no "_aws" member`)
	}
	var meta struct {
		Timestamp         *json.Number `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string     `json:"Namespace"`
			Dimensions [][]string  `json:"Dimensions"`
			Metrics    []metricDef `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(rawAWS, &meta); err != nil {
		return nil, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp == nil {
		return nil, errors.New("_aws.Timestamp: missing")
	}
	ts, err := meta.Timestamp.Int64()
	if err != nil || ts < 1e12 {
		return nil, fmt.Errorf("_aws.Timestamp %s: want milliseconds since the epoch", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return nil, errors.New("_aws.CloudWatchMetrics: empty")
	}
	d := &Decoded{Timestamp: ts, Dimensions: map[string]string{}, Units: map[string]string{}, Values: map[string]float64{}, Members: root}
	for i, dir := range meta.CloudWatchMetrics {
		at := fmt.Sprintf("_aws.CloudWatchMetrics[%d]", i)
		if dir.Namespace == nil || *dir.Namespace == "" || len(*dir.Namespace) > 1024 {
			return nil, fmt.Errorf("%s.Namespace: 1 to 1024 characters required", at)
		}
		d.Namespace = *dir.Namespace
		if dir.Dimensions == nil {
			return nil, fmt.Errorf("%s.Dimensions: missing", at)
		}
		for j, set := range dir.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("%s.Dimensions[%d]: %d keys, at most 30", at, j, len(set))
			}
			for _, k := range set {
				var v string
				raw, ok := root[k]
				if !ok {
					return nil, fmt.Errorf("%s.Dimensions[%d]: %q is not a member of the root", at, j, k)
				}
				if err := json.Unmarshal(raw, &v); err != nil {
					return nil, fmt.Errorf("dimension %q: must be a string: %w", k, err)
				}
				d.Dimensions[k] = v
			}
		}
		if dir.Metrics == nil {
			return nil, fmt.Errorf("%s.Metrics: missing", at)
		}
		if len(dir.Metrics) > 100 {
			return nil, fmt.Errorf("%s.Metrics: %d definitions, at most 100", at, len(dir.Metrics))
		}
		for j, m := range dir.Metrics {
			if m.Name == "" || len(m.Name) > 255 {
				return nil, fmt.Errorf("%s.Metrics[%d].Name: 1 to 255 characters required", at, j)
			}
			if m.Unit != "" && !units[m.Unit] {
				return nil, fmt.Errorf("%s.Metrics[%d].Unit %q: not a CloudWatch unit", at, j, m.Unit)
			}
			raw, ok := root[m.Name]
			if !ok {
				return nil, fmt.Errorf("metric %q: not a member of the root", m.Name)
			}
			var v float64
			if err := json.Unmarshal(raw, &v); err != nil {
				var vs []float64
				if err2 := json.Unmarshal(raw, &vs); err2 != nil || len(vs) == 0 || len(vs) > 100 {
					return nil, fmt.Errorf("metric %q: must be a number or an array of 1 to 100 numbers", m.Name)
				}
				v = vs[len(vs)-1]
			}
			d.Values[m.Name] = v
			d.Units[m.Name] = m.Unit
		}
	}
	return d, nil
}
