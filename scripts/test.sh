#!/usr/bin/env bash
# make test: formatting, vet, and the test suite (with -race) against a real
# PostgreSQL. With no SCENTMATCH_TEST_DATABASE_URL the tests share an embedded
# cluster in a temporary home, which is stopped and deleted on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SCENTMATCH_TEST_DATABASE_URL:-}" ]; then
  scripts/ensure-postgres.sh
fi
scripts/ensure-pgbouncer.sh
scripts/ensure-node-tools.sh >/dev/null # asl-validator, aws-local-stepfunctions: internal/statemachine's tests
scripts/rehearse.sh --tools-only # moto_server: the rehearsal (internal/rehearse) and the AWS tests (internal/mototest)

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.scentmatch/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

echo "== template.yaml: SAM translator + cfn-lint" >&2
scripts/check-template.sh

mkdir -p bin
go build -o bin/scentmatch ./cmd/scentmatch

test_home=$(mktemp -d "${TMPDIR:-/tmp}/scentmatch-test.XXXXXX")
chmod 755 "$test_home"
export SCENTMATCH_TEST_HOME="$test_home"
cleanup() {
  SCENTMATCH_HOME="$test_home" bin/scentmatch db stop --delete-data >/dev/null 2>&1 || true
  rm -rf "$test_home"
}
trap cleanup EXIT

echo "== go test -race (test database home: $test_home)" >&2
# The cross-source matching evaluation imports 51k real records: 20 s
# without the race detector, over 2 minutes with it. It runs on its own,
# without -race (the importer's concurrency is exercised by the other tests).
go test -race -count=1 -timeout 14m -skip '^TestCrossSourceMatching$' ${GOTESTFLAGS:-} ./...
echo "== go test -run TestCrossSourceMatching (cross-source matching figures)" >&2
go test -count=1 -timeout 5m -run '^TestCrossSourceMatching$' -v ./internal/importer/
