#!/usr/bin/env bash
# Import benchmark (make bench): in one run, on one embedded cluster,
#  1. import N records (default 200000) into an empty database with
#     `scentmatch import`, and load the same rows with psql \copy into a
#     plain table of the same columns: both times and their ratio;
#  2. import M records (default 1000000) and report the importer's peak RSS.
# Figures go to stdout; docs/BENCHMARKS.md quotes them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_RECORDS:-200000}
M=${BENCH_RECORDS_LARGE:-1000000}
SEED=${BENCH_SEED:-42}

scripts/ensure-postgres.sh
command -v psql >/dev/null || { echo "error: psql is needed for the \\copy baseline (apt-get install postgresql-client)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is needed for peak RSS (apt-get install time)" >&2; exit 1; }
mkdir -p bin
go build -o bin/scentmatch ./cmd/scentmatch

work=$(mktemp -d "${TMPDIR:-/tmp}/scentmatch-bench.XXXXXX")
chmod 755 "$work"
export SCENTMATCH_HOME="$work/home"
cleanup() { bin/scentmatch db stop --delete-data >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

bin/scentmatch db start >/dev/null 2>&1
admin=$(bin/scentmatch db url)
newdb() {
  PGOPTIONS="--client-min-messages=warning" psql -q "$admin" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  echo "${admin%/scentmatch?*}/$1?sslmode=disable"
}
secs() { python3 -c "import sys; print(f'{float(sys.argv[1]):.2f}')" "$1"; }

echo "== generating $N and $M records (seed $SEED)"
bin/scentmatch dataset generate --records "$N" --seed "$SEED" --format csv --messy 0 --out "$work/n.csv"
bin/scentmatch dataset generate --records "$M" --seed "$SEED" --format jsonl --messy 0.02 --out "$work/m.jsonl"
ls -la "$work/n.csv" "$work/m.jsonl" | awk '{print $5, $9}'

echo "== baseline: psql \\copy of $N rows into a plain table"
base=$(newdb bench_copy)
psql -q "$base" -c "CREATE TABLE plain (source_id text, brand text, name text, concentration text, gender text, year int, notes jsonb, accords jsonb, rating numeric(3,2), votes int)"
start=$(date +%s.%N)
psql -q "$base" -c "\\copy plain FROM '$work/n.csv' CSV HEADER"
copy_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")

echo "== scentmatch import of the same $N rows into an empty catalog"
target=$(newdb bench_import)
DATABASE_URL=$target bin/scentmatch db migrate >/dev/null 2>&1
DATABASE_URL=$target bin/scentmatch import --fragrances "$work/n.csv" --source bench --json 2>/dev/null > "$work/n.json"
import_s=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['fragrances']['duration_seconds'])" "$work/n.json")

echo "== scentmatch import of $M records: peak RSS"
big=$(newdb bench_large)
DATABASE_URL=$big bin/scentmatch db migrate >/dev/null 2>&1
DATABASE_URL=$big /usr/bin/time -f "%M" -o "$work/rss" bin/scentmatch import --fragrances "$work/m.jsonl" --source bench --json 2>/dev/null > "$work/m.json"
rss_kb=$(tail -1 "$work/rss")

python3 - "$N" "$copy_s" "$import_s" "$M" "$rss_kb" "$work/n.json" "$work/m.json" <<'PY'
import json, sys
n, copy_s, import_s, m, rss_kb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
small, large = json.load(open(sys.argv[6]))["fragrances"], json.load(open(sys.argv[7]))["fragrances"]
print()
print(f"records           {n}")
print(f"psql \\copy        {copy_s:.2f} s  ({n/copy_s:,.0f} rows/s)")
print(f"scentmatch import {import_s:.2f} s  ({n/import_s:,.0f} records/s)  outcomes {small['counts']}")
print(f"ratio             {import_s/copy_s:.1f}x  (target: within 2x)")
print(f"large import      {m} records in {large['duration_seconds']:.1f} s ({large['records_per_second']:,.0f} records/s), outcomes {large['counts']}")
print(f"peak RSS          {rss_kb/1024:.1f} MB  (target: under 100 MB)")
PY
