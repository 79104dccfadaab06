// binary (broadcast strides), unary and unaryBackward, fill, cast and compareScalar against float64 references in
// TS.
import { addon, BinaryOp, UnaryOp } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, randomArray, rng, storageOf } from '../helpers';
import { firstMismatch, relError, uniformArray } from './elementwise_util';

// Bound once: `Math.x` inside jest's vm context is a slow global lookup in these loops.
const { abs, exp, fround, log, max, min, pow, sqrt, tanh, trunc } = Math;
const isNaN = (v: number): boolean => v !== v;

const BINARY_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];
const UNARY_OPS: UnaryOp[] = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'tanh',
  'relu',
  'sigmoid',
  'gelu',
  'geluTanh',
  'abs',
  'scale',
  'addScalar',
  'powScalar',
];

function binaryRef(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'pow':
      return pow(a, b);
    case 'maximum':
      return isNaN(a) || isNaN(b) ? NaN : max(a, b);
    case 'minimum':
      return isNaN(a) || isNaN(b) ? NaN : min(a, b);
  }
}

/** Contiguous strides of shape, with 0 where broadcastShape has a 1 (the view of a smaller operand). */
function broadcastStrides(shape: number[], operandShape: number[]): number[] {
  const strides = new Array<number>(shape.length).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = operandShape[d] === 1 && shape[d] !== 1 ? 0 : s;
    s *= operandShape[d];
  }
  return strides;
}

function numel(shape: number[]): number {
  return shape.reduce((p, s) => p * s, 1);
}

/** out[i] for every row-major index of shape, reading x at offset + idx . strides. */
function gather(shape: number[], fn: (offsets: (strides: number[]) => number) => number): Float64Array {
  const n = numel(shape);
  const out = new Float64Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    out[i] = fn((strides) => idx.reduce((acc, v, d) => acc + v * strides[d], 0));
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// erf/erfc in float64: Taylor series near 0, continued fraction for the tail.
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) {
    let term = x,
      sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
      if (abs(term) < 1e-17) break;
    }
    return 1 - (2 / sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 80; k >= 1; k--) f = k / 2 / (x + f);
  return exp(-x * x) / sqrt(Math.PI) / (x + f);
}

const SQRT2PI = sqrt(2 * Math.PI);
const K = sqrt(2 / Math.PI);

function unaryRef(op: UnaryOp, x: number, p: number): number {
  switch (op) {
    case 'neg':
      return -x;
    case 'exp':
      return exp(x);
    case 'log':
      return log(x);
    case 'sqrt':
      return sqrt(x);
    case 'tanh':
      return tanh(x);
    case 'relu':
      return isNaN(x) ? NaN : max(x, 0);
    case 'sigmoid':
      return 1 / (1 + exp(-x));
    case 'gelu':
      return 0.5 * x * erfc(-x / Math.SQRT2);
    case 'geluTanh':
      return 0.5 * x * (1 + tanh(K * (x + 0.044715 * x * x * x)));
    case 'abs':
      return abs(x);
    case 'scale':
      return x * p;
    case 'addScalar':
      return x + p;
    case 'powScalar':
      return pow(x, p);
  }
}

