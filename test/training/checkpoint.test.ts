// Checkpoints: a folder round-trips every piece of training state; resuming reproduces an uninterrupted run's
// losses exactly (dropout and shuffling on); a failure in the middle of a write leaves the previous checkpoint.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CharTokenizer, WordTokenizer } from '../../src/data/tokenizers';
import { AdamW } from '../../src/optim/adam';
import { WarmupCosineLR } from '../../src/optim/lr_scheduler';
import { SGD } from '../../src/optim/sgd';
import { getRngState, manualSeed, setRngState, tensor } from '../../src/tensor';
import {
  averageCheckpointWeights,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from '../../src/training/checkpoint';
import { Trainer } from '../../src/training/trainer';
import { expectError } from '../helpers';
import { cyclicStream, lmLoader, TinyLM } from './helpers';

// The real fs module object, shared with the code under test, so spies on it see every call.

const nodeFs = require('node:fs') as typeof fs;

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-checkpoint-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

const VOCAB = 12;

function weightsOf(model: TinyLM): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of model.namedParameters()) out[name] = Array.from(p.dataSync());
  return out;
}

/** A model, optimizer, scheduler and loader with a few steps of history. */
function trainedSetup(seed: number) {
  manualSeed(seed);
  const model = new TinyLM(VOCAB);
  const optimizer = new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01 });
  const scheduler = new WarmupCosineLR(optimizer, { warmupSteps: 2, totalSteps: 20 });
  const loader = lmLoader(cyclicStream(200, VOCAB));
  return { model, optimizer, scheduler, loader };
}

describe('saveCheckpoint / loadCheckpoint', () => {
  test('round-trips weights, optimizer, scheduler, loader, RNG, counters, tokenizers and config', async () => {
    const a = trainedSetup(1);
    await new Trainer({ ...a, trainLoader: a.loader, maxSteps: 3, progress: 'none' }).train();
    const tokenizers = { src: new CharTokenizer('abc'), tgt: new WordTokenizer(['x', 'y']) };
    const dir = path.join(root, 'ckpt');
    const counters = { step: 3, epoch: 0, bestMetric: 1.5, bestStep: 2, tokensSeen: 96, elapsedSeconds: 1.25 };
    const rngBefore = getRngState();
    saveCheckpoint(dir, {
      ...a,
      dataLoader: a.loader,
      trainer: counters,
      tokenizers,
      config: a.model.config,
      metadata: { task: 'lm' },
    });
    expect(fs.readdirSync(dir).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'optimizer.json',
      'optimizer.safetensors',
      'scheduler.json',
      'tokenizer.src.json',
      'tokenizer.tgt.json',
      'trainer_state.json',
    ]);

    const checkpoint = loadCheckpoint(dir);
    expect([...checkpoint.modelState.keys()].sort()).toEqual(
      a.model
        .namedParameters()
        .map(([n]) => n)
        .sort(),
    );
    expect(checkpoint.trainer).toEqual(counters);
    expect(checkpoint.rngState).toBe(rngBefore);
    expect(checkpoint.dataLoaderState).toEqual(a.loader.state());
    expect(checkpoint.config).toEqual({ type: 'TinyLM', vocabSize: VOCAB, dModel: 16 });
    expect(checkpoint.metadata).toEqual({ task: 'lm' });
    expect(checkpoint.optimizerType).toBe('AdamW');
    expect(checkpoint.schedulerType).toBe('WarmupCosineLR');
    expect(checkpoint.tokenizers.src.encode('cab')).toEqual(new CharTokenizer('abc').encode('cab'));
    expect(checkpoint.tokenizers.tgt.vocabSize).toBe(6);
    checkpoint.dispose();

    // Fresh objects built from another seed take every piece of state back.
    const b = trainedSetup(99);
    setRngState(12345);
    const restored = restoreCheckpoint(dir, {
      model: b.model,
      optimizer: b.optimizer,
      scheduler: b.scheduler,
      dataLoader: b.loader,
    });
    expect(restored).toEqual(counters);
    expect(weightsOf(b.model)).toEqual(weightsOf(a.model));
    expect(b.optimizer.paramGroups[0].lr).toBe(a.optimizer.paramGroups[0].lr);
    expect(b.scheduler.lastEpoch).toBe(a.scheduler.lastEpoch);
    expect(b.loader.state()).toEqual(a.loader.state());
    expect(getRngState()).toBe(rngBefore);
    const stateA = a.optimizer.stateDict().state[0];
    const stateB = b.optimizer.stateDict().state[0];
    expect(stateB.step).toBe(stateA.step);
    expect(Array.from((stateB.expAvg as import('../../src/tensor').Tensor).dataSync())).toEqual(
      Array.from((stateA.expAvg as import('../../src/tensor').Tensor).dataSync()),
    );
    for (const s of [a, b]) {
      s.model.dispose();
      s.optimizer.dispose();
    }
  });

  test('a single tokenizer is tokenizer.json, named default', () => {
    manualSeed(2);
    const model = new TinyLM(VOCAB);
    const dir = path.join(root, 'one');
    saveCheckpoint(dir, { model, tokenizers: new CharTokenizer('xyz') });
    expect(fs.existsSync(path.join(dir, 'tokenizer.json'))).toBe(true);
    const checkpoint = loadCheckpoint(dir);
    expect(Object.keys(checkpoint.tokenizers)).toEqual(['default']);
    expect(checkpoint.optimizerState).toBeNull();
    expect(checkpoint.trainer).toBeNull();
    checkpoint.dispose();
    model.dispose();
  });

  test('errors name the problem', () => {
    manualSeed(3);
    const model = new TinyLM(VOCAB);
    expectError(
      () => loadCheckpoint(path.join(root, 'missing')),
      'Error',
      /loadCheckpoint: no checkpoint folder at .*missing/,
    );
    fs.mkdirSync(path.join(root, 'empty'));
    expectError(
      () => loadCheckpoint(path.join(root, 'empty')),
      'Error',
      /is not a checkpoint \(it lacks model.safetensors/,
    );
    const dir = path.join(root, 'c');
    saveCheckpoint(dir, { model, optimizer: new SGD(model.parameters(), { lr: 0.1 }) });
    expectError(
      () => restoreCheckpoint(dir, { model, optimizer: new AdamW(model.parameters()) }),
      'TypeError',
      /holds SGD state, the optimizer is AdamW/,
    );
    expectError(
      () => restoreCheckpoint(dir, { model, dataLoader: lmLoader([4, 5, 6, 7]) }),
      'Error',
      /holds no data loader state/,
    );
    fs.writeFileSync(path.join(dir, 'trainer_state.json'), '{ not json');
    expectError(() => loadCheckpoint(dir), 'Error', /trainer_state.json is not valid JSON/);
    expectError(
      () => saveCheckpoint(dir, { model, tokenizers: { 'a/b': new CharTokenizer('a') } }),
      'RangeError',
      /tokenizer name 'a\/b'/,
    );
    expectError(() => saveCheckpoint('', { model }), 'TypeError', /saveCheckpoint: dir must be a non-empty string/);
    model.dispose();
  });
});

