// The Tensor API: creation, data access, element-wise ops with broadcasting, reductions, shapes, matmul,
// disposal and scopes, and errors for bad input.
import {
  arange,
  cat,
  F,
  full,
  manualSeed,
  matmul,
  ones,
  rand,
  randn,
  stack,
  Tensor,
  tensor,
  tidy,
  zeros,
} from '../../src';
import { expectError, maxRelError, randomArray } from '../helpers';

const close = (t: Tensor, expected: number[], tol = 1e-5) =>
  expect(maxRelError(t.dataSync(), expected)).toBeLessThanOrEqual(tol);

describe('creation and data access', () => {
  test('tensor() infers shape and dtype', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe('cpu');
    expect(t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor([true, false]).toArray()).toEqual([true, false]);
    expect(tensor(3.5).item()).toBe(3.5);
    expect(tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'int32' }).toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  test('toArray returns a copy', () => {
    const t = tensor([1, 2]);
    const data = t.dataSync();
    data[0] = 100;
    expect(t.toArray()).toEqual([1, 2]);
  });

  test('zeros, ones, full, arange', () => {
    expect(zeros([2, 2]).toArray()).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 7, { dtype: 'int32' }).toArray()).toEqual([7, 7]);
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('int32');
    expect(arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(zeros([0, 3]).size).toBe(0);
  });

  test('randn and rand are seeded and have the right moments', () => {
    const a = randn([10000], { seed: 5 }).dataSync() as Float32Array;
    const b = randn([10000], { seed: 5 }).dataSync();
    expect(Array.from(a.slice(0, 5))).toEqual(Array.from(b.slice(0, 5)));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const u = rand([10000], { seed: 9 }).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    manualSeed(3);
    const c = rand([4]).dataSync();
    manualSeed(3);
    expect(Array.from(rand([4]).dataSync())).toEqual(Array.from(c));
  });

  test('bad creation arguments throw', () => {
    expectError(() => tensor([[1, 2], [3]]), 'RangeError', /ragged/);
    expectError(() => tensor([1, 2, 3], { shape: [2, 2] }), 'RangeError', /needs 4 values/);
    expectError(() => zeros([2, -1]), 'RangeError', /non-negative integers/);
    expectError(() => zeros([2, 1.5]), 'RangeError', /non-negative integers/);
    expectError(() => zeros([NaN]), 'RangeError', /non-negative integers/);
    expectError(() => tensor(['a' as unknown as number]), 'TypeError', /numbers or booleans/);
    expectError(() => tensor([1], { dtype: 'float64' as never }), 'TypeError', /dtype/);
    expectError(() => tensor([1, 2]).item(), 'RangeError', /2 elements/);
    expectError(() => randn([2], { seed: -1 }), 'RangeError', /seed/);
  });
});

