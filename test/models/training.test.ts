// Smoke tests: each model learns a small task end to end with AdamW inside tidy(): a Seq2SeqTransformer
// learns to reverse sequences, a GPT memorises a text, an EncoderClassifier separates two classes.
import { EncoderClassifier, GPT, Seq2SeqTransformer } from '../../src/models';
import { greedy } from '../../src/generation';
import { F, manualSeed, memory, noGrad, optim, tensor, Tensor, tidy } from '../../src';
import { rng } from '../helpers';

const PAD = 0;
const BOS = 1;
const EOS = 2;

/** One AdamW step on the loss computed by lossOf; returns the loss. Every temporary goes with the tidy(). */
function trainStep(optimizer: optim.AdamW, schedule: optim.lrScheduler.WarmupCosineLR, lossOf: () => Tensor): number {
  return tidy(() => {
    const loss = lossOf();
    loss.backward();
    optim.clipGradNorm(optimizer.paramGroups[0].params, 1);
    optimizer.step();
    optimizer.zeroGrad();
    schedule.step();
    return loss.item();
  });
}

function idsTensor(rows: number[][], width: number): Tensor {
  const flat = new Int32Array(rows.length * width).fill(PAD);
  rows.forEach((r, i) => flat.set(r, i * width));
  return tensor(flat, { shape: [rows.length, width], dtype: 'int32' });
}

const liveStorages = () => memory().undisposedStorages;

test('a Seq2SeqTransformer learns to reverse sequences (>= 99% token accuracy, greedy decoding)', () => {
  manualSeed(1);
  const symbols = 8; // tokens 3..10
  const random = rng(7);
  const example = () => Array.from({ length: 3 + Math.floor(random() * 4) }, () => 3 + Math.floor(random() * symbols));
  const model = new Seq2SeqTransformer({
    srcVocabSize: 3 + symbols,
    tgtVocabSize: 3 + symbols,
    dModel: 32,
    nhead: 4,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 64,
    dropout: 0,
    maxLen: 16,
    shareEmbeddings: true,
    tieEmbeddings: true,
    seed: 3,
  });
  const optimizer = new optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
  const steps = 500;
  const schedule = new optim.lrScheduler.WarmupCosineLR(optimizer, { warmupSteps: 30, totalSteps: steps, minLr: 1e-4 });
  for (let step = 0; step < steps; step++) {
    const sources = Array.from({ length: 32 }, example);
    const targets = sources.map((s) => [...s].reverse());
    const src = idsTensor(sources, 6);
    const tgtIn = idsTensor(
      targets.map((t) => [BOS, ...t]),
      7,
    );
    const tgtOut = idsTensor(
      targets.map((t) => [...t, EOS]),
      7,
    );
    trainStep(optimizer, schedule, () => {
      const logits = model.forward(src, tgtIn);
      return F.crossEntropy(logits.reshape(-1, 3 + symbols), tgtOut.reshape(-1), { ignoreIndex: PAD });
    });
    for (const t of [src, tgtIn, tgtOut]) t.dispose();
  }
  const tests = Array.from({ length: 100 }, example);
  const before = liveStorages();
  const { sequences, finished } = greedy(model, tests, { bosId: BOS, eosId: EOS, maxLength: 8 });
  expect(liveStorages()).toBe(before);
  let correct = 0;
  let total = 0;
  tests.forEach((s, i) => {
    const expected = [...s].reverse();
    total += expected.length + 1;
    expected.forEach((t, j) => (correct += sequences[i][j] === t ? 1 : 0));
    if (finished[i] && sequences[i].length === expected.length) correct++; // the end token in its place
  });
  expect(correct / total).toBeGreaterThanOrEqual(0.99);
  optimizer.dispose();
  model.dispose();
});

