// Package rehearse rehearses a deployment without deploying: it builds
// every function the way `sam build` does (the Makefile's build-<LogicalId>
// targets), runs each under the AWS Lambda Runtime Interface Emulator with
// the environment, memory and timeout template.yaml gives it, serves the
// AWS APIs from moto in server mode, and binds the state machines' Task
// resources to the emulated functions over HTTP. TestRehearsal (make
// rehearse, and so make test) drives it; docs/rehearsal.md says what it
// covers and what it cannot.
package rehearse
