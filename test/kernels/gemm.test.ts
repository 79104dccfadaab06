// gemm against a float64 reference over odd and tile-boundary sizes, every transpose pair, alpha/beta/bias,
// batches with strides (0 included) and offsets, on every kernel path; then every class of bad input.
import { addon, NativeStorage } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, randomArray, storageOf } from '../helpers';

// Module-level alias: the global Math is slow to reach inside jest's sandbox, and this runs per product.
const abs = Math.abs;

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strideA?: number; // default: one matrix after the other
  strideB?: number;
  strideC?: number;
  offsets?: [number, number, number, number]; // A, B, C, bias
  alpha?: number;
  beta?: number;
  bias?: boolean;
  nanC?: boolean; // fill C with NaN (only valid with beta = 0)
}

interface Prepared {
  c: Case;
  a: Float32Array;
  b: Float32Array;
  c0: Float32Array;
  bias: Float32Array | null;
  strides: [number, number, number];
  expected: Float64Array;
  tolerance: Float64Array; // per-element allowed error
}

function prepare(c: Case, seed: number): Prepared {
  const { M, N, K } = c;
  const batch = c.batch ?? 1;
  const strides: [number, number, number] = [c.strideA ?? M * K, c.strideB ?? K * N, c.strideC ?? M * N];
  const [oa, ob, oc, obias] = c.offsets ?? [0, 0, 0, 0];
  const span = (stride: number, size: number) => (batch > 0 && size > 0 ? (batch - 1) * stride + size : 0);
  const a = randomArray(oa + span(strides[0], M * K) + 3, seed);
  const b = randomArray(ob + span(strides[1], K * N) + 3, seed + 1);
  const cLength = oc + span(strides[2], M * N) + 3;
  const c0 = c.nanC ? new Float32Array(cLength).fill(NaN) : randomArray(cLength, seed + 2);
  const bias = c.bias ? randomArray(obias + N + 2, seed + 3) : null;
  const alpha = c.alpha ?? 1;
  const beta = c.beta ?? 0;

  // Plain loops in float64, applying the batches in order (overlapping C regions accumulate like the kernel).
  const expected = Float64Array.from(c0);
  const tolerance = new Float64Array(c0.length);
  for (let bi = 0; bi < batch; bi++) {
    // op(A) as M x K rows and op(B) as N x K rows, so every dot product below reads two contiguous rows.
    const opA = new Float64Array(M * K);
    const opBt = new Float64Array(N * K);
    for (let i = 0; i < M; i++)
      for (let p = 0; p < K; p++) opA[i * K + p] = a[oa + bi * strides[0] + (c.transA ? p * M + i : i * K + p)];
    for (let j = 0; j < N; j++)
      for (let p = 0; p < K; p++) opBt[j * K + p] = b[ob + bi * strides[1] + (c.transB ? j * K + p : p * N + j)];
    const C = oc + bi * strides[2];
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        let magnitude = 0;
        for (let p = 0; p < K; p++) {
          const product = opA[i * K + p] * opBt[j * K + p];
          sum += product;
          magnitude += abs(product);
        }
        const old = beta === 0 ? 0 : beta * expected[C + i * N + j];
        const biasValue = bias ? bias[obias + j] : 0;
        expected[C + i * N + j] = alpha * sum + old + biasValue;
        // float32 rounding of a K-term dot product plus the epilogue, with room for blocked summation order.
        tolerance[C + i * N + j] =
          4e-7 * Math.sqrt(K + 1) * Math.abs(alpha) * magnitude +
          4e-7 * (Math.abs(old) + Math.abs(biasValue)) +
          Math.abs(beta) * tolerance[C + i * N + j] +
          1e-30;
      }
    }
  }
  return { c, a, b, c0, bias, strides, expected, tolerance };
}

function run(p: Prepared): Float32Array {
  const { c } = p;
  const [oa, ob, oc, obias] = c.offsets ?? [0, 0, 0, 0];
  const cs = storageOf(p.c0);
  addon.gemm(
    storageOf(p.a),
    oa,
    storageOf(p.b),
    ob,
    cs,
    oc,
    p.bias ? storageOf(p.bias) : null,
    obias,
    c.transA ?? false,
    c.transB ?? false,
    c.M,
    c.N,
    c.K,
    c.batch ?? 1,
    p.strides[0],
    p.strides[1],
    p.strides[2],
    c.alpha ?? 1,
    c.beta ?? 0,
  );
  return cs.readFloat32(0, p.c0.length);
}

