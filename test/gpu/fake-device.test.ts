// The CUDA code paths that need no GPU to test, on a pretend device (fake-device.ts): what the allocator does when
// device memory runs out, and that a training step never copies data back to the host.
import * as F from '../../src/functional';
import { allocate, emptyCache, isOutOfMemory, memory, release } from '../../src/backend';
import { EncoderClassifier, Seq2SeqTransformer, Seq2SeqTransformerOptions } from '../../src/models';
import { LearnedPositionalEncoding } from '../../src/nn';
import { AdamW, clipGradNorm } from '../../src/optim';
import { manualSeed, tensor, Tensor, tidy, zeros } from '../../src/tensor';
import { maxRelError } from '../helpers';
import { FakeDevice, installFakeCuda } from './fake-device';

const classifierOptions = { vocabSize: 15, numClasses: 3, dModel: 16, nhead: 2, numLayers: 2, maxLen: 10, seed: 4 };

// The seed model of the benchmarks (bench/lib/rows.js): its architecture, at a smaller batch.
const { SEED_MODEL, seedModelOptions } = require('../../bench/lib/rows') as {
  SEED_MODEL: Record<string, number>;
  seedModelOptions: (s: Record<string, number>) => Seq2SeqTransformerOptions;
};

let device: FakeDevice;

beforeEach(() => {
  emptyCache();
  device = installFakeCuda();
});

afterEach(() => {
  emptyCache();
  device.restore();
});

describe('out of device memory', () => {
  test('the cache of disposed storages is emptied and the allocation retried before the error reaches the user', () => {
    device.budgetBytes = 1000;
    const cpuKept = allocate('cpu', 10, false);
    release('cpu', cpuKept, 40); // cached on the CPU: not the device's to free
    const a = allocate('cuda', 100, false),
      b = allocate('cuda', 100, false);
    release('cuda', a, 400);
    release('cuda', b, 400);
    expect(device.liveBytes).toBe(800); // cached, still held
    expect(memory().cachedStorages).toBe(3);
    const c = allocate('cuda', 150, true); // 600 more bytes fit only once the cache is freed
    expect(device.outOfMemory).toBe(1);
    expect(device.liveBytes).toBe(600);
    expect(Array.from(c.readFloat32(0, 150)).every((v) => v === 0)).toBe(true);
    expect(memory().cachedStorages).toBe(1); // the CPU's cached storage is still there
    expect(memory().cachedBytes).toBe(40);
    release('cuda', c, 600);
  });

  test('with nothing cached to free, the out-of-memory error reaches the user and the counts stay right', () => {
    device.budgetBytes = 1000;
    const before = memory();
    expect(() => allocate('cuda', 300, false)).toThrow(/Storage: cannot allocate 1200 bytes of CUDA memory/);
    expect(device.outOfMemory).toBe(1); // no retry: there was nothing to free
    expect(memory()).toEqual(before);
    // Through a tensor, the same error.
    expect(() => zeros([300], { device: 'cuda' })).toThrow(/cannot allocate 1200 bytes/);
  });

  test('when even the emptied cache is not enough, the second failure is the one the user sees', () => {
    device.budgetBytes = 1000;
    release('cuda', allocate('cuda', 50, false), 200);
    expect(() => allocate('cuda', 251, false)).toThrow(/cannot allocate 1004 bytes/);
    expect(device.outOfMemory).toBe(2);
    expect(memory().cachedStorages).toBe(0);
    expect(device.liveBytes).toBe(0);
  });

  test('other allocation errors are not retried and leave the cache alone', () => {
    release('cuda', allocate('cuda', 10, false), 40);
    device.failWith = 'Storage: no CUDA device';
    expect(() => allocate('cuda', 20, false)).toThrow(/^Storage: no CUDA device$/);
    expect(memory().cachedStorages).toBe(1);
    expect(isOutOfMemory(new Error('Storage: no CUDA device'))).toBe(false);
    expect(isOutOfMemory(new Error('Storage: cannot allocate 4 bytes of CUDA memory (out of memory)'))).toBe(true);
    expect(isOutOfMemory(new RangeError('Storage: cannot allocate 4 bytes'))).toBe(true); // the CPU addon's
    expect(isOutOfMemory('cannot allocate')).toBe(false);
  });
});

