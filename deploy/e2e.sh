#!/usr/bin/env bash
# End-to-end test with the real Prometheus and Alertmanager (Debian's
# prometheus and prometheus-alertmanager packages): see deploy/e2e_test.go.
# Everything listens on 127.0.0.1 and is stopped when the test ends.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -tags e2e -count=1 -v -run TestEndToEnd -timeout 5m ./deploy/
