// The basic layers against plain-JS references, their PyTorch initialisation, dropout in train/eval, positional
// encodings, and finite-difference gradient checks of Linear and LayerNorm (inputs and parameters).
import * as nn from '../../src/nn';
import { noGrad, randn, tensor, tidy } from '../../src';
import { gradCheck } from '../gradcheck';
import { parameterGradCheck } from './gradcheck';
import { expectError, maxRelError, randomArray } from '../helpers';

describe('nn.Linear', () => {
  test('y = x W^T + b, with PyTorch names, shapes and init bounds', () => {
    const fc = new nn.Linear(50, 30, { seed: 3 });
    expect(fc.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['weight', [30, 50]],
      ['bias', [30]],
    ]);
    const bound = 1 / Math.sqrt(50);
    const w = Array.from(fc.weight.dataSync());
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    expect(Math.sqrt(variance)).toBeCloseTo(bound / Math.sqrt(3), 2); // uniform(-b, b) has std b/sqrt(3)
    expect(Math.max(...Array.from(fc.bias!.dataSync(), Math.abs))).toBeLessThanOrEqual(bound);
    tidy(() => {
      const x = randn([2, 3, 50], { seed: 1 });
      const y = fc.forward(x);
      expect(y.shape).toEqual([2, 3, 30]);
      const xs = x.dataSync();
      const bs = fc.bias!.dataSync();
      const expected = new Float32Array(6 * 30);
      for (let r = 0; r < 6; r++)
        for (let o = 0; o < 30; o++) {
          let s = bs[o];
          for (let i = 0; i < 50; i++) s += xs[r * 50 + i] * w[o * 50 + i];
          expected[r * 30 + o] = s;
        }
      // Float32 sums of 50 terms of size ~0.1 round at ~1e-7 absolute, so relative error is measured above 1e-2.
      expect(maxRelError(y.dataSync(), expected, 1e-2)).toBeLessThan(1e-5);
    });
    const noBias = new nn.Linear(4, 2, { bias: false });
    expect(noBias.bias).toBeNull();
    expect(noBias.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expectError(
      () => new nn.Linear(2.5, 3),
      'RangeError',
      /Linear: inFeatures must be a non-negative integer, got 2.5/,
    );
    expectError(
      () => tidy(() => fc.forward(randn([2, 3]))),
      'RangeError',
      /linear: input \[2, 3\] does not end in in_features = 50/,
    );
    fc.dispose();
    noBias.dispose();
  });

  test('gradient check (input, weight, bias)', () => {
    const fc = new nn.Linear(4, 3, { seed: 2 });
    expect(gradCheck((x) => fc.forward(x), [{ shape: [2, 4] }])).toBeLessThan(1e-2);
    const x = tensor(randomArray(8, 5), { shape: [2, 4] });
    expect(parameterGradCheck(fc, () => fc.forward(x))).toBeLessThan(1e-2);
    x.dispose();
    fc.dispose();
  });
});