function unaryGradRef(op: UnaryOp, x: number, p: number): number {
  switch (op) {
    case 'neg':
      return -1;
    case 'exp':
      return exp(x);
    case 'log':
      return 1 / x;
    case 'sqrt':
      return 0.5 / sqrt(x);
    case 'tanh':
      return 1 - tanh(x) ** 2;
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'sigmoid': {
      const s = 1 / (1 + exp(-x));
      return s * (1 - s);
    }
    case 'gelu':
      return 0.5 * erfc(-x / Math.SQRT2) + (x * exp(-0.5 * x * x)) / SQRT2PI;
    case 'geluTanh': {
      const t = tanh(K * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
    }
    case 'abs':
      return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'scale':
      return p;
    case 'addScalar':
      return 1;
    case 'powScalar':
      return p === 0 ? 0 : p * pow(x, p - 1);
  }
}

/** Inputs inside each op's domain, away from kinks (relu/abs at 0) so finite differences are meaningful. */
function unaryInput(op: UnaryOp, n: number, seed: number): Float32Array {
  const positive = op === 'log' || op === 'sqrt' || op === 'powScalar';
  const x = positive ? uniformArray(n, seed, 0.2, 4) : uniformArray(n, seed, -5, 5);
  if (op === 'relu' || op === 'abs') for (let i = 0; i < n; i++) if (abs(x[i]) < 0.05) x[i] = 0.5;
  return x;
}

const PARAM: Partial<Record<UnaryOp, number>> = { scale: -1.75, addScalar: 0.625, powScalar: 2.5 };

function runBinary(op: BinaryOp, shape: number[], aShape: number[], bShape: number[], seed: number): void {
  const aData = op === 'pow' ? uniformArray(numel(aShape), seed, 0.1, 3) : uniformArray(numel(aShape), seed, -2, 2);
  const bData =
    op === 'div' ? uniformArray(numel(bShape), seed + 1, 0.5, 2) : uniformArray(numel(bShape), seed + 1, -2, 2);
  const aStrides = broadcastStrides(shape, aShape);
  const bStrides = broadcastStrides(shape, bShape);
  // Place the operands at nonzero offsets to check offsets are honoured.
  const a = storageOf(new Float32Array([9, 9, 9, ...aData]));
  const b = storageOf(new Float32Array([7, ...bData]));
  const expected = gather(shape, (at) => binaryRef(op, aData[at(aStrides)], bData[at(bStrides)]));
  for (const path of kernelPaths()) {
    const out = emptyStorage(numel(shape));
    onPath(path, () => addon.binary(op, a, 3, aStrides, b, 1, bStrides, out, shape));
    const got = out.readFloat32(0, numel(shape));
    expect({ op, shape, aShape, bShape, path, err: relError(got, expected) < 2e-6 }).toEqual({
      op,
      shape,
      aShape,
      bShape,
      path,
      err: true,
    });
    out.dispose();
  }
  a.dispose();
  b.dispose();
}

describe('binary', () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[], [], []], // rank 0
    [[1], [1], [1]],
    [[7], [7], [7]],
    [[257], [257], [1]], // scalar b
    [[33], [1], [33]], // scalar a
    [
      [5, 7],
      [5, 7],
      [1, 7],
    ], // row broadcast
    [
      [5, 7],
      [5, 7],
      [5, 1],
    ], // column broadcast
    [
      [3, 5, 7],
      [3, 5, 7],
      [3, 1, 7],
    ], // middle dim
    [
      [5, 6],
      [5, 1],
      [1, 6],
    ], // outer product
    [
      [2, 3, 1, 4, 5],
      [2, 3, 1, 4, 5],
      [1, 3, 1, 1, 5],
    ], // rank 5
    [
      [2, 3, 4, 5],
      [1, 1, 1, 1],
      [2, 3, 4, 5],
    ],
    [
      [2, 3, 1, 2, 3, 1, 2, 3],
      [2, 1, 1, 2, 3, 1, 1, 3],
      [1, 3, 1, 2, 1, 1, 2, 1],
    ], // rank 8
    [
      [129, 257],
      [129, 257],
      [1, 257],
    ], // large enough to split over threads
    [
      [257, 129],
      [257, 129],
      [257, 129],
    ],
  ];
  for (const op of BINARY_OPS) {
    test(`${op} on every broadcast pattern and path`, () => {
      cases.forEach(([shape, aShape, bShape], k) => runBinary(op, shape, aShape, bShape, 100 + k));
    });
  }

  test('strided (transposed) operands and a zero-size shape', () => {
    const data = uniformArray(35, 3);
    const a = storageOf(data);
    const b = storageOf(uniformArray(35, 4));
    const bData = b.readFloat32(0, 35);
    const shape = [7, 5];
    const expected = gather(shape, (at) => data[at([1, 7])] * bData[at([5, 1])]);
    for (const path of kernelPaths()) {
      const out = emptyStorage(35);
      onPath(path, () => addon.binary('mul', a, 0, [1, 7], b, 0, [5, 1], out, shape));
      expect(relError(out.readFloat32(0, 35), expected)).toBeLessThan(1e-6);
      addon.binary('mul', a, 0, [1, 7], b, 0, [5, 1], out, [0, 5]); // nothing to do
    }
  });

  test('out may alias a or b', () => {
    const n = 33001;
    const x = uniformArray(n, 5),
      y = uniformArray(n, 6);
    for (const path of kernelPaths()) {
      const a = storageOf(x),
        b = storageOf(y);
      onPath(path, () => addon.binary('sub', a, 0, [1], b, 0, [1], a, [n]));
      onPath(path, () => addon.binary('mul', a, 0, [1], b, 0, [1], b, [n]));
      const got = b.readFloat32(0, n);
      const expected = Array.from(x, (v, i) => fround(v - y[i]) * y[i]);
      expect(relError(got, expected)).toBeLessThan(1e-6);
    }
  });

  test('maximum and minimum propagate NaN from either side', () => {
    const a = storageOf(new Float32Array([NaN, 1, NaN, 2, -1]));
    const b = storageOf(new Float32Array([1, NaN, NaN, -3, -1]));
    const out = emptyStorage(5);
    for (const path of kernelPaths()) {
      onPath(path, () => addon.binary('maximum', a, 0, [1], b, 0, [1], out, [5]));
      expect(Array.from(out.readFloat32(0, 5))).toEqual([NaN, NaN, NaN, 2, -1]);
      onPath(path, () => addon.binary('minimum', a, 0, [1], b, 0, [1], out, [5]));
      expect(Array.from(out.readFloat32(0, 5))).toEqual([NaN, NaN, NaN, -3, -1]);
    }
  });

  test('rejects bad arguments', () => {
    const a = storageOf(uniformArray(12, 1));
    const out = emptyStorage(12);
    expectError(
      () => addon.binary('mod' as BinaryOp, a, 0, [1], a, 0, [1], out, [12]),
      'TypeError',
      /binary: unknown op 'mod'/,
    );
    expectError(() => addon.binary('add', a, 0, [1], a, 0, [1], out, [13]), 'RangeError', /binary: a holds 12/);
    expectError(() => addon.binary('add', a, 1, [1], a, 0, [1], out, [12]), 'RangeError', /binary: a holds/);
    expectError(() => addon.binary('add', a, 0, [5, 1], a, 0, [0, 1], out, [3, 4]), 'RangeError', /binary: a holds/);
    expectError(() => addon.binary('add', a, 0, [1], a, 0, [1, 1], out, [12]), 'RangeError', /binary: bStrides has 2/);
    expectError(() => addon.binary('add', a, 0, [-1], a, 0, [1], out, [12]), 'RangeError', /binary: aStrides\[0\]/);
    expectError(() => addon.binary('add', a, 0, [1], a, 0, [1], out, [-1]), 'RangeError', /binary: shape\[0\]/);
    expectError(() => addon.binary('add', a, 0, [1], a, 0, [1], out, [NaN]), 'RangeError', /binary: shape\[0\]/);
    expectError(() => addon.binary('add', a, 0, [1], a, 0, [1], out, [2.5]), 'RangeError', /binary: shape\[0\]/);
    expectError(() => addon.binary('add', a, 0.5, [1], a, 0, [1], out, [2]), 'RangeError', /binary: aOffset/);
    expectError(
      () => addon.binary('add', a, 0, [1], a, 0, [1], emptyStorage(4), [12]),
      'RangeError',
      /binary: out holds 4/,
    );
    const big = new Array(9).fill(1);
    expectError(() => addon.binary('add', a, 0, big, a, 0, big, out, big), 'RangeError', /binary: shape has 9 entries/);
    expectError(
      () => addon.binary('add', a, 0, [2 ** 40, 2 ** 40], a, 0, [1, 1], out, [2 ** 20, 1]),
      'RangeError',
      /binary/,
    );
    expectError(
      () => addon.binary('add', {} as never, 0, [1], a, 0, [1], out, [12]),
      'TypeError',
      /binary: a must be a Storage/,
    );
    const gone = storageOf(uniformArray(12, 2));
    gone.dispose();
    expectError(
      () => addon.binary('add', a, 0, [1], gone, 0, [1], out, [12]),
      'TypeError',
      /binary: b is used after dispose/,
    );
  });
});

