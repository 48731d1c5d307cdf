#!/usr/bin/env bash
# Cycle benchmark (make bench): one full local cycle with K candidates
# (default 10000) from a snapshot source against a catalog of N fragrances
# (default 1000000), on one embedded cluster:
#  1. builds the catalog: `scentmatch dataset generate` + `scentmatch import`,
#     every vector backfilled (`embeddings regenerate`) and a maintenance
#     pass (`maintain`), as the weeks before this cycle would have left it;
#  2. writes a snapshot directory with K new fragrances (trending list and
#     catalog files) and a configuration override that makes it the only
#     source (cycle.max_fragrances = K);
#  3. runs `scentmatch cycle --max-fragrances K` while sampling
#     pg_stat_activity for the pipeline's connections, and reports each
#     step's seconds (cycles.step_timings), the time spent on the source
#     (detect's crawl_seconds, import's fetch_seconds: politeness sets them
#     for an HTTP source), the CPU seconds of the cycle process and of the
#     database server while it ran, the peak RSS and the peak connections.
# Building the catalog takes most of the time; figures go to stdout.
# The catalog is built once into the database bench_catalog and each cycle
# runs on a copy of it (CREATE DATABASE ... TEMPLATE). BENCH_HOME=dir keeps
# the embedded cluster there (stopped) and reuses its catalog next time,
# for profiling the cycle again without rebuilding; the copy is migrated to
# the running binary's schema first (with a maintenance pass when a
# migration ran), so a catalog built by an older binary serves to compare
# two binaries on the same rows.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_CATALOG:-1000000}
K=${BENCH_CANDIDATES:-10000}
SEED=${BENCH_SEED:-42}

scripts/ensure-postgres.sh
command -v psql >/dev/null || { echo "error: psql is needed (apt-get install postgresql-client)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is needed for peak RSS (apt-get install time)" >&2; exit 1; }
mkdir -p bin
go build -o bin/scentmatch ./cmd/scentmatch

work=$(mktemp -d "${TMPDIR:-/tmp}/scentmatch-bench-cycle.XXXXXX")
chmod 755 "$work"
export SCENTMATCH_HOME="${BENCH_HOME:-$work/home}"
mkdir -p "$SCENTMATCH_HOME"
unset DATABASE_URL DATABASE_SECRET_ARN SCENTMATCH_CONFIG_DIR
sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  if [ -n "${BENCH_HOME:-}" ]; then
    bin/scentmatch db stop >/dev/null 2>&1 || true
  else
    bin/scentmatch db stop --delete-data >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

bin/scentmatch db start >/dev/null 2>&1
admin=$(bin/scentmatch db url)
dburl() { echo "${admin%/scentmatch?*}/$1?sslmode=disable"; }
catalog=$(dburl bench_catalog)
marker="catalog $N seed $SEED"
if [ "$(psql -XAtq "$catalog" -c "SELECT obj_description('fragrances'::regclass)" 2>/dev/null || true)" = "$marker" ]; then
  echo "== reusing the catalog in $SCENTMATCH_HOME ($marker)"
