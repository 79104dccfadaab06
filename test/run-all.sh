#!/usr/bin/env bash
# Everything CI checks, after `npm ci`: lint, type checks (src, test, bench) and formatting first (fast to
# fail), then the CUDA addon is compiled wherever nvcc is (so its code never rots; its GPU tests skip without a
# device) and checked for undefined symbols of ours, then the MPI addon (Open MPI installed as root where
# missing; likewise python3-onnx for ONNX's checker), then the jest suite (with 2-process mpirun jobs), then
# the install-without-a-compiler test.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run lint
npm run typecheck
npm run format:check
if command -v nvcc >/dev/null 2>&1 && command -v cmake >/dev/null 2>&1; then
  npm run build:cuda
  cuda_addon=build-cuda/Release/transformer_native_cuda.node
  test -f "$cuda_addon" || { echo "npm run build:cuda did not produce $cuda_addon" >&2; exit 1; }
  bash test/check-cuda-symbols.sh "$cuda_addon"
else
  echo "nvcc or cmake not found: the CUDA addon is not built"
fi
# Open MPI for the multi-process tests (test/distributed): installed where it is missing and we may (CI runs as
# root), then the MPI addon is built and the tests must run (TN_REQUIRE_MPI=1) instead of skipping.
if ! command -v mpicc >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null; }
fi
if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then
  npm run build:mpi
  export TN_REQUIRE_MPI=1
else
  echo "MPI not found: the MPI addon is not built and the multi-process tests are skipped"
fi
# ONNX's own checker (Debian's python3-onnx) for the files io.exportOnnx writes: installed the same way; the
# tests that call it skip where Python's onnx is absent, and no other test needs Python.
if ! /usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -qq python3-onnx >/dev/null || echo "python3-onnx could not be installed: the checker tests skip"
fi
npm test
npm run test:package
