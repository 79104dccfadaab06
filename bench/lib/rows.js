'use strict';
// The benchmark rows. Each row names its work (flops, bytes or tokens per call), the machine limit it is
// measured against, a `spec` that the Python peers rebuild on their side, the peer libraries that time it
// (`peers`: GEMM runs numpy on OpenBLAS and on BLIS, the rest PyTorch), and `setup`, which allocates inputs
// and returns the call to time. Kernel rows call the typed kernel calls of src/ops/<family>.ts (compiled to
// dist/) on raw storages, so they measure the kernel alone (no Tensor or autograd overhead).
const { family, opsUtil } = require('./kernels');
const { tokenizerRows } = require('./tokenizer');

const GFLOP = 'GFLOP/s';
const GBS = 'GB/s';
const TOKENS = 'tokens/s';

/** Storages of `counts` floats, uniform in [a, b) (default [-1, 1)), seeded from `seed`. */
function storages(addon, counts, seed, a = -1, b = 1) {
  return counts.map((n, i) => {
    const s = new addon.Storage(Math.max(1, n) * 4);
    family('random').randomFillKernel(addon, { dst: s, n, dist: 'uniform', seed: seed + i, a, b });
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
    peers: ['numpy', 'blis'],
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

function attentionRow(label, B, H, Tq, Tk, D, causal, backward, dropoutP = 0) {
  const spec = { kind: 'attention', B, H, Tq, Tk, D, causal, backward, dropoutP };
  return {
    name: `attention ${backward ? 'fwd+bwd' : 'fwd'} ${label}${causal ? ' causal' : ''}${dropoutP ? ` dropout ${dropoutP}` : ''}`,
    shape: `B=${B} H=${H} Tq=${Tq} Tk=${Tk} D=${D}`,
    unit: GFLOP,
    limit: 'fma',
    work: attentionFlops(spec),
    peers: ['torch'],
    spec,
    setup(addon) {
      const nq = B * H * Tq * D;
      const nk = B * H * Tk * D;
      const [q, k, v, dout] = storages(addon, [nq, nk, nk, nq], 21);
      const [out, dq, dk, dv] = [nq, nq, nk, nk].map((n) => new addon.Storage(n * 4));
      const lse = new addon.Storage(B * H * Tq * 4);
      const { KEEP_PROBS_MAX_LENGTH, attentionBackwardKernel, attentionForwardKernel } = family('attention');
      // As in training: short sequences keep the forward's probabilities for the backward.
      const probs =
        backward && Tq <= KEEP_PROBS_MAX_LENGTH && Tk <= KEEP_PROBS_MAX_LENGTH
          ? new addon.Storage(B * H * Tq * Tk * 4)
          : null;
      const qView = [0, H * Tq * D, Tq * D, D];
      const kView = [0, H * Tk * D, Tk * D, D];
      const scale = 1 / Math.sqrt(D);
      const args = {
        B,
        H,
        Tq,
        Tk,
        D,
        qView,
        kView,
        vView: kView,
        outView: qView,
        scale,
        isCausal: causal,
        causalOffset: 0,
        keyPadding: null,
        attnMask: null,
        maskView: [0, 0, 0, 0],
        dropoutP,
        seed: 0,
      };
      const forward = { ...args, q, k, v, out, lse, weights: probs };
      const backwardCall = { ...args, q, k, v, out, dout, lse, dq, dk, dv, probs };
      const runForward = () => attentionForwardKernel(addon, forward);
      const runBackward = () => attentionBackwardKernel(addon, backwardCall);
      return {
        run: backward
          ? () => {
              runForward();
              runBackward();
            }
          : runForward,
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
  // As the GPT model trains: dropout on the probabilities, drawn in the forward and again in the backward.
  rows.push(attentionRow('B8 H6 T256 D64', 8, 6, 256, 256, 64, true, true, 0.1));
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
    peers: ['torch'],
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
  const shapes = [
    [1536, 256],
    [2048, 384],
    [8192, 1024],
  ];
  return [...shapes.map(([N, C]) => layerNormRow(N, C)), ...shapes.map(([N, C]) => softmaxRow(N, C))];
}

// ---- the other families, memory-bound too: bytes actually moved ----------------------------------------------

/** Bytes per element of one pass over n floats: add reads a and b and writes out; gelu fwd+bwd reads x and
 * writes y, then reads x and dy and writes dx. */
const ELEMENTWISE_BYTES = { add: 12, unaryFwdBwd: 20 };

/** Reads x [N, C] and writes its N row sums (dim 1) or C column sums (dim 0). */
function reduceBytes(N, C, dim) {
  return 4 * (N * C + (dim === 1 ? N : C));
}

/** Forward reads logits and targets and writes losses and lse; backward reads logits, targets, lse and dlosses
 * and writes dlogits. */
function crossEntropyBytes(N, C) {
  return 4 * (3 * N * C + 6 * N);
}

/** Forward reads the ids and N rows of weight and writes them; backward reads the ids and dout and writes
 * dweight [V, C] once (the zero fill it accumulates into counts as that write). */
function embeddingBytes(N, V, C) {
  return 4 * (2 * N + 3 * N * C + V * C);
}

/** Reads param, grad, m and v and writes param, m and v. */
function adamwBytes(n) {
  return 4 * 7 * n;
}

/** A storage of `count` int32 ids in [0, range). */
function idStorage(addon, count, range, seed) {
  const ids = new addon.Storage(Math.max(1, count) * 4);
  ids.write(randomIds(count, range, seed), 0);
  return ids;
}

const shapeText = (shape) => shape.join('x');
const product = (shape) => shape.reduce((a, b) => a * b, 1);

function elementwiseAddRow(shape) {
  const n = product(shape);
  const text = shapeText(shape);
  const spec = { kind: 'binary', op: 'add', shape };
  return bandwidthRow(`elementwise add ${text}`, text, ELEMENTWISE_BYTES.add * n, spec, (addon, keep) => {
    const [a, b] = keep(storages(addon, [n, n], 51));
    const [out] = keep(outputs(addon, [n]));
    const strides = opsUtil().contiguousStrides(shape);
    const call = { op: 'add', a, aOffset: 0, aStrides: strides, b, bOffset: 0, bStrides: strides, out, shape };
    const { binaryKernel } = family('elementwise');
    return () => binaryKernel(addon, call);
  });
}

/** An activation and its backward (x, y = op(x), dy in; y, dx out): gelu, geluTanh (GPT-2's) or tanh. */
function elementwiseUnaryRow(op, shape) {
  const n = product(shape);
  const text = shapeText(shape);
  const spec = { kind: 'unaryFwdBwd', op, n };
  return bandwidthRow(
    `elementwise ${op} fwd+bwd ${text}`,
    text,
    ELEMENTWISE_BYTES.unaryFwdBwd * n,
    spec,
    (addon, keep) => {
      const [x, dy] = keep(storages(addon, [n, n], 53));
      const [y, dx] = keep(outputs(addon, [n, n]));
      const { unaryBackwardKernel, unaryKernel } = family('elementwise');
      return () => {
        unaryKernel(addon, { op, x, out: y, n });
        unaryBackwardKernel(addon, { op, x, y, dy, dx, n });
      };
    },
  );
}

/** x [N, C] summed over dim 1 (each row to one value) or dim 0 (the rows added up, as a bias gradient is). */
function reduceSumRow(N, C, dim) {
  const spec = { kind: 'reduce', op: 'sum', N, C, dim };
  return bandwidthRow(`reduce sum ${N}x${C} dim ${dim}`, `${N}x${C}`, reduceBytes(N, C, dim), spec, (addon, keep) => {
    const [x] = keep(storages(addon, [N * C], 55));
    const [out] = keep(outputs(addon, [dim === 1 ? N : C]));
    const [outer, inner] = dim === 1 ? [N, 1] : [1, C];
    const call = { op: 'sum', x, out, outer, dim: dim === 1 ? C : N, inner };
    const { reduceKernel } = family('reduce');
    return () => reduceKernel(addon, call);
  });
}

/** A contiguous x of `shape` copied into a contiguous x.permute(order), e.g. [B, T, H, D] -> [B, H, T, D]:
 * reads and writes each element once. */
function copyPermuteRow(label, shape, order) {
  const n = product(shape);
  const permuted = order.map((d) => shape[d]);
  const spec = { kind: 'permute', shape, order };
  const name = `copy permute ${label} ${shapeText(shape)}`;
  return bandwidthRow(name, `${shapeText(shape)} -> ${shapeText(permuted)}`, 8 * n, spec, (addon, keep) => {
    const [src] = keep(storages(addon, [n], 57));
    const [dst] = keep(outputs(addon, [n]));
    const { contiguousStrides } = opsUtil();
    const strides = contiguousStrides(shape);
    const call = {
      src,
      srcOffset: 0,
      srcStrides: order.map((d) => strides[d]),
      dst,
      dstOffset: 0,
      dstStrides: contiguousStrides(permuted),
      shape: permuted,
    };
    const { copyStridedKernel } = family('copy');
    return () => copyStridedKernel(addon, call);
  });
}

/** Per-row losses of logits [N, C] and their gradient from dlosses, no smoothing, no ignored rows. */
function crossEntropyRow(N, C) {
  const spec = { kind: 'crossentropy', N, C };
  return bandwidthRow(`crossentropy fwd+bwd ${N}x${C}`, `${N}x${C}`, crossEntropyBytes(N, C), spec, (addon, keep) => {
    const [logits, dlosses] = keep(storages(addon, [N * C, N], 61));
    const [targets] = keep([idStorage(addon, N, C, 62)]);
    const [losses, lse, dlogits] = keep(outputs(addon, [N, N, N * C]));
    const { crossEntropyBackwardKernel, crossEntropyForwardKernel } = family('crossentropy');
    const rows = { logits, targets, lse, N, C, ignoreIndex: -100, labelSmoothing: 0 };
    const forward = { ...rows, losses };
    const backward = { ...rows, dlosses, dlogits };
    return () => {
      crossEntropyForwardKernel(addon, forward);
      crossEntropyBackwardKernel(addon, backward);
    };
  });
}

/** N ids looked up in weight [V, C], and the gradient scattered back into a zero-filled dweight. */
function embeddingRow(N, V, C) {
  const spec = { kind: 'embedding', N, V, C };
  const name = `embedding fwd+bwd ${N} ids ${V}x${C}`;
  return bandwidthRow(name, `N=${N} V=${V} C=${C}`, embeddingBytes(N, V, C), spec, (addon, keep) => {
    const [weight, dout] = keep(storages(addon, [V * C, N * C], 63));
    const [ids] = keep([idStorage(addon, N, V, 64)]);
    const [out, dweight] = keep(outputs(addon, [N * C, V * C]));
    const { embeddingBackwardKernel, embeddingForwardKernel } = family('embedding');
    const { fillKernel } = family('elementwise');
    return () => {
      embeddingForwardKernel(addon, { weight, ids, out, N, V, C });
      fillKernel(addon, { dst: dweight, n: V * C, value: 0 });
      embeddingBackwardKernel(addon, { dout, ids, dweight, N, V, C, paddingIdx: -1 });
    };
  });
}

/** Dropout (training's p) reads x and writes out; the normal fill writes its n floats. */
function randomRows(shape) {
  const n = product(shape);
  const text = shapeText(shape);
  const p = 0.1;
  const dropout = bandwidthRow(
    `random dropout ${text} p=${p}`,
    text,
    8 * n,
    { kind: 'dropout', n, p },
    (addon, keep) => {
      const [x] = keep(storages(addon, [n], 65));
      const [out] = keep(outputs(addon, [n]));
      const { dropoutKernel } = family('random');
      return () => dropoutKernel(addon, { x, out, n, p, seed: 7 });
    },
  );
  const normal = bandwidthRow(`random normal ${text}`, text, 4 * n, { kind: 'normal', n }, (addon, keep) => {
    const [dst] = keep(outputs(addon, [n]));
    const { randomFillKernel } = family('random');
    return () => randomFillKernel(addon, { dst, n, dist: 'normal', seed: 8, a: 0, b: 1 });
  });
  return [dropout, normal];
}

/** One AdamW step over n parameters with warm moments, at torch.optim.AdamW's defaults (lr 1e-3, weight decay
 * 0.01). */
function adamwRow(label, n) {
  const spec = { kind: 'adamw', n, lr: 1e-3, weightDecay: 0.01 };
  return bandwidthRow(`adamw step ${label}`, `n=${n}`, adamwBytes(n), spec, (addon, keep) => {
    const [param, grad, m] = keep(storages(addon, [n, n, n], 67));
    const [v] = keep(storages(addon, [n], 70, 0, 1));
    const { lr, weightDecay } = spec;
    const call = { param, grad, m, v, n, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step: 10 };
    const { adamwStepKernel } = family('adamw');
    return () => adamwStepKernel(addon, call);
  });
}

/** Sizes of the seed model (batch 64 x length 24 = 1536 token rows, vocab 64, d_model 256, ff 1024) and of the
 * GPT (8 x 256 = 2048 token rows, vocab 256, 6 heads of 64), and one 384-float add that shows the cost of a
 * call. */
function memoryBoundRows() {
  const s = SEED_MODEL;
  const g = GPT_MODEL;
  const seedTokens = s.batch * s.tgtLength;
  const gptTokens = g.batch * g.context;
  const hidden = [seedTokens, s.ff];
  return [
    elementwiseAddRow(hidden),
    elementwiseAddRow([384]),
    elementwiseUnaryRow('gelu', hidden),
    elementwiseUnaryRow('geluTanh', hidden),
    elementwiseUnaryRow('tanh', hidden),
    reduceSumRow(...hidden, 1),
    reduceSumRow(...hidden, 0),
    copyPermuteRow('BTHD->BHTD', [g.batch, g.context, g.heads, g.dModel / g.heads], [0, 2, 1, 3]),
    crossEntropyRow(seedTokens, s.tgtVocab),
    crossEntropyRow(gptTokens, g.vocab),
    embeddingRow(seedTokens, s.tgtVocab, s.dModel),
    embeddingRow(gptTokens, g.vocab, g.dModel),
    ...randomRows(hidden),
    adamwRow('5.6M', 5_600_000),
  ];
}

// ---- end to end: our side slots in when the models exist --------------------------------------------------------

/** The seed model: torch.nn.Transformer-shaped encoder-decoder trained with cross-entropy and AdamW. */
const SEED_MODEL = {
  srcVocab: 64,
  tgtVocab: 64,
  dModel: 256,
  heads: 8,
  encoderLayers: 3,
  decoderLayers: 3,
  ff: 1024,
  dropout: 0.1,
  batch: 64,
  srcLength: 24,
  tgtLength: 24,
  lr: 1e-3,
};
/** The GPT: decoder-only, pre-norm, learned positions. */
const GPT_MODEL = {
  vocab: 256,
  dModel: 384,
  heads: 6,
  layers: 6,
  ff: 1536,
  context: 256,
  dropout: 0.1,
  batch: 8,
  lr: 3e-4,
};

/** An encoder classifier of BERT-mini's shape for the inference rows: batch 32 of 128 tokens. */
const CLASSIFIER_MODEL = {
  vocab: 1000,
  classes: 2,
  dModel: 256,
  heads: 4,
  layers: 4,
  ff: 1024,
  maxLen: 128,
  batch: 32,
  length: 128,
};

/** The GPT options of the GPT sizes `g` (GPT_MODEL), seeded. */
function gptOptions(g) {
  return {
    vocabSize: g.vocab,
    contextLength: g.context,
    dModel: g.dModel,
    nhead: g.heads,
    numLayers: g.layers,
    dimFeedforward: g.ff,
    dropout: g.dropout,
    seed: 2,
  };
}

/** The EncoderClassifier options of the classifier sizes `c` (CLASSIFIER_MODEL), seeded. */
function classifierOptions(c) {
  return {
    vocabSize: c.vocab,
    numClasses: c.classes,
    dModel: c.dModel,
    nhead: c.heads,
    numLayers: c.layers,
    dimFeedforward: c.ff,
    maxLen: c.maxLen,
    seed: 6,
  };
}

/** The Seq2SeqTransformer options of the seed model `s` (SEED_MODEL), positions for its sequence lengths. */
function seedModelOptions(s) {
  return {
    srcVocabSize: s.srcVocab,
    tgtVocabSize: s.tgtVocab,
    dModel: s.dModel,
    nhead: s.heads,
    numEncoderLayers: s.encoderLayers,
    numDecoderLayers: s.decoderLayers,
    dimFeedforward: s.ff,
    dropout: s.dropout,
    maxLen: Math.max(s.srcLength, s.tgtLength) + 1,
    seed: 1,
  };
}

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
    const model = new pkg.Seq2SeqTransformer(seedModelOptions(s));
    const src = pkg.tensor(randomIds(s.batch * s.srcLength, s.srcVocab, 1), { shape: [s.batch, s.srcLength] });
    const tgt = randomIds(s.batch * (s.tgtLength + 1), s.tgtVocab, 2);
    const rows = (offset) =>
      Int32Array.from(
        { length: s.batch * s.tgtLength },
        (_, i) => tgt[Math.floor(i / s.tgtLength) * (s.tgtLength + 1) + (i % s.tgtLength) + offset],
      );
    const tgtIn = pkg.tensor(rows(0), { shape: [s.batch, s.tgtLength] });
    const tgtOut = pkg.tensor(rows(1), { shape: [s.batch, s.tgtLength] });
    // Random ids include the pad id; the torch peer uses no padding masks, so neither do we.
    const step = trainingStep(
      pkg,
      model,
      () => model.forward(src, tgtIn, { srcKeyPaddingMask: null, tgtKeyPaddingMask: null }),
      tgtOut,
      s.lr,
    );
    return {
      run: step.run,
      dispose: () => {
        step.dispose();
        for (const t of [src, tgtIn, tgtOut]) t.dispose();
      },
    };
  },
  gptStep(addon, pkg, g) {
    const model = new pkg.GPT(gptOptions(g));
    const ids = randomIds(g.batch * (g.context + 1), g.vocab, 3);
    const rows = (offset) =>
      Int32Array.from(
        { length: g.batch * g.context },
        (_, i) => ids[Math.floor(i / g.context) * (g.context + 1) + (i % g.context) + offset],
      );
    const input = pkg.tensor(rows(0), { shape: [g.batch, g.context] });
    const target = pkg.tensor(rows(1), { shape: [g.batch, g.context] });
    const step = trainingStep(pkg, model, () => model.forward(input), target, g.lr);
    return {
      run: step.run,
      dispose: () => {
        step.dispose();
        input.dispose();
        target.dispose();
      },
    };
  },
  gptGenerate(addon, pkg, g) {
    const model = new pkg.GPT(gptOptions(g));
    const prompt = [Array.from(randomIds(g.prompt, g.vocab, 4))];
    return {
      // Greedy decoding with the KV cache; every one of the newTokens is generated (no end token).
      run: () => pkg.greedy(model, prompt, { maxLength: g.newTokens, eosId: null }),
      dispose: () => model.dispose(),
    };
  },
};

/** A maker of end-to-end rows in tokens/s timed against `peer`; our side is setups[spec.kind]. */
function tokensRow(peer, setups) {
  return (name, shape, spec, tokensPerCall) => ({
    name,
    shape,
    unit: TOKENS,
    limit: null,
    work: tokensPerCall,
    peers: [peer],
    spec,
    endToEnd: true,
    setup: (addon, pkg, rowSpec) => setups[rowSpec.kind](addon, pkg, rowSpec),
  });
}

/** Our side of the inference rows (the onnxruntime-node peer runs the same models exported to ONNX): forward
 * passes in eval mode without autograd, and greedy generation with the KV cache as in e2e gpt generate. */
const INFERENCE_SETUP = {
  gptForward(addon, pkg, g) {
    const model = new pkg.GPT(gptOptions(g)).eval();
    const ids = pkg.tensor(randomIds(g.batch * g.context, g.vocab, 3), { shape: [g.batch, g.context] });
    return {
      run: () => pkg.noGrad(() => pkg.tidy(() => model.forward(ids).dataSync())),
      dispose: () => {
        ids.dispose();
        model.dispose();
      },
    };
  },
  classifierForward(addon, pkg, c) {
    const model = new pkg.EncoderClassifier(classifierOptions(c)).eval();
    // Ids from 1: no padding, as the peer's attention_mask of ones says.
    const values = randomIds(c.batch * c.length, c.vocab - 1, 5).map((v) => v + 1);
    const ids = pkg.tensor(values, { shape: [c.batch, c.length] });
    return {
      run: () => pkg.noGrad(() => pkg.tidy(() => model.forward(ids).dataSync())),
      dispose: () => {
        ids.dispose();
        model.dispose();
      },
    };
  },
  gptGenerate: (addon, pkg, g) => END_TO_END_SETUP.gptGenerate(addon, pkg, g),
};

/** Inference against onnxruntime-node running our models exported by io.exportOnnx, in tokens/s (a call is a
 * forward over the batch, or a whole generation). */
function inferenceRows() {
  const row = tokensRow('onnxruntime', INFERENCE_SETUP);
  const g = GPT_MODEL;
  const c = CLASSIFIER_MODEL;
  return [
    row(
      'inference gpt forward B8 T256',
      `B=${g.batch} T=${g.context} d=${g.dModel}`,
      { kind: 'gptForward', ...g },
      g.batch * g.context,
    ),
    row(
      'inference classifier forward B32 T128',
      `B=${c.batch} T=${c.length} d=${c.dModel} layers=${c.layers}`,
      { kind: 'classifierForward', ...c },
      c.batch * c.length,
    ),
    row(
      'inference gpt generate 200 from 16',
      'B=1 prompt=16 new=200, KV caches',
      { kind: 'gptGenerate', ...g, batch: 1, prompt: 16, newTokens: 200 },
      200,
    ),
  ];
}

/** End-to-end rows, compared in tokens/s: one call is one training step or one whole generation. Our side
 * builds the library's models from the same sizes the PyTorch peer uses (pkg is the compiled package). */
function endToEndRows() {
  const row = tokensRow('torch', END_TO_END_SETUP);
  const s = SEED_MODEL;
  const g = GPT_MODEL;
  return [
    row(
      'e2e seed train step',
      `B=${s.batch} S=${s.srcLength} T=${s.tgtLength} d=${s.dModel}`,
      { kind: 'seedStep', ...s },
      s.batch * s.tgtLength,
    ),
    row(
      'e2e gpt train step',
      `B=${g.batch} T=${g.context} d=${g.dModel}`,
      { kind: 'gptStep', ...g },
      g.batch * g.context,
    ),
    row(
      'e2e gpt generate 200 from 16',
      'B=1 prompt=16 new=200',
      { kind: 'gptGenerate', ...g, batch: 1, prompt: 16, newTokens: 200 },
      200,
    ),
  ];
}

function allRows() {
  return [
    ...gemmRows(),
    ...attentionRows(),
    ...normRows(),
    ...memoryBoundRows(),
    ...endToEndRows(),
    ...inferenceRows(),
    ...tokenizerRows(),
  ];
}

module.exports = {
  allRows,
  attentionFlops,
  layerNormBytes,
  softmaxBytes,
  ELEMENTWISE_BYTES,
  reduceBytes,
  crossEntropyBytes,
  embeddingBytes,
  adamwBytes,
  SEED_MODEL,
  GPT_MODEL,
  CLASSIFIER_MODEL,
  seedModelOptions,
  gptOptions,
  classifierOptions,
  randomIds,
};