test('a GPT memorises a short text: greedy decoding from its first character reproduces it', () => {
  manualSeed(2);
  const text = 'the quick brown fox jumps over the lazy dog; the end.';
  const chars = [...new Set(text)].sort();
  const ids = [...text].map((c) => chars.indexOf(c));
  const model = new GPT({
    vocabSize: chars.length,
    contextLength: 64,
    dModel: 48,
    nhead: 4,
    numLayers: 2,
    dropout: 0,
    seed: 5,
  });
  const optimizer = new optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const steps = 150;
  const schedule = new optim.lrScheduler.WarmupCosineLR(optimizer, { warmupSteps: 10, totalSteps: steps, minLr: 1e-4 });
  const input = tensor([ids.slice(0, -1)], { dtype: 'int32' });
  const target = tensor(ids.slice(1), { dtype: 'int32' });
  let loss = Infinity;
  let liveAfterFirstSteps = 0;
  for (let step = 0; step < steps; step++) {
    loss = trainStep(optimizer, schedule, () => F.crossEntropy(model.forward(input).reshape(-1, chars.length), target));
    if (step === 2) liveAfterFirstSteps = liveStorages(); // the optimizer state exists from the first step on
  }
  expect(liveStorages()).toBe(liveAfterFirstSteps);
  expect(loss).toBeLessThan(0.1);
  const { sequences } = greedy(model, [[ids[0]]], { maxLength: ids.length - 1 });
  const generated = text[0] + sequences[0].map((i) => chars[i]).join('');
  expect(generated).toBe(text);
  for (const t of [input, target]) t.dispose();
  optimizer.dispose();
  model.dispose();
});

test('an EncoderClassifier learns which of two marker tokens comes first (>= 95% on held-out data)', () => {
  manualSeed(3);
  const CLS = 1;
  const random = rng(11);
  // Random filler tokens 5..14 with markers 3 and 4 at two random places; the class says which comes first.
  const example = (): [number[], number] => {
    const length = 6 + Math.floor(random() * 5);
    const tokens = Array.from({ length }, () => 5 + Math.floor(random() * 10));
    const a = Math.floor(random() * length);
    let b = Math.floor(random() * (length - 1));
    if (b >= a) b++;
    tokens[a] = 3;
    tokens[b] = 4;
    return [[CLS, ...tokens], a < b ? 1 : 0];
  };
  const batch = (n: number) => {
    const examples = Array.from({ length: n }, example);
    return {
      ids: idsTensor(
        examples.map(([t]) => t),
        11,
      ),
      labels: tensor(
        examples.map(([, y]) => y),
        { dtype: 'int32' },
      ),
    };
  };
  const model = new EncoderClassifier({
    vocabSize: 15,
    numClasses: 2,
    dModel: 32,
    nhead: 4,
    numLayers: 2,
    dimFeedforward: 64,
    dropout: 0,
    maxLen: 16,
    seed: 9,
  });
  const optimizer = new optim.AdamW(model.parameters(), { lr: 2e-3, weightDecay: 0.01 });
  const steps = 300;
  const schedule = new optim.lrScheduler.WarmupCosineLR(optimizer, { warmupSteps: 20, totalSteps: steps, minLr: 1e-4 });
  for (let step = 0; step < steps; step++) {
    const { ids, labels } = batch(32);
    trainStep(optimizer, schedule, () => F.crossEntropy(model.forward(ids), labels));
    ids.dispose();
    labels.dispose();
  }
  model.eval();
  const { ids, labels } = batch(400);
  const accuracy = noGrad(() =>
    tidy(() => {
      const predicted = model.forward(ids).argmax(1).dataSync();
      const truth = labels.dataSync();
      let correct = 0;
      for (let i = 0; i < truth.length; i++) if (predicted[i] === truth[i]) correct++;
      return correct / truth.length;
    }),
  );
  expect(accuracy).toBeGreaterThanOrEqual(0.95);
  ids.dispose();
  labels.dispose();
  optimizer.dispose();
  model.dispose();
});
