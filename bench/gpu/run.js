#!/usr/bin/env node
// GPU benchmarks of the CUDA addon (npm run bench:gpu): GEMM TFLOP/s in TF32 and BF16, flash attention forward
// and backward TFLOP/s, layernorm GB/s, each next to PyTorch on the same problem in the same run (cuBLAS for
// the products) when python3 has torch with CUDA. Prints a Markdown table and writes JSON.
//   node bench/gpu/run.js [--json FILE] [--quick]
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { family } = require('../lib/kernels');

const root = path.join(__dirname, '..', '..');
const args = process.argv.slice(2);
const jsonPath = args.includes('--json')
  ? args[args.indexOf('--json') + 1]
  : path.join(os.tmpdir(), 'transformer-native-bench-gpu.json');
const quick = args.includes('--quick');
const addonPath = process.env.TN_CUDA_ADDON || path.join(root, 'build-cuda', 'Release', 'transformer_native_cuda.node');

if (!fs.existsSync(addonPath)) {
  console.error(`bench:gpu: no CUDA addon at ${addonPath}: run npm run build:cuda`);
  process.exit(1);
}
const gpu = require(addonPath);
if (gpu.deviceCount() === 0) {
  console.error('bench:gpu: no CUDA device');
  process.exit(1);
}

// ---- problems ---------------------------------------------------------------------------------------------------

const problems = [];
const gemmShapes = [
  { M: 4096, N: 4096, K: 4096 },
  { M: 4096, N: 1024, K: 256 }, // seed model: MLP up-projection of 4096 tokens
  { M: 4096, N: 256, K: 1024 }, // seed model: MLP down-projection
];
for (const s of gemmShapes) {
  for (const dtype of ['tf32', 'bf16']) {
    for (const transB of [false, true]) problems.push({ kind: 'gemm', dtype, transB, ...s });
  }
}
for (const D of [64, 128]) {
  for (const causal of [false, true]) {
    for (const pass of ['forward', 'backward'])
      problems.push({ kind: 'attention', B: 8, H: 16, T: 2048, D, causal, pass });
  }
}
for (const pass of ['forward', 'backward']) problems.push({ kind: 'layernorm', N: 32768, C: 1024, pass });
// --quick drops the NT variant of the square GEMM, the longest-running duplicate.
const selected = quick
  ? problems.filter((p) => p.kind !== 'gemm' || p.M !== 4096 || p.N !== 4096 || !p.transB)
  : problems;

// ---- timing -----------------------------------------------------------------------------------------------------

// Mean seconds per call after warm-up calls (one only when a call takes over 50 ms, so slow kernels stay cheap).
function seconds(fn, minSeconds = 0.3, maxIters = 50) {
  const first = process.hrtime.bigint();
  fn();
  gpu.synchronize();
  if (Number(process.hrtime.bigint() - first) / 1e9 < 0.05) {
    for (let i = 0; i < 3; i++) fn();
    gpu.synchronize();
  }
  let iters = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (iters < maxIters && elapsed < minSeconds) {
    fn();
    gpu.synchronize();
    iters++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return elapsed / iters;
}

function randomStorage(n, seed) {
  const s = new gpu.Storage(n * 4);
  family('random').randomFillKernel(gpu, { dst: s, n, dist: 'normal', seed, a: 0, b: 1 });
  return s;
}

function flops(p) {
  if (p.kind === 'gemm') return 2 * p.M * p.N * p.K;
  if (p.kind === 'attention') {
    // Two products of B*H*T*T*D forward, five backward (the FlashAttention convention); half under a causal mask.
    const products = p.pass === 'forward' ? 2 : 5;
    return (products * 2 * p.B * p.H * p.T * p.T * p.D) / (p.causal ? 2 : 1);
  }
  return 0;
}

function bytes(p) {
  // Forward reads x and writes out; backward reads dout and x twice (dx rows, then dweight/dbias columns) and
  // writes dx. Parameters and per-row statistics are negligible.
  if (p.kind === 'layernorm') return (p.pass === 'forward' ? 2 : 5) * p.N * p.C * 4;
  return 0;
}

function runOurs(p) {
  const owned = [];
  const keep = (s) => (owned.push(s), s);
  try {
    if (p.kind === 'gemm') {
      const { M, N, K } = p;
      const c = keep(new gpu.Storage(M * N * 4));
      if (p.dtype === 'tf32') {
        const a = keep(randomStorage(M * K, 1)),
          b = keep(randomStorage(K * N, 2));
        return seconds(() => family('gemm').gemmKernel(gpu, { a, b, c, M, N, K, transB: p.transB }));
      }
      const toBf16 = (n, seed) => {
        const f = keep(randomStorage(n, seed));
        const h = keep(new gpu.Storage(Math.ceil(n / 2) * 4));
        family('elementwise').castBf16Kernel(gpu, { src: f, dst: h, n, toBf16: true });
        return h;
      };
      const a = toBf16(M * K, 1),
        b = toBf16(K * N, 2);
      return seconds(() => family('gemm').gemmBf16Kernel(gpu, { a, b, c, M, N, K, transB: p.transB }));
    }
    if (p.kind === 'attention') {
      const { B, H, T, D } = p;
      const n = B * H * T * D;
      const [q, k, v, out, dout, dq, dk, dv] = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => keep(randomStorage(n, seed)));
      const lse = keep(new gpu.Storage(B * H * T * 4));
      const view = [0, H * T * D, T * D, D];
      const args = {
        B,
        H,
        Tq: T,
        Tk: T,
        D,
        qView: view,
        kView: view,
        vView: view,
        outView: view,
        scale: 1 / Math.sqrt(D),
        isCausal: p.causal,
        causalOffset: 0,
        keyPadding: null,
        attnMask: null,
        maskView: [0, 0, 0, 0],
        dropoutP: 0,
        seed: 0,
      };
      const { attentionBackwardKernel, attentionForwardKernel } = family('attention');
      const forward = () => attentionForwardKernel(gpu, { ...args, q, k, v, out, lse, weights: null });
      if (p.pass === 'forward') return seconds(forward);
      forward();
      return seconds(() => attentionBackwardKernel(gpu, { ...args, q, k, v, out, dout, lse, dq, dk, dv, probs: null }));
    }
    if (p.kind === 'layernorm') {
      const { N, C } = p;
      const [x, out, dout, dx] = [1, 2, 3, 4].map((seed) => keep(randomStorage(N * C, seed)));
      const [w, b, dw, db] = [5, 6, 7, 8].map((seed) => keep(randomStorage(C, seed)));
      const [mean, rstd] = [9, 10].map((seed) => keep(randomStorage(N, seed)));
      const { layerNormBackwardKernel, layerNormForwardKernel } = family('layernorm');
      const forward = () => layerNormForwardKernel(gpu, { x, weight: w, bias: b, out, mean, rstd, N, C, eps: 1e-5 });
      if (p.pass === 'forward') return seconds(forward);
      forward();
      return seconds(() =>
        layerNormBackwardKernel(gpu, { dout, x, weight: w, mean, rstd, dx, dweight: dw, dbias: db, N, C }),
      );
    }
    return null;
  } finally {
    for (const s of owned) s.dispose();
  }
}