describe('unary', () => {
  const sizes = [1, 7, 33, 257, 33001];
  for (const op of UNARY_OPS) {
    test(`${op} forward matches float64 on every path`, () => {
      const p = PARAM[op] ?? 0;
      for (const n of sizes) {
        const xData = unaryInput(op, n, n);
        const x = storageOf(xData);
        const expected = Array.from(xData, (v) => unaryRef(op, v, p));
        for (const path of kernelPaths()) {
          const out = emptyStorage(n);
          onPath(path, () => addon.unary(op, x, out, n, p));
          expect({ op, n, path, err: relError(out.readFloat32(0, n), expected, 1e-2) < 2e-6 }).toEqual({
            op,
            n,
            path,
            err: true,
          });
          out.dispose();
        }
        x.dispose();
      }
    });

    test(`${op} backward matches the analytic derivative and finite differences`, () => {
      const p = PARAM[op] ?? 0;
      for (const n of [1, 7, 33, 257, 33001]) {
        const xData = unaryInput(op, n, 7 * n);
        const dyData = uniformArray(n, 3 * n);
        const x = storageOf(xData),
          dy = storageOf(dyData);
        const y = emptyStorage(n);
        addon.unary(op, x, y, n, p);
        const expected = Array.from(xData, (v, i) => dyData[i] * unaryGradRef(op, v, p));
        for (const path of kernelPaths()) {
          const dx = emptyStorage(n);
          onPath(path, () => addon.unaryBackward(op, x, y, dy, dx, n, p));
          expect({ op, n, path, err: relError(dx.readFloat32(0, n), expected, 1e-2) < 1e-5 }).toEqual({
            op,
            n,
            path,
            err: true,
          });
          dx.dispose();
        }
        if (n <= 257) {
          // Central differences of the native forward, float32: h = 1e-2 balances truncation and rounding.
          const h = 1e-2;
          const plus = storageOf(xData.map((v) => v + h)),
            minus = storageOf(xData.map((v) => v - h));
          const fPlus = emptyStorage(n),
            fMinus = emptyStorage(n),
            dx = emptyStorage(n);
          addon.unary(op, plus, fPlus, n, p);
          addon.unary(op, minus, fMinus, n, p);
          addon.unaryBackward(op, x, y, dy, dx, n, p);
          const a = fPlus.readFloat32(0, n),
            b = fMinus.readFloat32(0, n);
          const plusX = plus.readFloat32(0, n),
            minusX = minus.readFloat32(0, n);
          const fd = Array.from(a, (v, i) => (dyData[i] * (v - b[i])) / (plusX[i] - minusX[i]));
          expect(relError(dx.readFloat32(0, n), fd, 1e-1)).toBeLessThan(1e-2);
        }
      }
    });
  }

  test('special values: kinks, NaN, overflow and underflow', () => {
    const xData = new Float32Array([0, -0, NaN, 100, -100, 1e-30, -1e-30, 20, -20]);
    const n = xData.length;
    const x = storageOf(xData);
    for (const path of kernelPaths()) {
      const out = emptyStorage(n);
      const run = (op: UnaryOp) => {
        onPath(path, () => addon.unary(op, x, out, n, 0));
        return Array.from(out.readFloat32(0, n));
      };
      expect(run('relu')).toEqual([0, -0, NaN, 100, 0, fround(1e-30), 0, 20, 0]);
      const e = run('exp');
      expect(e[3]).toBe(Infinity);
      expect(e[4]).toBeLessThan(1e-38);
      expect(e[2]).toBeNaN();
      expect(run('sigmoid').slice(3, 5)).toEqual([1, 0]);
      expect(run('tanh').slice(7)).toEqual([1, -1]);
      const g = run('gelu');
      expect(g[3]).toBe(100);
      expect(g[4]).toBe(-0);
      expect(g[2]).toBeNaN();
      const gt = run('geluTanh');
      expect(gt[3]).toBe(100);
      expect(abs(gt[4])).toBe(0);
      // relu'(0) = abs'(0) = 0, as in PyTorch.
      const dy = storageOf(new Float32Array(n).fill(1));
      const dx = emptyStorage(n);
      onPath(path, () => addon.unaryBackward('relu', x, x, dy, dx, n, 0));
      expect(Array.from(dx.readFloat32(0, 2))).toEqual([0, 0]);
      onPath(path, () => addon.unaryBackward('abs', x, x, dy, dx, n, 0));
      expect(Array.from(dx.readFloat32(0, 2))).toEqual([0, 0]);
      onPath(path, () => addon.unaryBackward('powScalar', x, x, dy, dx, n, 0));
      expect(Array.from(dx.readFloat32(0, n)).every((v) => v === 0)).toBe(true);
    }
  });

  test('in place (out = x)', () => {
    const n = 1000;
    const data = uniformArray(n, 8);
    const x = storageOf(data);
    addon.unary('tanh', x, x, n, 0);
    expect(relError(x.readFloat32(0, n), Array.from(data, tanh))).toBeLessThan(2e-6);
  });

  test('rejects bad arguments', () => {
    const x = storageOf(uniformArray(8, 1));
    const out = emptyStorage(8);
    expectError(() => addon.unary('softplus' as UnaryOp, x, out, 8, 0), 'TypeError', /unary: unknown op 'softplus'/);
    expectError(() => addon.unary('exp', x, out, 9, 0), 'RangeError', /unary: x holds 8/);
    expectError(() => addon.unary('exp', x, out, -1, 0), 'RangeError', /unary: n must be/);
    expectError(() => addon.unary('exp', x, out, NaN, 0), 'RangeError', /unary: n must be an integer/);
    expectError(() => addon.unary('exp', x, out, 1.5, 0), 'RangeError', /unary: n must be an integer/);
    expectError(() => addon.unary('scale', x, out, 8, 'x' as never), 'TypeError', /unary: param must be a number/);
    expectError(
      () => addon.unaryBackward('exp', x, x, x, emptyStorage(2), 8, 0),
      'RangeError',
      /unaryBackward: dx holds 2/,
    );
    expectError(
      () => addon.unaryBackward('nope' as UnaryOp, x, x, x, x, 8, 0),
      'TypeError',
      /unaryBackward: unknown op 'nope'/,
    );
    const gone = storageOf(uniformArray(8, 1));
    gone.dispose();
    expectError(() => addon.unary('exp', gone, out, 8, 0), 'TypeError', /unary: x is used after dispose/);
  });
});