else
  echo "== building the catalog: $N fragrances (seed $SEED)"
  PGOPTIONS="--client-min-messages=warning" psql -Xq "$admin" -c "DROP DATABASE IF EXISTS bench_catalog WITH (FORCE)" -c "CREATE DATABASE bench_catalog" >/dev/null
  export DATABASE_URL=$catalog
  bin/scentmatch db migrate >/dev/null 2>&1
  bin/scentmatch dataset generate --records "$N" --seed "$SEED" --format jsonl --messy 0 --out "$work/catalog.jsonl"
  bin/scentmatch import --fragrances "$work/catalog.jsonl" --source bench --embedding-timeout 0 --json 2>/dev/null > "$work/catalog.json"
  python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['fragrances']; print(f\"   imported in {f['duration_seconds']:.0f} s: {f['counts']}\")" "$work/catalog.json"
  rm -f "$work/catalog.jsonl"
  start=$(date +%s.%N)
  bin/scentmatch embeddings regenerate --json 2>/dev/null > "$work/embed.json"
  echo "   every vector backfilled in $(elapsed "$start") s"
  start=$(date +%s.%N)
  bin/scentmatch maintain --backfill-budget 0s --json 2>/dev/null > "$work/maintain.json"
  echo "   a maintenance pass (VACUUM ANALYZE, purges) in $(elapsed "$start") s"
  psql -XAtq "$catalog" -c "COMMENT ON TABLE fragrances IS '$marker'"
  unset DATABASE_URL
fi
start=$(date +%s.%N)
PGOPTIONS="--client-min-messages=warning" psql -Xq "$admin" -c "DROP DATABASE IF EXISTS bench_cycle WITH (FORCE)" -c "CREATE DATABASE bench_cycle TEMPLATE bench_catalog" >/dev/null
echo "   the cycle's database copied from the catalog in $(elapsed "$start") s"
db=$(dburl bench_cycle)
export DATABASE_URL=$db
# A catalog kept in BENCH_HOME may have been built by an older binary: bring
# the copy to this binary's schema (outside the timed cycle, as a deploy's
# migrate function would run before the schedule fires).
start=$(date +%s.%N)
before=$(psql -XAtq "$db" -c "SELECT max(version_id) FROM goose_db_version")
bin/scentmatch db migrate >/dev/null
echo "   the copy migrated to this binary's schema in $(elapsed "$start") s"
# A migration may rewrite a table (00016 rewrote fragrance_keys): the first
# reads then set hint bits and find no visibility map, a one-time cost the
# week's maintenance pass removes in production. Run that pass here too, so
# that the cycle measures the steady state the kept catalog stands for.
if [ "$before" != "$(psql -XAtq "$db" -c "SELECT max(version_id) FROM goose_db_version")" ]; then
  start=$(date +%s.%N)
  bin/scentmatch maintain --backfill-budget 0s --json >/dev/null 2>&1
  echo "   a maintenance pass after migrating (VACUUM ANALYZE) in $(elapsed "$start") s"
fi
if [ -n "${BENCH_LOG_MIN_MS:-}" ]; then # profiling: statements slower than this go to the cluster's log
  psql -Xq "$admin" -c "ALTER DATABASE bench_cycle SET log_min_duration_statement = ${BENCH_LOG_MIN_MS}" >/dev/null
  echo "   statements over ${BENCH_LOG_MIN_MS} ms are logged to $SCENTMATCH_HOME/db/postgres.log"
fi

echo "== snapshot source: $K new fragrances; configuration override"
mkdir -p "$work/snapshot" "$work/config"
bin/scentmatch dataset generate --records "$K" --seed "$((SEED + 1))" --format jsonl --messy 0 --out "$work/new.jsonl"
stamp=$(date -u -d yesterday +%F)
python3 - "$work" "$stamp" "$K" <<'PY'
import json, math, sys
work, stamp, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(f"{work}/new.jsonl") as src, \
     open(f"{work}/snapshot/{stamp}_catalog.jsonl", "w") as cat, \
     open(f"{work}/snapshot/{stamp}_trending.jsonl", "w") as trend:
    for rank, line in enumerate(src, 1):
        r = json.loads(line)
        r["source_id"] = "snap-" + r["source_id"].removeprefix("syn-")
        cat.write(json.dumps(r) + "\n")
        trend.write(json.dumps({"source_id": r["source_id"], "brand": r["brand"], "name": r["name"],
                                "concentration": r.get("concentration", ""), "rank": rank,
                                "votes": r.get("votes", 0), "rating": r.get("rating")}) + "\n")
with open("config/monitoring_config.json") as f:
    mon = json.load(f)
mon["cycle"]["max_fragrances"] = k
mon["detection"]["trending_max_pages"] = max(mon["detection"]["trending_max_pages"], math.ceil(k / 100))
with open(f"{work}/config/monitoring_config.json", "w") as f:
    json.dump(mon, f, indent=2)
with open(f"{work}/config/scraping_ethics.json", "w") as f:
    json.dump({"snapshot": {"enabled": True, "kind": "snapshot", "snapshot_dir": f"{work}/snapshot",
               "notes": "benchmark: files written by scripts/bench-cycle.sh"}}, f, indent=2)
PY
bin/scentmatch config validate "$work/config" >/dev/null

echo "== the cycle: --max-fragrances $K against $N fragrances"
rm -rf "$SCENTMATCH_HOME/bucket/cycles" # an earlier run's fetched records would be reused
: > "$work/conns"
( while :; do
    psql -XAtq "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'scentmatch'" >> "$work/conns" 2>/dev/null || true
    sleep 0.1
  done ) &
sampler=$!
# CPU seconds, besides wall time: on a shared machine wall time moves with
# the load, CPU time much less. The server's is the postmaster's with its
# exited children (each backend of the cycle) and the live ones.
pgcpu() {
  python3 - "$SCENTMATCH_HOME/db/data/postmaster.pid" <<'PY'
import os, sys
pm = int(open(sys.argv[1]).readline())
tick = os.sysconf("SC_CLK_TCK")
def times(pid, children):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in (f[11:15] if children else f[11:13]))
total = times(pm, True)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            if int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == pm:
                total += times(pid, False)
        except (OSError, ValueError):
            pass
print(total / tick)
PY
}
server_before=$(pgcpu)
start=$(date +%s.%N)
/usr/bin/time -f "%M %U %S" -o "$work/rss" bin/scentmatch cycle --config-dir "$work/config" --max-fragrances "$K" --name manual-bench --log-level warn \
  > "$work/summary.json" 2> "$work/cycle.err" || { cat "$work/cycle.err" >&2; exit 1; }
