import { addon, NativeStorage } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, maxRelError, onPath, randomArray, storageOf } from '../helpers';

// Naive float64 references over [outer, dim, inner].
function refForward(x: Float32Array, outer: number, dim: number, inner: number, log: boolean): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (d: number) => (o * dim + d) * inner + i;
      let max = -Infinity;
      for (let d = 0; d < dim; d++) max = Math.max(max, x[at(d)]);
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += Math.exp(x[at(d)] - max);
      for (let d = 0; d < dim; d++) {
        out[at(d)] = log ? x[at(d)] - max - Math.log(sum) : Math.exp(x[at(d)] - max) / sum;
      }
    }
  }
  return out;
}

function refBackward(
  y: ArrayLike<number>,
  dy: Float32Array,
  outer: number,
  dim: number,
  inner: number,
  log: boolean,
): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (d: number) => (o * dim + d) * inner + i;
      let acc = 0;
      for (let d = 0; d < dim; d++) acc += log ? dy[at(d)] : dy[at(d)] * y[at(d)];
      for (let d = 0; d < dim; d++) {
        dx[at(d)] = log ? dy[at(d)] - Math.exp(y[at(d)]) * acc : y[at(d)] * (dy[at(d)] - acc);
      }
    }
  }
  return dx;
}

function forward(x: Float32Array, outer: number, dim: number, inner: number, log: boolean): Float32Array {
  const xs = storageOf(x);
  const out = emptyStorage(x.length);
  addon.softmaxForward(xs, out, outer, dim, inner, log);
  const result = out.readFloat32(0, x.length);
  xs.dispose();
  out.dispose();
  return result;
}

function backward(y: Float32Array, dy: Float32Array, outer: number, dim: number, inner: number, log: boolean) {
  const ys = storageOf(y);
  const dys = storageOf(dy);
  const dx = storageOf(randomArray(y.length, 1)); // garbage: must be overwritten
  addon.softmaxBackward(ys, dys, dx, outer, dim, inner, log);
  const result = dx.readFloat32(0, y.length);
  [ys, dys, dx].forEach((s) => s.dispose());
  return result;
}

