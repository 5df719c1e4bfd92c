#!/usr/bin/env bash
# Builds the image from the project's Dockerfile with buildah (no Docker
# engine or registry needed) and proves it works: it runs as UID 65532
# without a shell, --version shows the VERSION file's version, and a scrape
# against the fake Sunor API returns the balance. Everything listens on
# 127.0.0.1.
#
# The binary is copied in prebuilt (BINARY=prebuilt, as Prometheus's own
# images do): dist/'s linux binary from `make release` when there is one,
# else `make build`'s. The runtime base is RUNTIME_IMAGE when set (e.g. a
# mirror of distroless static nonroot), else a local image made from scratch
# with Debian's CA bundle (/etc/ssl/certs/ca-certificates.crt).
#
#   scripts/image-test.sh          (as root, or wherever buildah can run)
set -euo pipefail
cd "$(dirname "$0")/.."
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=chroot
fail() { echo "image-test: FAIL: $*" >&2; exit 1; }
log() { echo "image-test: $*"; }
command -v buildah >/dev/null || fail "buildah is not installed (apt-get install --no-install-recommends buildah)"
command -v curl >/dev/null || fail "curl is not installed"

version=$(cat VERSION)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
goos=$(go env GOOS) goarch=$(go env GOARCH)
image=localhost/sunor_exporter:$version
work=$(mktemp -d)
ctr= fake_pid= run_pid=
cleanup() {
  [ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null || true
  [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
  [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The binary, where the Dockerfile's "prebuilt" stage takes it.
bin=
for d in dist/sunor_exporter_${goos}_${goarch}*/sunor_exporter; do [ -f "$d" ] && bin=$d; done
if [ -z "$bin" ]; then
  log "no dist/ binary for $goos/$goarch: make build"
  make -s build >/dev/null
  bin=sunor_exporter
fi
mkdir -p ".build/$goos-$goarch"
cp "$bin" ".build/$goos-$goarch/sunor_exporter"
log "binary: $bin"

# The runtime base.
pull=()
runtime=${RUNTIME_IMAGE:-}
if [ -z "$runtime" ]; then
  ca=/etc/ssl/certs/ca-certificates.crt
  [ -s "$ca" ] || fail "no $ca (apt-get install ca-certificates), and no RUNTIME_IMAGE"
  runtime=localhost/sunor-runtime-base:latest
  base=$(buildah from scratch)
  buildah copy -q "$base" "$ca" /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah commit -q "$base" "$runtime" >/dev/null
  buildah rm "$base" >/dev/null
  pull=(--pull=never)
  log "runtime base: scratch + Debian's CA bundle ($runtime)"
fi

start=$(date +%s)
buildah bud -q --isolation chroot "${pull[@]}" \
  --build-arg BINARY=prebuilt --build-arg RUNTIME_IMAGE="$runtime" \
  --build-arg TARGETOS="$goos" --build-arg TARGETARCH="$goarch" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg BRANCH="$branch" \
  --build-arg BUILD_DATE="$(date -u +%Y%m%d-%H:%M:%S)" \
  -t "$image" . >/dev/null
log "built $image in $(($(date +%s) - start))s"

# The image's configuration.
cfg() { buildah inspect --type image --format "$1" "$image"; }
[ "$(cfg '{{.OCIv1.Config.User}}')" = 65532:65532 ] || fail "image user $(cfg '{{.OCIv1.Config.User}}'), want 65532:65532"
[ "$(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}')" = "$version" ] || fail "image version label is not $version"
[ "$(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}')" = "$revision" ] || fail "image revision label is not $revision"
[ "$(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.licenses"}}')" = Apache-2.0 ] || fail "image license label"
[ "$(cfg '{{.OCIv1.Config.Entrypoint}}')" = "[/bin/sunor_exporter]" ] || fail "entrypoint $(cfg '{{.OCIv1.Config.Entrypoint}}')"
cfg '{{.OCIv1.Config.ExposedPorts}}' | grep -q 10151/tcp || fail "port 10151 is not exposed"
log "config: user 65532:65532, labels version=$version revision=$revision, entrypoint, port 10151"


ctr=$(buildah from -q --pull-never "$image")
# No shell in the image, and none needed.
if buildah run --isolation chroot "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then
  fail "the image has a shell"
fi
out=$(timeout 30 buildah run --isolation chroot "$ctr" -- /bin/sunor_exporter --version 2>&1) || fail "--version in the image: $out"
# make release's snapshots say <VERSION>-snapshot.<commit>, make build's <VERSION>.
grep -qE "^sunor_exporter, version $version[^ ]* \(branch: [^,]+, revision: $revision\)" <<<"$out" || fail "--version in the image says: $out"
log "no shell; --version: $(head -1 <<<"$out")"

# The fake Sunor API, on a free loopback port.
go build -o "$work/fakesunor" ./cmd/fakesunor
"$work/fakesunor" -listen 127.0.0.1:0 -key image-test-key 2>"$work/fake.log" &
fake_pid=$!
fake=
for _ in $(seq 100); do
  fake=$(sed -n 's/^fakesunor listening on //p' "$work/fake.log")
  [ -n "$fake" ] && break
  kill -0 "$fake_pid" 2>/dev/null || fail "the fake API died: $(cat "$work/fake.log")"
  sleep 0.1
done
[ -n "$fake" ] || fail "the fake API did not start in 10s"
printf image-test-key >"$work/api-key"
chmod 0444 "$work/api-key"

# The exporter in the image, on a free loopback port: a taken port makes it
# exit at once, and another is tried.
for attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  buildah run --isolation chroot -v "$work/api-key:/etc/sunor/api-key:ro" "$ctr" -- \
    /bin/sunor_exporter --sunor.api-key-file=/etc/sunor/api-key --sunor.url="$fake" \
    --web.listen-address="127.0.0.1:$port" >"$work/exporter.log" 2>&1 &
  run_pid=$!
  ready=
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready" 2>/dev/null; then ready=1; break; fi
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ready" ] && break
  kill "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  run_pid=
  log "attempt $attempt on port $port failed: $(tail -2 "$work/exporter.log")"
done
[ -n "$run_pid" ] || fail "the exporter in the image never became ready"

# Which user runs it: the exporter process, found by its command line.
pid=
for p in /proc/[0-9]*; do
  if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^/bin/sunor_exporter .*127.0.0.1:$port"; then pid=${p#/proc/}; fi
done
[ -n "$pid" ] || fail "cannot find the exporter's process"
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")
[ "$uids" = "65532 65532 65532 65532" ] && [ "$gids" = "65532 65532 65532 65532" ] || fail "the exporter runs as uid $uids gid $gids"
log "the exporter (pid $pid) runs as uid/gid 65532"

metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/metrics") || fail "scrape failed"
for want in 'sunor_api_up{account="default"} 1' 'sunor_credits_available{account="default"} 950' \
  'sunor_credits_frozen{account="default"} 10'; do
  grep -qxF "$want" <<<"$metrics" || fail "the scrape lacks: $want"
done
grep -q "^sunor_exporter_build_info{.*version=\"$version[^\"]*\"" <<<"$metrics" || fail "build_info does not say version $version"
! grep -q image-test-key <<<"$metrics" || fail "the key appears in the metrics"
calls=$(curl -fsS --max-time 5 "$fake/fake/requests")
log "scrape: sunor_api_up 1, 950 credits available, build_info version $version; fake API saw $calls"

# Stop it as Kubernetes would, and wait for it (with a deadline).
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$run_pid" 2>/dev/null && fail "the exporter did not stop within 10s of SIGTERM"
run_pid=

# The same Dockerfile for the other Linux platforms of the release: the
# builder's TARGETARCH picks the binary (they cannot run here; their
# architecture is checked inside the image).
for plat in arm64:arm64: arm:arm:v7; do
  IFS=: read -r arch goarch_dir variant <<<"$plat"
  [ -n "${RUNTIME_IMAGE:-}" ] && break
  src=$(ls -d dist/sunor_exporter_linux_${goarch_dir}_*/sunor_exporter 2>/dev/null | head -1 || true)
  [ -n "$src" ] || { log "no dist/ binary for linux/$arch: skipping its image (run make release first)"; continue; }
  mkdir -p ".build/linux-$arch" && cp "$src" ".build/linux-$arch/sunor_exporter"
  b=$(buildah from scratch)
  buildah copy -q "$b" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
  buildah config --os linux --arch "$arch" ${variant:+--variant "$variant"} "$b"
  buildah commit -q "$b" "localhost/sunor-runtime-base:$arch" >/dev/null
  buildah rm "$b" >/dev/null
  platform=linux/$arch${variant:+/$variant}
  buildah bud -q --isolation chroot --pull=never --platform "$platform" \
    --build-arg BINARY=prebuilt --build-arg RUNTIME_IMAGE="localhost/sunor-runtime-base:$arch" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "localhost/sunor_exporter:$version-$arch" . >/dev/null 2>"$work/bud.log" || fail "image for $platform: $(cat "$work/bud.log")"
  got=$(buildah inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "localhost/sunor_exporter:$version-$arch")
  [ "$got" = "linux/$arch" ] || fail "image for $platform is $got"
  c=$(buildah from -q --pull-never "localhost/sunor_exporter:$version-$arch" 2>/dev/null)
  m=$(buildah mount "$c")
  info=$(go version -m "$m/bin/sunor_exporter")
  buildah umount "$c" >/dev/null; buildah rm "$c" >/dev/null
  grep -qE "build[[:space:]]+GOARCH=$goarch_dir\$" <<<"$info" || fail "the $platform image holds a binary for another architecture"
  log "image for $platform: binary GOARCH=$goarch_dir"
done
log "OK"
