#!/usr/bin/env bash
# The whole test suite: set up what is missing, lint, then pytest (warnings are errors).
# Extra arguments go to pytest, e.g. `bash tools/test.sh -k frame`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$root"
ruff check .
ruff format --check .
exec python -m pytest "$@"
