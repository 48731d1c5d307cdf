#!/usr/bin/env bash
# Makes sure Debian's pgbouncer is on this machine: make test runs the
# database tests through it in transaction mode, as production reaches
# PostgreSQL through a transaction pooler. When it is missing and we are root
# with apt, it installs the package (and stops the system service the package
# may start: the tests run their own); otherwise it says exactly what is
# missing and exits 1.
set -euo pipefail

find_pgbouncer() {
  if [ -x /usr/sbin/pgbouncer ]; then echo /usr/sbin/pgbouncer; return 0; fi
  command -v pgbouncer 2>/dev/null
}

if bin=$(find_pgbouncer); then
  echo "PgBouncer: $bin" >&2
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PgBouncer not found: installing Debian's pgbouncer package (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
  # The package starts a system pgbouncer on port 6432; the tests run their own.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop pgbouncer >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
  if bin=$(find_pgbouncer); then
    echo "PgBouncer installed: $bin" >&2
    exit 0
  fi
fi

cat >&2 <<'MSG'
error: pgbouncer is missing (make test runs the database tests through it in transaction mode).
  Install it:   sudo apt-get install pgbouncer      (Debian/Ubuntu)
MSG
exit 1
