// embeddingForward (gather rows) and embeddingBackward (deterministic scatter-add) vs TS references.
import { addon } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, rng, storageOf } from '../helpers';
import { firstMismatch, relError, uniformArray } from './elementwise_util';

// Bound once: `Math.x` inside jest's vm context is a slow global lookup in these loops.
const { abs, floor, max } = Math;

function randomIds(n: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  return new Int32Array(n).map(() => floor(r() * V));
}

const SIZES: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 3, 5],
  [33, 7, 33],
  [257, 50, 17],
  [300, 40, 257],
];

describe('embedding', () => {
  test('forward gathers rows on every path', () => {
    for (const [N, V, C] of SIZES) {
      const w = uniformArray(V * C, V);
      const ids = randomIds(N, V, N);
      const weight = storageOf(w),
        idStorage = storageOf(ids);
      const expected = new Float32Array(N * C);
      for (let n = 0; n < N; n++) expected.set(w.subarray(ids[n] * C, ids[n] * C + C), n * C);
      for (const path of kernelPaths()) {
        const out = emptyStorage(N * C);
        onPath(path, () => addon.embeddingForward(weight, idStorage, out, N, V, C));
        expect(firstMismatch(out.readFloat32(0, N * C), expected)).toBe(-1);
      }
    }
  });

  test('backward accumulates into dweight, skips paddingIdx, and is the same on every path', () => {
    for (const [N, V, C] of SIZES) {
      for (const paddingIdx of [-1, 0, V - 1]) {
        const ids = randomIds(N, V, N + V);
        const g = uniformArray(N * C, C);
        const initial = uniformArray(V * C, 3);
        const expected = Float64Array.from(initial);
        for (let n = 0; n < N; n++) {
          if (ids[n] === paddingIdx) continue;
          for (let c = 0; c < C; c++) expected[ids[n] * C + c] += g[n * C + c];
        }
        const dout = storageOf(g),
          idStorage = storageOf(ids);
        let first: Float32Array | undefined;
        for (const path of kernelPaths()) {
          const dweight = storageOf(initial);
          onPath(path, () => addon.embeddingBackward(dout, idStorage, dweight, N, V, C, paddingIdx));
          const got = dweight.readFloat32(0, V * C);
          expect(relError(got, expected, 1)).toBeLessThan(1e-5 * Math.sqrt(N));
          if (first) expect(firstMismatch(got, first)).toBe(-1);
          else first = got;
        }
      }
    }
  });

  test('backward matches finite differences of sum(dout * forward)', () => {
    const [N, V, C] = [9, 4, 3];
    const w = uniformArray(V * C, 1);
    const ids = storageOf(randomIds(N, V, 2));
    const g = uniformArray(N * C, 3);
    const out = emptyStorage(N * C);
    const loss = (weights: Float32Array) => {
      addon.embeddingForward(storageOf(weights), ids, out, N, V, C);
      return Array.from(out.readFloat32(0, N * C)).reduce((acc, v, k) => acc + v * g[k], 0);
    };
    const dweight = emptyStorage(V * C);
    addon.fill(dweight, 0, V * C, 0);
    addon.embeddingBackward(storageOf(g), ids, dweight, N, V, C, -1);
    const grad = dweight.readFloat32(0, V * C);
    const h = 1e-2;
    for (let k = 0; k < V * C; k++) {
      const plus = w.slice(),
        minus = w.slice();
      plus[k] += h;
      minus[k] -= h;
      expect(abs((loss(plus) - loss(minus)) / (2 * h) - grad[k])).toBeLessThan(1e-2 * max(1, abs(grad[k])));
    }
  });

  test('rejects bad arguments', () => {
    const weight = storageOf(uniformArray(12, 1)); // V = 4, C = 3
    const out = emptyStorage(6);
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([1, 4])), out, 2, 4, 3),
      'RangeError',
      /embeddingForward: ids\[1\] = 4 is outside \[0, V = 4\)/,
    );
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([-1, 0])), out, 2, 4, 3),
      'RangeError',
      /embeddingForward: ids\[0\] = -1/,
    );
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([0, 1])), out, 2, 5, 3),
      'RangeError',
      /embeddingForward: weight holds 12/,
    );
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([0])), out, 2, 4, 3),
      'RangeError',
      /embeddingForward: ids holds 1/,
    );
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([0, 1])), out, 2, 4, -3),
      'RangeError',
      /embeddingForward: C must be in/,
    );
    expectError(
      () => addon.embeddingForward(weight, storageOf(new Int32Array([0, 1])), out, 2.5, 4, 3),
      'RangeError',
      /embeddingForward: N must be an integer/,
    );
    const ids = storageOf(new Int32Array([0, 1]));
    expectError(
      () => addon.embeddingBackward(out, storageOf(new Int32Array([0, 7])), weight, 2, 4, 3, -1),
      'RangeError',
      /embeddingBackward: ids\[1\] = 7/,
    );
    expectError(
      () => addon.embeddingBackward(out, ids, weight, 2, 4, 3, 4),
      'RangeError',
      /embeddingBackward: paddingIdx = 4/,
    );
    expectError(
      () => addon.embeddingBackward(out, ids, weight, 2, 4, 3, -2),
      'RangeError',
      /embeddingBackward: paddingIdx must be in/,
    );
    expectError(
      () => addon.embeddingBackward(out, ids, emptyStorage(3), 2, 4, 3, -1),
      'RangeError',
      /embeddingBackward: dweight holds 3/,
    );
    const gone = storageOf(new Int32Array([0, 1]));
    gone.dispose();
    expectError(
      () => addon.embeddingBackward(out, gone, weight, 2, 4, 3, -1),
      'TypeError',
      /embeddingBackward: ids is used after dispose/,
    );
    // A padding id may be anything in range; ids equal to it are skipped even at V - 1.
    addon.embeddingBackward(out, storageOf(new Int32Array([3, 3])), weight, 2, 4, 3, 3);
  });
});
