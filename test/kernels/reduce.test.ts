// reduce (sum/mean/max/min/argmax over the middle axis), indexBackward and sumToShape vs float64 references.
import { addon, ReduceOp } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, storageOf } from '../helpers';
import { firstMismatch, relError, uniformArray } from './elementwise_util';

// Bound once: `Math.x` inside jest's vm context is a slow global lookup in these loops.
const { abs, max, sqrt } = Math;
const isNaN = (v: number): boolean => v !== v;

interface Reduced {
  values: Float64Array;
  indices: Int32Array;
}

function reduceRef(op: ReduceOp, x: Float32Array, outer: number, dim: number, inner: number): Reduced {
  const values = new Float64Array(outer * inner);
  const indices = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let sum = 0,
        best = NaN,
        at = -1;
      for (let d = 0; d < dim; d++) {
        const v = x[(o * dim + d) * inner + i];
        sum += v;
        const better = at < 0 || (isNaN(v) && !isNaN(best)) || (op === 'min' ? v < best : v > best);
        if (better && !(isNaN(best) && at >= 0)) {
          best = v;
          at = d;
        }
      }
      values[o * inner + i] = op === 'sum' ? sum : op === 'mean' ? sum / dim : best;
      indices[o * inner + i] = at;
    }
  }
  return { values, indices };
}

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 7, 1],
  [3, 33, 1],
  [5, 1, 7],
  [2, 7, 33],
  [7, 33, 257],
  [1, 257, 3],
  [1, 40000, 1],
  [4, 9000, 1],
  [1, 130, 300],
  [300, 130, 1],
  // Sums over the middle axis: rows in chunks of 256 (partial sums combined), columns in blocks of 4096.
  [3, 777, 9],
  [2, 520, 4099],
];

describe('reduce', () => {
  for (const op of ['sum', 'mean', 'max', 'min', 'argmax'] as ReduceOp[]) {
    test(`${op} over every shape and path`, () => {
      SHAPES.forEach(([outer, dim, inner], k) => {
        const n = outer * dim * inner;
        const data = uniformArray(n, 10 + k);
        // Repeat values so ties occur: the first winner must be reported.
        for (let i = 0; i + 5 < n; i += 11) data[i + 5] = data[i];
        const x = storageOf(data);
        const ref = reduceRef(op, data, outer, dim, inner);
        for (const path of kernelPaths()) {
          const out = emptyStorage(outer * inner);
          const idx = emptyStorage(outer * inner);
          onPath(path, () => addon.reduce(op, x, op === 'argmax' ? null : out, idx, outer, dim, inner));
          if (op !== 'argmax') {
            // Sums are float32 accumulations: allow sqrt(dim) roundings relative to the sum of |x|.
            const tol = op === 'sum' || op === 'mean' ? 1e-6 * sqrt(dim) * 4 : 0;
            const floor = op === 'sum' ? sqrt(dim) * 0.1 : op === 'mean' ? 0.1 / sqrt(dim) : 1e-3;
            expect({
              op,
              outer,
              dim,
              inner,
              path,
              ok: relError(out.readFloat32(0, outer * inner), ref.values, floor) <= tol,
            }).toEqual({ op, outer, dim, inner, path, ok: true });
          }
          if (op !== 'sum' && op !== 'mean') {
            expect(firstMismatch(idx.readInt32(0, outer * inner), ref.indices)).toBe(-1);
          }
        }
      });
    });
  }

  test('a sum over the last dim has the same bits on every path', () => {
    for (const dim of [1, 31, 32, 33, 1000, 40001]) {
      const outer = 3;
      const x = storageOf(uniformArray(outer * dim, dim));
      const sums = kernelPaths().map((path) => {
        const out = emptyStorage(outer);
        onPath(path, () => addon.reduce('sum', x, out, null, outer, dim, 1));
        return Array.from(out.readFloat32(0, outer));
      });
      for (const other of sums.slice(1)) expect(other).toEqual(sums[0]);
    }
  });

  test('max/min without indices, argmax without out, NaN propagation like PyTorch', () => {
    const data = new Float32Array([1, NaN, 3, NaN, 2, 0, -1, -2, 5]);
    const x = storageOf(data);
    for (const path of kernelPaths()) {
      const out = emptyStorage(3),
        idx = emptyStorage(3);
      onPath(path, () => addon.reduce('max', x, out, null, 3, 3, 1));
      expect(Array.from(out.readFloat32(0, 3))).toEqual([NaN, NaN, 5]);
      onPath(path, () => addon.reduce('min', x, out, idx, 3, 3, 1));
      expect(Array.from(out.readFloat32(0, 3))).toEqual([NaN, NaN, -2]);
      expect(Array.from(idx.readInt32(0, 3))).toEqual([1, 0, 1]);
      onPath(path, () => addon.reduce('argmax', x, null, idx, 3, 3, 1));
      expect(Array.from(idx.readInt32(0, 3))).toEqual([1, 0, 2]);
      // Column-wise (inner > 1): NaN in column 1 at d = 0 and 1.
      onPath(path, () => addon.reduce('max', x, out, idx, 1, 3, 3));
      expect(Array.from(out.readFloat32(0, 3))).toEqual([NaN, NaN, 5]);
      expect(Array.from(idx.readInt32(0, 3))).toEqual([1, 0, 2]);
      onPath(path, () => addon.reduce('sum', x, out, null, 1, 3, 3));
      expect(Array.from(out.readFloat32(0, 3))).toEqual([NaN, NaN, 8]);
    }
  });

  test('empty reductions: sum gives 0, mean gives NaN', () => {
    const x = emptyStorage(1);
    const out = storageOf(new Float32Array([5, 5]));
    addon.reduce('sum', x, out, null, 2, 0, 1);
    expect(Array.from(out.readFloat32(0, 2))).toEqual([0, 0]);
    addon.reduce('mean', x, out, null, 1, 0, 2);
    expect(Array.from(out.readFloat32(0, 2))).toEqual([NaN, NaN]);
  });

  test('rejects bad arguments', () => {
    const x = storageOf(uniformArray(12, 1));
    const out = emptyStorage(4),
      idx = emptyStorage(4);
    expectError(
      () => addon.reduce('prod' as ReduceOp, x, out, null, 4, 3, 1),
      'TypeError',
      /reduce: unknown op 'prod'/,
    );
    expectError(() => addon.reduce('sum', x, out, null, 4, 4, 1), 'RangeError', /reduce: x holds 12/);
    expectError(() => addon.reduce('sum', x, emptyStorage(2), null, 4, 3, 1), 'RangeError', /reduce: out holds 2/);
    expectError(() => addon.reduce('sum', x, null, null, 4, 3, 1), 'TypeError', /reduce: out must be a Storage/);
    expectError(() => addon.reduce('argmax', x, null, null, 4, 3, 1), 'TypeError', /reduce: indices must be a Storage/);
    expectError(() => addon.reduce('max', x, out, idx, 4, 0, 1), 'RangeError', /reduce: dim must be >= 1/);
    expectError(() => addon.reduce('max', x, out, idx, -4, 3, 1), 'RangeError', /reduce: outer must be in/);
    expectError(() => addon.reduce('max', x, out, idx, 4, NaN, 1), 'RangeError', /reduce: dim must be an integer/);
    expectError(
      () => addon.reduce('max', x, out, idx, 2 ** 30, 2 ** 30, 2 ** 30),
      'RangeError',
      /reduce: outer\*dim\*inner has too many/,
    );
    const gone = emptyStorage(4);
    gone.dispose();
    expectError(() => addon.reduce('max', x, out, gone, 4, 3, 1), 'TypeError', /reduce: indices is used after dispose/);
  });
});

