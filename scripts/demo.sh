#!/usr/bin/env bash
# Runs the fake Sunor API and the exporter side by side, so that someone
# without a key sees real output: http://localhost:10151/metrics
# The fake spends 2 credits a minute so that graphs move. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$bin"' EXIT INT TERM
go build -o "$bin/fakesunor" ./cmd/fakesunor
go build -o "$bin/sunor_exporter" .
fake_addr=${FAKE_ADDR:-127.0.0.1:18080}
"$bin/fakesunor" -listen "$fake_addr" -key demo-key -burn-per-minute 2 &
# Wait for the fake to answer, not for a fixed time.
for _ in $(seq 100); do
  curl -fsS -o /dev/null -H 'x-api-key: demo-key' "http://$fake_addr/api/v1/account/balance" 2>/dev/null && break
  sleep 0.1
done
echo "demo: fake Sunor API on http://$fake_addr (key demo-key); exporter on http://localhost:10151/metrics"
echo "demo: try   curl -s localhost:10151/metrics | grep ^sunor_"
echo "demo: break it:   curl -XPUT -d '{\"fail\":\"server_error\"}' http://$fake_addr/fake/accounts/demo-key"
SUNOR_API_KEY=demo-key "$bin/sunor_exporter" --sunor.url="http://$fake_addr" "$@" &
wait -n
