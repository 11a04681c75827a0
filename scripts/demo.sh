#!/usr/bin/env bash
# The demo (README command 1): sets everything up, then unlocks a locked server with tessera.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec scripts/demo-local.sh