describe('softmax', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [1, 7, 1],
    [7, 33, 1],
    [33, 257, 1],
    [3, 1000, 1],
    [257, 7, 1],
    [2, 16, 1],
    [1, 7, 3],
    [3, 33, 7],
    [2, 5, 257],
    [4, 1, 9],
    [2, 257, 33],
    [1, 3, 600],
  ];
  for (const path of kernelPaths()) {
    for (const [outer, dim, inner] of shapes) {
      for (const log of [false, true]) {
        test(`${log ? 'log-' : ''}softmax [${outer}, ${dim}, ${inner}] on ${path.isa} x${path.threads}`, () => {
          const n = outer * dim * inner;
          const seed = outer * 7919 + dim * 31 + inner;
          const x = randomArray(n, seed, -8, 8);
          const dy = randomArray(n, seed + 1);
          const ref = refForward(x, outer, dim, inner, log);
          const y = onPath(path, () => forward(x, outer, dim, inner, log));
          expect(maxRelError(y, ref, log ? 1 : 1e-6)).toBeLessThan(1e-5);
          const dx = onPath(path, () => backward(y, dy, outer, dim, inner, log));
          // dx = dy - p * sum(dy) cancels; measure relative to the size of dy.
          expect(maxRelError(dx, refBackward(y, dy, outer, dim, inner, log), 1e-2)).toBeLessThan(1e-4);
        });
      }
    }
  }

  test('stays finite for large logits and gives 0 probability to -Infinity', () => {
    for (const path of kernelPaths()) {
      const x = new Float32Array([1000, 999, -Infinity, 998, -1000, 80, 88, 89.5, 90]);
      const y = onPath(path, () => forward(x, 1, x.length, 1, false));
      expect(maxRelError(y, refForward(x, 1, x.length, 1, false), 1e-6)).toBeLessThan(1e-5);
      expect(y[2]).toBe(0);
      const logY = onPath(path, () => forward(x, 1, x.length, 1, true));
      expect(logY[2]).toBe(-Infinity);
      expect(logY[0]).toBeCloseTo(-Math.log(1 + Math.exp(-1) + Math.exp(-2)), 5);
      // Same with columns (inner > 1).
      const xc = new Float32Array(2 * x.length);
      x.forEach((v, d) => {
        xc[2 * d] = v;
        xc[2 * d + 1] = v / 2;
      });
      const yc = onPath(path, () => forward(xc, 1, x.length, 2, false));
      expect(maxRelError(yc, refForward(xc, 1, x.length, 2, false), 1e-6)).toBeLessThan(1e-5);
    }
  });

  test('exp is accurate over its whole range', () => {
    // softmax of [t, 0] = 1 / (1 + exp(-t)), exercising exp across [-87, 0] in the AVX2 polynomial.
    const ts: number[] = [];
    for (let t = -87; t <= 87; t += 0.37) ts.push(t);
    const x = new Float32Array(ts.length * 2);
    ts.forEach((t, i) => {
      x[2 * i] = t;
    });
    for (const path of kernelPaths()) {
      const y = onPath(path, () => forward(x, ts.length, 2, 1, false));
      const ref = refForward(x, ts.length, 2, 1, false);
      expect(maxRelError(y, ref, 1e-30)).toBeLessThan(1e-6);
    }
  });

  test('outer = 0 is a no-op', () => {
    const e = emptyStorage(0);
    addon.softmaxForward(e, e, 0, 5, 3, false);
    addon.softmaxBackward(e, e, e, 0, 5, 3, true);
  });

  test('backward matches central finite differences of the forward', () => {
    for (const [outer, dim, inner] of [
      [2, 5, 1],
      [2, 4, 3],
    ] as Array<[number, number, number]>) {
      for (const log of [false, true]) {
        const n = outer * dim * inner;
        const x = randomArray(n, 41 + dim, -2, 2);
        const dy = randomArray(n, 42);
        const loss = (v: Float32Array) => {
          const y = forward(v, outer, dim, inner, log);
          let l = 0;
          for (let i = 0; i < n; i++) l += dy[i] * y[i];
          return l;
        };
        const numeric = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const plus = x.slice();
          const minus = x.slice();
          plus[i] += 1e-2;
          minus[i] -= 1e-2;
          numeric[i] = (loss(plus) - loss(minus)) / (plus[i] - minus[i]);
        }
        for (const path of kernelPaths()) {
          const y = onPath(path, () => forward(x, outer, dim, inner, log));
          const dx = onPath(path, () => backward(y, dy, outer, dim, inner, log));
          expect(maxRelError(dx, numeric, 1e-1)).toBeLessThan(1e-2);
        }
      }
    }
  });

  describe('rejects bad arguments', () => {
    let x: NativeStorage;
    let small: NativeStorage;
    beforeEach(() => {
      x = emptyStorage(2 * 3 * 4);
      small = emptyStorage(2 * 3 * 4 - 1);
    });

    test('forward', () => {
      const fwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, x, 2, 3, 4, false];
        for (const [i, v] of over) a[i] = v;
        return () => (addon.softmaxForward as (...args: unknown[]) => void)(...a);
      };
      expect(fwd()).not.toThrow();
      expectError(fwd([0, small]), 'RangeError', /softmaxForward: x holds 23 elements, needs 24/);
      expectError(fwd([1, small]), 'RangeError', /softmaxForward: out holds/);
      expectError(fwd([2, -1]), 'RangeError', /softmaxForward: outer must be in/);
      expectError(fwd([3, 0]), 'RangeError', /softmaxForward: dim must be in/);
      expectError(fwd([4, 0]), 'RangeError', /softmaxForward: inner must be in/);
      expectError(fwd([3, NaN]), 'RangeError', /softmaxForward: dim must be an integer/);
      expectError(fwd([4, 1.5]), 'RangeError', /softmaxForward: inner must be an integer/);
      expectError(fwd([2, 2 ** 30], [3, 2 ** 30], [4, 2 ** 30]), 'RangeError', /softmaxForward: x has too many/);
      expectError(fwd([5, 1]), 'TypeError', /softmaxForward: log must be a boolean/);
      expectError(fwd([0, new Float32Array(24)]), 'TypeError', /softmaxForward: x must be a Storage/);
      const gone = emptyStorage(24);
      gone.dispose();
      expectError(fwd([1, gone]), 'TypeError', /softmaxForward: out is used after dispose/);
    });

    test('backward', () => {
      const bwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, x, x, 2, 3, 4, true];
        for (const [i, v] of over) a[i] = v;
        return () => (addon.softmaxBackward as (...args: unknown[]) => void)(...a);
      };
      expect(bwd()).not.toThrow();
      expectError(bwd([0, small]), 'RangeError', /softmaxBackward: y holds/);
      expectError(bwd([1, small]), 'RangeError', /softmaxBackward: dy holds/);
      expectError(bwd([2, small]), 'RangeError', /softmaxBackward: dx holds/);
      expectError(bwd([3, -2]), 'RangeError', /softmaxBackward: outer must be in/);
      expectError(bwd([4, Infinity]), 'RangeError', /softmaxBackward: dim must be an integer/);
      expectError(bwd([5, -1]), 'RangeError', /softmaxBackward: inner must be in/);
      expectError(bwd([6, 'yes']), 'TypeError', /softmaxBackward: log must be a boolean/);
      const gone = emptyStorage(24);
      gone.dispose();
      expectError(bwd([0, gone]), 'TypeError', /softmaxBackward: y is used after dispose/);
      expectError(
        () => (addon.softmaxBackward as (...args: unknown[]) => void)(x, x, x),
        'TypeError',
        /softmaxBackward: expected 7 arguments/,
      );
    });
  });
});
