// randomFill (uniform, normal) and dropout: statistics, determinism across paths, reproducibility.
import { addon } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, storageOf } from '../helpers';
import { uniformArray } from './elementwise_util';

// Bound once: `Math.x` inside jest's vm context is a slow global lookup in these loops.
const { abs, max, min, sqrt } = Math;

function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0,
    s2 = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    s2 += v[i] * v[i];
  }
  const mean = s / v.length;
  return { mean, std: sqrt(s2 / v.length - mean * mean) };
}

function fill(n: number, dist: 'uniform' | 'normal', seed: number, a: number, b: number): Float32Array {
  const s = emptyStorage(n);
  addon.randomFill(s, n, dist, seed, a, b);
  return s.readFloat32(0, n);
}

describe('randomFill', () => {
  const n = 65537;

  test('uniform lies in [a, b) with the right mean and spread', () => {
    const v = fill(n, 'uniform', 42, -3, 5);
    let lo = Infinity,
      hi = -Infinity;
    for (const x of v) {
      lo = min(lo, x);
      hi = max(hi, x);
    }
    expect(lo).toBeGreaterThanOrEqual(-3);
    expect(hi).toBeLessThan(5);
    const { mean, std } = stats(v);
    expect(abs(mean - 1)).toBeLessThan(0.05); // sigma of the mean: 2.31 / 256
    expect(abs(std - 8 / sqrt(12))).toBeLessThan(0.03);
    expect(Array.from(fill(9, 'uniform', 1, 2, 2))).toEqual(new Array(9).fill(2)); // a = b
  });

  test('normal has the requested mean and standard deviation', () => {
    const v = fill(n, 'normal', 7, 0.5, 2);
    const { mean, std } = stats(v);
    expect(abs(mean - 0.5)).toBeLessThan(0.04); // sigma of the mean: 2 / 256
    expect(abs(std - 2) / 2).toBeLessThan(0.02);
    let inside = 0;
    for (const x of v) if (abs(x - 0.5) < 2) inside++;
    expect(abs(inside / n - 0.6827)).toBeLessThan(0.01);
    expect(v.every(Number.isFinite)).toBe(true);
  });

  test('element i depends only on (seed, i): same on every path and for every length', () => {
    for (const dist of ['uniform', 'normal'] as const) {
      const reference = fill(n, dist, 123, 0, 1);
      for (const path of kernelPaths()) {
        const s = emptyStorage(n);
        onPath(path, () => addon.randomFill(s, n, dist, 123, 0, 1));
        expect(Buffer.from(s.readFloat32(0, n).buffer).equals(Buffer.from(reference.buffer))).toBe(true);
        // Short runs: 9, 23 and 48 Philox blocks, whose last group of 8 (AVX2) or 16 (AVX-512) blocks is drawn
        // alone after the pairs of groups.
        for (const length of [33, 90, 190])
          expect(Array.from(onPath(path, () => fill(length, dist, 123, 0, 1)))).toEqual(
            Array.from(reference.subarray(0, length)),
          );
      }
      const other = fill(33, dist, 124, 0, 1);
      expect(Array.from(other)).not.toEqual(Array.from(reference.subarray(0, 33)));
      expect(Array.from(fill(33, dist, 2 ** 53 - 1, 0, 1)).every(Number.isFinite)).toBe(true);
    }
  });

  test('rejects bad arguments', () => {
    const s = emptyStorage(4);
    expectError(() => addon.randomFill(s, 5, 'uniform', 1, 0, 1), 'RangeError', /randomFill: dst holds 4/);
    expectError(
      () => addon.randomFill(s, 4, 'cauchy' as never, 1, 0, 1),
      'TypeError',
      /randomFill: unknown dist 'cauchy'/,
    );
    expectError(() => addon.randomFill(s, 4, 'uniform', -1, 0, 1), 'RangeError', /randomFill: seed must be in/);
    expectError(() => addon.randomFill(s, 4, 'uniform', 2 ** 53, 0, 1), 'RangeError', /randomFill: seed must be in/);
    expectError(
      () => addon.randomFill(s, 4, 'uniform', 1.5, 0, 1),
      'RangeError',
      /randomFill: seed must be an integer/,
    );
    expectError(() => addon.randomFill(s, 4, 'uniform', 1, 1, 0), 'RangeError', /randomFill: uniform needs a <= b/);
    expectError(
      () => addon.randomFill(s, 4, 'normal', 1, 0, -1),
      'RangeError',
      /randomFill: normal needs a standard deviation/,
    );
    expectError(() => addon.randomFill(s, 4, 'normal', 1, NaN, 1), 'RangeError', /randomFill: a must be finite/);
    expectError(() => addon.randomFill(s, -4, 'normal', 1, 0, 1), 'RangeError', /randomFill: n must be in/);
  });
});