wall=$(elapsed "$start")
server_cpu=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$server_before" "$(pgcpu)")
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
psql -XAtq "$db" -c "SELECT json_build_object('timings', step_timings, 'started_at', started_at, 'finished_at', finished_at,
  'seconds', extract(epoch FROM finished_at - started_at),
  'detect', (step_results->'detect') - 'coverage', 'import', step_results->'import',
  'maintain', step_results->'maintain', 'metrics_rss', step_results->'metrics'->'max_rss_mb')
  FROM cycles WHERE id = 'manual-bench'" > "$work/cycle.json"

python3 - "$N" "$K" "$wall" "$work" "$server_cpu" <<'PY'
import json, sys
n, k, wall, work, server_cpu = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
summary = json.load(open(f"{work}/summary.json"))
c = json.load(open(f"{work}/cycle.json"))
rss_kb, user_s, sys_s = open(f"{work}/rss").read().split()[-3:]
rss_kb, client_cpu = int(rss_kb), float(user_s) + float(sys_s)
conns = [int(x) for x in open(f"{work}/conns").read().split() if x.strip().isdigit()]
det, imp = c["detect"] or {}, c["import"] or {}
crawl = det.get("crawl_seconds", 0) or 0
fetch = imp.get("fetch_seconds", 0) or 0
print()
print(f"catalog             {n} fragrances; candidates offered {k}")
print(f"outcome             {summary['outcome']}: {summary['new_fragrances_imported']} new fragrances "
      f"(detect found {det.get('candidate_count')} candidates; import counts {imp.get('counts')})")
for step in ["detect", "import", "maintain", "metrics", "notify"]:
    t = (c["timings"] or {}).get(step, {})
    extra = ""
    if step == "detect":
        extra = f"  of which crawl (reading the snapshot) {crawl:.2f} s"
    if step == "import":
        extra = f"  of which fetching the records {fetch:.2f} s"
    if step == "maintain" and c.get("maintain"):
        parts = c["maintain"].get("seconds", {})
        extra = "  (" + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items() if k != "total") + ")"
    print(f"  {step:<9} {t.get('seconds', 0):7.1f} s{extra}")
total = c["seconds"]
print(f"cycle               {wall:.1f} s wall for the process ({total:.1f} s from the cycle's start to metrics closing it; notify runs after)")
print(f"without the source  {wall - crawl - fetch:.1f} s  (target: under 60 s on 2 cores; crawl and fetch reported apart)")
print(f"CPU                 {client_cpu + server_cpu:.1f} s: the cycle process {client_cpu:.1f} s, PostgreSQL {server_cpu:.1f} s (backends and background workers while it ran)")
print(f"peak RSS            {rss_kb/1024:.1f} MB (the cycle process)")
print(f"peak connections    {max(conns) if conns else 'n/a'} (pg_stat_activity, application_name scentmatch, {len(conns)} samples; target at most 4)")
PY
