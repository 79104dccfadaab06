// Trainer: learning, gradient accumulation, epochs, logging (lines and bar), metrics.jsonl, loss.svg, best and
// step checkpoints, stop(), flat memory, and errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { memory } from '../../src/backend';
import { DataLoader, LanguageModelDataLoader, Seq2SeqDataLoader } from '../../src/data/dataloader';
import { EncoderClassifier, Seq2SeqTransformer } from '../../src/models';
import * as F from '../../src/functional';
import { AdamW } from '../../src/optim/adam';
import { SGD } from '../../src/optim/sgd';
import { manualSeed, Tensor, tensor, tidy } from '../../src/tensor';
import { loadCheckpoint } from '../../src/training/checkpoint';
import { lossChartSVG, niceTicks, smoothSeries } from '../../src/training/chart';
import { readMetrics, train, Trainer } from '../../src/training/trainer';
import { defaultLossFn } from '../../src/training/losses';
import { expectError, rng } from '../helpers';
import { cyclicStream, lmLoader, TinyLM } from './helpers';

const VOCAB = 10;

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-trainer-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A writable that keeps what is written; isTTY makes it look like a terminal. */
function captureStream(isTTY = false): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text: () => string; isTTY?: boolean; columns?: number };
  if (isTTY) {
    stream.isTTY = true;
    stream.columns = 160;
  }
  stream.text = () => chunks.join('');
  return stream;
}

function setup(seed = 1, dropout = 0.1) {
  manualSeed(seed);
  const model = new TinyLM(VOCAB, 16, dropout);
  const optimizer = new AdamW(model.parameters(), { lr: 2e-2 });
  return { model, optimizer, dispose: () => (model.dispose(), optimizer.dispose()) };
}

/** Next-token loss summed over every target of a loader, divided by the number of targets. */
function heldOutTokenLoss(model: TinyLM, loader: LanguageModelDataLoader): number {
  model.eval();
  let sum = 0;
  let n = 0;
  for (const batch of loader.epoch(0)) {
    sum += tidy(() =>
      F.crossEntropy(model.forward(batch.input).reshape([-1, VOCAB]), batch.target.reshape([-1]), {
        reduction: 'sum',
      }).item(),
    );
    n += batch.numTargetTokens;
    batch.input.dispose();
    batch.target.dispose();
  }
  model.train();
  return sum / n;
}

/** Mean next-token loss on a fixed loader: an evalFn. */
function heldOutLoss(loader: LanguageModelDataLoader) {
  return (model: TinyLM | import('../../src/nn/module').Module) => {
    let sum = 0;
    let n = 0;
    for (const batch of loader.epoch(0)) {
      sum += tidy(() =>
        F.crossEntropy(model.forward(batch.input).reshape([-1, VOCAB]), batch.target.reshape([-1])).item(),
      );
      n++;
      batch.input.dispose();
      batch.target.dispose();
    }
    return { loss: sum / n };
  };
}

