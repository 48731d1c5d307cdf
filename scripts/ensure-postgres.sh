#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) are on this
# machine for the embedded local database. When they are missing and we are
# root with apt, it installs Debian's postgresql package (and stops the system
# cluster the package may start: we run our own); otherwise it says exactly
# what is missing and exits 1.
set -euo pipefail

has_server() { [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

find_bindir() {
  local d
  if [ -n "${SCENTMATCH_PG_BINDIR:-}" ] && has_server "$SCENTMATCH_PG_BINDIR"; then echo "$SCENTMATCH_PG_BINDIR"; return 0; fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && has_server "$d"; then echo "$d"; return 0; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if has_server "$d"; then echo "$d"; return 0; fi
  done
  return 1
}

if dir=$(find_bindir); then
  echo "PostgreSQL server binaries: $dir" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  before=$(pg_lsclusters -h 2>/dev/null || true)
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # The package may create and start a system cluster; the pipeline runs its
  # own, so stop any cluster that this install started.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _rest; do
      if [ "$status" = "online" ] && ! grep -q "^$ver $name " <<<"$before"; then
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done
  fi
  if dir=$(find_bindir); then
    echo "PostgreSQL server binaries installed: $dir" >&2
    exit 0
  fi
fi

cat >&2 <<'MSG'
error: PostgreSQL server binaries (initdb, pg_ctl, postgres) are missing.
  Install them:   sudo apt-get install postgresql      (Debian/Ubuntu)
  or point to them: export SCENTMATCH_PG_BINDIR=/path/to/postgresql/bin
  or use a server you already have:
    make run:  export DATABASE_URL=postgres://user:pass@host:5432/db
    make test: export SCENTMATCH_TEST_DATABASE_URL=postgres://user:pass@host:5432/postgres
MSG
exit 1