/** The first element outside its tolerance, described, or null when all are within. */
function firstMismatch(p: Prepared, actual: Float32Array): string | null {
  for (let i = 0; i < actual.length; i++) {
    const e = p.expected[i];
    const ok = Number.isNaN(e) ? Number.isNaN(actual[i]) : Math.abs(actual[i] - e) <= p.tolerance[i];
    if (!ok) return `element ${i}: got ${actual[i]}, expected ${e} (tolerance ${p.tolerance[i].toExponential(2)})`;
  }
  return null;
}

function checkOnEveryPath(cases: Case[]): void {
  cases.forEach((c, index) => {
    const p = prepare(c, 1000 + 17 * index);
    for (const path of kernelPaths()) {
      const actual = onPath(path, () => run(p));
      const mismatch = firstMismatch(p, actual);
      if (mismatch) throw new Error(`${JSON.stringify(c)} on ${path.isa} x${path.threads}: ${mismatch}`);
    }
  });
}

const TRANSPOSES: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

describe('gemm', () => {
  test('odd and tile-boundary sizes, all transpose pairs', () => {
    const shapes: Array<[number, number, number]> = [
      [1, 1, 1],
      [7, 33, 5],
      [33, 7, 1],
      [5, 6, 15],
      [6, 16, 17],
      [15, 17, 16],
      [16, 5, 6],
      [17, 15, 95],
      [95, 97, 33],
      [97, 95, 7],
      [257, 33, 40],
      [33, 257, 300],
      [130, 97, 257],
      // The AVX-512 tile is 12 x 32.
      [12, 32, 9],
      [11, 31, 12],
      [13, 33, 8],
      [24, 48, 31],
      [25, 65, 64],
      // Packed A (N > 64) with a last panel of 12 rows read through a 16-lane load, K not a multiple of 4.
      [14, 70, 39],
      [28, 97, 42],
      // AVX2 packing of contiguous columns in groups of 8: a full 6-row A panel read through a masked 8-lane load
      // (M = 19), a last group of 5 columns (K = 45), a last B panel of 4 columns (N = 84).
      [19, 84, 45],
    ];
    const cases: Case[] = [];
    for (const [M, N, K] of shapes) for (const [transA, transB] of TRANSPOSES) cases.push({ M, N, K, transA, transB });
    checkOnEveryPath(cases);
  });

  test('large enough for several blocks of M, N and K', () => {
    // M past MC, K past KC (so later K slices accumulate onto the first; K = 520 as three equal slices with
    // the generic path's KC = 256, two with the AVX2 path's 384 and the AVX-512 path's 512; K = 1100 as three on
    // both), N past NC with a thin M.
    checkOnEveryPath([
      { M: 301, N: 70, K: 520, transA: true, beta: 0.5, bias: true },
      { M: 40, N: 70, K: 1100, transB: true, beta: 1, bias: true },
      { M: 3, N: 4200, K: 9, transB: true, bias: true },
      { M: 160, N: 160, K: 300, alpha: -0.75, beta: 1 },
      { M: 150, N: 70, K: 384, transB: true, bias: true },
      // Narrow C (A read in place rather than packed), with K past KC, alone and split over threads.
      { M: 50, N: 40, K: 600, transA: true, beta: 0.5 },
      { M: 40, N: 100, K: 600, bias: true },
      // Split over threads as tiles of columns as well as rows (few rows), past NC, uneven tiles.
      { M: 30, N: 900, K: 300, transA: true, bias: true },
      { M: 61, N: 4200, K: 20, transB: true, beta: 0.5 },
      { M: 1001, N: 23, K: 130, transA: true, transB: true },
    ]);
  });

  test('one row of C (M = 1) reads B in place', () => {
    const cases: Case[] = [];
    const shapes: Array<[number, number]> = [
      [1, 1],
      [7, 3],
      [31, 8],
      [32, 9],
      [33, 16],
      [65, 17],
      [600, 40],
      [1030, 7],
    ];
    for (const [N, K] of shapes)
      for (const [transA, transB] of TRANSPOSES)
        cases.push({
          M: 1,
          N,
          K,
          transA,
          transB,
          alpha: 0.75,
          beta: N % 2 ? 0 : -0.5,
          bias: K % 2 === 1,
          nanC: N % 2 === 1,
        });
    // Big enough to split the columns over threads (an odd batch sharing one B keeps the inputs small).
    cases.push({ M: 1, N: 1030, K: 300, batch: 7, strideB: 0, transB: true });
    cases.push({ M: 1, N: 1030, K: 300, batch: 7, strideB: 0 });
    cases.push({ M: 1, N: 45, K: 20, batch: 6, strideB: 0, offsets: [1, 2, 3, 4], bias: true, beta: 1 });
    checkOnEveryPath(cases);
  });

  test('a few rows of C (2 to 8) go row by row over column blocks', () => {
    const cases: Case[] = [];
    for (const M of [2, 5, 8])
      for (const [N, K] of [
        [7, 3],
        [33, 17],
        [600, 40],
        [1030, 300],
      ])
        for (const transB of [false, true])
          cases.push({ M, N, K, transB, alpha: 0.75, beta: N % 2 ? 0 : -0.5, bias: K % 2 === 1, nanC: N % 2 === 1 });
    cases.push({ M: 9, N: 100, K: 40, transB: true }); // past the few-rows limit: the tiled path
    checkOnEveryPath(cases);
  });

  test('each row of a few-row product equals that row alone (M = 1), bit for bit', () => {
    // Continuous batching relies on this: a sequence decodes to the same tokens in a batch as by itself.
    const [M, N, K] = [6, 1100, 384];
    const a = randomArray(M * K, 5);
    const b = randomArray(N * K, 6);
    const bias = randomArray(N, 7);
    for (const path of kernelPaths())
      for (const transB of [false, true])
        onPath(path, () => {
          const [sa, sb, sbias] = [storageOf(a), storageOf(b), storageOf(bias)];
          const together = emptyStorage(M * N);
          const alone = emptyStorage(N);
          addon.gemm(sa, 0, sb, 0, together, 0, sbias, 0, false, transB, M, N, K, 1, M * K, K * N, M * N, 1, 0);
          const all = together.readFloat32(0, M * N);
          for (let i = 0; i < M; i++) {
            addon.gemm(sa, i * K, sb, 0, alone, 0, sbias, 0, false, transB, 1, N, K, 1, K, K * N, N, 1, 0);
            expect(Array.from(alone.readFloat32(0, N))).toEqual(Array.from(all.subarray(i * N, (i + 1) * N)));
          }
          for (const s of [sa, sb, sbias, together, alone]) s.dispose();
        });
  });

  test('alpha, beta and bias', () => {
    const cases: Case[] = [];
    for (const [transA, transB] of TRANSPOSES) {
      cases.push({ M: 37, N: 45, K: 29, transA, transB, alpha: 0.5, beta: -1.5, bias: true });
      cases.push({ M: 66, N: 19, K: 70, transA, transB, alpha: 2, beta: 1 });
      cases.push({ M: 6, N: 16, K: 3, transA, transB, alpha: -1, beta: 0, bias: true, nanC: true });
      cases.push({ M: 70, N: 75, K: 80, transA, transB, alpha: 1.25, beta: 0, nanC: true });
    }
    checkOnEveryPath(cases);
  });

  test('batches with strides, broadcast (stride 0) operands and offsets', () => {
    checkOnEveryPath([
      // Gaps between matrices, and element offsets into every storage.
      {
        M: 9,
        N: 13,
        K: 11,
        batch: 5,
        strideA: 9 * 11 + 4,
        strideB: 11 * 13 + 1,
        strideC: 9 * 13 + 7,
        offsets: [3, 5, 2, 1],
        bias: true,
        beta: 0.25,
      },
      // One B shared by every batch (a linear layer over a batch of inputs), and one A shared.
      { M: 24, N: 24, K: 32, batch: 48, strideB: 0, transB: true },
      { M: 40, N: 33, K: 21, batch: 3, strideA: 0, transA: true, offsets: [1, 0, 4, 0] },
      // Per-head products: batch split across threads (even batch) and each product split (odd batch).
      { M: 64, N: 64, K: 32, batch: 4, transB: true, alpha: 0.125 },
      { M: 97, N: 65, K: 48, batch: 3, beta: 1, bias: true },
      // strideC = 0: the batches run in order, so beta = 1 sums every product into one C.
      { M: 70, N: 71, K: 35, batch: 4, strideC: 0, beta: 1 },
      { M: 5, N: 3, K: 2, batch: 3, strideC: 0, beta: 0.5, bias: true },
    ]);
  });

  test('empty products: K = 0 gives beta * C + bias; M, N or batch = 0 touch nothing', () => {
    checkOnEveryPath([
      { M: 7, N: 9, K: 0, beta: 0.5, bias: true },
      { M: 7, N: 9, K: 0, beta: 0, nanC: true, bias: true },
      { M: 4, N: 5, K: 0, batch: 3, beta: 0, nanC: true },
      { M: 0, N: 9, K: 4, bias: true },
      { M: 7, N: 0, K: 4 },
      { M: 7, N: 9, K: 4, batch: 0 },
    ]);
    // Empty operands may come from tiny storages.
    const c = storageOf(new Float32Array([1, 2, 3]));
    addon.gemm(emptyStorage(0), 0, emptyStorage(0), 0, c, 0, null, 0, false, false, 0, 3, 5, 1, 0, 0, 0, 1, 0);
    addon.gemm(emptyStorage(0), 0, emptyStorage(0), 0, c, 0, null, 0, false, false, 1, 3, 0, 1, 0, 0, 0, 1, 2);
    expect(Array.from(c.readFloat32(0, 3))).toEqual([2, 4, 6]);
  });

  describe('bad input', () => {
    const M = 4;
    const N = 3;
    const K = 5;
    let a: NativeStorage;
    let b: NativeStorage;
    let c: NativeStorage;
    let bias: NativeStorage;
    beforeEach(() => {
      a = emptyStorage(M * K);
      b = emptyStorage(K * N);
      c = emptyStorage(M * N);
      bias = emptyStorage(N);
    });
    // Overrides one argument of a valid call (indices follow the signature).
    const call = (override: Record<number, unknown> = {}) => {
      const args: unknown[] = [a, 0, b, 0, c, 0, bias, 0, false, false, M, N, K, 1, 0, 0, 0, 1, 0];
      for (const [i, v] of Object.entries(override)) args[Number(i)] = v;
      (addon.gemm as (...x: unknown[]) => void)(...args);
    };

    test('a valid call passes', () => {
      call();
    });

    test('storages too small for the sizes, strides, batch or offset', () => {
      const tooSmallA = /^gemm: A holds 12 elements, needs 20 \(M=4, K=5, transA=false, batch=1/;
      expectError(() => call({ 0: emptyStorage(12) }), 'RangeError', tooSmallA);
      const tooSmallB = /^gemm: B holds 14 elements, needs 15 \(K=5, N=3, transB=false/;
      expectError(() => call({ 2: emptyStorage(14) }), 'RangeError', tooSmallB);
      expectError(() => call({ 4: emptyStorage(11) }), 'RangeError', /^gemm: C holds 11 elements, needs 12 \(M=4, N=3/);
      expectError(() => call({ 6: emptyStorage(2) }), 'RangeError', /^gemm: bias holds 2 elements, needs 3/);
      expectError(() => call({ 1: 1 }), 'RangeError', /^gemm: A holds 19 elements past offset 1, needs 20/);
      expectError(() => call({ 5: 13 }), 'RangeError', /^gemm: C .*offset/);
      expectError(() => call({ 7: 1 }), 'RangeError', /^gemm: bias holds 2 elements past offset 1, needs 3/);
      // batch 2 with stride 0 fits; with a stride it needs room for the second matrix.
      call({ 13: 2 });
      expectError(
        () => call({ 13: 2, 14: 20 }),
        'RangeError',
        /^gemm: A holds 20 elements, needs 40 \(.*batch=2, strideA=20/,
      );
      expectError(() => call({ 13: 2, 16: 1 }), 'RangeError', /^gemm: C holds 12 elements, needs 13/);
      // The extent overflows before it could be compared with any storage.
      expectError(() => call({ 13: 2 ** 31 - 1, 15: 2 ** 40 }), 'RangeError', /^gemm: B spans more than 2\^50/);
    });

    test('negative, NaN, non-integer and out-of-range sizes', () => {
      expectError(() => call({ 10: -1 }), 'RangeError', /^gemm: M must be in/);
      expectError(() => call({ 11: NaN }), 'RangeError', /^gemm: N must be an integer/);
      expectError(() => call({ 12: 2.5 }), 'RangeError', /^gemm: K must be an integer/);
      expectError(() => call({ 12: 2 ** 31 }), 'RangeError', /^gemm: K must be in/);
      expectError(() => call({ 13: -1 }), 'RangeError', /^gemm: batch must be in/);
      expectError(() => call({ 14: -3 }), 'RangeError', /^gemm: strideA must be in/);
      expectError(() => call({ 16: Infinity }), 'RangeError', /^gemm: strideC must be an integer/);
      expectError(() => call({ 3: -1 }), 'RangeError', /^gemm: bOffset must be in/);
      expectError(() => call({ 17: NaN }), 'RangeError', /^gemm: alpha must be finite/);
      expectError(() => call({ 18: -Infinity }), 'RangeError', /^gemm: beta must be finite/);
    });

    test('wrong types, disposed storages and missing arguments', () => {
      expectError(() => call({ 0: new Float32Array(20) }), 'TypeError', /^gemm: A must be a Storage/);
      expectError(() => call({ 6: 5 }), 'TypeError', /^gemm: bias must be a Storage/);
      expectError(() => call({ 8: 1 }), 'TypeError', /^gemm: transA must be a boolean/);
      expectError(() => call({ 10: '4' }), 'TypeError', /^gemm: M must be a number/);
      c.dispose();
      expectError(() => call(), 'TypeError', /^gemm: C is used after dispose/);
      const gemm = addon.gemm as (...x: unknown[]) => void;
      expectError(() => gemm(a, 0, b), 'TypeError', /^gemm: expected 19 arguments/);
    });
  });
});