describe('fill and cast', () => {
  test('fill writes value into [offset, offset + n) only', () => {
    for (const path of kernelPaths()) {
      for (const n of [0, 1, 7, 33001]) {
        const s = storageOf(new Float32Array(n + 5).fill(3));
        onPath(path, () => addon.fill(s, 2, n, -Infinity));
        const got = s.readFloat32(0, n + 5);
        expect(got[0]).toBe(3);
        expect(got[1]).toBe(3);
        for (let i = 2; i < n + 2; i++) if (got[i] !== -Infinity) throw new Error(`fill missed ${i}`);
        expect(Array.from(got.slice(n + 2))).toEqual([3, 3, 3]);
      }
    }
    const s = emptyStorage(4);
    expectError(() => addon.fill(s, 1, 4, 0), 'RangeError', /fill: dst holds 4/);
    expectError(() => addon.fill(s, -1, 1, 0), 'RangeError', /fill: offset/);
    expectError(() => addon.fill(s, 0, 1, '1' as never), 'TypeError', /fill: value must be a number/);
  });

  test('cast converts int32 <-> float32, truncating toward zero', () => {
    const r = rng(5);
    const n = 33001;
    const ints = new Int32Array(n).map(() => Math.floor((r() - 0.5) * 2e6));
    const floats = new Float32Array(n).map(() => (r() - 0.5) * 1e4);
    floats.set([2.9, -2.9, 0.5, -0.5, NaN, 1e10, -1e10], 0);
    for (const path of kernelPaths()) {
      const src = storageOf(ints),
        dst = emptyStorage(n);
      onPath(path, () => addon.cast(src, dst, n, true));
      expect(firstMismatch(dst.readFloat32(0, n), Float32Array.from(ints))).toBe(-1);
      const fsrc = storageOf(floats),
        idst = emptyStorage(n);
      onPath(path, () => addon.cast(fsrc, idst, n, false));
      const got = idst.readInt32(0, n);
      expect(Array.from(got.slice(0, 7))).toEqual([2, -2, 0, 0, 0, 2147483647, -2147483648]);
      const expected = Array.from(floats, (v) => trunc(v) | 0);
      expect(firstMismatch(got.subarray(7), expected.slice(7))).toBe(-1);
    }
    const s = emptyStorage(4);
    expectError(() => addon.cast(s, s, 5, true), 'RangeError', /cast: src holds 4/);
    expectError(() => addon.cast(s, s, 4, 1 as never), 'TypeError', /cast: toFloat must be a boolean/);
  });
});

