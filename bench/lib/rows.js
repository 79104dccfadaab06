'use strict';
// The benchmark rows. Each row names its work (flops, bytes or tokens per call), the machine limit it is
// measured against, a `spec` that the Python peer rebuilds on its side, and `setup`, which allocates inputs
// and returns the call to time. Kernel rows call the typed kernel calls of src/ops/<family>.ts (compiled to
// dist/) on raw storages, so they measure the kernel alone (no Tensor or autograd overhead).
const { family } = require('./kernels');

const GFLOP = 'GFLOP/s';
const GBS = 'GB/s';
const TOKENS = 'tokens/s';

function storages(addon, counts, seed) {
  return counts.map((n, i) => {
    const s = new addon.Storage(Math.max(1, n) * 4);
    family('random').randomFillKernel(addon, { dst: s, n, dist: 'uniform', seed: seed + i, a: -1, b: 1 });
    return s;
  });
}

/** Uncleared storages of `counts` floats, for outputs. */
function outputs(addon, counts) {
  return counts.map((n) => new addon.Storage(Math.max(1, n) * 4));
}

function disposeAll(list) {
  for (const s of list) if (s !== null && !s.disposed) s.dispose();
}

// ---- GEMM ------------------------------------------------------------------------------------------------------

function gemmRow(layout, M, N, K, batch, label) {
  const transA = layout[0] === 'T';
  const transB = layout[1] === 'T';
  const shape = batch > 1 ? `${batch}x(${M}x${N}x${K})` : `${M}x${N}x${K}`;
  return {
    name: `gemm ${layout} ${label}`,
    shape,
    unit: GFLOP,
    limit: 'fma',
    work: 2 * M * N * K * batch,
    peer: 'numpy',
    spec: { kind: 'gemm', transA, transB, M, N, K, batch },
    setup(addon) {
      const [a, b, c] = storages(addon, [batch * M * K, batch * K * N, batch * M * N], 11);
      const { gemmKernel } = family('gemm');
      const call = { a, b, c, M, N, K, transA, transB, batch };
      return {
        run: () => gemmKernel(addon, call),
        dispose: () => disposeAll([a, b, c]),
      };
    },
  };
}

function gemmRows() {
  const rows = [];
  for (const layout of ['NN', 'NT', 'TN']) {
    for (const n of [128, 256, 512, 1024, 2048]) rows.push(gemmRow(layout, n, n, n, 1, `${n}^3`));
    // The seed model's products: FFN in/out over batch 64 x length 24 x ... rows, and the per-head products.
    rows.push(gemmRow(layout, 4096, 256, 1024, 1, '4096x256x1024'));
    rows.push(gemmRow(layout, 4096, 1024, 256, 1, '4096x1024x256'));
    rows.push(gemmRow(layout, 24, 24, 32, 64, 'heads 64x24x24x32'));
    rows.push(gemmRow(layout, 24, 32, 24, 64, 'heads 64x24x32x24'));
  }
  return rows;
}

// ---- attention ---------------------------------------------------------------------------------------------------

/** Forward flops 4*B*H*Tq*Tk*D (QK^T and PV), halved when causal; the backward counts 2.5x the forward. */
function attentionFlops({ B, H, Tq, Tk, D, causal, backward }) {
  const forward = (4 * B * H * Tq * Tk * D) / (causal ? 2 : 1);
  return backward ? forward * 3.5 : forward;
}