test('learns, logs lines, appends metrics.jsonl and draws loss.svg', async () => {
  const { model, optimizer, dispose } = setup();
  const log = captureStream();
  const outDir = path.join(root, 'run');
  const evalLoader = lmLoader(cyclicStream(120, VOCAB, 9), { shuffle: false });
  let tokens = 0;
  const result = await train({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(400, VOCAB)),
    maxSteps: 60,
    clipGradNorm: 1,
    evalLoader,
    evalEvery: 20,
    logEvery: 10,
    outDir,
    progress: 'auto',
    logStream: log,
    onStep: (info) => {
      tokens += info.numTokens;
    },
  });
  expect(result.step).toBe(60);
  expect(tokens).toBeGreaterThan(60 * 4 * 7); // 4 windows of up to 8 targets per step
  expect(result.tokensSeen).toBe(tokens);
  const records = readMetrics(path.join(outDir, 'metrics.jsonl'));
  const trainRecords = records.filter((r) => r.type === 'train');
  const evalRecords = records.filter((r) => r.type === 'eval');
  expect(trainRecords.map((r) => r.step)).toEqual([10, 20, 30, 40, 50, 60]);
  expect(evalRecords.map((r) => r.step)).toEqual([20, 40, 60]);
  const first = trainRecords[0] as import('../../src/training/trainer').TrainRecord;
  expect(Object.keys(first).sort()).toEqual([
    'elapsed',
    'epoch',
    'gradNorm',
    'loss',
    'lr',
    'step',
    'tokensPerSecond',
    'type',
  ]);
  expect(first.tokensPerSecond).toBeGreaterThan(0);
  expect(first.lr).toBe(2e-2);
  // The cycle is learnable: the loss falls well below chance (ln 6 = 1.79 over the 6 regular tokens).
  const last = trainRecords[trainRecords.length - 1] as import('../../src/training/trainer').TrainRecord;
  expect(last.loss).toBeLessThan(first.loss * 0.7);
  expect((evalRecords[2] as import('../../src/training/trainer').EvalRecord).metrics.loss).toBeLessThan(1.2);
  // Plain lines on a non-terminal stream.
  const lines = log.text().trim().split('\n');
  expect(
    lines.filter((l) =>
      /^step \d+\/60 \| epoch \d+ \| loss \d+\.\d{4} \| lr \d\.\d\de-\d+ \| \d+ tok\/s \| elapsed \S+ \| ETA \S+$/.test(
        l,
      ),
    ),
  ).toHaveLength(6);
  expect(lines.filter((l) => /^eval @ step (20|40|60): loss \d+\.\d{4}$/.test(l))).toHaveLength(3);
  // The chart: raw and smoothed train loss, eval loss, a legend.
  const svg = fs.readFileSync(path.join(outDir, 'loss.svg'), 'utf8');
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.trim().endsWith('</svg>')).toBe(true);
  expect([...svg.matchAll(/<polyline class="series" data-name="([^"]+)"/g)].map((m) => m[1])).toEqual([
    'train loss',
    'train loss (smoothed)',
    'eval loss',
  ]);
  expect([...svg.matchAll(/<text class="legend"[^>]*>([^<]+)</g)].map((m) => m[1])).toEqual([
    'train loss',
    'train loss (smoothed)',
    'eval loss',
  ]);
  // Final checkpoint, and best/ at the eval with the lowest loss.
  expect(result.checkpoint).toBe(path.join(outDir, 'checkpoints', 'step-00000060'));
  const evalLosses = evalRecords.map((r) => (r as import('../../src/training/trainer').EvalRecord).metrics.loss);
  const bestEval = evalRecords[evalLosses.indexOf(Math.min(...evalLosses))];
  const best = loadCheckpoint(path.join(outDir, 'best'));
  expect(best.trainer?.bestStep).toBe(bestEval.step);
  best.dispose();
  // The eval loss is the token-weighted mean over the eval set.
  expect((evalRecords[2] as import('../../src/training/trainer').EvalRecord).metrics.loss).toBeCloseTo(
    heldOutTokenLoss(model, evalLoader),
    5,
  );
  dispose();
});

test('a progress bar on a terminal shows loss, lr, tokens/s and ETA', async () => {
  const { model, optimizer, dispose } = setup();
  const tty = captureStream(true);
  await new Trainer({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(200, VOCAB)),
    maxSteps: 20,
    logEvery: 5,
    logStream: tty,
  }).train();
  const text = tty.text();
  expect(text).toMatch(
    /step 20\/20 \[.*\] 100% \| epoch \d+ \| loss \d+\.\d{4} \| lr \d\.\d\de-\d+ \| \d+ tok\/s \| ETA \S+/,
  );
  dispose();
});

