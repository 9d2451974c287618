#!/usr/bin/env bash
# Install what `npm run bench` needs, idempotently; quick when all is there.
#  - from Debian: bindfs (a C contender, libfuse 2), fio (random I/O), libfuse2
#    (fuse-native's prebuilt addon links libfuse.so.2), fuse (fusermount, which
#    fuse-native unmounts with), librsvg2-bin (rsvg-convert: chart to PNG),
#    gcc (the load generator), util-linux (taskset).
#  - from npm, into bench/.peers only (never a dependency of puffs):
#    fuse-native (the Node peer) and memfs (the in-process peer).
# `apt-get update` runs once, and only if a package is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd bindfs || need+=(bindfs)
have_cmd fio || need+=(fio)
have_cmd rsvg-convert || need+=(librsvg2-bin)
have_cmd fusermount || need+=(fuse)
have_cmd taskset || need+=(util-linux)
have_cmd cc || need+=(gcc)
if ! ldconfig -p 2>/dev/null | grep 'libfuse\.so\.2 ' >/dev/null; then
  need+=(libfuse2)
fi

if ((${#need[@]})); then
  echo "bench/setup: installing from Debian: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # libfuse2 is libfuse2t64 on Debian 13; take whichever exists.
  pkgs=()
  for p in "${need[@]}"; do
    if [[ $p == libfuse2 ]] && ! apt-cache show libfuse2 >/dev/null 2>&1; then p=libfuse2t64; fi
    pkgs+=("$p")
  done
  apt-get install -y -qq "${pkgs[@]}" >&2
fi

peers="$here/.peers"
if [[ ! -f $peers/node_modules/fuse-native/package.json || ! -f $peers/node_modules/memfs/package.json ]]; then
  echo "bench/setup: installing fuse-native and memfs into bench/.peers" >&2
  mkdir -p "$peers"
  [[ -f $peers/package.json ]] || echo '{ "name": "puffs-bench-peers", "private": true, "description": "benchmark peers only; not a dependency of puffs" }' >"$peers/package.json"
  # fuse-native ships N-API prebuilds for linux-x64 (prebuilds/linux-x64/node.napi.node);
  # its install script (node-gyp-build) only selects one, so nothing is compiled.
  (cd "$peers" && npm install --no-audit --no-fund --loglevel=error fuse-native@2.2.6 memfs@4.80.1 >&2)
fi
echo "bench/setup: ok" >&2
