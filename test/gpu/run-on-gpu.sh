#!/usr/bin/env bash
# The one prepared run for a machine with an NVIDIA GPU: builds the CUDA addon (and the CPU addon and dist/ when
# missing), runs the GPU tests, then the GPU benchmarks, keeping every log under $OUT (or a new temp dir).
# The whole run stops itself before 9 minutes. Needs node and node_modules: on the machine, or unpacked from
# .gpu-carry/ (TN_CARRY), which test/gpu/pack-for-gpu.sh fills; and nvcc + cmake for the CUDA build. A
# build-cuda/ or build/ carried from elsewhere is used as is (TN_REBUILD=1 rebuilds the CUDA addon).
#   bash test/gpu/run-on-gpu.sh
set -u
cd "$(dirname "$0")/../.."

# Strict: the GPU tests fail, instead of skipping, when the addon does not load or finds no device, and the
# run fails when no GPU test ran (test/gpu/twins.ts, test/gpu/reporter.js).
export TN_REQUIRE_GPU=1

OUT_DIR="${OUT:-$(mktemp -d -t tn-gpu-XXXXXX)}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/run.log"
TOTAL_SECONDS=${TN_GPU_RUN_SECONDS:-530}
START=$SECONDS
JOBS=$(nproc 2>/dev/null || echo 4)
status=0

say() { echo "[$((SECONDS - START))s] $*" | tee -a "$LOG"; }
# Seconds for the next step: its own cap, or what is left of the total (minus a margin), whichever is less.
budget() {
  local left=$((TOTAL_SECONDS - (SECONDS - START) - 10))
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# step NAME CAP LOGFILE COMMAND...: runs the command under a time limit, its output appended to LOGFILE (a few
# files in all, easy to collect) and to run.log.
step() {
  local name=$1 cap=$2 file=$3
  shift 3
  local limit
  limit=$(budget "$cap")
  if [ "$limit" -lt 20 ]; then
    say "SKIP $name: only ${limit}s left"
    status=1
    return 1
  fi
  say "START $name (limit ${limit}s)"
  local before
  before=$(stat -c %s "$file" 2>/dev/null || echo 0)
  timeout --kill-after=10 "$limit" "$@" >>"$file" 2>&1
  local rc=$?
  tail -c +$((before + 1)) "$file" >>"$LOG"
  if [ $rc -eq 0 ]; then
    say "OK $name"
  else
    say "FAIL $name (exit $rc$([ $rc -eq 124 ] && echo ', timed out'))"
    status=1
  fi
  return $rc
}

# What pack-for-gpu.sh packed: node, node_modules (a link to a shared install does not travel), the CPU addon.
CARRY="${TN_CARRY:-.gpu-carry}"
unxz_to() {  # unxz_to ARCHIVE: decompressed bytes on stdout, with xz or Python's lzma
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}
NODE_BIN="${TN_NODE:-$(command -v node || true)}"
if [ -z "$NODE_BIN" ] && [ -f "$CARRY/node.xz" ]; then
  mkdir -p /tmp/tn-node/bin
  unxz_to "$CARRY/node.xz" >/tmp/tn-node/bin/node && chmod +x /tmp/tn-node/bin/node && NODE_BIN=/tmp/tn-node/bin/node
  say "unpacked node from $CARRY"
fi
if [ ! -f node_modules/jest/bin/jest.js ] && [ -f "$CARRY/node_modules.tar.xz" ]; then
  [ -L node_modules ] && rm node_modules
  unxz_to "$CARRY/node_modules.tar.xz" | tar -xf - && say "unpacked node_modules from $CARRY"
fi
if [ ! -f build/Release/transformer_native.node ] && [ -f "$CARRY/cpu-addon.tar.xz" ]; then
  unxz_to "$CARRY/cpu-addon.tar.xz" | tar -xf - && say "unpacked the CPU addon from $CARRY"
fi
if [ -z "$NODE_BIN" ] || [ ! -x "$NODE_BIN" ]; then
  say "no node found: put node on PATH or set TN_NODE"
  exit 1
fi
export PATH="$(dirname "$NODE_BIN"):$PATH"

{
  echo "date: $(date -u)"
  echo "node: $("$NODE_BIN" --version)"
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo missing)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1 || echo missing)"
  echo "python3 torch: $(python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1)"
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
} >"$OUT_DIR/env.txt" 2>&1
cat "$OUT_DIR/env.txt" >>"$LOG"

if [ ! -d node_modules ] || [ ! -f node_modules/jest/bin/jest.js ]; then
  say "node_modules is missing (carry it with the working tree)"
  exit 1
fi

CUDA_ADDON=build-cuda/Release/transformer_native_cuda.node
if [ ! -f "$CUDA_ADDON" ] || [ "${TN_REBUILD:-0}" = 1 ]; then
  step "build:cuda" 300 "$OUT_DIR/build-cuda.log" \
    "$NODE_BIN" node_modules/cmake-js/bin/cmake-js compile --out build-cuda --parallel "$JOBS" || exit 1
else
  say "using the carried $CUDA_ADDON"
fi

if [ ! -f build/Release/transformer_native.node ] && ! ls prebuilds/*/*.node >/dev/null 2>&1; then
  # Offline, node-gyp can only use the headers of a node distribution it runs from (bin/node, include/node).
  NODE_DIST="$(cd "$(dirname "$NODE_BIN")/.." && pwd)"
  NODEDIR=()
  [ -f "$NODE_DIST/include/node/node_api.h" ] && NODEDIR=(--nodedir "$NODE_DIST")
  step "build:native" 200 "$OUT_DIR/build-cpu.log" \
    "$NODE_BIN" node_modules/node-gyp/bin/node-gyp.js rebuild -j "$JOBS" ${NODEDIR[@]+"${NODEDIR[@]}"} || exit 1
fi
if [ ! -f dist/index.js ]; then
  step "build:ts" 120 "$OUT_DIR/build-cpu.log" "$NODE_BIN" node_modules/typescript/bin/tsc -p tsconfig.json
fi

# TN_CUDA_SYNC=1: every launch waits for its kernel, so a fault is reported under the op that launched it.
step "test:gpu" 240 "$OUT_DIR/test-gpu.log" \
  env TN_CUDA_SYNC=1 "$NODE_BIN" node_modules/jest/bin/jest.js --ci --verbose test/gpu
gpu_count=$(grep -h '^GPU tests:' "$OUT_DIR/test-gpu.log" 2>/dev/null | tail -1)
say "${gpu_count:-GPU tests: no count (jest did not finish)}"

step "bench:gpu" 240 "$OUT_DIR/bench-gpu.md" \
  "$NODE_BIN" bench/gpu/run.js --json "$OUT_DIR/bench-gpu.json"

# With time to spare, the kernel tests once more under compute-sanitizer's memory checker. Informative only
# (some sandboxed runtimes cannot host the checker), so it does not change the exit status.
if command -v compute-sanitizer >/dev/null 2>&1 && [ "$(budget 150)" -ge 120 ]; then
  saved_status=$status
  step "memcheck" 150 "$OUT_DIR/memcheck.log" compute-sanitizer --tool memcheck --print-limit 20 \
    "$NODE_BIN" node_modules/jest/bin/jest.js --ci -i test/gpu/kernels.test.ts -t 'attention|gemm'
  status=$saved_status
fi

say "done in $((SECONDS - START))s, logs in $OUT_DIR (exit $status)"
exit $status
