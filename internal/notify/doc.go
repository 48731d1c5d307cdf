// Package notify tells operators by e-mail what a cycle did: the weekly
// report, new-fragrance alerts, performance warnings, error alerts and
// health-check failures.
//
// A message is rendered once (an html/template body, so every catalog value
// is escaped, and a text/template twin) and handed to a Sender: SES v2 in
// AWS, or the local outbox, which writes RFC 5322 .eml files to
// $SCENTMATCH_HOME/outbox. The Notifier is the cycle's Notify step: it reads
// the cycle (the cycles row and the cycle state), decides which messages the
// cycle calls for, records each in the notifications table before sending
// it (keyed by cycle and type, so a retried step never sends twice), keeps
// alerts from repeating within a window and sends one "resolved" message
// when an alert clears. Error alerts come only from the state machine's
// Catch path: a state whose error field is set.
package notify