describe('compareScalar', () => {
  // Plain reference: the comparison of the exact values (NaN equals nothing), 1 or 0.
  const compareRef = (op: 'eq' | 'ne', v: number, value: number): number => ((v === value) === (op === 'eq') ? 1 : 0);

  test('float32 and int32 sources against a scalar, odd sizes, every path', () => {
    const r = rng(23);
    for (const n of [1, 7, 33, 1000, 33001]) {
      // Few distinct values, so that both outcomes occur; specials up front.
      const floats = new Float32Array(n).map(() => Math.round((r() - 0.5) * 6) / 2);
      floats.set([0, -0, NaN, Infinity, -Infinity, 1.5, 2 ** 24 + 2].slice(0, n), 0);
      const ints = new Int32Array(n).map(() => Math.round((r() - 0.5) * 6));
      ints.set([0, -100, 2147483647, -2147483648, 16777217, 16777216, 3].slice(0, n), 0);
      const cases: Array<[Float32Array | Int32Array, number[]]> = [
        [floats, [0, 1.5, -1, 2 ** 24 + 2, 0.1]],
        [ints, [0, -100, 16777216, 2147483647, 3, 2 ** 40]],
      ];
      for (const path of kernelPaths())
        for (const [src, values] of cases)
          for (const op of ['eq', 'ne'] as const)
            for (const value of values) {
              const out = emptyStorage(n);
              onPath(path, () => addon.compareScalar(op, storageOf(src), out, n, src instanceof Int32Array, value));
              const got = out.readInt32(0, n);
              const expected = Array.from(src, (v) => compareRef(op, v, value));
              const at = firstMismatch(got, expected);
              if (at >= 0)
                throw new Error(
                  `${op} ${value} on ${src.constructor.name}[${n}] (${path.isa}, ${path.threads} threads): ` +
                    `element ${at} = ${src[at]} gives ${got[at]}`,
                );
            }
    }
  });

  test('may write in place; n = 0 writes nothing', () => {
    const data = new Int32Array([4, 0, 4, 5, 4]);
    const s = storageOf(data);
    addon.compareScalar('eq', s, s, 5, true, 4);
    expect(Array.from(s.readInt32(0, 5))).toEqual([1, 0, 1, 0, 1]);
    const untouched = storageOf(new Int32Array([7]));
    addon.compareScalar('ne', untouched, untouched, 0, true, 7);
    expect(untouched.readInt32(0, 1)[0]).toBe(7);
  });

  test('rejects bad arguments', () => {
    const s = emptyStorage(4);
    expectError(() => addon.compareScalar('lt' as never, s, s, 4, true, 0), 'TypeError', /unknown op 'lt'/);
    expectError(() => addon.compareScalar('eq', s, emptyStorage(3), 4, true, 0), 'RangeError', /dst holds 3/);
    expectError(() => addon.compareScalar('eq', s, s, 5, true, 0), 'RangeError', /src holds 4/);
    expectError(() => addon.compareScalar('eq', s, s, 4, 1 as never, 0), 'TypeError', /srcIsInt must be a boolean/);
    expectError(() => addon.compareScalar('eq', s, s, 4, true, NaN), 'RangeError', /value must be finite/);
  });
});

