#!/usr/bin/env bash
# Checks what `make release` left in dist/: one archive per platform with the
# binary, README.md, LICENSE, CHANGELOG.md, docs/*.md (the README's links)
# and sunor.example.yml; the
# sha256sums.txt; the linux/amd64 binary's --version (the VERSION file's
# version and this revision); and every other binary's target, static and
# stamped, with `go version -m`. Exits non-zero with the reason on the first
# problem.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
version=$(cat VERSION)
revision=$(git rev-parse HEAD 2>/dev/null || true)
fail() { echo "release-check: FAIL: $*" >&2; exit 1; }
command -v unzip >/dev/null || fail "unzip is not installed (apt-get install unzip)"

[ -f "$dist/sha256sums.txt" ] || fail "no $dist/sha256sums.txt: run make release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# platform suffix -> GOOS GOARCH GOARM
platforms=(
  "linux-amd64 linux amd64 -"
  "linux-arm64 linux arm64 -"
  "linux-armv7 linux arm 7"
  "darwin-amd64 darwin amd64 -"
  "darwin-arm64 darwin arm64 -"
  "windows-amd64 windows amd64 -"
)
archives=()
for p in "${platforms[@]}"; do
  read -r suffix goos goarch goarm <<<"$p"
  ext=tar.gz exe=
  [ "$goos" = windows ] && ext=zip exe=.exe
  # sunor_exporter-<version>[-snapshot.<commit>].<os>-<arch>.<ext>
  mapfile -t found < <(cd "$dist" && ls -1 "sunor_exporter-$version"*".$suffix.$ext" 2>/dev/null || true)
  [ ${#found[@]} -eq 1 ] || fail "want one archive for $suffix of version $version, found ${#found[@]}: ${found[*]:-none}"
  a=${found[0]}
  archives+=("$a")
  dir=${a%."$ext"}
  case $ext in
    tar.gz) list=$(tar -tzf "$dist/$a" | grep -v '/$' | sort) ;;
    zip) list=$(unzip -Z1 "$dist/$a" | grep -v '/$' | sort) ;;
  esac
  want=$(printf '%s\n' "$dir/CHANGELOG.md" "$dir/LICENSE" "$dir/README.md" "$dir/sunor.example.yml" "$dir/sunor_exporter$exe" docs/*.md \
    | sed "s|^docs/|$dir/docs/|" | sort)
  [ "$list" = "$want" ] || fail "$a holds:
$list
want:
$want"
  mkdir -p "$work/$suffix"
  case $ext in
    tar.gz) tar -xzf "$dist/$a" -C "$work/$suffix" ;;
    zip) unzip -q "$dist/$a" -d "$work/$suffix" ;;
  esac
  for f in LICENSE README.md CHANGELOG.md docs/*.md; do
    cmp -s "$f" "$work/$suffix/$dir/$f" || fail "$a: $f is not the repository's"
  done
  cmp -s deploy/config/sunor.example.yml "$work/$suffix/$dir/sunor.example.yml" || fail "$a: sunor.example.yml is not deploy/config's"

  bin="$work/$suffix/$dir/sunor_exporter$exe"
  info=$(go version -m "$bin") || fail "$a: go version -m: not a Go binary"
  for want_line in "GOOS=$goos" "GOARCH=$goarch" "CGO_ENABLED=0" "-trimpath=true"; do
    grep -qE "^[[:space:]]+build[[:space:]]+$want_line\$" <<<"$info" || fail "$a: go version -m lacks build $want_line:
$info"
  done
  if [ "$goarm" != - ]; then
    grep -qE "^[[:space:]]+build[[:space:]]+GOARM=$goarm\$" <<<"$info" || fail "$a: not GOARM=$goarm"
  fi
  # The stamped version, as -X left it in the binary.
  grep -qaF "$version" "$bin" || fail "$a: the binary does not carry version $version"
  [ -z "$revision" ] || grep -qaF "$revision" "$bin" || fail "$a: the binary does not carry revision $revision"
  variant=; [ "$goarm" = - ] || variant=/v$goarm
  echo "release-check: $a: $goos/$goarch$variant static, stamped, files OK"
done

# Checksums: exactly the archives, and all correct.
listed=$(awk '{print $2}' "$dist/sha256sums.txt" | sort)
[ "$listed" = "$(printf '%s\n' "${archives[@]}" | sort)" ] || fail "sha256sums.txt lists:
$listed"
(cd "$dist" && sha256sum --quiet -c sha256sums.txt) || fail "sha256sums.txt does not match the archives"
echo "release-check: sha256sums.txt matches all ${#archives[@]} archives"

# The binary that can run here says what it is.
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" = linux/amd64 ]; then
  out=$(timeout 10 "$work"/linux-amd64/*/sunor_exporter --version 2>&1) || fail "linux-amd64 --version failed: $out"
  echo "$out" | sed 's/^/release-check:   /'
  grep -qE "^sunor_exporter, version $version[-+. a-z0-9]* \(branch: [^,]*, revision: [0-9a-f]{7,}\)" <<<"$out" \
    || fail "linux-amd64 --version does not show version $version and a revision"
  [ -z "$revision" ] || grep -qF "revision: $revision" <<<"$out" || fail "linux-amd64 --version does not show revision $revision"
fi
echo "release-check: OK"