function attentionRow(label, B, H, Tq, Tk, D, causal, backward) {
  const spec = { kind: 'attention', B, H, Tq, Tk, D, causal, backward };
  return {
    name: `attention ${backward ? 'fwd+bwd' : 'fwd'} ${label}${causal ? ' causal' : ''}`,
    shape: `B=${B} H=${H} Tq=${Tq} Tk=${Tk} D=${D}`,
    unit: GFLOP,
    limit: 'fma',
    work: attentionFlops(spec),
    peer: 'torch',
    spec,
    setup(addon) {
      const nq = B * H * Tq * D;
      const nk = B * H * Tk * D;
      const [q, k, v, dout] = storages(addon, [nq, nk, nk, nq], 21);
      const [out, dq, dk, dv] = [nq, nq, nk, nk].map((n) => new addon.Storage(n * 4));
      const lse = new addon.Storage(B * H * Tq * 4);
      const { KEEP_PROBS_MAX_LENGTH, attentionBackwardKernel, attentionForwardKernel } = family('attention');
      // As in training: short sequences keep the forward's probabilities for the backward.
      const probs = backward && Tq <= KEEP_PROBS_MAX_LENGTH && Tk <= KEEP_PROBS_MAX_LENGTH
        ? new addon.Storage(B * H * Tq * Tk * 4)
        : null;
      const qView = [0, H * Tq * D, Tq * D, D];
      const kView = [0, H * Tk * D, Tk * D, D];
      const scale = 1 / Math.sqrt(D);
      const args = {
        B, H, Tq, Tk, D, qView, kView, vView: kView, outView: qView, scale, isCausal: causal, causalOffset: 0,
        keyPadding: null, attnMask: null, maskView: [0, 0, 0, 0], dropoutP: 0, seed: 0,
      };
      const forward = { ...args, q, k, v, out, lse, weights: probs };
      const backwardCall = { ...args, q, k, v, out, dout, lse, dq, dk, dv, probs };
      const runForward = () => attentionForwardKernel(addon, forward);
      const runBackward = () => attentionBackwardKernel(addon, backwardCall);
      return {
        run: backward ? () => { runForward(); runBackward(); } : runForward,
        dispose: () => disposeAll([q, k, v, dout, out, dq, dk, dv, lse, probs]),
      };
    },
  };
}

function attentionRows() {
  const rows = [];
  for (const backward of [false, true]) {
    for (const causal of [false, true]) rows.push(attentionRow('B8 H6 T256 D64', 8, 6, 256, 256, 64, causal, backward));
    // Grapheme-to-phoneme shapes: decoder self-attention (causal) and cross-attention over the letters.
    rows.push(attentionRow('g2p self B64 H4 T24 D64', 64, 4, 24, 24, 64, true, backward));
    rows.push(attentionRow('g2p cross B64 H4 T24 D64', 64, 4, 24, 24, 64, false, backward));
  }
  return rows;
}

// ---- layer norm and softmax: bytes actually moved ----------------------------------------------------------------

/** Forward reads x, weight, bias and writes out, mean, rstd; backward reads dout, x, weight, mean, rstd and
 * writes dx, dweight, dbias. */
function layerNormBytes(N, C) {
  return 4 * (3 * N * C + 2 * C + 2 * N) + 4 * (3 * N * C + 3 * C + 2 * N);
}

/** Forward reads x and writes y; backward reads y and dy and writes dx. */
function softmaxBytes(N, C) {
  return 4 * 5 * N * C;
}

/** A row in GB/s against the triad bandwidth: `bytes` is what a perfect kernel must move per call, `spec.kind`
 * names the peer's builder. `bind(addon, keep)` allocates the row's storages, passing each list through `keep`
 * (which disposes them with the row), and returns the call to time. */
function bandwidthRow(name, shape, bytes, spec, bind) {
  return {
    name,
    shape,
    unit: GBS,
    limit: 'bandwidth',
    work: bytes,
    peer: 'torch',
    spec,
    setup(addon) {
      const owned = [];
      const keep = (list) => {
        owned.push(...list);
        return list;
      };
      return { run: bind(addon, keep), dispose: () => disposeAll(owned) };
    },
  };
}

