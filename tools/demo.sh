#!/usr/bin/env bash
# The main job: set up what is missing, then run the demo (docs: README.md).
# Flags are passed on to `gaitlink demo`, e.g. `bash tools/demo.sh --devices 5 --seconds 120`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$root"
exec gaitlink demo "$@"