test('gradient accumulation over two half batches equals one full batch', async () => {
  const stream = cyclicStream(8 * 8 + 1, VOCAB); // 8 full windows of 8 tokens
  const weightsAfter = async (batchSize: number, accumulation: number) => {
    manualSeed(3);
    const model = new TinyLM(VOCAB, 16, 0);
    const optimizer = new SGD(model.parameters(), { lr: 0.5 });
    await new Trainer({
      model,
      optimizer,
      trainLoader: lmLoader(stream, { batchSize, shuffle: false }),
      maxSteps: 1,
      gradAccumulationSteps: accumulation,
      progress: 'none',
    }).train();
    const weights = model.parameters().map((p) => Array.from(p.dataSync()));
    model.dispose();
    return weights.flat();
  };
  const full = await weightsAfter(4, 1);
  const accumulated = await weightsAfter(2, 2);
  const initial = (() => {
    manualSeed(3);
    const m = new TinyLM(VOCAB, 16, 0);
    const w = m
      .parameters()
      .map((p) => Array.from(p.dataSync()))
      .flat();
    m.dispose();
    return w;
  })();
  expect(full.some((v, i) => Math.abs(v - initial[i]) > 1e-4)).toBe(true);
  full.forEach((v, i) => expect(Math.abs(v - accumulated[i])).toBeLessThan(1e-6));
});

test('epochs limit the run; accumulation carries across epoch ends', async () => {
  const { model, optimizer, dispose } = setup();
  const loader = lmLoader(cyclicStream(200, VOCAB)); // 7 batches per epoch
  const steps: number[] = [];
  const result = await new Trainer({
    model,
    optimizer,
    trainLoader: loader,
    epochs: 2,
    gradAccumulationSteps: 2,
    progress: 'none',
    onStep: (s) => steps.push(s.epoch),
  }).train();
  expect(result.step).toBe(7); // 14 batches, 2 per step
  expect(loader.state()).toEqual({ epoch: 2, position: 0 });
  expect(steps).toEqual([0, 0, 0, 1, 1, 1, 1]);
  dispose();
});

test('best/ follows the watched metric; keepLast prunes step checkpoints', async () => {
  const { model, optimizer, dispose } = setup();
  const outDir = path.join(root, 'run');
  const result = await new Trainer({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(200, VOCAB)),
    maxSteps: 40,
    evalFn: (_m, { step }) => ({ score: 10 - Math.abs(step - 20), loss: 1 }),
    evalEvery: 10,
    bestMetric: 'score',
    bestMode: 'max',
    checkpointEvery: 10,
    keepLast: 2,
    outDir,
    progress: 'none',
  }).train();
  expect(result.bestStep).toBe(20);
  expect(result.bestMetric).toBe(10);
  expect(fs.readdirSync(path.join(outDir, 'checkpoints')).sort()).toEqual(['step-00000030', 'step-00000040']);
  const best = loadCheckpoint(path.join(outDir, 'best'));
  expect(best.trainer).toMatchObject({ step: 20, bestStep: 20, bestMetric: 10 });
  best.dispose();
  // A fresh run into the same folder would mix two runs' checkpoints: refused.
  await expect(
    new Trainer({
      model,
      optimizer,
      trainLoader: lmLoader(cyclicStream(200, VOCAB)),
      maxSteps: 5,
      outDir,
      progress: 'none',
    }).train(),
  ).rejects.toThrow(
    /already holds checkpoints of a run \(step-00000040\); resume it \(resume: true\) or use another outDir/,
  );
  dispose();
});

test('stop() ends after the current step and saves a checkpoint', async () => {
  const { model, optimizer, dispose } = setup();
  const outDir = path.join(root, 'run');
  const trainer = new Trainer({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(200, VOCAB)),
    maxSteps: 100,
    outDir,
    progress: 'none',
    onStep: ({ step }) => {
      if (step === 5) trainer.stop();
    },
  });
  const result = await trainer.train();
  expect(result).toMatchObject({
    step: 5,
    stopped: true,
    checkpoint: path.join(outDir, 'checkpoints', 'step-00000005'),
  });
  dispose();
});

test('steps run in training mode and evals in eval mode, whatever mode the model was left in', async () => {
  const { model, optimizer, dispose } = setup();
  model.eval();
  const modes: string[] = [];
  const mode = () => (model.training ? 'train' : 'eval');
  await new Trainer({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(100, VOCAB)),
    maxSteps: 3,
    evalEvery: 2,
    progress: 'none',
    lossFn: (m, batch) => {
      modes.push(`step ${mode()}`);
      return defaultLossFn()(m, batch);
    },
    evalFn: () => {
      modes.push(`eval ${mode()}`);
      return { loss: 1 };
    },
  }).train();
  expect(modes).toEqual(['step train', 'step train', 'eval eval', 'step train', 'eval eval']);
  expect(model.training).toBe(true);
  dispose();
});