function layerNormRow(N, C) {
  const spec = { kind: 'layernorm', N, C };
  return bandwidthRow(`layernorm fwd+bwd ${N}x${C}`, `${N}x${C}`, layerNormBytes(N, C), spec, (addon, keep) => {
    const [x, weight, bias, dout] = keep(storages(addon, [N * C, C, C, N * C], 31));
    const [out, dx, mean, rstd, dweight, dbias] = keep(outputs(addon, [N * C, N * C, N, N, C, C]));
    const { layerNormBackwardKernel, layerNormForwardKernel } = family('layernorm');
    const forward = { x, weight, bias, out, mean, rstd, N, C, eps: 1e-5 };
    const backward = { dout, x, weight, mean, rstd, dx, dweight, dbias, N, C };
    return () => {
      layerNormForwardKernel(addon, forward);
      layerNormBackwardKernel(addon, backward);
    };
  });
}

function softmaxRow(N, C) {
  const spec = { kind: 'softmax', N, C };
  return bandwidthRow(`softmax fwd+bwd ${N}x${C}`, `${N}x${C}`, softmaxBytes(N, C), spec, (addon, keep) => {
    const [x, dy] = keep(storages(addon, [N * C, N * C], 41));
    const [y, dx] = keep(outputs(addon, [N * C, N * C]));
    const { softmaxBackwardKernel, softmaxForwardKernel } = family('softmax');
    const forward = { x, out: y, outer: N, dim: C, inner: 1, log: false };
    const backward = { y, dy, dx, outer: N, dim: C, inner: 1, log: false };
    return () => {
      softmaxForwardKernel(addon, forward);
      softmaxBackwardKernel(addon, backward);
    };
  });
}

function normRows() {
  const shapes = [[1536, 256], [2048, 384], [8192, 1024]];
  return [...shapes.map(([N, C]) => layerNormRow(N, C)), ...shapes.map(([N, C]) => softmaxRow(N, C))];
}

// ---- end to end: our side slots in when the models exist --------------------------------------------------------

/** The seed model: torch.nn.Transformer-shaped encoder-decoder trained with cross-entropy and AdamW. */
const SEED_MODEL = {
  srcVocab: 64, tgtVocab: 64, dModel: 256, heads: 8, encoderLayers: 3, decoderLayers: 3, ff: 1024, dropout: 0.1,
  batch: 64, srcLength: 24, tgtLength: 24, lr: 1e-3,
};
/** The GPT: decoder-only, pre-norm, learned positions. */
const GPT_MODEL = { vocab: 256, dModel: 384, heads: 6, layers: 6, ff: 1536, context: 256, dropout: 0.1, batch: 8, lr: 3e-4 };

/** A seeded stream of token ids in [0, vocab). */
function randomIds(count, vocab, seed) {
  let state = seed >>> 0;
  return Int32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % vocab;
  });
}

/** One optimizer step of `model` on fixed inputs: forward, cross-entropy, backward, AdamW, all under tidy. */
function trainingStep(pkg, model, forward, targets, lr) {
  const optimizer = new pkg.optim.AdamW(model.parameters(), { lr });
  model.train();
  return {
    run: () =>
      pkg.tidy(() => {
        const logits = forward();
        const vocab = logits.shape[logits.ndim - 1];
        const loss = pkg.F.crossEntropy(logits.reshape(-1, vocab), targets.reshape(-1));
        loss.backward();
        optimizer.step();
        optimizer.zeroGrad();
      }),
    dispose: () => {
      optimizer.dispose();
      model.dispose();
    },
  };
}

