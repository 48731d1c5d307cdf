// Package coldstart measures the pipeline's Lambda functions the way the
// Lambda service starts them: each function is built as it is deployed
// (static, -tags lambda.norpc, stripped) and started against an httptest
// server speaking the Lambda Runtime API; the time from exec to the
// function's first GET /runtime/invocation/next is a labelled proxy for
// cold start. The benchmarks live in its tests (make bench).
package coldstart
