#!/usr/bin/env bash
# deploy/kubernetes/prometheusrule.yaml is rendered from the monitoring
# mixin (mixin/) with the other generated files: this runs `make mixin`'s
# generator, which writes them all. Edit mixin/, not the generated files.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./tools/mixin
