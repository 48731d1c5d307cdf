// Package statemachine is a local executor of the Amazon States Language
// (https://states-language.net/spec.html): it runs the pipeline's Step
// Functions definitions in-process, with Task states bound to Go handlers,
// so that a local cycle follows the same transitions, data flow, retries and
// catches as the deployed one.
//
// Load validates a definition and refuses, naming the state and the
// feature, anything the executor does not implement (ItemReader,
// ResultWriter, JSONata, ...). Machine.Start runs one execution and returns
// its status, output or error, and history; OnEvent reports each state as
// it is entered and left. The data flow follows the spec's order:
// InputPath, Parameters (paths, the $$ context object, intrinsic
// functions), the task, ResultSelector, ResultPath, OutputPath.
//
// A handler's error is named as the Lambda Go runtime names it: by its
// ErrorName method or its Go type name (see ErrorName), so Retry and Catch
// match locally exactly what they match on AWS.
//
// statemachine/README.md at the repository root lists what is supported,
// what is refused and the known differences from Step Functions.
package statemachine