describe('no copies back to the host in a training step on a device', () => {
  const s = SEED_MODEL;
  const [B, S, T, padId] = [6, 11, 9, 0];
  // Token ids with some padding (id 0) at the end of each row: the default padding masks are built from them.
  const ids = (rows: number, length: number, vocab: number, seed: number): Tensor => {
    let state = seed;
    const values = Int32Array.from({ length: rows * length }, (_, i) => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return i % length >= length - (i % 3) ? padId : 1 + (state % (vocab - 1));
    });
    return tensor(values, { shape: [rows, length], dtype: 'int32' });
  };

  /** Steps of the seed model on `device`; the losses, read after all the steps, and the reads each step made. */
  function train(
    device: 'cpu' | 'cuda',
    steps: number,
    fake: FakeDevice,
    clip = false,
  ): { losses: number[]; reads: number[]; norms: number[] } {
    manualSeed(7);
    const model = new Seq2SeqTransformer({ ...seedModelOptions({ ...s, srcLength: S, tgtLength: T }), padId }).to(
      device,
    );
    const optimizer = new AdamW(model.parameters(), { lr: s.lr });
    const [src, tgtIn, tgtOut] = [ids(B, S, s.srcVocab, 1), ids(B, T, s.tgtVocab, 2), ids(B, T, s.tgtVocab, 3)].map(
      (t) => t.to(device),
    );
    const losses: Tensor[] = [];
    const reads: number[] = [];
    const norms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const before = fake.reads;
      losses.push(
        tidy(() => {
          // Default padding masks (ids == padId), cross-entropy's mean over the rows not ignored, AdamW.
          const logits = model.forward(src, tgtIn);
          const loss = F.crossEntropy(logits.reshape(-1, s.tgtVocab), tgtOut.reshape(-1), { ignoreIndex: padId });
          loss.backward();
          if (clip) norms.push(clipGradNorm(model.parameters(), 0.5));
          optimizer.step();
          optimizer.zeroGrad();
          return loss.detach();
        }),
      );
      reads.push(fake.reads - before);
    }
    const values = losses.map((l) => l.item());
    for (const t of [...losses, src, tgtIn, tgtOut]) t.dispose();
    optimizer.dispose();
    model.dispose();
    return { losses: values, reads, norms };
  }

  test('forward, backward and the AdamW step of the seed model read nothing back; the loss is one read', () => {
    const onDevice = train('cuda', 2, device);
    expect(onDevice.reads).toEqual([0, 0]);
    expect(device.reads).toBe(2); // the two loss values, read when asked for
    // The same kernels behind both devices; only attention's backward differs (the CPU keeps short sequences'
    // probabilities, a device recomputes them), by rounding.
    const onCpu = train('cpu', 2, device);
    expect(maxRelError(onDevice.losses, onCpu.losses)).toBeLessThan(1e-5);
    expect(onDevice.losses.every(Number.isFinite)).toBe(true);
  });

  test('clipping the gradients reads the norm back once per step, however many parameters', () => {
    const onDevice = train('cuda', 2, device, true);
    expect(onDevice.reads).toEqual([1, 1]);
    const onCpu = train('cpu', 2, device, true);
    expect(maxRelError(onDevice.norms, onCpu.norms)).toBeLessThan(1e-5);
    expect(maxRelError(onDevice.losses, onCpu.losses)).toBeLessThan(1e-5);
    expect(onDevice.norms.every((n) => n > 0.5)).toBe(true); // so the clipping did scale the gradients
  });
});

describe('models on a device build their host-made tensors there', () => {
  test('EncoderClassifier mean pooling and LearnedPositionalEncoding.forwardRows run on the device', () => {
    const run = (device: 'cpu' | 'cuda'): number[] =>
      tidy(() => {
        const model = new EncoderClassifier({ ...classifierOptions, pooling: 'mean' }).to(device);
        model.eval();
        const ids = tensor([1, 5, 7, 0, 0, 3, 2, 9, 4, 0], { shape: [2, 5], dtype: 'int32' }).to(device);
        const logits = model.forward(ids);
        const positions = new LearnedPositionalEncoding(8, 6, { seed: 3 }).to(device);
        const rows = positions.forwardRows(zeros([2, 3, 6]).to(device), [0, 4]);
        expect([logits.device, rows.device]).toEqual([device, device]);
        const values = [...logits.to('cpu').dataSync(), ...rows.to('cpu').dataSync()];
        model.dispose();
        return values;
      });
    const before = device.reads;
    const onDevice = run('cuda');
    // The logits and rows read back by the test, and the padding flags mean pooling checks on the host.
    expect(device.reads - before).toBe(3);
    expect(maxRelError(onDevice, run('cpu'))).toBeLessThan(1e-5);
  });
});
