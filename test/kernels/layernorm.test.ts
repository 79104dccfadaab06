import { addon, NativeStorage } from '../../src/native';
import {
  emptyStorage,
  expectError,
  kernelPaths,
  maxRelError,
  onPath,
  randomArray,
  readAll,
  storageOf,
} from '../helpers';

// Naive float64 references.
function refForward(
  x: Float32Array,
  w: Float32Array | null,
  b: Float32Array | null,
  N: number,
  C: number,
  eps: number,
) {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[n * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + eps);
    mean[n] = m;
    rstd[n] = r;
    for (let c = 0; c < C; c++) {
      out[n * C + c] = (x[n * C + c] - m) * r * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
  }
  return { out, mean, rstd };
}

function refBackward(dout: Float32Array, x: Float32Array, w: Float32Array | null, N: number, C: number, eps: number) {
  const { mean, rstd } = refForward(x, null, null, N, C, eps);
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[n * C + c] - mean[n]) * rstd[n];
      const g = dout[n * C + c] * (w ? w[c] : 1);
      sumG += g;
      sumGX += g * xhat;
      dw[c] += dout[n * C + c] * xhat;
      db[c] += dout[n * C + c];
    }
    for (let c = 0; c < C; c++) {
      const xhat = (x[n * C + c] - mean[n]) * rstd[n];
      const g = dout[n * C + c] * (w ? w[c] : 1);
      dx[n * C + c] = rstd[n] * (g - sumG / C - (xhat * sumGX) / C);
    }
  }
  return { dx, dw, db };
}

interface Run {
  out: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
  dx: Float32Array;
  dw: Float32Array | null;
  db: Float32Array | null;
}

function run(
  x: Float32Array,
  w: Float32Array | null,
  b: Float32Array | null,
  dout: Float32Array,
  N: number,
  C: number,
  eps: number,
  wantParamGrads: boolean,
): Run {
  const xs = storageOf(x);
  const ws = w ? storageOf(w) : null;
  const bs = b ? storageOf(b) : null;
  const outS = emptyStorage(N * C);
  const meanS = emptyStorage(N);
  const rstdS = emptyStorage(N);
  addon.layerNormForward(xs, ws, bs, outS, meanS, rstdS, N, C, eps);
  const douts = storageOf(dout);
  const dxS = emptyStorage(N * C);
  // Garbage in the gradients: the backward must overwrite, not accumulate.
  const dwS = wantParamGrads ? storageOf(randomArray(C, 99)) : null;
  const dbS = wantParamGrads ? storageOf(randomArray(C, 98)) : null;
  addon.layerNormBackward(douts, xs, ws, meanS, rstdS, dxS, dwS, dbS, N, C);
  const result: Run = {
    out: outS.readFloat32(0, N * C),
    mean: meanS.readFloat32(0, N),
    rstd: rstdS.readFloat32(0, N),
    dx: dxS.readFloat32(0, N * C),
    dw: dwS ? readAll(dwS) : null,
    db: dbS ? readAll(dbS) : null,
  };
  for (const s of [xs, ws, bs, outS, meanS, rstdS, douts, dxS, dwS, dbS]) s?.dispose();
  return result;
}