describe('indexBackward', () => {
  test('scatters dy to the winners, zero elsewhere, and is the gradient of max', () => {
    for (const [outer, dim, inner] of [
      [1, 1, 1],
      [3, 7, 1],
      [2, 33, 5],
      [7, 257, 33],
    ] as Array<[number, number, number]>) {
      const n = outer * dim * inner;
      const data = uniformArray(n, dim);
      const dyData = uniformArray(outer * inner, inner);
      const x = storageOf(data),
        dy = storageOf(dyData);
      const out = emptyStorage(outer * inner),
        idx = emptyStorage(outer * inner);
      addon.reduce('max', x, out, idx, outer, dim, inner);
      const indices = idx.readInt32(0, outer * inner);
      const expected = new Float32Array(n);
      for (let o = 0; o < outer; o++)
        for (let i = 0; i < inner; i++)
          expected[(o * dim + indices[o * inner + i]) * inner + i] = dyData[o * inner + i];
      for (const path of kernelPaths()) {
        const dx = storageOf(new Float32Array(n).fill(9));
        onPath(path, () => addon.indexBackward(dy, idx, dx, outer, dim, inner));
        expect(firstMismatch(dx.readFloat32(0, n), expected)).toBe(-1);
      }
      if (n < 300) {
        // Finite differences of sum(dy * max(x)): moving the winner moves the loss, others do not.
        const dx = emptyStorage(n);
        addon.indexBackward(dy, idx, dx, outer, dim, inner);
        const grad = dx.readFloat32(0, n);
        const loss = (values: Float32Array) => {
          const s = storageOf(values);
          addon.reduce('max', s, out, null, outer, dim, inner);
          return Array.from(out.readFloat32(0, outer * inner)).reduce((acc, v, k) => acc + v * dyData[k], 0);
        };
        const h = 1e-3;
        for (let k = 0; k < n; k++) {
          const plus = data.slice(),
            minus = data.slice();
          plus[k] += h;
          minus[k] -= h;
          const fd = (loss(plus) - loss(minus)) / (2 * h);
          expect(abs(fd - grad[k])).toBeLessThan(1e-2 * max(1, abs(grad[k])));
        }
      }
    }
  });

  test('rejects bad arguments', () => {
    const dy = storageOf(uniformArray(3, 1));
    const dx = emptyStorage(9);
    expectError(
      () => addon.indexBackward(dy, storageOf(new Int32Array([0, 3, 1])), dx, 3, 3, 1),
      'RangeError',
      /indexBackward: indices\[1\] = 3 is outside \[0, 3\)/,
    );
    expectError(
      () => addon.indexBackward(dy, storageOf(new Int32Array([0, -1, 1])), dx, 3, 3, 1),
      'RangeError',
      /indexBackward: indices\[1\] = -1/,
    );
    expectError(
      () => addon.indexBackward(dy, storageOf(new Int32Array([0, 1])), dx, 3, 3, 1),
      'RangeError',
      /indexBackward: indices holds 2/,
    );
    expectError(
      () => addon.indexBackward(dy, storageOf(new Int32Array([0, 1, 2])), dx, 3, 4, 1),
      'RangeError',
      /indexBackward: dx holds 9/,
    );
    expectError(
      () => addon.indexBackward(dy, null as never, dx, 3, 3, 1),
      'TypeError',
      /indexBackward: indices must be a Storage/,
    );
  });
});

