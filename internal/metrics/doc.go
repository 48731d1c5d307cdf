// Package metrics is the cycle's Metrics step and the operator's view of
// it: it computes the KPIs of the old runbook (each judged against the warn
// and error thresholds of monitoring_config.json), a 0-100 system health
// score (docs/health-score.md), stores both on the cycles row, writes the
// CloudWatch metrics as EMF lines and logs the one "Monitoring cycle
// completed" line every cycle ends with.
//
// KPIs come from three places: the cycles row (start time, outcome), the
// step results (the state the step receives, else cycles.step_results;
// read defensively, so a step that did not run gives "unknown", never a
// made-up number), and the database (connections, the review queue,
// pending embeddings, catalog growth, freshness, coverage).
package metrics
