#!/usr/bin/env bash
# Fails when the built CUDA addon leaves a symbol of ours (tn::...) undefined: a kernel declared in
# native/cpu/*.h that has no CUDA definition would load fine and then abort the process on its first call. The
# build's link check (CMakeLists.txt) catches this too; this looks at the file that ships.
#   bash test/check-cuda-symbols.sh [ADDON]
set -euo pipefail
cd "$(dirname "$0")/.."
addon="${1:-build-cuda/Release/transformer_native_cuda.node}"
test -f "$addon" || { echo "check-cuda-symbols: no $addon (run npm run build:cuda)" >&2; exit 1; }
undefined=$(nm -D --undefined-only "$addon" | awk '{print $NF}' | c++filt | grep -E '^tn::' || true)
if [ -n "$undefined" ]; then
  echo "check-cuda-symbols: $addon leaves these symbols undefined:" >&2
  echo "$undefined" >&2
  exit 1
fi
echo "check-cuda-symbols: no undefined tn:: symbols in $addon"
