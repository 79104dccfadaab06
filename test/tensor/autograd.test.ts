// Gradient checks (central finite differences) for every differentiable op, and graph bookkeeping.
import { cat, F, matmul, noGrad, randn, stack, Tensor, tensor, tidy } from '../../src';
import { gradCheck } from '../gradcheck';
import { expectError } from '../helpers';

const TOL = 2e-2;

describe('gradient checks', () => {
  const unary: Array<[string, (x: Tensor) => Tensor, Float32Array | null]> = [
    ['neg', (x) => x.neg(), null],
    ['exp', (x) => x.exp(), null],
    ['log', (x) => x.log(), Float32Array.from({ length: 6 }, (_, i) => 0.5 + i * 0.3)],
    ['sqrt', (x) => x.sqrt(), Float32Array.from({ length: 6 }, (_, i) => 0.5 + i * 0.3)],
    ['tanh', (x) => x.tanh(), null],
    ['relu', (x) => x.relu(), Float32Array.from([-0.9, -0.3, 0.2, 0.7, -0.5, 0.4])],
    ['sigmoid', (x) => x.sigmoid(), null],
    ['abs', (x) => x.abs(), Float32Array.from([-0.9, -0.3, 0.2, 0.7, -0.5, 0.4])],
    ['gelu', (x) => x.gelu(), null],
    ['gelu tanh', (x) => x.gelu({ approximate: 'tanh' }), null],
    ['pow scalar', (x) => x.pow(3), null],
    ['add scalar', (x) => x.add(2), null],
    ['mul scalar', (x) => x.mul(-1.5), null],
    ['div scalar', (x) => x.div(4), null],
    ['sub scalar', (x) => x.sub(1), null],
  ];
  test.each(unary)('%s', (_, fn, data) => {
    expect(gradCheck(fn, [{ shape: [2, 3], data: data ?? undefined }])).toBeLessThan(TOL);
  });

  const broadcastShapes: Array<[number[], number[]]> = [
    [
      [2, 3],
      [2, 3],
    ],
    [[2, 3], [3]],
    [
      [4, 1, 3],
      [2, 1],
    ],
    [[1], [2, 2]],
  ];
  test.each(broadcastShapes)('binary ops broadcast %j with %j', (a, b) => {
    const positive = (shape: number[], s: number) =>
      Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => 0.5 + ((i * 7 + s) % 5) * 0.25);
    expect(gradCheck((x, y) => x.add(y), [{ shape: a }, { shape: b }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => x.sub(y), [{ shape: a }, { shape: b }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => x.mul(y), [{ shape: a }, { shape: b }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => x.div(y), [{ shape: a }, { shape: b, data: positive(b, 1) }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => x.pow(y), [{ shape: a, data: positive(a, 2) }, { shape: b }])).toBeLessThan(TOL);
    // Values of x and y at least 0.1 apart, so no finite-difference step crosses a tie.
    const xs = positive(a, 0).map((v) => v * 2 - 1.5);
    const ys = positive(b, 3).map((v) => v - 1.1);
    expect(
      gradCheck(
        (x, y) => x.maximum(y),
        [
          { shape: a, data: xs },
          { shape: b, data: ys },
        ],
      ),
    ).toBeLessThan(TOL);
    expect(
      gradCheck(
        (x, y) => x.minimum(y),
        [
          { shape: a, data: xs },
          { shape: b, data: ys },
        ],
      ),
    ).toBeLessThan(TOL);
  });

  test('reductions', () => {
    expect(gradCheck((x) => x.sum(), [{ shape: [3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.sum(1), [{ shape: [3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.sum([0, 2], true), [{ shape: [2, 3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.mean(-1), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.mean(), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.max(1), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.min(0, true), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.max(), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.softmax(-1), [{ shape: [3, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.softmax(1), [{ shape: [2, 3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.logSoftmax(0), [{ shape: [3, 5] }])).toBeLessThan(TOL);
  });

  test('shape ops', () => {
    expect(gradCheck((x) => x.reshape(4, 3).mul(x.reshape(4, 3)), [{ shape: [3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.transpose(0, 2), [{ shape: [2, 3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.permute(2, 0, 1), [{ shape: [2, 3, 4] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.expand(2, 3, 4), [{ shape: [3, 1] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.slice(1, 1, 3), [{ shape: [2, 4, 3] }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => cat([x, y], 1), [{ shape: [2, 3] }, { shape: [2, 2] }])).toBeLessThan(TOL);
    expect(gradCheck((x, y) => stack([x, y], 0), [{ shape: [2, 3] }, { shape: [2, 3] }])).toBeLessThan(TOL);
    expect(gradCheck((x) => x.unsqueeze(0).squeeze(0).flatten(), [{ shape: [2, 3] }])).toBeLessThan(TOL);
  });

  test('matmul with every operand shape', () => {
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [3, 4] }, { shape: [4, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [2, 3, 4] }, { shape: [4, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [2, 3, 4] }, { shape: [2, 4, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [3, 4] }, { shape: [2, 4, 5] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [4] }, { shape: [4, 3] }])).toBeLessThan(TOL);
    expect(gradCheck((a, b) => matmul(a, b), [{ shape: [3, 4] }, { shape: [4] }])).toBeLessThan(TOL);
  });

  test('fused ops', () => {
    expect(
      gradCheck((x, w, b) => F.linear(x, w, b), [{ shape: [2, 3, 4] }, { shape: [5, 4] }, { shape: [5] }]),
    ).toBeLessThan(TOL);
    expect(
      gradCheck((x, w, b) => F.layerNorm(x, [6], w, b), [{ shape: [3, 6] }, { shape: [6] }, { shape: [6] }]),
    ).toBeLessThan(TOL);
    expect(
      gradCheck(
        (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true }),
        [{ shape: [1, 2, 3, 4] }, { shape: [1, 2, 5, 4] }, { shape: [1, 2, 5, 4] }],
      ),
    ).toBeLessThan(TOL);
    expect(
      gradCheck(
        (q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true, layout: 'bthd' }),
        [{ shape: [1, 3, 2, 4] }, { shape: [1, 5, 2, 4] }, { shape: [1, 5, 2, 4] }],
      ),
    ).toBeLessThan(TOL);
    const targets = tensor([1, -100, 3, 0], { dtype: 'int32' });
    expect(gradCheck((x) => F.crossEntropy(x, targets, { labelSmoothing: 0.1 }), [{ shape: [4, 5] }])).toBeLessThan(
      TOL,
    );
    expect(
      gradCheck((x) => F.crossEntropy(x, tensor([[1, 2, 0]], { dtype: 'int32' })), [{ shape: [1, 4, 3] }]),
    ).toBeLessThan(TOL);
    const ids = tensor(
      [
        [0, 2],
        [2, 1],
      ],
      { dtype: 'int32' },
    );
    expect(gradCheck((w) => F.embedding(ids, w), [{ shape: [3, 4] }])).toBeLessThan(TOL);
  });

  test('a 2-layer MLP end to end', () => {
    const x = tensor([
      [0.1, -0.4, 0.7],
      [0.5, 0.2, -0.3],
    ]);
    const targets = tensor([1, 0], { dtype: 'int32' });
    const mlp = (w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) =>
      F.crossEntropy(F.linear(F.linear(x, w1, b1).tanh(), w2, b2), targets);
    expect(gradCheck(mlp, [{ shape: [5, 3] }, { shape: [5] }, { shape: [2, 5] }, { shape: [2] }])).toBeLessThan(TOL);
  });
});

describe('graph bookkeeping', () => {
  test('gradients accumulate across uses and backward calls', () => {
    tidy(() => {
      const x = tensor([1, 2, 3], { requiresGrad: true });
      x.mul(x).sum().backward(); // d/dx x^2 = 2x, through two uses of x
      expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
      x.sum().backward();
      expect(Array.from(x.grad!.dataSync())).toEqual([3, 5, 7]);
      x.zeroGrad();
      expect(x.grad).toBeNull();
    });
  });

  test('noGrad records nothing; detach cuts the graph', () => {
    tidy(() => {
      const x = tensor([1, 2], { requiresGrad: true });
      const y = noGrad(() => x.mul(2));
      expect(y.requiresGrad).toBe(false);
      expect(x.mul(2).detach().requiresGrad).toBe(false);
      expectError(() => y.sum().backward(), 'Error', /does not require grad/);
    });
  });

  test('a freed graph cannot be walked twice unless retained', () => {
    tidy(() => {
      const x = tensor([1, 2], { requiresGrad: true });
      const y = x.exp().sum();
      y.backward(undefined, { retainGraph: true });
      y.backward();
      expect(Array.from(x.grad!.dataSync()).map((v) => Math.round(v * 1000) / 1000)).toEqual([5.437, 14.778]);
      expectError(() => y.backward(), 'Error', /already freed/);
    });
  });

  test('attention through a retained graph: the second backward (probabilities recomputed) repeats the first', () => {
    // Short sequences keep the forward's probabilities for the first backward and free them there.
    for (const T of [5, 70]) {
      tidy(() => {
        const [q, k, v] = [1, 2, 3].map((seed) => randn([2, 3, T, 8], { seed }).requiresGrad_());
        const weight = randn([2, 3, T, 8], { seed: 4 });
        const loss = F.scaledDotProductAttention(q, k, v, { isCausal: true }).mul(weight).sum();
        loss.backward(undefined, { retainGraph: true });
        const first = [q, k, v].map((t) => Array.from(t.grad!.dataSync()));
        loss.backward();
        [q, k, v].forEach((t, i) => {
          const twice = Array.from(t.grad!.dataSync());
          const worst = Math.max(...twice.map((g, j) => Math.abs(g - 2 * first[i][j])));
          expect(worst).toBeLessThan(1e-4 * Math.max(1, ...first[i].map(Math.abs)));
        });
      });
    }
  });

  test('backward needs a gradient of the right shape for non-scalars', () => {
    tidy(() => {
      const x = tensor([1, 2], { requiresGrad: true });
      const y = x.mul(3);
      expectError(() => y.backward(), 'RangeError', /one-element/);
      expectError(() => y.backward(tensor([1, 2, 3])), 'RangeError', /does not match/);
    });
  });
});