describe('nn.LayerNorm', () => {
  test('normalises the trailing dims; ones/zeros init; elementwiseAffine false has no parameters', () => {
    const norm = new nn.LayerNorm([2, 3], { eps: 1e-5 });
    expect(norm.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['weight', [2, 3]],
      ['bias', [2, 3]],
    ]);
    expect(Array.from(norm.weight!.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(norm.bias!.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tidy(() => {
      const x = tensor(randomArray(24, 4, -3, 3), { shape: [4, 2, 3] });
      const y = norm.forward(x).dataSync();
      const xs = x.dataSync();
      const expected = new Float32Array(24);
      for (let r = 0; r < 4; r++) {
        const row = Array.from(xs.slice(r * 6, r * 6 + 6));
        const mean = row.reduce((a, b) => a + b) / 6;
        const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 6;
        row.forEach((v, i) => (expected[r * 6 + i] = (v - mean) / Math.sqrt(variance + 1e-5)));
      }
      expect(maxRelError(y, expected)).toBeLessThan(1e-4);
    });
    const plain = new nn.LayerNorm(3, { elementwiseAffine: false });
    expect(plain.parameters()).toHaveLength(0);
    expectError(() => new nn.LayerNorm(3, { eps: 0 }), 'RangeError', /LayerNorm: eps must be a positive number, got 0/);
    norm.dispose();
    plain.dispose();
  });

  test('gradient check (input, weight, bias)', () => {
    const norm = new nn.LayerNorm(5);
    noGrad(() => {
      norm.weight!.copy_(tensor(randomArray(5, 1, 0.5, 1.5)));
      norm.bias!.copy_(tensor(randomArray(5, 2)));
    });
    expect(gradCheck((x) => norm.forward(x), [{ shape: [3, 5] }])).toBeLessThan(1e-2);
    const x = tensor(randomArray(15, 5, -2, 2), { shape: [3, 5] });
    expect(parameterGradCheck(norm, () => norm.forward(x))).toBeLessThan(1e-2);
    x.dispose();
    norm.dispose();
  });
});

describe('nn.Embedding', () => {
  test('N(0, 1) rows, the padding row starts at zero and gets no gradient', () => {
    const embed = new nn.Embedding(400, 8, { paddingIdx: -1, seed: 4 });
    expect(embed.paddingIdx).toBe(399);
    const w = embed.weight.dataSync();
    expect(Array.from(w.slice(399 * 8))).toEqual(new Array(8).fill(0));
    const body = Array.from(w.slice(0, 399 * 8));
    const mean = body.reduce((a, b) => a + b) / body.length;
    const std = Math.sqrt(body.reduce((a, b) => a + (b - mean) ** 2, 0) / body.length);
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(std).toBeGreaterThan(0.93);
    expect(std).toBeLessThan(1.07);
    tidy(() => {
      const ids = tensor(
        [
          [1, 399, 1],
          [5, 399, 0],
        ],
        { dtype: 'int32' },
      );
      const out = embed.forward(ids);
      expect(out.shape).toEqual([2, 3, 8]);
      expect(Array.from(out.dataSync().slice(8, 16))).toEqual(new Array(8).fill(0));
      expect(Array.from(out.dataSync().slice(40, 48))).toEqual(Array.from(w.slice(0, 8)));
      out.sum().backward();
      const g = embed.weight.grad!.dataSync();
      expect(Array.from(g.slice(8, 16))).toEqual(new Array(8).fill(2)); // id 1 twice
      expect(Array.from(g.slice(399 * 8))).toEqual(new Array(8).fill(0));
    });
    expectError(
      () => new nn.Embedding(4, 2, { paddingIdx: 4 }),
      'RangeError',
      /Embedding: paddingIdx must be within \[-4, 4\), got 4/,
    );
    embed.dispose();
  });
});

describe('activations and dropout', () => {
  test('ReLU and GELU (exact and tanh) match their formulas', () => {
    const xs = randomArray(64, 8, -4, 4);
    const erf = (x: number) => {
      // The Maclaurin series, exact to ~1e-13 for these arguments (the usual rational fits are not).
      let sum = 0;
      let term = x;
      for (let n = 0; n < 60; n++) {
        sum += term / (2 * n + 1);
        term *= (-x * x) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    };
    tidy(() => {
      const x = tensor(xs);
      expect(Array.from(new nn.ReLU().forward(x).dataSync())).toEqual(Array.from(xs, (v) => Math.max(v, 0)));
      const exact = Array.from(xs, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
      expect(maxRelError(new nn.GELU().forward(x).dataSync(), exact)).toBeLessThan(1e-5);
      const approx = Array.from(xs, (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
      expect(maxRelError(new nn.GELU({ approximate: 'tanh' }).forward(x).dataSync(), approx)).toBeLessThan(1e-5);
    });
    expectError(
      () => new nn.GELU({ approximate: 'fast' as 'tanh' }),
      'RangeError',
      /GELU: approximate must be 'none' or 'tanh', got 'fast'/,
    );
  });

  test('Dropout drops ~p and rescales in training, is the identity in eval', () => {
    const drop = new nn.Dropout(0.25);
    tidy(() => {
      const x = randn([4000], { seed: 2 });
      const xs = x.dataSync();
      const y = drop.forward(x).dataSync();
      let dropped = 0;
      for (let i = 0; i < y.length; i++) {
        if (y[i] === 0) dropped++;
        else expect(Math.abs(y[i] - xs[i] / 0.75)).toBeLessThan(1e-5);
      }
      expect(dropped / y.length).toBeGreaterThan(0.2);
      expect(dropped / y.length).toBeLessThan(0.3);
      drop.eval();
      expect(drop.forward(x)).toBe(x);
    });
    expectError(() => new nn.Dropout(1.5), 'RangeError', /Dropout: dropout probability must be in \[0, 1\], got 1.5/);
  });

  test('Sequential chains its modules', () => {
    const seq = new nn.Sequential(new nn.Linear(3, 4, { seed: 1 }), new nn.ReLU(), new nn.Linear(4, 2, { seed: 2 }));
    expect(seq.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    tidy(() => {
      const x = randn([5, 3], { seed: 6 });
      const manual = (seq.get(2) as nn.Linear).forward((seq.get(0) as nn.Linear).forward(x).relu());
      expect(Array.from(seq.forward(x).dataSync())).toEqual(Array.from(manual.dataSync()));
    });
    seq.dispose();
  });
});

describe('positional encodings', () => {
  test("sinusoidal: the paper's sin/cos table in a non-persistent buffer, with an offset", () => {
    const pe = new nn.SinusoidalPositionalEncoding(6, 50);
    expect(pe.parameters()).toHaveLength(0);
    expect(pe.namedBuffers().map(([n, b]) => [n, b.shape])).toEqual([['pe', [50, 6]]]);
    expect(pe.stateDict().size).toBe(0);
    tidy(() => {
      const x = randn([2, 4, 6], { seed: 1 });
      const xs = x.dataSync();
      const y = pe.forward(x, 7).dataSync();
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < 4; t++)
          for (let i = 0; i < 6; i++) {
            const pos = t + 7;
            const angle = pos / 10000 ** ((2 * Math.floor(i / 2)) / 6);
            const expected = xs[(b * 4 + t) * 6 + i] + (i % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
            expect(y[(b * 4 + t) * 6 + i]).toBeCloseTo(expected, 5);
          }
    });
    expectError(
      () => tidy(() => pe.forward(randn([1, 4, 6]), 47)),
      'RangeError',
      /SinusoidalPositionalEncoding: positions 47\.\.50 exceed maxLen 50/,
    );
    expectError(
      () => tidy(() => pe.forward(randn([1, 4, 5]))),
      'RangeError',
      /SinusoidalPositionalEncoding: input must be \[\.\.\., T, 6\], got \[1, 4, 5\]/,
    );
    pe.dispose();
  });

  test('learned: rows offset.. of a trained table; the gradient reaches those rows only', () => {
    const pe = new nn.LearnedPositionalEncoding(10, 3, { seed: 5 });
    expect(pe.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([['weight', [10, 3]]]);
    tidy(() => {
      const x = randn([2, 2, 3], { seed: 1 });
      const y = pe.forward(x, 4);
      const w = pe.weight.dataSync();
      const xs = x.dataSync();
      const ys = y.dataSync();
      for (let i = 0; i < 12; i++) expect(ys[i]).toBeCloseTo(xs[i] + w[12 + (i % 6)], 6);
      y.sum().backward();
      expect(Array.from(pe.weight.grad!.dataSync())).toEqual([
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      ]);
    });
    pe.dispose();
  });
});
