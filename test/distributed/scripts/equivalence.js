'use strict';
// Run under `mpirun -np 2`: the seed model (no dropout) trained 20 AdamW steps data-parallel
// (DistributedDataParallel, per-rank batch B) against the same model trained alone over the same 2B examples per
// step, which rank 0 computes afterwards in two ways: accumulating the two micro-batches of B rows (each loss
// halved), and as one batch of 2B rows. Prints one JSON line per rank: whether every all-reduce left bit-identical
// gradients on the ranks, the largest relative differences of the first step's gradients and of the final
// parameters against each way (the single batch sums in another order, and Adam's g / sqrt(v) turns the rounding
// noise of near-zero gradients into steps of +-lr: those parameter differences are reported, not bounded), and
// the noSync check (two accumulated micro-batches, then averaged, equal one batch of both).
const path = require('node:path');
const tn = require(path.join(__dirname, '..', '..', '..', 'dist'));
const { SEED_MODEL, seedModelOptions } = require(path.join(__dirname, '..', '..', '..', 'bench', 'lib', 'rows'));
const { dist, nn, optim, F, tensor, tidy, manualSeed } = tn;

const STEPS = Number(process.env.STEPS ?? 20);
const [B, S, T] = [2, 10, 9];
const s = { ...SEED_MODEL, dropout: 0 };

const { rank, worldSize } = dist.init();
tn.setNumThreads(1);

/** Token ids in [1, vocab): no padding, so every row weighs the same in the mean loss. */
function ids(rows, length, vocab, seed) {
  let state = seed >>> 0;
  const values = Int32Array.from({ length: rows * length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return 1 + (state % (vocab - 1));
  });
  return tensor(values, { shape: [rows, length], dtype: 'int32' });
}

/** Rows [from, from + count) of step `step`'s global batch of 2B rows. */
function batch(step, from, count) {
  return tidy(() => {
    const all = [
      ids(2 * B, S, s.srcVocab, 10 + step),
      ids(2 * B, T, s.tgtVocab, 20 + step),
      ids(2 * B, T, s.tgtVocab, 30 + step),
    ];
    return all.map((t) => t.slice(0, from, from + count).contiguous());
  });
}

function lossOf(model, [src, tgtIn, tgtOut]) {
  const logits = model.forward(src, tgtIn);
  return F.crossEntropy(logits.reshape(-1, s.tgtVocab), tgtOut.reshape(-1));
}

function newModel() {
  manualSeed(rank === 0 ? 7 : 99); // rank 1 starts elsewhere: the broadcast must bring rank 0's parameters
  return new tn.Seq2SeqTransformer({ ...seedModelOptions({ ...s, srcLength: S, tgtLength: T }), padId: 0 });
}

/** FNV-1a over the bits of every gradient: equal on every rank exactly when the gradients are bit-identical. */
function gradHash(params) {
  let h = 0x811c9dc5;
  for (const p of params) {
    const bytes = new Uint8Array(p.grad.dataSync().buffer);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  }
  return h;
}

function paramsOf(model) {
  return model.namedParameters().map(([name, p]) => [name, p.dataSync()]);
}

/** The key block [E, 2E) of an attention's in_proj_bias: its gradient is zero in exact arithmetic (softmax does not
 * change when a query's scores all shift by q.b_k), so what backward computes there is float rounding noise
 * (about 1e-10), which Adam's g / sqrt(v) turns into steps of +-lr whose signs depend on the order of the sums: on 2
 * ranks or 1 alike. It has no effect on any output. Those elements are held to the bound of that noise, the
 * rest to maxRel. */
function isKeyBias(name, j) {
  return name.endsWith('in_proj_bias') && j >= s.dModel && j < 2 * s.dModel;
}

/** [largest relative difference elsewhere, largest absolute difference in the key biases]. */
function compare(a, b) {
  let worst = 0;
  let keyBias = 0;
  for (let i = 0; i < a.length; i++) {
    const [name, x] = a[i];
    const y = b[i][1];
    for (let j = 0; j < x.length; j++) {
      if (isKeyBias(name, j)) keyBias = Math.max(keyBias, Math.abs(x[j] - y[j]));
      else {
        const e = Math.abs(x[j] - y[j]) / Math.max(Math.abs(y[j]), 1e-3);
        if (!(e <= worst)) worst = e;
      }
    }
  }
  return [worst, keyBias];
}

const gradsOf = (m) => m.namedParameters().map(([name, p]) => [name, p.grad.dataSync()]);

// Data-parallel: rank r takes rows [rB, rB + B) of every step's batch.
const model = newModel();
const ddp = new nn.DistributedDataParallel(model, { bucketMB: Number(process.env.BUCKET_MB ?? 4) });
const optimizer = new optim.AdamW(model.parameters(), { lr: s.lr });
let identical = true;
let firstGrads = null;
for (let step = 0; step < STEPS; step++) {
  const data = batch(step, rank * B, B);
  tidy(() => lossOf(ddp, data).backward());
  ddp.finishGradientSync();
  if (step === 0) firstGrads = gradsOf(model);
  const h = gradHash(model.parameters());
  const [hi, negLo] = dist.allReduceNumbers([h, -h], 'max');
  if (hi !== -negLo) identical = false;
  optimizer.step();
  optimizer.zeroGrad();
  data.forEach((t) => t.dispose());
}
const parallel = paramsOf(model);

// noSync: two micro-batches of B/2 rows accumulated locally, the second backward averaging: the same gradients as
// one backward over the rank's B rows (each micro-batch's loss halved, as gradient accumulation does).
const first = batch(0, rank * B, B);
const halves = [batch(0, rank * B, B / 2), batch(0, rank * B + B / 2, B / 2)];
ddp.noSync(() => tidy(() => lossOf(ddp, halves[0]).mul(0.5).backward()));
tidy(() => lossOf(ddp, halves[1]).mul(0.5).backward());
ddp.finishGradientSync();
const accumulated = gradsOf(model);
optimizer.zeroGrad();
tidy(() => lossOf(ddp, first).backward());
ddp.finishGradientSync();
const whole = gradsOf(model);
const [noSyncDiff] = compare(accumulated, whole);
optimizer.zeroGrad();

// Alone (rank 0): the same 20 steps on the 2B rows of each step, as two accumulated micro-batches of B rows (each
// loss halved) and as one batch of 2B rows.
const alone = {};
if (rank === 0) {
  for (const mode of ['accumulated', 'single']) {
    const reference = newModel();
    const refOptimizer = new optim.AdamW(reference.parameters(), { lr: s.lr });
    for (let step = 0; step < STEPS; step++) {
      const parts = mode === 'single' ? [batch(step, 0, 2 * B)] : [batch(step, 0, B), batch(step, B, B)];
      for (const data of parts) {
        tidy(() =>
          lossOf(reference, data)
            .mul(1 / parts.length)
            .backward(),
        );
        data.forEach((t) => t.dispose());
      }
      if (step === 0) alone[`${mode}FirstGradDiff`] = compare(firstGrads, gradsOf(reference))[0];
      refOptimizer.step();
      refOptimizer.zeroGrad();
    }
    const [diff, keyBias] = compare(parallel, paramsOf(reference));
    alone[`${mode}ParamDiff`] = diff;
    alone[`${mode}KeyBiasDiff`] = keyBias;
  }
}
console.log(JSON.stringify({ rank, worldSize, buckets: ddp.numBuckets, identical, noSyncDiff, ...alone }));
dist.finalize();