describe('averageCheckpointWeights', () => {
  test('averages every weight element-wise over the checkpoints', () => {
    const models = [1, 2, 3].map((seed) => {
      manualSeed(seed);
      return new TinyLM(VOCAB);
    });
    const dirs = models.map((model, i) => {
      const dir = path.join(root, `step-${i}`);
      saveCheckpoint(dir, { model });
      return dir;
    });
    const mean = averageCheckpointWeights(dirs);
    const weights = models.map(weightsOf);
    expect([...mean.keys()].sort()).toEqual(Object.keys(weights[0]).sort());
    for (const [name, t] of mean) {
      const got = t.dataSync();
      got.forEach((v, j) =>
        expect(v).toBeCloseTo((weights[0][name][j] + weights[1][name][j] + weights[2][name][j]) / 3, 6),
      );
      t.dispose();
    }
    for (const m of models) m.dispose();
  });

  test('takes integer tensors from the last checkpoint instead of averaging them', () => {
    const dirs = [3, 8].map((step) => {
      manualSeed(step);
      const model = new TinyLM(VOCAB);
      model.registerBuffer('steps', tensor([step, step + 1], { dtype: 'int32' }));
      const dir = path.join(root, `int-${step}`);
      saveCheckpoint(dir, { model });
      model.dispose();
      return dir;
    });
    const mean = averageCheckpointWeights(dirs);
    const steps = mean.get('steps')!;
    expect(steps.dtype).toBe('int32');
    expect(Array.from(steps.dataSync())).toEqual([8, 9]);
    for (const t of mean.values()) t.dispose();
  });

  test('refuses folders that are not checkpoints and models that do not match', () => {
    const small = new TinyLM(VOCAB, 8);
    const large = new TinyLM(VOCAB, 16);
    saveCheckpoint(path.join(root, 'small'), { model: small });
    saveCheckpoint(path.join(root, 'large'), { model: large });
    expectError(() => averageCheckpointWeights([]), 'TypeError', /dirs must be a non-empty array/);
    expectError(
      () => averageCheckpointWeights([path.join(root, 'small'), path.join(root, 'nothing')]),
      'Error',
      /nothing is not a checkpoint/,
    );
    expectError(
      () => averageCheckpointWeights([path.join(root, 'small'), path.join(root, 'large')]),
      'Error',
      /'embed\.weight' is \[12,16\] in .*large but \[12,8\] in .*small/,
    );
    small.dispose();
    large.dispose();
  });
});