describe('element-wise ops', () => {
  test('broadcasting binary ops match a plain loop', () => {
    const a = randomArray(2 * 3 * 4, 1);
    const b = randomArray(3 * 1, 2, 0.5, 2);
    const ta = tensor(a, { shape: [2, 3, 4] });
    const tb = tensor(b, { shape: [3, 1] });
    const expected = (f: (x: number, y: number) => number) => Array.from(a, (x, i) => f(x, b[Math.floor(i / 4) % 3]));
    close(
      ta.add(tb),
      expected((x, y) => x + y),
    );
    close(
      ta.sub(tb),
      expected((x, y) => x - y),
    );
    close(
      ta.mul(tb),
      expected((x, y) => x * y),
    );
    close(
      ta.div(tb),
      expected((x, y) => x / y),
    );
    close(
      ta.maximum(tb),
      expected((x, y) => Math.max(x, y)),
    );
    close(
      tb.pow(ta.abs()).reshape(-1).slice(0, 0, 3),
      [0, 1, 2].map((i) => b[0] ** Math.abs(a[i])),
    );
  });

  test('unary ops match Math', () => {
    const x = randomArray(33, 3, 0.1, 2);
    const t = tensor(x);
    close(t.exp(), Array.from(x, Math.exp));
    close(t.log(), Array.from(x, Math.log));
    close(t.sqrt(), Array.from(x, Math.sqrt));
    close(t.tanh(), Array.from(x, Math.tanh));
    close(
      t.neg(),
      Array.from(x, (v) => -v),
    );
    close(
      t.sigmoid(),
      Array.from(x, (v) => 1 / (1 + Math.exp(-v))),
    );
    close(
      t.sub(1).relu(),
      Array.from(x, (v) => Math.max(0, v - 1)),
    );
    close(
      t.pow(2.5),
      Array.from(x, (v) => v ** 2.5),
    );
  });

  test('scalar operands', () => {
    const t = tensor([1, 2, 3]);
    close(t.add(1), [2, 3, 4]);
    close(t.sub(1), [0, 1, 2]);
    close(t.mul(2), [2, 4, 6]);
    close(t.div(2), [0.5, 1, 1.5]);
    close(t.maximum(2), [2, 2, 3]);
    close(t.minimum(2), [1, 2, 2]);
  });

  test('maskedFill', () => {
    const t = tensor([
      [1, 2],
      [3, 4],
    ]);
    const filled = t.maskedFill(tensor([false, true]), -Infinity);
    expect(filled.toArray()).toEqual([
      [1, -Infinity],
      [3, -Infinity],
    ]);
  });

  test('casts to bool map nonzero to true (NaN included), in a kernel', () => {
    const floats = tensor([0, -0, 0.5, -2, NaN, Infinity, 1e-30]);
    const asBool = floats.to('bool');
    expect(asBool.dtype).toBe('bool');
    expect(asBool.toArray()).toEqual([false, false, true, true, true, true, true]);
    const ints = tensor([0, 7, -1, 2147483647, 0], { dtype: 'int32' });
    expect(ints.to('bool').toArray()).toEqual([false, true, true, true, false]);
    expect(asBool.to('bool').toArray()).toEqual(asBool.toArray());
    expect(zeros([0]).to('bool').shape).toEqual([0]);
    expect(tensor(3).to('bool').toArray()).toBe(true);
  });

  test('errors name the op and the shapes', () => {
    expectError(
      () => tensor([1, 2, 3]).add(tensor([1, 2])),
      'RangeError',
      /add: shapes \[3\] and \[2\] cannot be broadcast/,
    );
    expectError(() => tensor([1], { dtype: 'int32' }).exp(), 'TypeError', /exp: input must be float32, got int32/);
    expectError(() => tensor([1]).add('x' as never), 'TypeError', /add: other must be a Tensor/);
    expectError(() => tensor([1]).gelu({ approximate: 'fast' as never }), 'RangeError', /approximate/);
  });
});

describe("crossEntropy's mean over the rows not ignored", () => {
  const logits = (seed: number) => randn([7, 5], { seed }).requiresGrad_();
  const meanOf = (values: ArrayLike<number>, keep: boolean[]): number => {
    const kept = Array.from(values).filter((_, i) => keep[i]);
    return kept.reduce((a, b) => a + b, 0) / kept.length;
  };

  test('divides by the count of targets other than ignoreIndex, and so does the gradient', () => {
    for (const ignoreIndex of [-100, 2, -(2 ** 40)]) {
      const x = logits(1);
      // -100 rows for the default; class 2 itself ignored; an ignoreIndex no int32 equals ignores nothing.
      const t = tensor(ignoreIndex === -100 ? [0, 2, -100, 4, 2, 1, -100] : [0, 2, 3, 4, 2, 1, 0], { dtype: 'int32' });
      const keep = Array.from(t.dataSync(), (v) => v !== ignoreIndex);
      const perRow = F.crossEntropy(x, t, { ignoreIndex, reduction: 'none' });
      const loss = F.crossEntropy(x, t, { ignoreIndex });
      expect(loss.item()).toBeCloseTo(meanOf(perRow.dataSync(), keep), 5);
      loss.backward();
      const grad = (x.grad as Tensor).dataSync();
      x.zeroGrad();
      // The gradient of the mean is the per-row gradient over the count.
      F.crossEntropy(x, t, { ignoreIndex, reduction: 'sum' }).backward();
      const count = keep.filter(Boolean).length;
      const sumGrad = (x.grad as Tensor).dataSync();
      expect(
        maxRelError(
          grad,
          Array.from(sumGrad, (g) => g / count),
        ),
      ).toBeLessThan(1e-6);
    }
  });

  test('every row ignored gives NaN, as PyTorch', () => {
    const x = logits(2);
    const loss = F.crossEntropy(x, tensor([-100, -100, -100, -100, -100, -100, -100], { dtype: 'int32' }));
    expect(loss.item()).toBeNaN();
    expect(F.crossEntropy(zeros([0, 5]), zeros([0], { dtype: 'int32' })).item()).toBeNaN();
  });
});

