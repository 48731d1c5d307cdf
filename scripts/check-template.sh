#!/usr/bin/env bash
# Template checks (make test runs this): template.yaml through AWS's SAM
# translator and cfn-lint on the translated template, zero errors and
# warnings (scripts/check_template.py says how). The pip packages are on
# the project's machines; where one is missing it is installed with pip,
# or the script stops naming exactly what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SAM_TRANSLATOR_VERSION=1.110.0
CFN_LINT_VERSION=1.51.0

py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py is not installed; the template checks need Python 3 with the pip packages aws-sam-translator==$SAM_TRANSLATOR_VERSION and cfn-lint==$CFN_LINT_VERSION" >&2
  exit 1
fi

# have <module> <pip package> <version>: the module imports at that version.
have() {
  "$py" - "$1" "$3" <<'PY' >/dev/null 2>&1
import importlib.metadata as md, sys
mod, want = sys.argv[1], sys.argv[2]
dist = {"samtranslator": "aws-sam-translator", "cfnlint": "cfn-lint"}[mod]
__import__(mod)
sys.exit(0 if md.version(dist) == want else 3)
PY
}

missing=()
have samtranslator aws-sam-translator "$SAM_TRANSLATOR_VERSION" || missing+=("aws-sam-translator==$SAM_TRANSLATOR_VERSION")
have cfnlint cfn-lint "$CFN_LINT_VERSION" || missing+=("cfn-lint==$CFN_LINT_VERSION")
if [ ${#missing[@]} -gt 0 ]; then
  echo "template checks: installing ${missing[*]} with pip" >&2
  if ! "$py" -m pip install --quiet "${missing[@]}"; then
    echo "error: the template checks need the pip packages ${missing[*]} for $py; install them (pip install ${missing[*]}) and run make test again" >&2
    exit 1
  fi
fi

exec "$py" scripts/check_template.py "$@"
