#!/usr/bin/env bash
# Packs what a bare GPU machine lacks into one folder (default .gpu-carry/, git-ignored: send it along with the
# tree as an ignored path the remote run carries) for run-on-gpu.sh:
# the node binary, node_modules without its data sets, and the CPU addon. Compressed with xz, so the folder
# stays near 50 MB and can travel with the working tree.
#   bash test/gpu/pack-for-gpu.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-.gpu-carry}"
mkdir -p "$DEST"
NODE_BIN="$(readlink -f "$(command -v node)")"
xz -T0 -6 -c "$NODE_BIN" >"$DEST/node.xz.tmp" && mv "$DEST/node.xz.tmp" "$DEST/node.xz"
# node_modules may be a link to a shared install: -h archives what it points to.
tar -chf - --exclude='node_modules/@stdlib' --exclude='node_modules/.cache' --exclude='*.map' \
  --exclude='node_modules/typescript/lib/*/diagnosticMessages.generated.json' node_modules |
  xz -T0 -6 >"$DEST/node_modules.tar.xz.tmp" && mv "$DEST/node_modules.tar.xz.tmp" "$DEST/node_modules.tar.xz"
if [ -f build/Release/transformer_native.node ]; then
  tar -cJf "$DEST/cpu-addon.tar.xz.tmp" build/Release/transformer_native.node
  mv "$DEST/cpu-addon.tar.xz.tmp" "$DEST/cpu-addon.tar.xz"
fi
du -sh "$DEST"/*
