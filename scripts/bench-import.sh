#!/usr/bin/env bash
# Import benchmark (make bench): in one run, on one embedded cluster,
#  1. import N records (default 200000) into an empty database with
#     `scentmatch import`, and load the same rows with psql \copy into a
#     plain table of the same columns: both times and their ratio;
#  2. the floor: every row the import wrote (every table, dumped with COPY
#     TO after it) loaded with COPY FROM into an empty migrated database,
#     with the same indexes and constraints: import / floor is the headline;
#  3. import M records (default 1000000; BENCH_RECORDS_LARGE=0 skips it)
#     and report the importer's peak RSS.
# BENCH_PROFILE=FILE writes a Go CPU profile of the N-record import and
# prints the wall time of each of its phases.
# BENCH_BASELINE_BIN=path/to/other/scentmatch also imports the N records
# with that binary (e.g. main's), into its own empty database in the same
# run: its time, and whether both reports (every record's outcome) agree.
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
[ "$M" -eq 0 ] || bin/scentmatch dataset generate --records "$M" --seed "$SEED" --format jsonl --messy 0.02 --out "$work/m.jsonl"
for f in "$work/n.csv" "$work/m.jsonl"; do if [ -f "$f" ]; then echo "$(stat -c %s "$f") $f"; fi; done

echo "== baseline: psql \\copy of $N rows into a plain table"
base=$(newdb bench_copy)
psql -q "$base" -c "CREATE TABLE plain (source_id text, brand text, name text, concentration text, gender text, year int, notes jsonb, accords jsonb, rating numeric(3,2), votes int)"
start=$(date +%s.%N)
psql -q "$base" -c "\\copy plain FROM '$work/n.csv' CSV HEADER"
copy_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")

echo "== scentmatch import of the same $N rows into an empty catalog"
target=$(newdb bench_import)
DATABASE_URL=$target bin/scentmatch db migrate >/dev/null 2>&1
# Embedding runs after the import's clock stops; it is left out here so
# that the rows the floor reloads are the import's own.
profile=()
[ -z "${BENCH_PROFILE:-}" ] || profile=(--cpuprofile "$BENCH_PROFILE")
DATABASE_URL=$target bin/scentmatch import --fragrances "$work/n.csv" --source bench --embedding-timeout 0 "${profile[@]}" --report "$work/n.report" --json 2>"$work/n.err" > "$work/n.json"
[ -z "${BENCH_PROFILE:-}" ] || sed -n '/^import phases/,$p' "$work/n.err"
import_s=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['fragrances']['duration_seconds'])" "$work/n.json")
baseline=""
if [ -n "${BENCH_BASELINE_BIN:-}" ]; then
  echo "== the same $N rows with the baseline binary $BENCH_BASELINE_BIN"
  other=$(newdb bench_baseline)
  DATABASE_URL=$other "$BENCH_BASELINE_BIN" db migrate >/dev/null 2>&1
  DATABASE_URL=$other "$BENCH_BASELINE_BIN" import --fragrances "$work/n.csv" --source bench --embedding-timeout 0 --report "$work/b.report" --json 2>/dev/null > "$work/b.json"
  same=no
  cmp -s "$work/n.report" "$work/b.report" && same=yes
  baseline="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['fragrances']['duration_seconds'])" "$work/b.json") $same"
fi