describe('layerNorm', () => {
  const sizes: Array<[number, number]> = [
    [1, 1],
    [1, 7],
    [7, 33],
    [33, 257],
    [257, 7],
    [5, 1000],
    [3, 16],
    [2, 24],
    [257, 33],
  ];
  for (const path of kernelPaths()) {
    for (const [N, C] of sizes) {
      for (const affine of [true, false]) {
        test(`forward and backward N=${N} C=${C} affine=${affine} on ${path.isa} x${path.threads}`, () => {
          const seed = N * 1000 + C;
          // An offset mean checks the variance does not cancel.
          const x = randomArray(N * C, seed, 2, 4);
          const w = affine ? randomArray(C, seed + 1, 0.5, 1.5) : null;
          const b = affine ? randomArray(C, seed + 2) : null;
          const dout = randomArray(N * C, seed + 3);
          const eps = 1e-5;
          const got = onPath(path, () => run(x, w, b, dout, N, C, eps, true));
          const ref = refForward(x, w, b, N, C, eps);
          expect(maxRelError(got.out, ref.out, 1e-2)).toBeLessThan(1e-4);
          expect(maxRelError(got.mean, ref.mean)).toBeLessThan(1e-5);
          expect(maxRelError(got.rstd, ref.rstd)).toBeLessThan(2e-4);
          const refB = refBackward(dout, x, w, N, C, eps);
          // dx sums terms that cancel; measure relative to the row scale.
          expect(maxRelError(got.dx, refB.dx, 1e-1)).toBeLessThan(2e-3);
          expect(maxRelError(got.dw!, refB.dw, 1e-1)).toBeLessThan(1e-4 * Math.max(1, Math.sqrt(N)));
          expect(maxRelError(got.db!, refB.db, 1e-1)).toBeLessThan(1e-4 * Math.max(1, Math.sqrt(N)));
        });
      }
    }
    test(`weight without bias and bias without weight on ${path.isa} x${path.threads}`, () => {
      const N = 7;
      const C = 19;
      const x = randomArray(N * C, 31);
      const w = randomArray(C, 32, 0.5, 1.5);
      const b = randomArray(C, 33);
      const dout = randomArray(N * C, 34);
      for (const [ww, bb] of [
        [w, null],
        [null, b],
      ] as Array<[Float32Array | null, Float32Array | null]>) {
        const got = onPath(path, () => run(x, ww, bb, dout, N, C, 1e-5, true));
        expect(maxRelError(got.out, refForward(x, ww, bb, N, C, 1e-5).out, 1e-2)).toBeLessThan(1e-4);
        const refB = refBackward(dout, x, ww, N, C, 1e-5);
        expect(maxRelError(got.dx, refB.dx, 1e-1)).toBeLessThan(2e-3);
        expect(maxRelError(got.dw!, refB.dw, 1e-1)).toBeLessThan(1e-4);
        expect(maxRelError(got.db!, refB.db, 1e-1)).toBeLessThan(1e-4);
      }
    });
    test(`large constant offset and null parameter gradients on ${path.isa} x${path.threads}`, () => {
      const N = 9;
      const C = 40;
      const x = randomArray(N * C, 5, 999, 1001);
      const dout = randomArray(N * C, 6);
      const got = onPath(path, () => run(x, null, null, dout, N, C, 1e-5, false));
      expect(got.dw).toBeNull();
      const ref = refForward(x, null, null, N, C, 1e-5);
      // x itself is only stored to ~6e-5 absolute at 1000, which bounds what any float32 kernel can do.
      expect(maxRelError(got.out, ref.out, 1)).toBeLessThan(2e-3);
      expect(maxRelError(got.dx, refBackward(dout, x, null, N, C, 1e-5).dx, 1)).toBeLessThan(2e-3);
    });
  }

  test('results are identical for a given thread count and isa, and close across them', () => {
    const N = 300;
    const C = 129;
    const x = randomArray(N * C, 11);
    const w = randomArray(C, 12);
    const b = randomArray(C, 13);
    const dout = randomArray(N * C, 14);
    const runs = kernelPaths().map((p) => onPath(p, () => run(x, w, b, dout, N, C, 1e-5, true)));
    for (const p of kernelPaths()) {
      const again = onPath(p, () => run(x, w, b, dout, N, C, 1e-5, true));
      const first = runs[kernelPaths().findIndex((q) => q.isa === p.isa && q.threads === p.threads)];
      expect(Array.from(again.dw!)).toEqual(Array.from(first.dw!));
      expect(Array.from(again.dx)).toEqual(Array.from(first.dx));
    }
    for (const r of runs) expect(maxRelError(r.dw!, runs[0].dw!, 1e-1)).toBeLessThan(1e-4);
  });

  test('N = 0 writes zero parameter gradients', () => {
    const dw = storageOf(new Float32Array([5, 5, 5]));
    const db = storageOf(new Float32Array([5, 5, 5]));
    const e = emptyStorage(0);
    addon.layerNormForward(e, null, null, e, e, e, 0, 3, 1e-5);
    addon.layerNormBackward(e, e, null, e, e, e, dw, db, 0, 3);
    expect(Array.from(readAll(dw))).toEqual([0, 0, 0]);
    expect(Array.from(readAll(db))).toEqual([0, 0, 0]);
  });

  test('backward matches central finite differences of the forward', () => {
    const N = 3;
    const C = 6;
    const x = randomArray(N * C, 21);
    const w = randomArray(C, 22, 0.5, 1.5);
    const b = randomArray(C, 23);
    const dout = randomArray(N * C, 24);
    const eps = 1e-5;
    // L = sum(dout * out), evaluated through the native forward in float32.
    const loss = (xx: Float32Array, ww: Float32Array, bb: Float32Array): number => {
      const s = [storageOf(xx), storageOf(ww), storageOf(bb), emptyStorage(N * C), emptyStorage(N), emptyStorage(N)];
      addon.layerNormForward(s[0], s[1], s[2], s[3], s[4], s[5], N, C, eps);
      const out = s[3].readFloat32(0, N * C);
      s.forEach((t) => t.dispose());
      let l = 0;
      for (let i = 0; i < N * C; i++) l += dout[i] * out[i];
      return l;
    };
    const numeric = (arr: Float32Array, which: 0 | 1 | 2): Float64Array => {
      const g = new Float64Array(arr.length);
      const h = 1e-2;
      for (let i = 0; i < arr.length; i++) {
        const plus = arr.slice();
        const minus = arr.slice();
        plus[i] += h;
        minus[i] -= h;
        const args = (v: Float32Array): [Float32Array, Float32Array, Float32Array] =>
          which === 0 ? [v, w, b] : which === 1 ? [x, v, b] : [x, w, v];
        g[i] = (loss(...args(plus)) - loss(...args(minus))) / (plus[i] - minus[i]);
      }
      return g;
    };
    for (const path of kernelPaths()) {
      const got = onPath(path, () => run(x, w, b, dout, N, C, eps, true));
      expect(maxRelError(got.dx, numeric(x, 0), 1e-1)).toBeLessThan(1e-2);
      expect(maxRelError(got.dw!, numeric(w, 1), 1e-1)).toBeLessThan(1e-2);
      expect(maxRelError(got.db!, numeric(b, 2), 1e-1)).toBeLessThan(1e-2);
    }
  });

  describe('rejects bad arguments', () => {
    const N = 4;
    const C = 5;
    let x: NativeStorage;
    let w: NativeStorage;
    let small: NativeStorage;
    let stats: NativeStorage;
    beforeEach(() => {
      x = emptyStorage(N * C);
      w = emptyStorage(C);
      small = emptyStorage(N * C - 1);
      stats = emptyStorage(N);
    });

    test('forward', () => {
      const fwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, w, w, x, stats, stats, N, C, 1e-5];
        for (const [i, v] of over) a[i] = v;
        return () => (addon.layerNormForward as (...args: unknown[]) => void)(...a);
      };
      expect(fwd()).not.toThrow();
      expectError(fwd([0, small]), 'RangeError', /layerNormForward: x holds 19 elements, needs 20/);
      expectError(fwd([3, small]), 'RangeError', /layerNormForward: out holds/);
      expectError(fwd([1, emptyStorage(C - 1)]), 'RangeError', /layerNormForward: weight holds/);
      expectError(fwd([2, emptyStorage(C - 1)]), 'RangeError', /layerNormForward: bias holds/);
      expectError(fwd([4, emptyStorage(N - 1)]), 'RangeError', /layerNormForward: mean holds/);
      expectError(fwd([5, emptyStorage(N - 1)]), 'RangeError', /layerNormForward: rstd holds/);
      expectError(fwd([6, -1]), 'RangeError', /layerNormForward: N must be in/);
      expectError(fwd([6, NaN]), 'RangeError', /layerNormForward: N must be an integer/);
      expectError(fwd([7, 2.5]), 'RangeError', /layerNormForward: C must be an integer/);
      expectError(fwd([7, 0]), 'RangeError', /layerNormForward: C must be in/);
      expectError(fwd([6, 2 ** 40], [7, 2 ** 40]), 'RangeError', /layerNormForward: x has too many elements/);
      expectError(fwd([8, 0]), 'RangeError', /layerNormForward: eps must be > 0/);
      expectError(fwd([8, -1e-5]), 'RangeError', /layerNormForward: eps must be > 0 as a float32, got -1e-05/);
      expectError(fwd([8, 1e-60]), 'RangeError', /layerNormForward: eps must be > 0/);
      expectError(fwd([8, Infinity]), 'RangeError', /layerNormForward: eps must be finite/);
      expectError(fwd([8, NaN]), 'RangeError', /layerNormForward: eps must be finite/);
      expectError(fwd([0, 'x']), 'TypeError', /layerNormForward: x must be a Storage/);
      expectError(fwd([6, '4']), 'TypeError', /layerNormForward: N must be a number/);
      const gone = emptyStorage(N * C);
      gone.dispose();
      expectError(fwd([0, gone]), 'TypeError', /layerNormForward: x is used after dispose/);
      expectError(
        () => (addon.layerNormForward as (...args: unknown[]) => void)(x, w),
        'TypeError',
        /layerNormForward: expected 9 arguments/,
      );
    });

    test('backward', () => {
      const bwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, x, w, stats, stats, x, w, w, N, C];
        for (const [i, v] of over) a[i] = v;
        return () => (addon.layerNormBackward as (...args: unknown[]) => void)(...a);
      };
      expect(bwd()).not.toThrow();
      expect(bwd([2, null], [6, null], [7, undefined])).not.toThrow();
      expectError(bwd([0, small]), 'RangeError', /layerNormBackward: dout holds/);
      expectError(bwd([1, small]), 'RangeError', /layerNormBackward: x holds/);
      expectError(bwd([2, emptyStorage(C - 1)]), 'RangeError', /layerNormBackward: weight holds/);
      expectError(bwd([3, emptyStorage(N - 1)]), 'RangeError', /layerNormBackward: mean holds/);
      expectError(bwd([4, emptyStorage(N - 1)]), 'RangeError', /layerNormBackward: rstd holds/);
      expectError(bwd([5, small]), 'RangeError', /layerNormBackward: dx holds/);
      expectError(bwd([6, emptyStorage(C - 1)]), 'RangeError', /layerNormBackward: dweight holds/);
      expectError(bwd([7, emptyStorage(C - 1)]), 'RangeError', /layerNormBackward: dbias holds/);
      expectError(bwd([8, -3]), 'RangeError', /layerNormBackward: N must be in/);
      expectError(bwd([9, 1.5]), 'RangeError', /layerNormBackward: C must be an integer/);
      expectError(bwd([9, {}]), 'TypeError', /layerNormBackward: C must be a number/);
      const gone = emptyStorage(C);
      gone.dispose();
      expectError(bwd([6, gone]), 'TypeError', /layerNormBackward: dweight is used after dispose/);
    });
  });
});
