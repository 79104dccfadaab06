#!/usr/bin/env bash
# Everything CI checks, after `npm ci`: lint and formatting first (fast to fail), then the CUDA addon is
# compiled wherever nvcc is (so its code never rots; its GPU tests skip without a device) and checked for
# undefined symbols of ours, then the jest suite, then the install-without-a-compiler test.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run lint
npm run format:check
if command -v nvcc >/dev/null 2>&1 && command -v cmake >/dev/null 2>&1; then
  npm run build:cuda
  cuda_addon=build-cuda/Release/transformer_native_cuda.node
  test -f "$cuda_addon" || { echo "npm run build:cuda did not produce $cuda_addon" >&2; exit 1; }
  bash test/check-cuda-symbols.sh "$cuda_addon"
else
  echo "nvcc or cmake not found: the CUDA addon is not built"
fi
npm test
npm run test:package