echo "== floor: COPY of every row the import wrote into an empty migrated catalog"
floor=$(newdb bench_floor)
DATABASE_URL=$floor bin/scentmatch db migrate >/dev/null 2>&1
# Tables the import filled (rows beyond what migrations seed), parents
# before children, so every foreign key and index is checked as it loads.
tables=$(python3 - "$target" "$floor" <<'PY'
import subprocess, sys
def q(url, sql):
    out = subprocess.run(["psql", "-XAtq", url, "-c", sql], check=True, capture_output=True, text=True).stdout
    return [l.split("|") for l in out.splitlines() if l]
count = "SELECT c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'goose_db_version'"
def rows(url):
    out = {}
    for name, _ in q(url, count):
        out[name] = int(q(url, f'SELECT count(*) FROM "{name}"')[0][0])
    return out
imported, seeded = rows(sys.argv[1]), rows(sys.argv[2])
written = {t for t, n in imported.items() if n > seeded.get(t, 0)}
deps = {t: set() for t in written}
for child, parent in q(sys.argv[2], "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"):
    if child in deps and parent in written and parent != child:
        deps[child].add(parent)
order = []
while deps:
    ready = sorted(t for t, d in deps.items() if not d - set(order))
    if not ready:
        ready = sorted(deps)
    for t in ready:
        order.append(t)
        del deps[t]
for t in order:
    if seeded.get(t, 0):
        print(f"seeded table {t} also written by the import: its seed rows are replaced", file=sys.stderr)
    print(t)
PY
)
sql_load="$work/floor.sql"
: > "$sql_load"
for t in $tables; do
  psql -XAtq "$target" -c "\\copy \"$t\" TO '$work/floor.$t.copy'"
  echo "TRUNCATE \"$t\" CASCADE;" >> "$work/floor.truncate.sql"
  echo "\\copy \"$t\" FROM '$work/floor.$t.copy'" >> "$sql_load"
done
[ ! -f "$work/floor.truncate.sql" ] || psql -XAtq "$floor" -f "$work/floor.truncate.sql" >/dev/null 2>&1
floor_rows=$(for t in $tables; do echo "$t $(wc -l < "$work/floor.$t.copy")"; done | paste -sd, -)
start=$(date +%s.%N)
psql -XAtq -v ON_ERROR_STOP=1 "$floor" -f "$sql_load"
floor_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")

rss_kb=0
echo '{"fragrances":{"duration_seconds":0,"records_per_second":0,"counts":{}}}' > "$work/m.json"
if [ "$M" -gt 0 ]; then
  echo "== scentmatch import of $M records: peak RSS"
  big=$(newdb bench_large)
  DATABASE_URL=$big bin/scentmatch db migrate >/dev/null 2>&1
  DATABASE_URL=$big /usr/bin/time -f "%M" -o "$work/rss" bin/scentmatch import --fragrances "$work/m.jsonl" --source bench --json 2>/dev/null > "$work/m.json"
  rss_kb=$(tail -1 "$work/rss")
fi

python3 - "$N" "$copy_s" "$import_s" "$M" "$rss_kb" "$work/n.json" "$work/m.json" "$floor_s" "$floor_rows" "$baseline" <<'PY'
import json, sys
n, copy_s, import_s, m, rss_kb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
small, large = json.load(open(sys.argv[6]))["fragrances"], json.load(open(sys.argv[7]))["fragrances"]
floor_s, floor_rows = float(sys.argv[8]), sys.argv[9]
print()
print(f"records           {n}")
print(f"psql \\copy        {copy_s:.2f} s  ({n/copy_s:,.0f} rows/s) into a plain table")
print(f"floor             {floor_s:.2f} s  COPY of the import's own rows, same schema: {floor_rows}")
print(f"scentmatch import {import_s:.2f} s  ({n/import_s:,.0f} records/s)  outcomes {small['counts']}")
print(f"import / floor    {import_s/floor_s:.2f}x  (goal: 1.5x)")
print(f"import / \\copy    {import_s/copy_s:.1f}x  (goal: 4x on the way to 2x)")
if sys.argv[10]:
    base_s, same = sys.argv[10].split()
    print(f"baseline import   {float(base_s):.2f} s  (this import / baseline {import_s/float(base_s):.2f}x; every record's outcome the same: {same})")
if m:
    print(f"large import      {m} records in {large['duration_seconds']:.1f} s ({large['records_per_second']:,.0f} records/s), outcomes {large['counts']}")
    print(f"peak RSS          {rss_kb/1024:.1f} MB  (target: under 100 MB)")
PY
