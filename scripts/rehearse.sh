#!/usr/bin/env bash
# make rehearse: the deployment rehearsal (docs/rehearsal.md). It makes sure
# the pieces are on this machine (PostgreSQL, PgBouncer, moto_server; the
# Lambda emulator comes from go.mod), installing what it can and naming what
# it cannot, then runs TestRehearsal. Every process it starts (moto, the
# emulators, PgBouncer, PostgreSQL) is stopped on the way out, failure
# included. scripts/test.sh sources the tool checks (--tools-only) and lets
# go test ./... run the rehearsal with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_moto() {
  if command -v moto_server >/dev/null 2>&1; then return 0; fi
  if command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1; then
    echo "moto_server not found: installing moto[server]==5.2.1 (pip)..." >&2
    "$(command -v pip || command -v pip3)" install -q 'moto[server]==5.2.1' >&2 || true
  fi
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "error: moto_server is missing (make rehearse serves the AWS APIs from it): pip install 'moto[server]==5.2.1'" >&2
    exit 1
  fi
}

if [ -z "${SCENTMATCH_TEST_DATABASE_URL:-}" ]; then
  scripts/ensure-postgres.sh
fi
scripts/ensure-pgbouncer.sh
ensure_moto
command -v make >/dev/null 2>&1 || { echo "error: make is missing (the rehearsal builds through the Makefile's build-<LogicalId> targets)" >&2; exit 1; }
[ "${1:-}" = "--tools-only" ] && exit 0

own_home=""
if [ -z "${SCENTMATCH_TEST_HOME:-}" ]; then
  own_home=$(mktemp -d "${TMPDIR:-/tmp}/scentmatch-rehearse.XXXXXX")
  chmod 755 "$own_home"
  export SCENTMATCH_TEST_HOME="$own_home"
fi
cleanup() {
  if [ -n "$own_home" ]; then
    go build -o "$own_home/scentmatch" ./cmd/scentmatch 2>/dev/null &&
      SCENTMATCH_HOME="$own_home" "$own_home/scentmatch" db stop --delete-data >/dev/null 2>&1 || true
    rm -rf "$own_home"
  fi
}
trap cleanup EXIT
start=$(date +%s)
status=0
go test -count=1 -timeout 14m -run 'TestRehearsal|TestEveryEventFileIsMapped' -v ./internal/rehearse/ || status=$?
echo "make rehearse: $(( $(date +%s) - start )) s, exit $status" >&2
exit "$status"