describe('atomicity', () => {
  function setup() {
    manualSeed(4);
    const model = new TinyLM(VOCAB);
    const dir = path.join(root, 'ckpt');
    saveCheckpoint(dir, {
      model,
      trainer: { step: 1, epoch: 0, bestMetric: null, bestStep: null, tokensSeen: 0, elapsedSeconds: 0 },
    });
    const saved = weightsOf(model);
    // Change the weights so a completed second save would be visible.
    model.head.bias?.copy_(model.head.bias.add(1));
    return { model, dir, saved };
  }

  test('a write failing midway leaves the previous checkpoint intact and no temporary folder', () => {
    const { model, dir, saved } = setup();
    const realWrite = nodeFs.writeSync;
    let writes = 0;
    jest.spyOn(nodeFs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
      if (++writes === 1) throw new Error('ENOSPC: no space left on device (simulated)');
      return (realWrite as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync);
    expectError(
      () =>
        saveCheckpoint(dir, {
          model,
          trainer: { step: 2, epoch: 0, bestMetric: null, bestStep: null, tokensSeen: 0, elapsedSeconds: 0 },
        }),
      'Error',
      /ENOSPC/,
    );
    jest.restoreAllMocks();
    expect(writes).toBe(1);
    expect(fs.readdirSync(root)).toEqual(['ckpt']);
    const checkpoint = loadCheckpoint(dir);
    expect(checkpoint.trainer?.step).toBe(1);
    expect(Array.from(checkpoint.modelState.get('head.bias')!.dataSync())).toEqual(saved['head.bias']);
    checkpoint.dispose();
    model.dispose();
  });

  test('a kill between the two renames of the swap is recovered on load', () => {
    const { model, dir, saved } = setup();
    const realRename = nodeFs.renameSync;
    let dirRenames = 0;
    jest.spyOn(nodeFs, 'renameSync').mockImplementation((from: fs.PathLike, to: fs.PathLike) => {
      // File renames inside the temporary folder pass; the second folder rename (temp -> dir) "dies".
      if (path.dirname(String(to)) === root && ++dirRenames === 2) throw new Error('killed (simulated)');
      realRename(from, to);
    });
    expectError(
      () =>
        saveCheckpoint(dir, {
          model,
          trainer: { step: 2, epoch: 0, bestMetric: null, bestStep: null, tokensSeen: 0, elapsedSeconds: 0 },
        }),
      'Error',
      /killed/,
    );
    jest.restoreAllMocks();
    expect(fs.existsSync(dir)).toBe(false); // only the previous version is on disk now
    const checkpoint = loadCheckpoint(dir);
    expect(checkpoint.trainer?.step).toBe(1);
    expect(Array.from(checkpoint.modelState.get('head.bias')!.dataSync())).toEqual(saved['head.bias']);
    checkpoint.dispose();
    model.dispose();
  });
});

describe('resume', () => {
  /** Trains with everything stochastic on: dropout, shuffling, accumulation across epochs, clipping, a schedule. */
  function makeTrainer(
    seed: number,
    maxSteps: number,
    extra: { outDir?: string; resume?: string; checkpointEvery?: number; onLoss: (l: number) => void },
  ) {
    const s = trainedSetup(seed);
    const trainer = new Trainer({
      model: s.model,
      optimizer: s.optimizer,
      scheduler: s.scheduler,
      trainLoader: s.loader,
      maxSteps,
      gradAccumulationSteps: 2,
      clipGradNorm: 0.5,
      progress: 'none',
      outDir: extra.outDir,
      resume: extra.resume,
      checkpointEvery: extra.checkpointEvery,
      onStep: (info) => extra.onLoss(info.loss),
    });
    return { trainer, ...s };
  }

  test('N steps + save + fresh objects + resume + N steps gives the losses of 2N uninterrupted steps', async () => {
    const N = 7; // 7 batches per epoch, 2 per step: the runs cross epoch boundaries (and one mid-accumulation)
    const straight: number[] = [];
    const a = makeTrainer(5, 2 * N, { onLoss: (l) => straight.push(l) });
    await a.trainer.train();
    expect(a.loader.state().epoch).toBeGreaterThanOrEqual(2);

    const resumed: number[] = [];
    const outDir = path.join(root, 'run');
    const first = makeTrainer(5, N, { outDir, onLoss: (l) => resumed.push(l) });
    const result = await first.trainer.train();
    expect(result.step).toBe(N);
    const dir = latestCheckpoint(path.join(outDir, 'checkpoints'));
    expect(dir).toBe(result.checkpoint);
    // Fresh objects, as in a new process: another seed, so only the checkpoint can make them agree.
    setRngState(777);
    const second = makeTrainer(6, 2 * N, { outDir, resume: dir as string, onLoss: (l) => resumed.push(l) });
    const final = await second.trainer.train();
    expect(final.step).toBe(2 * N);
    expect(resumed.length).toBe(2 * N);
    resumed.forEach((loss, i) => expect(Math.abs(loss - straight[i])).toBeLessThanOrEqual(1e-6));
    expect(weightsOf(second.model)).toEqual(weightsOf(a.model));
    // metrics.jsonl holds each step once: the resumed run continued the file.
    const steps = fs
      .readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual([...new Set(steps)].sort((x, y) => x - y));
    expect(listCheckpoints(path.join(outDir, 'checkpoints')).map((c) => c.step)).toEqual([N, 2 * N]);
    for (const s of [a, first, second]) {
      s.model.dispose();
      s.optimizer.dispose();
    }
  });
});