function sumToShapeRef(x: Float32Array, xShape: number[], outShape: number[]): Float64Array {
  const outCount = outShape.reduce((p, s) => p * s, 1);
  const out = new Float64Array(outCount);
  const idx = new Array<number>(xShape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < xShape.length; d++) o = o * outShape[d] + (outShape[d] === 1 ? 0 : idx[d]);
    out[o] += x[i];
    for (let d = xShape.length - 1; d >= 0; d--) {
      if (++idx[d] < xShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

describe('sumToShape', () => {
  const cases: Array<[number[], number[]]> = [
    [[1], [1]],
    [[7], [1]],
    [[7], [7]],
    [
      [33, 5],
      [1, 5],
    ], // bias gradient
    [
      [33, 5],
      [33, 1],
    ],
    [
      [3, 5, 7],
      [3, 1, 7],
    ],
    [
      [3, 5, 7],
      [1, 5, 1],
    ],
    [
      [2, 3, 4, 5, 6],
      [2, 1, 4, 1, 6],
    ],
    [
      [2, 3, 4, 5, 6],
      [1, 3, 1, 5, 1],
    ],
    [
      [2, 1, 4, 1, 3],
      [1, 1, 4, 1, 1],
    ],
    [
      [129, 257],
      [1, 257],
    ], // splits over threads
    [
      [600, 33],
      [1, 33],
    ], // more than 256 rows: per-chunk partial rows, added in chunk order
    [
      [2, 513, 20],
      [2, 1, 20],
    ],
    [
      [257, 129],
      [257, 1],
    ],
    [[40000], [1]],
    [
      [0, 3],
      [1, 3],
    ],
  ];
  test('matches the float64 sum on every pattern and path, identical across paths', () => {
    for (const [xShape, outShape] of cases) {
      const n = xShape.reduce((p, s) => p * s, 1);
      const outCount = outShape.reduce((p, s) => p * s, 1);
      const data = uniformArray(n, n + 1);
      const x = storageOf(data);
      const expected = sumToShapeRef(data, xShape, outShape);
      const reduced = n / max(1, outCount);
      let first: Float32Array | undefined;
      for (const path of kernelPaths()) {
        const out = storageOf(new Float32Array(outCount).fill(9));
        onPath(path, () => addon.sumToShape(x, xShape, out, outShape));
        const got = out.readFloat32(0, outCount);
        expect({
          xShape,
          outShape,
          path,
          ok: relError(got, expected, max(1e-3, sqrt(reduced) * 0.1)) < 1e-5 * sqrt(reduced) + 1e-6,
        }).toEqual({ xShape, outShape, path, ok: true });
        if (first)
          expect(firstMismatch(got, first)).toBe(-1); // deterministic whatever the thread count
        else first = got;
      }
    }
  });

  test('rejects bad arguments', () => {
    const x = storageOf(uniformArray(12, 1));
    const out = emptyStorage(4);
    expectError(
      () => addon.sumToShape(x, [3, 4], out, [4]),
      'RangeError',
      /sumToShape: outShape has rank 1, xShape has rank 2/,
    );
    expectError(
      () => addon.sumToShape(x, [3, 4], out, [2, 4]),
      'RangeError',
      /sumToShape: outShape\[0\] = 2 must be 1 or xShape\[0\] = 3/,
    );
    expectError(() => addon.sumToShape(x, [3, 5], out, [1, 5]), 'RangeError', /sumToShape: x holds 12/);
    expectError(() => addon.sumToShape(x, [3, 4], emptyStorage(2), [3, 1]), 'RangeError', /sumToShape: out holds 2/);
    expectError(() => addon.sumToShape(x, [3, -4], out, [1, -4]), 'RangeError', /sumToShape: xShape\[1\]/);
    expectError(() => addon.sumToShape(x, [3, 4.5], out, [1, 4.5]), 'RangeError', /sumToShape: xShape\[1\]/);
    expectError(() => addon.sumToShape(x, 12 as never, out, [1]), 'TypeError', /sumToShape: xShape must be an array/);
  });
});
