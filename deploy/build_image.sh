#!/bin/sh
# Builds the poolcat-server image from deploy/Dockerfile (`make image`).
#
#   deploy/build_image.sh [TAG]        # default poolcat-server:<project version>
#
# Engine: $CONTAINER_ENGINE if set, else podman when it works here, else
# docker when its daemon answers. Nothing is pulled: when the base image
# debian:bookworm-slim is absent it is made locally, with mmdebstrap
# (minbase, merged /usr, no docs) from the Debian sources this machine's apt
# uses, and imported. With podman every command gets `--runtime runc` and
# explicit ulimits (what container hosts of this kind need) instead of a
# change to the machine's containers.conf.
#
# Exit status: 0 built; 3 no working container engine (so a test can skip);
# anything else a failed build.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^project(poolcat VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
TAG=${1:-poolcat-server:$VERSION}
BASE=debian:bookworm-slim
ULIMITS="--ulimit nofile=16384:16384 --ulimit nproc=4096:4096"

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null 2>&1 && podman --runtime runc info >/dev/null 2>&1; then
    engine=podman
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  else
    echo "build_image.sh: no working container engine (podman, or docker with a running daemon)" >&2
    exit 3
  fi
fi
case "$engine" in
  podman) run="podman --runtime runc" ;;
  *) run="$engine" ;;
esac

if ! $run image inspect "$BASE" >/dev/null 2>&1; then
  command -v mmdebstrap >/dev/null 2>&1 || {
    echo "build_image.sh: $BASE is absent and mmdebstrap is not installed (apt-get install mmdebstrap)" >&2
    exit 1
  }
  # Only Debian's own sources (deb822 or one-line), not third-party ones.
  sources=""
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ]; then sources=$f; break; fi
  done
  if [ -z "$sources" ]; then
    echo "build_image.sh: no Debian apt sources found to build $BASE from" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "Making $BASE with mmdebstrap from $sources"
  mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --format=tar bookworm "$tmp/base.tar" "$sources"
  $run import --change 'CMD ["/bin/bash"]' \
    --message "mmdebstrap --variant=minbase bookworm" "$tmp/base.tar" "$BASE"
fi

case "$engine" in
  # docker format: OCI images drop HEALTHCHECK.
  podman) extra="--pull=never --format docker $ULIMITS" ;;
  *) extra="--pull=false $ULIMITS" ;;
esac
echo "Building $TAG with $engine"
# shellcheck disable=SC2086  # $run and $extra are word lists
$run build $extra --build-arg "VERSION=$VERSION" \
  -f "$ROOT/deploy/Dockerfile" -t "$TAG" "$ROOT"
