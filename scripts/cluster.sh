#!/usr/bin/env bash
# Build IPFS Cluster (ipfs-cluster-service and ipfs-cluster-ctl, the Go peers that
# hold a shared pinset and drive IPFS daemons through their RPC API) once, from the
# Go module proxy, into a cache; print the two paths, one a line.
# v1.1.6 is the newest release the module proxy serves (v1.1.7+ are refused) and it
# builds with Go 1.26 as released (no replace directives).
set -euo pipefail
VERSION=${IPFS_KIT_CLUSTER_VERSION:-v1.1.6}
CACHE=${IPFS_KIT_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-kit-cluster}
DIR="$CACHE/${VERSION#v}"
SERVICE="$DIR/ipfs-cluster-service"
CTL="$DIR/ipfs-cluster-ctl"
if [ -x "$SERVICE" ] && [ -x "$CTL" ] && "$SERVICE" --version >/dev/null 2>&1; then
  echo "$SERVICE"; echo "$CTL"; exit 0
fi
command -v go >/dev/null || { echo "cluster.sh: no Go toolchain; the IPFS Cluster test will be skipped" >&2; exit 1; }
mkdir -p "$DIR"
echo "building IPFS Cluster $VERSION into $DIR (first run only, a few minutes)" >&2
tmp=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# `go install pkg@version` asks the proxy for the module's version list (for
# deprecations), which the proxy refuses for this module: download and build instead.
src=$(cd "$tmp" && go mod download -json "github.com/ipfs-cluster/ipfs-cluster@$VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
for cmd in ipfs-cluster-service ipfs-cluster-ctl; do
  (cd "$tmp/src" && go build -mod=mod -trimpath -o "$tmp/$cmd" "./cmd/$cmd") >&2
done
mv "$tmp/ipfs-cluster-ctl" "$CTL"
mv "$tmp/ipfs-cluster-service" "$SERVICE"
echo "$SERVICE"; echo "$CTL"