test('memory stays flat across steps, evals and checkpoints', async () => {
  const { model, optimizer, dispose } = setup();
  const evalLoader = lmLoader(cyclicStream(60, VOCAB, 5), { shuffle: false });
  // Tensors not disposed and the allocator's cache: the GC may finalize a stray storage of an earlier test
  // during the trainer's awaits, which changes memory().storages but neither of these.
  const snapshots = new Map<number, Partial<ReturnType<typeof memory>>>();
  await new Trainer({
    model,
    optimizer,
    trainLoader: lmLoader(cyclicStream(300, VOCAB)),
    maxSteps: 60,
    gradAccumulationSteps: 2,
    clipGradNorm: 1,
    evalFn: heldOutLoss(evalLoader),
    evalEvery: 10,
    checkpointEvery: 10,
    keepLast: 1,
    outDir: path.join(root, 'run'),
    progress: 'none',
    onStep: ({ step }) => {
      if (step !== 20 && step !== 60) return;
      const { undisposedStorages, undisposedBytes, cachedStorages, cachedBytes } = memory();
      snapshots.set(step, { undisposedStorages, undisposedBytes, cachedStorages, cachedBytes });
    },
  }).train();
  expect(snapshots.get(60)).toEqual(snapshots.get(20));
  dispose();
});

test('the default loss handles language-model batches; bad options and losses are named', async () => {
  const { model, optimizer, dispose } = setup();
  const loader = lmLoader(cyclicStream(100, VOCAB));
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: loader }),
    'RangeError',
    /Trainer: give maxSteps or epochs/,
  );
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: loader, maxSteps: 0 }),
    'RangeError',
    /maxSteps must be a positive integer, got 0/,
  );
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: loader, maxSteps: 1, clipGradNorm: -1 }),
    'RangeError',
    /clipGradNorm must be a positive number, got -1/,
  );
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: loader, maxSteps: 1, keepLast: 2 }),
    'RangeError',
    /keepLast need outDir/,
  );
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: [] as never, maxSteps: 1 }),
    'TypeError',
    /trainLoader must be a DataLoader/,
  );
  expectError(
    () => new Trainer({ model, optimizer, trainLoader: loader, maxSteps: 1, evalLoader: loader, evalFn: () => ({}) }),
    'RangeError',
    /give evalFn or evalLoader, not both/,
  );
  const run = (lossFn: (m: TinyLM, b: unknown) => { loss: Tensor }) =>
    new Trainer({
      model,
      optimizer,
      trainLoader: loader,
      maxSteps: 1,
      progress: 'none',
      lossFn: lossFn as never,
    }).train();
  await expect(run(() => ({ loss: 3 as unknown as Tensor }))).rejects.toThrow(
    /lossFn must return \{ loss: Tensor, numTokens\? \}/,
  );
  await expect(run(() => ({ loss: tensor([Number.NaN]).requiresGrad_().sum() }))).rejects.toThrow(
    /the loss is NaN at step 1/,
  );
  await expect(run(() => ({ loss: tensor([1, 2]).requiresGrad_() }))).rejects.toThrow(
    /the loss must be a scalar, got shape \[2\]/,
  );
  const empty = new DataLoader<number, { x: Tensor }>([], { batchSize: 1, collate: () => ({ x: tensor([0]) }) });
  await expect(
    new Trainer({ model, optimizer, trainLoader: empty, maxSteps: 1, progress: 'none' }).train(),
  ).rejects.toThrow(/yields no batches/);
  await expect(
    new Trainer({
      model,
      optimizer,
      trainLoader: lmLoader(cyclicStream(100, VOCAB)),
      maxSteps: 2,
      progress: 'none',
    }).train(),
  ).resolves.toMatchObject({ step: 2 });
  dispose();
});

