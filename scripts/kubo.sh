#!/usr/bin/env bash
# Build the current Kubo (the reference IPFS node the interop tests run against)
# once, from the Go module proxy, into a cache; print its path.
#
# Kubo v0.43.1's go.mod replaces go-libp2p with a personal fork that the module
# proxy does not serve; its own comment says the fork only brings forward the
# quic-go/webtransport-go requirements, which go-libp2p v0.50.0 (released a week
# later) has. So we build with that release instead of the fork.
set -euo pipefail
VERSION=v0.43.1
CACHE=${IPFS_KIT_KUBO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-kit-kubo}
BIN="$CACHE/ipfs-${VERSION#v}"
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "kubo.sh: no Go toolchain; Kubo interop tests will be skipped" >&2; exit 1; }
mkdir -p "$CACHE"
src=$(mktemp -d)
trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
echo "building Kubo $VERSION into $CACHE (first run only, a few minutes)" >&2
dir=$(cd "$src" && go mod download -json "github.com/ipfs/kubo@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$dir" "$src/kubo" && chmod -R u+w "$src/kubo"
cd "$src/kubo"
sed -i -e '/^replace github.com\/libp2p\/go-libp2p =>/d' \
       -e 's#github.com/libp2p/go-libp2p v0\.49\.0#github.com/libp2p/go-libp2p v0.50.0#' go.mod
go build -mod=mod -trimpath -o "$BIN.tmp" ./cmd/ipfs >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