describe('dropout', () => {
  const n = 40001;
  const data = uniformArray(n, 1, 0.5, 1.5); // never 0, so zeros in the output are drops

  test('keeps about 1 - p of the elements, scaled by 1 / (1 - p)', () => {
    const x = storageOf(data);
    for (const p of [0.1, 0.5, 0.9]) {
      const out = emptyStorage(n);
      addon.dropout(x, out, n, p, 99);
      const got = out.readFloat32(0, n);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (got[i] === 0) continue;
        kept++;
        if (abs(got[i] / (data[i] / (1 - p)) - 1) > 1e-6) throw new Error(`bad scale at ${i}`);
      }
      // Binomial sigma of the keep rate: sqrt(p (1 - p) / n) <= 0.0025.
      expect(abs(kept / n - (1 - p))).toBeLessThan(0.01);
    }
  });

  test('same seed, same mask on every path; the same call on dy is the backward', () => {
    const x = storageOf(data);
    const reference = emptyStorage(n);
    addon.dropout(x, reference, n, 0.3, 5);
    const ref = reference.readFloat32(0, n);
    for (const path of kernelPaths()) {
      const out = emptyStorage(n);
      onPath(path, () => addon.dropout(x, out, n, 0.3, 5));
      expect(Buffer.from(out.readFloat32(0, n).buffer).equals(Buffer.from(ref.buffer))).toBe(true);
      // Short lengths end inside the first group of draws the vector path generates together.
      for (const length of [1, 7, 31, 33, 257]) {
        const short = emptyStorage(length);
        onPath(path, () => addon.dropout(x, short, length, 0.3, 5));
        expect(Array.from(short.readFloat32(0, length))).toEqual(Array.from(ref.subarray(0, length)));
      }
    }
    const dyData = uniformArray(n, 2, 0.5, 1.5);
    const dy = storageOf(dyData);
    addon.dropout(dy, dy, n, 0.3, 5); // in place
    const dx = dy.readFloat32(0, n);
    for (let i = 0; i < n; i++) if ((dx[i] === 0) !== (ref[i] === 0)) throw new Error(`mask differs at ${i}`);
    const other = emptyStorage(n);
    addon.dropout(x, other, n, 0.3, 6);
    expect(Buffer.from(other.readFloat32(0, n).buffer).equals(Buffer.from(ref.buffer))).toBe(false);
  });

  test('p = 0 copies and p = 1 zeros', () => {
    const x = storageOf(data);
    const out = emptyStorage(n);
    addon.dropout(x, out, n, 0, 1);
    expect(Buffer.from(out.readFloat32(0, n).buffer).equals(Buffer.from(data.buffer))).toBe(true);
    addon.dropout(x, out, n, 1, 1);
    expect(out.readFloat32(0, n).every((v) => v === 0)).toBe(true);
  });

  test('rejects bad arguments', () => {
    const x = storageOf(data.subarray(0, 8));
    const out = emptyStorage(8);
    expectError(() => addon.dropout(x, out, 8, 1.5, 1), 'RangeError', /dropout: p must be in \[0, 1\]/);
    expectError(() => addon.dropout(x, out, 8, -0.1, 1), 'RangeError', /dropout: p must be in \[0, 1\]/);
    expectError(() => addon.dropout(x, out, 8, NaN, 1), 'RangeError', /dropout: p must be finite/);
    expectError(() => addon.dropout(x, out, 8, 0.5, -3), 'RangeError', /dropout: seed must be in/);
    expectError(() => addon.dropout(x, out, 9, 0.5, 1), 'RangeError', /dropout: x holds 8/);
    expectError(() => addon.dropout(x, 'out' as never, 8, 0.5, 1), 'TypeError', /dropout: out must be a Storage/);
  });
});