describe('reductions', () => {
  const x = tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  test('sum, mean, max, min, argmax with dims and keepdim', () => {
    expect(x.sum().item()).toBe(21);
    expect(x.sum(0).toArray()).toEqual([5, 7, 9]);
    expect(x.sum(-1, true).toArray()).toEqual([[9], [12]]);
    expect(x.sum([0, 1]).item()).toBe(21);
    expect(x.mean(1).toArray()).toEqual([3, 4]);
    expect(x.max(1).toArray()).toEqual([5, 6]);
    expect(x.min(0).toArray()).toEqual([1, 2, 3]);
    expect(x.max().item()).toBe(6);
    expect(x.argmax(1).toArray()).toEqual([1, 2]);
    expect(x.argmax().item()).toBe(5);
    expect(x.argmax(1).dtype).toBe('int32');
  });

  test('softmax rows sum to one', () => {
    const s = tensor(randomArray(5 * 7, 4, -5, 5), { shape: [5, 7] }).softmax(-1);
    close(s.sum(-1), [1, 1, 1, 1, 1]);
    const ls = tensor([[1, 2, 3]]).logSoftmax(1);
    const expected = [1, 2, 3].map((v) => v - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
    close(ls, expected);
  });

  test('bad dims throw', () => {
    expectError(() => x.sum(2), 'RangeError', /sum: dim 2 is out of range for a tensor of rank 2/);
    expectError(() => x.softmax(-3), 'RangeError', /softmax: dim -3/);
    expectError(() => zeros([0]).max(), 'RangeError', /empty/);
  });
});

describe('shapes', () => {
  const x = tensor(
    Array.from({ length: 24 }, (_, i) => i),
    { shape: [2, 3, 4] },
  );
  test('reshape shares memory and infers -1', () => {
    expect(x.reshape(4, -1).shape).toEqual([4, 6]);
    expect(x.view([6, 4]).shape).toEqual([6, 4]);
    expectError(() => x.reshape(5, -1), 'RangeError', /cannot infer/);
    expectError(() => x.reshape(5, 5), 'RangeError', /invalid for input of shape \[2, 3, 4\]/);
  });

  test('transpose and permute reorder elements', () => {
    const t = x.transpose(0, 2);
    expect(t.shape).toEqual([4, 3, 2]);
    const arr = t.toArray() as number[][][];
    expect(arr[3][2][1]).toBe(1 * 12 + 2 * 4 + 3);
    const p = x.permute(1, 2, 0);
    expect((p.toArray() as number[][][])[2][1][0]).toBe(0 * 12 + 2 * 4 + 1);
    expect(
      tensor([
        [1, 2],
        [3, 4],
      ]).T.toArray(),
    ).toEqual([
      [1, 3],
      [2, 4],
    ]);
    expectError(() => x.permute(0, 0, 1), 'RangeError', /repeated/);
  });

  test('slice, cat, stack, expand, squeeze', () => {
    expect(x.slice(2, 1, 3).shape).toEqual([2, 3, 2]);
    expect(x.slice(0, -1).toArray()).toEqual([(x.toArray() as number[][][])[1]]);
    const a = tensor([[1, 2]]);
    const b = tensor([
      [3, 4],
      [5, 6],
    ]);
    expect(cat([a, b], 0).toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(stack([a, a], 0).shape).toEqual([2, 1, 2]);
    expect(
      tensor([[1], [2]])
        .expand(2, 3)
        .toArray(),
    ).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(zeros([1, 3, 1]).squeeze().shape).toEqual([3]);
    expect(zeros([3]).unsqueeze(-1).shape).toEqual([3, 1]);
    expectError(() => cat([a, tensor([1, 2])], 0), 'RangeError', /cat: tensors\[1\]/);
  });
});

describe('matmul', () => {
  const naive = (a: Float32Array, b: Float32Array, M: number, K: number, N: number) => {
    const out: number[] = [];
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
        out.push(s);
      }
    return out;
  };

  test.each([
    [1, 1, 1],
    [7, 33, 5],
    [33, 7, 257],
  ])('%i x %i @ %i', (M, K, N) => {
    const a = randomArray(M * K, M);
    const b = randomArray(K * N, N);
    close(matmul(tensor(a, { shape: [M, K] }), tensor(b, { shape: [K, N] })), naive(a, b, M, K, N), 1e-4);
  });

  test('batched and broadcast batches', () => {
    const a = randomArray(2 * 3 * 4, 1);
    const b = randomArray(4 * 5, 2);
    const out = tensor(a, { shape: [2, 3, 4] }).matmul(tensor(b, { shape: [4, 5] }));
    expect(out.shape).toEqual([2, 3, 5]);
    close(out, naive(a, b, 6, 4, 5), 1e-4);
    const c = tensor(randomArray(3 * 4 * 2, 3), { shape: [3, 4, 2] });
    expect(tensor(a, { shape: [2, 1, 3, 4] }).matmul(c).shape).toEqual([2, 3, 3, 2]);
    expectError(() => matmul(zeros([2, 3]), zeros([4, 5])), 'RangeError', /cannot be multiplied \(3 != 4\)/);
  });

  test('linear matches x W^T + b', () => {
    const x = tensor([[1, 2]]);
    const w = tensor([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    expect(F.linear(x, w, tensor([0.5, 0, -1])).toArray()).toEqual([[1.5, 2, 2]]);
    expectError(() => F.linear(x, zeros([3, 4])), 'RangeError', /in_features = 4/);
  });
});

describe('memory', () => {
  test('dispose frees once and use after dispose throws', () => {
    const t = tensor([1, 2, 3]);
    const view = t.reshape(3, 1);
    t.dispose();
    expect(view.toArray()).toEqual([[1], [2], [3]]); // the view keeps the storage alive
    view.dispose();
    t.dispose();
    expectError(() => t.toArray(), 'Error', /used after dispose/);
    expectError(() => t.add(1), 'Error', /add: input \(shape \[3\]\) was used after dispose/);
  });

  test('tidy disposes everything but what it returns', () => {
    const kept = tensor([1]);
    let inner: Tensor | null = null;
    const result = tidy(() => {
      inner = kept.add(1);
      return { out: inner.mul(2) };
    });
    expect((inner as unknown as Tensor).isDisposed).toBe(true);
    expect(result.out.toArray()).toEqual([4]);
    expect(kept.isDisposed).toBe(false);
  });
});

describe('bad input to the fused ops', () => {
  test('embedding ids out of range', () => {
    const w = zeros([4, 3]);
    expectError(() => F.embedding(tensor([0, 4], { dtype: 'int32' }), w), 'RangeError', /embedding.*4/);
    expectError(() => F.embedding(tensor([-1], { dtype: 'int32' }), w), 'RangeError', /embedding/);
    expectError(() => F.embedding(tensor([0.5]), w), 'TypeError', /embedding: input must be int32/);
  });

  test('cross-entropy targets out of range', () => {
    const logits = zeros([2, 3]);
    expectError(() => F.crossEntropy(logits, tensor([0, 3], { dtype: 'int32' })), 'RangeError', /crossEntropy.*3/);
    expectError(() => F.crossEntropy(logits, tensor([0], { dtype: 'int32' })), 'RangeError', /target shape \[1\]/);
    expectError(
      () => F.crossEntropy(logits, tensor([0, 1], { dtype: 'int32' }), { labelSmoothing: 2 }),
      'RangeError',
      /labelSmoothing/,
    );
  });

  test('attention shapes and masks', () => {
    const q = zeros([1, 2, 3, 4]);
    expectError(
      () => F.scaledDotProductAttention(q, zeros([1, 2, 5, 3]), zeros([1, 2, 5, 3])),
      'RangeError',
      /shapes do not match/,
    );
    expectError(
      () => F.scaledDotProductAttention(q, q, q, { keyPaddingMask: zeros([1, 4], { dtype: 'bool' }) }),
      'RangeError',
      /keyPaddingMask must be \[B, Tk\]/,
    );
    expectError(
      () => F.scaledDotProductAttention(q, q, q, { attnMask: zeros([5, 3]) }),
      'RangeError',
      /cannot be broadcast/,
    );
    expectError(() => F.scaledDotProductAttention(q, q, q, { dropoutP: 1 }), 'RangeError', /dropoutP/);
  });

  test('layerNorm shapes', () => {
    expectError(() => F.layerNorm(zeros([2, 3]), [4]), 'RangeError', /does not end in normalizedShape \[4\]/);
    expectError(() => F.layerNorm(zeros([2, 3]), [3], zeros([2])), 'RangeError', /weight must have shape \[3\]/);
  });

  test("layout 'bthd' equals 'bhtd' on permuted inputs", () => {
    const q = randn([2, 5, 3, 4], { seed: 1 });
    const k = randn([2, 6, 3, 4], { seed: 2 });
    const v = randn([2, 6, 3, 4], { seed: 3 });
    const mask = tensor(
      [
        [0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 0, 0],
      ],
      { dtype: 'bool' },
    );
    const a = F.scaledDotProductAttention(q, k, v, { layout: 'bthd', keyPaddingMask: mask });
    const b = F.scaledDotProductAttention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), {
      keyPaddingMask: mask,
    });
    expect(a.shape).toEqual([2, 5, 3, 4]);
    expect(maxRelError(a.dataSync(), b.transpose(1, 2).dataSync())).toBeLessThan(1e-6);
    expectError(() => F.scaledDotProductAttention(q, k, v, { layout: 'tbhd' as never }), 'RangeError', /layout/);
  });

  test('a boolean attention mask equals the additive -Infinity mask', () => {
    const q = randn([1, 1, 3, 4], { seed: 1 });
    const k = randn([1, 1, 3, 4], { seed: 2 });
    const banned = tensor([
      [false, true, true],
      [false, false, true],
      [false, false, false],
    ]);
    const additive = tensor([
      [0, -Infinity, -Infinity],
      [0, 0, -Infinity],
      [0, 0, 0],
    ]);
    const a = F.scaledDotProductAttention(q, k, k, { attnMask: banned }).dataSync();
    const b = F.scaledDotProductAttention(q, k, k, { attnMask: additive }).dataSync();
    const c = F.scaledDotProductAttention(q, k, k, { isCausal: true }).dataSync();
    expect(maxRelError(a, b)).toBeLessThan(1e-6);
    expect(maxRelError(a, c)).toBeLessThan(1e-6);
  });
});

describe('garbage collection fallback', () => {
  test('undisposed tensors are reclaimed by the GC, which knows their native size', async () => {
    // Node runs native finalizers from the event loop, so the fallback works in code that yields now and then.
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 400; i++) {
      zeros([1024, 1024]); // 4 MiB each, 1.6 GiB in all, never disposed
      if (i % 20 === 0) await new Promise(setImmediate);
    }
    const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(grownMiB).toBeLessThan(800);
  });

  test('`using` disposes at the end of the block', () => {
    let seen: Tensor | null = null;
    {
      using t = ones([2]);
      seen = t;
    }
    expect((seen as unknown as Tensor).isDisposed).toBe(true);
  });
});