/** Our side of the end-to-end rows, the same models and sizes as the peer's (bench/peers/peer.py). */
const END_TO_END_SETUP = {
  seedStep(addon, pkg, s) {
    const model = new pkg.Seq2SeqTransformer({
      srcVocabSize: s.srcVocab, tgtVocabSize: s.tgtVocab, dModel: s.dModel, nhead: s.heads, numEncoderLayers: s.encoderLayers,
      numDecoderLayers: s.decoderLayers, dimFeedforward: s.ff, dropout: s.dropout, maxLen: Math.max(s.srcLength, s.tgtLength) + 1, seed: 1,
    });
    const src = pkg.tensor(randomIds(s.batch * s.srcLength, s.srcVocab, 1), { shape: [s.batch, s.srcLength] });
    const tgt = randomIds(s.batch * (s.tgtLength + 1), s.tgtVocab, 2);
    const rows = (offset) => Int32Array.from({ length: s.batch * s.tgtLength }, (_, i) => tgt[Math.floor(i / s.tgtLength) * (s.tgtLength + 1) + (i % s.tgtLength) + offset]);
    const tgtIn = pkg.tensor(rows(0), { shape: [s.batch, s.tgtLength] });
    const tgtOut = pkg.tensor(rows(1), { shape: [s.batch, s.tgtLength] });
    // Random ids include the pad id; the torch peer uses no padding masks, so neither do we.
    const step = trainingStep(pkg, model, () => model.forward(src, tgtIn, { srcKeyPaddingMask: null, tgtKeyPaddingMask: null }), tgtOut, s.lr);
    return { run: step.run, dispose: () => { step.dispose(); for (const t of [src, tgtIn, tgtOut]) t.dispose(); } };
  },
  gptStep(addon, pkg, g) {
    const model = new pkg.GPT({ vocabSize: g.vocab, contextLength: g.context, dModel: g.dModel, nhead: g.heads, numLayers: g.layers, dimFeedforward: g.ff, dropout: g.dropout, seed: 2 });
    const ids = randomIds(g.batch * (g.context + 1), g.vocab, 3);
    const rows = (offset) => Int32Array.from({ length: g.batch * g.context }, (_, i) => ids[Math.floor(i / g.context) * (g.context + 1) + (i % g.context) + offset]);
    const input = pkg.tensor(rows(0), { shape: [g.batch, g.context] });
    const target = pkg.tensor(rows(1), { shape: [g.batch, g.context] });
    const step = trainingStep(pkg, model, () => model.forward(input), target, g.lr);
    return { run: step.run, dispose: () => { step.dispose(); input.dispose(); target.dispose(); } };
  },
  gptGenerate(addon, pkg, g) {
    const model = new pkg.GPT({ vocabSize: g.vocab, contextLength: g.context, dModel: g.dModel, nhead: g.heads, numLayers: g.layers, dimFeedforward: g.ff, dropout: g.dropout, seed: 2 });
    const prompt = [Array.from(randomIds(g.prompt, g.vocab, 4))];
    return {
      // Greedy decoding with the KV cache; every one of the newTokens is generated (no end token).
      run: () => pkg.greedy(model, prompt, { maxLength: g.newTokens, eosId: null }),
      dispose: () => model.dispose(),
    };
  },
};

/** End-to-end rows, compared in tokens/s: one call is one training step or one whole generation. Our side
 * builds the library's models from the same sizes the PyTorch peer uses (pkg is the compiled package). */
function endToEndRows() {
  const row = (name, shape, spec, tokensPerCall) => ({
    name, shape, unit: TOKENS, limit: null, work: tokensPerCall, peer: 'torch', spec, endToEnd: true,
    setup: (addon, pkg, rowSpec) => END_TO_END_SETUP[rowSpec.kind](addon, pkg, rowSpec),
  });
  const s = SEED_MODEL;
  const g = GPT_MODEL;
  return [
    row('e2e seed train step', `B=${s.batch} S=${s.srcLength} T=${s.tgtLength} d=${s.dModel}`,
      { kind: 'seedStep', ...s }, s.batch * s.tgtLength),
    row('e2e gpt train step', `B=${g.batch} T=${g.context} d=${g.dModel}`, { kind: 'gptStep', ...g }, g.batch * g.context),
    row('e2e gpt generate 200 from 16', 'B=1 prompt=16 new=200',
      { kind: 'gptGenerate', ...g, batch: 1, prompt: 16, newTokens: 200 }, 200),
  ];
}

function allRows() {
  return [...gemmRows(), ...attentionRows(), ...normRows(), ...endToEndRows()];
}

module.exports = { allRows, attentionFlops, layerNormBytes, softmaxBytes, SEED_MODEL, GPT_MODEL };