function runTorch(list) {
  const peer = spawnSync('python3', [path.join(__dirname, 'torch_peer.py')], {
    input: JSON.stringify(list),
    encoding: 'utf8',
    timeout: 300000,
    maxBuffer: 1 << 24,
  });
  if (peer.error || peer.status !== 0) {
    const why = peer.error ? peer.error.message : peer.status === 2 ? 'no torch with CUDA' : peer.stderr.slice(-500);
    console.error(`bench:gpu: PyTorch comparison skipped (${why})`);
    return null;
  }
  if (peer.stderr) process.stderr.write(peer.stderr);
  return JSON.parse(peer.stdout);
}

// ---- report -----------------------------------------------------------------------------------------------------

function label(p) {
  if (p.kind === 'gemm') return `GEMM ${p.dtype} ${p.M}x${p.N}x${p.K} (MxNxK) ${p.transB ? 'NT' : 'NN'}`;
  if (p.kind === 'attention')
    return `attention ${p.pass} B=${p.B} H=${p.H} T=${p.T} D=${p.D}${p.causal ? ' causal' : ''} (fp32)`;
  return `layernorm ${p.pass} ${p.N}x${p.C}`;
}

function rate(p, s) {
  if (s == null) return null;
  return p.kind === 'layernorm' ? bytes(p) / s / 1e9 : flops(p) / s / 1e12;
}

const ours = [];
for (const p of selected) {
  let s = null;
  try {
    s = runOurs(p);
  } catch (e) {
    console.error(`bench:gpu: ${label(p)}: ${e.message}`);
  }
  ours.push(s);
  console.error(`${label(p)}: ${s == null ? 'failed' : (s * 1e3).toFixed(3) + ' ms'}`);
}
const torch = runTorch(selected);

const rows = selected.map((p, i) => {
  const t = torch ? torch.results[i] : null;
  const mine = rate(p, ours[i]),
    theirs = rate(p, t);
  return {
    problem: label(p),
    unit: p.kind === 'layernorm' ? 'GB/s' : 'TFLOP/s',
    ms: ours[i] == null ? null : ours[i] * 1e3,
    rate: mine,
    torchMs: t == null ? null : t * 1e3,
    torchRate: theirs,
    ratio: mine != null && theirs != null ? mine / theirs : null,
    ...p,
  };
});

const fmt = (v, digits = 1) => (v == null ? '-' : v.toFixed(digits));
const lines = [
  `GPU: ${gpu.deviceName()}${torch ? `; PyTorch ${torch.torch} on ${torch.device}` : '; no PyTorch comparison'}`,
  '',
  '| problem | unit | ours | ms | PyTorch | ms | ours / PyTorch |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.problem} | ${r.unit} | ${fmt(r.rate)} | ${fmt(r.ms, 3)} | ${fmt(r.torchRate)} | ` +
      `${fmt(r.torchMs, 3)} | ${fmt(r.ratio, 2)} |`,
  ),
];
console.log(lines.join('\n'));
const report = { device: gpu.deviceName(), torch: torch ? { version: torch.torch, device: torch.device } : null, rows };
const tmp = `${jsonPath}.${process.pid}.tmp`;
const fd = fs.openSync(tmp, 'w');
fs.writeSync(fd, JSON.stringify(report, null, 2));
fs.fsyncSync(fd);
fs.closeSync(fd);
fs.renameSync(tmp, jsonPath);
console.error(`bench:gpu: wrote ${jsonPath}`);
