#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default
# 20s). A crash leaves its input in the package's testdata/fuzz/<Target>/,
# where plain `go test` (and so `make test`) replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
status=0
while IFS=: read -r file target; do
	pkg="./$(dirname "$file")"
	echo "== $target ($pkg, $FUZZTIME)"
	# Minimizing each new input of a large seed can stall a run for minutes;
	# bound it so every target gets its fuzz time.
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 200x "$pkg"; then
		status=1
	fi
done < <(git ls-files '*_test.go' | xargs grep -o '^func Fuzz[A-Za-z0-9_]*' | sed 's/func //')
exit $status
