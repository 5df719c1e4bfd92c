#!/usr/bin/env bash
# Runs the fake Sunor API and the exporter side by side, so that someone
# without a key sees real output: http://localhost:10151/metrics
# The fake spends 2 credits a minute so that graphs move. Ctrl-C stops both.
#
# The fake takes a free loopback port (or FAKE_ADDR). The exporter listens on
# 127.0.0.1:${DEMO_PORT:-10151}; if that port is taken, the script stops at
# once and says so: DEMO_PORT=10152 make demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$bin"' EXIT INT TERM
die() { echo "demo: $*" >&2; exit 1; }
go build -o "$bin/fakesunor" ./cmd/fakesunor
go build -o "$bin/sunor_exporter" .

"$bin/fakesunor" -listen "${FAKE_ADDR:-127.0.0.1:0}" -key demo-key -burn-per-minute 2 2>"$bin/fake.log" &
fake_pid=$!
# The fake prints its address when it listens; wait for that line, or for it
# to die (a taken FAKE_ADDR), at most 10 seconds.
fake=
for _ in $(seq 100); do
  fake=$(sed -n 's/^fakesunor listening on //p' "$bin/fake.log")
  [ -n "$fake" ] && break
  kill -0 "$fake_pid" 2>/dev/null || die "the fake Sunor API did not start: $(cat "$bin/fake.log")"
  sleep 0.1
done
[ -n "$fake" ] || die "the fake Sunor API did not start within 10s"

listen=127.0.0.1:${DEMO_PORT:-10151}
SUNOR_API_KEY=demo-key "$bin/sunor_exporter" --sunor.url="$fake" --web.listen-address="$listen" "$@" 2>"$bin/exporter.log" &
exporter_pid=$!
# Listening (exporter-toolkit logs "Listening on" once the port is bound), or
# dead (a taken port), within 10 seconds. Polling the port alone could reach
# another server that holds it.
for _ in $(seq 100); do
  grep -q 'Listening on' "$bin/exporter.log" && break
  if ! kill -0 "$exporter_pid" 2>/dev/null; then
    cat "$bin/exporter.log" >&2
    die "the exporter could not start on $listen (port taken? try DEMO_PORT=10152 make demo)"
  fi
  sleep 0.1
done
grep -q 'Listening on' "$bin/exporter.log" || die "the exporter did not start listening on $listen within 10s"
curl -fsS -o /dev/null --max-time 2 "http://$listen/-/ready" || die "the exporter on $listen is not ready"

# Scrape every 15 s, as Prometheus would, so that the status page has
# answers to show (it makes no call of its own).
(while curl -fsS -o /dev/null --max-time 10 "http://$listen/metrics"; do sleep 15; done) &

cat <<EOT
demo: fake Sunor API on $fake (key demo-key); exporter on http://$listen/metrics
demo: status page: http://$listen/ (scraped every 15 s by this script)
demo: debug probe: curl -s '$listen/probe?account=default&debug=true'
demo: try       curl -s $listen/metrics | grep ^sunor_
demo: break it: curl -XPUT -d '{"fail":"server_error"}' $fake/fake/accounts/demo-key
demo: heal it:  curl -XPUT -d '{"fail":""}' $fake/fake/accounts/demo-key
demo: Ctrl-C stops both.
EOT
tail -f "$bin/exporter.log" &
wait -n "$fake_pid" "$exporter_pid"