describe('maskedFill', () => {
  test('fills where the broadcast mask is nonzero, on every path', () => {
    const shape = [3, 5, 7];
    const x = randomArray(105, 11);
    const mask = new Int32Array([1, 0, 0, 1, 0, 0, 0]).map((v, i) => (i === 2 ? 5 : v)); // a row of 7, broadcast
    for (const path of kernelPaths())
      onPath(path, () => {
        const out = emptyStorage(105);
        addon.maskedFill(storageOf(x), storageOf(mask), 0, [0, 0, 1], out, shape, -Infinity);
        const got = out.readFloat32(0, 105);
        for (let i = 0; i < 105; i++) expect(got[i]).toBe(mask[i % 7] !== 0 ? -Infinity : x[i]);
      });
  });

  test('rejects bad arguments', () => {
    const x = storageOf(new Float32Array(6));
    const m = storageOf(new Int32Array(3));
    expectError(
      () => addon.maskedFill(x, m, 0, [0, 1], emptyStorage(4), [2, 3], 0),
      'RangeError',
      /maskedFill: out holds 4/,
    );
    expectError(
      () => addon.maskedFill(x, m, 0, [3, 1], emptyStorage(6), [2, 3], 0),
      'RangeError',
      /maskedFill: mask holds 3/,
    );
    expectError(
      () => addon.maskedFill(x, m, 0, [0], emptyStorage(6), [2, 3], 0),
      'RangeError',
      /maskStrides has 1 entries/,
    );
  });
});
