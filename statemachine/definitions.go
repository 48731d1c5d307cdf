// Package definitions embeds the Amazon States Language definitions in this
// directory, so the local executor runs the very files SAM deploys.
package definitions

import _ "embed"

// Cycle is cycle.asl.json, the weekly cycle.
//
//go:embed cycle.asl.json
var Cycle []byte

// ImportDataset is import-dataset.asl.json, the dataset import started by an
// upload under the bucket's imports/ prefix.
//
//go:embed import-dataset.asl.json
var ImportDataset []byte

// Substitution names, as in template.yaml's DefinitionSubstitutions.
const (
	DetectFunction   = "DetectFunctionArn"
	ImportFunction   = "ImportFunctionArn"
	MaintainFunction = "MaintainFunctionArn"
	MetricsFunction  = "MetricsFunctionArn"
	NotifyFunction   = "NotifyFunctionArn"
	DatasetFunction  = "DatasetFunctionArn"
)