test('the default loss fits Seq2SeqTransformer and EncoderClassifier batches', async () => {
  const random = rng(21);
  const examples = Array.from({ length: 24 }, () => {
    const src = Array.from({ length: 2 + Math.floor(random() * 4) }, () => 4 + Math.floor(random() * 8));
    return { src, tgt: [...src].reverse() };
  });
  manualSeed(11);
  const seq2seq = new Seq2SeqTransformer({
    srcVocabSize: 12,
    tgtVocabSize: 12,
    dModel: 16,
    nhead: 2,
    numEncoderLayers: 1,
    numDecoderLayers: 1,
    dimFeedforward: 32,
    dropout: 0,
  });
  const loader = new Seq2SeqDataLoader(examples, { batchSize: 6 });
  const [batch] = loader.epoch(0);
  const { loss, numTokens } = defaultLossFn()(seq2seq, batch);
  const expected = F.crossEntropy(
    seq2seq
      .forward(batch.src, batch.tgtIn, {
        srcKeyPaddingMask: batch.srcKeyPaddingMask,
        tgtKeyPaddingMask: batch.tgtKeyPaddingMask,
      })
      .reshape([-1, 12]),
    batch.tgtOut.reshape([-1]),
    { ignoreIndex: 0 },
  );
  expect(loss.item()).toBeCloseTo(expected.item(), 6);
  expect(numTokens).toBe(batch.numTargetTokens);
  const losses: number[] = [];
  await new Trainer({
    model: seq2seq,
    optimizer: new AdamW(seq2seq.parameters(), { lr: 1e-2 }),
    trainLoader: loader,
    maxSteps: 24,
    progress: 'none',
    onStep: (i) => losses.push(i.loss),
  }).train();
  expect(losses[23]).toBeLessThan(losses[0]);

  const classifier = new EncoderClassifier({
    vocabSize: 12,
    numClasses: 3,
    dModel: 16,
    nhead: 2,
    numLayers: 1,
    dimFeedforward: 32,
    dropout: 0,
  });
  const ids = tensor(
    [
      [1, 5, 6, 0],
      [1, 7, 8, 9],
    ],
    { dtype: 'int32' },
  );
  const keyPaddingMask = tensor([
    [false, false, false, true],
    [false, false, false, false],
  ]);
  const labels = tensor([2, 0], { dtype: 'int32' });
  const out = defaultLossFn({ labelSmoothing: 0.1 })(classifier, {
    input: ids,
    keyPaddingMask,
    labels,
    indices: [0, 1],
  });
  expect(out.loss.item()).toBeCloseTo(
    F.crossEntropy(classifier.forward(ids, { keyPaddingMask }), labels, { labelSmoothing: 0.1 }).item(),
    6,
  );
  expectError(
    () => defaultLossFn()(classifier, { x: ids }),
    'TypeError',
    /cannot tell the task from a batch with keys \[x\]/,
  );
  seq2seq.dispose();
  classifier.dispose();
});

test('chart helpers: round ticks and bias-corrected smoothing', () => {
  expect(niceTicks(0.3, 2.9, 5)).toEqual([0, 1, 2, 3]);
  expect(niceTicks(0.3, 2.9, 6)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3]);
  expect(niceTicks(0, 1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
  // One loss record: the value and its smoothed twin may differ in the last bit (this used to loop forever).
  expect(niceTicks(5.416826929364886, 5.416826929364887, 5)).toEqual([4.5, 5, 5.5, 6]);
  expect(lossChartSVG([[7, 5.416826929364886]])).toContain('train loss');
  expect(smoothSeries([2, 2, 2], 0.9).map((v) => Number(v.toFixed(6)))).toEqual([2, 2, 2]);
  expect(smoothSeries([1, 3], 0)).toEqual([1, 3]);
  const svg = lossChartSVG(
    [
      [1, 2],
      [2, 1],
    ],
    [],
    { title: 'a < b' },
  );
  expect(svg).toContain('a &lt; b');
  expect(svg).not.toContain('eval loss');
});
