#!/usr/bin/env bash
# The Helm chart's copies of the rules and the dashboard (it cannot read
# files outside its directory) are rendered from the monitoring mixin
# (mixin/) with the other generated files: this runs `make mixin`'s
# generator, which writes them all. Edit mixin/, not the generated files.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./tools/mixin
