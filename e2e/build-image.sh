#!/usr/bin/env bash
# usage: e2e/build-image.sh [TAG]     (TAG defaults to the crate version, which is the chart's appVersion)
#
# Builds the operator's container image without a registry or a Docker engine, and prints the path of a
# docker-archive tarball holding it (the only line on stdout; progress goes to stderr):
#   1. a static binary: RUSTFLAGS="-C target-feature=+crt-static" cargo build --release
#      --target x86_64-unknown-linux-gnu, in its own target dir (target/static) so its flags never
#      invalidate the debug build;
#   2. stages it with /etc/ssl/certs/ca-certificates.crt in target/image/ and proves the binary runs in an
#      empty root (no shared libraries, no zoneinfo);
#   3. `buildah bud` of the repo's FROM-scratch Dockerfile (vfs storage, chroot isolation: works as root
#      inside an unprivileged container, no base image pulled);
#   4. `buildah push` to docker-archive:<tarball>:localhost/runwisp-operator:TAG.
# Load the result into the bed with `e2e/cluster.sh load-image "$(e2e/build-image.sh TAG)"`.
#
# Environment:
#   RUNWISP_IMAGE_REPO     image name without tag (localhost/runwisp-operator)
#   RUNWISP_IMAGE_TAR      output tarball (target/image/runwisp-operator-TAG.tar)
#   RUNWISP_STATIC_TARGET_DIR  cargo target dir of the static build (target/static)
#   RUNWISP_BUILDAH_ROOT   buildah storage root (buildah's default, /var/lib/containers/storage)
# Missing apt packages (buildah, ca-certificates) are installed; that needs root, as buildah does.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

TAG=${1:-$(awk -F'"' '/^version *=/ { print $2; exit }' "$ROOT/Cargo.toml")}
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "invalid image tag: '$TAG'" >&2; exit 2; }
REPO=${RUNWISP_IMAGE_REPO:-localhost/runwisp-operator}
IMAGE=$REPO:$TAG
STAGE=$ROOT/target/image
TAR=${RUNWISP_IMAGE_TAR:-$STAGE/runwisp-operator-$TAG.tar}
TARGET_TRIPLE=x86_64-unknown-linux-gnu
STATIC_DIR=${RUNWISP_STATIC_TARGET_DIR:-$ROOT/target/static}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUILDAH=(buildah --storage-driver vfs)
[ -z "${RUNWISP_BUILDAH_ROOT:-}" ] || BUILDAH+=(--root "$RUNWISP_BUILDAH_ROOT/root" --runroot "$RUNWISP_BUILDAH_ROOT/runroot")

now() { date +%s.%N; }
T0=$(now)
log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN{printf "%.1f", a-b}'; }
PHASE_NAME="" PHASE_T=""
phase() { # ends the previous phase (printing its duration) and starts the next one
  [ -n "$PHASE_NAME" ] && log "$(printf '%-34s %7ss   (total %7ss)' "$PHASE_NAME" "$(elapsed "$PHASE_T")" "$(elapsed "$T0")")"
  PHASE_NAME=${1:-} PHASE_T=$(now)
}

phase "apt packages"
missing=()
command -v buildah >/dev/null || missing+=(buildah)
[ -s "$CA_BUNDLE" ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root or install them"
  log "installing ${missing[*]}"
  apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
  [ -s "$CA_BUNDLE" ] || update-ca-certificates >&2
fi

phase "cargo build (static, release)"
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=$STATIC_DIR \
  cargo build --release --locked --target "$TARGET_TRIPLE" --bin runwisp-operator >&2
BIN=$STATIC_DIR/$TARGET_TRIPLE/release/runwisp-operator
[ -x "$BIN" ] || die "no binary at $BIN"
if command -v readelf >/dev/null && readelf -l "$BIN" | grep -q 'program interpreter'; then
  die "$BIN is dynamically linked (crt-static did not apply)"
fi

phase "stage + run in an empty root"
mkdir -p "$STAGE"
install -m 0755 "$BIN" "$STAGE/runwisp-operator"
install -m 0644 "$CA_BUNDLE" "$STAGE/ca-certificates.crt"
# The image has nothing but these two files: prove the binary needs nothing else (a chroot with
# only the binary), and that the zone data really is compiled in (no /usr/share/zoneinfo there).
if [ "$(id -u)" = 0 ]; then
  jail=$(mktemp -d "${TMPDIR:-/tmp}/rw-image-jail.XXXXXX")
  trap 'rm -rf "$jail"' EXIT
  cp "$STAGE/runwisp-operator" "$jail/"
  chroot "$jail" /runwisp-operator --version >&2 || die "the static binary does not run in an empty root"
  chroot "$jail" /runwisp-operator crd | grep -q 'kind: CustomResourceDefinition' ||
    die "'runwisp-operator crd' failed in an empty root"
fi

phase "buildah bud"
"${BUILDAH[@]}" bud --isolation chroot --layers=false -f "$ROOT/Dockerfile" -t "$IMAGE" "$ROOT" >&2

phase "buildah push (docker-archive)"
rm -f "$TAR"
mkdir -p "$(dirname "$TAR")"
"${BUILDAH[@]}" push "$IMAGE" "docker-archive:$TAR:$IMAGE" >&2
# drop the untagged leftovers of earlier builds of this tag (vfs copies every layer in full)
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true

phase
log "$IMAGE: $(du -h "$TAR" | cut -f1) tarball, binary $(du -h "$STAGE/runwisp-operator" | cut -f1); total $(elapsed "$T0")s"
echo "$TAR"
