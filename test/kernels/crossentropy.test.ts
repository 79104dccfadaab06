import { addon, NativeStorage } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, maxRelError, onPath, randomArray, rng, storageOf } from '../helpers';

// Naive float64 references, PyTorch's definition of label smoothing.
function refForward(x: Float32Array, t: Int32Array, N: number, C: number, ignore: number, e: number) {
  const losses = new Float64Array(N);
  const lse = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, x[n * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(x[n * C + c] - max);
    lse[n] = max + Math.log(sum);
    if (t[n] === ignore) continue;
    let smooth = 0;
    for (let c = 0; c < C; c++) smooth += lse[n] - x[n * C + c];
    losses[n] = (1 - e) * (lse[n] - x[n * C + t[n]]) + (e / C) * smooth;
  }
  return { losses, lse };
}

function refBackward(
  x: Float32Array,
  t: Int32Array,
  dl: Float32Array,
  N: number,
  C: number,
  ignore: number,
  e: number,
): Float64Array {
  const { lse } = refForward(x, t, N, C, ignore, e);
  const dx = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    if (t[n] === ignore) continue;
    for (let c = 0; c < C; c++) {
      const p = Math.exp(x[n * C + c] - lse[n]);
      dx[n * C + c] = dl[n] * (p - (c === t[n] ? 1 - e : 0) - e / C);
    }
  }
  return dx;
}

function randomTargets(N: number, C: number, seed: number, ignore: number, ignoreFraction: number): Int32Array {
  const r = rng(seed);
  const t = new Int32Array(N);
  for (let n = 0; n < N; n++) t[n] = r() < ignoreFraction ? ignore : Math.floor(r() * C);
  return t;
}

function run(x: Float32Array, t: Int32Array, dl: Float32Array, N: number, C: number, ignore: number, e: number) {
  const xs = storageOf(x);
  const ts = storageOf(t);
  const lossS = storageOf(randomArray(N, 3)); // garbage: must be overwritten
  const lseS = emptyStorage(N);
  addon.crossEntropyForward(xs, ts, lossS, lseS, N, C, ignore, e);
  const dls = storageOf(dl);
  const dxs = storageOf(randomArray(N * C, 4));
  addon.crossEntropyBackward(xs, ts, lseS, dls, dxs, N, C, ignore, e);
  const result = {
    losses: lossS.readFloat32(0, N),
    lse: lseS.readFloat32(0, N),
    dx: dxs.readFloat32(0, N * C),
  };
  [xs, ts, lossS, lseS, dls, dxs].forEach((s) => s.dispose());
  return result;
}

describe('crossEntropy', () => {
  const sizes: Array<[number, number]> = [
    [1, 1],
    [1, 7],
    [7, 33],
    [33, 257],
    [257, 7],
    [5, 1000],
    [9, 16],
  ];
  for (const path of kernelPaths()) {
    for (const [N, C] of sizes) {
      for (const e of [0, 0.1, 1]) {
        test(`N=${N} C=${C} labelSmoothing=${e} on ${path.isa} x${path.threads}`, () => {
          const seed = N * 1000 + C;
          const x = randomArray(N * C, seed, -6, 6);
          const t = randomTargets(N, C, seed + 1, -100, 0.2);
          const dl = randomArray(N, seed + 2, 0.5, 2);
          const got = onPath(path, () => run(x, t, dl, N, C, -100, e));
          const ref = refForward(x, t, N, C, -100, e);
          expect(maxRelError(got.losses, ref.losses, 1e-2)).toBeLessThan(1e-5);
          expect(maxRelError(got.lse, ref.lse, 1e-2)).toBeLessThan(1e-5);
          for (let n = 0; n < N; n++) if (t[n] === -100) expect(got.losses[n]).toBe(0);
          expect(maxRelError(got.dx, refBackward(x, t, dl, N, C, -100, e), 1e-4)).toBeLessThan(1e-4);
        });
      }
    }

    test(`all rows ignored, and an ignoreIndex inside [0, C), on ${path.isa} x${path.threads}`, () => {
      const N = 6;
      const C = 10;
      const x = randomArray(N * C, 7, -3, 3);
      const dl = randomArray(N, 8);
      const all = onPath(path, () => run(x, new Int32Array(N).fill(-1), dl, N, C, -1, 0.1));
      expect(Array.from(all.losses)).toEqual(new Array(N).fill(0));
      expect(Array.from(all.dx)).toEqual(new Array(N * C).fill(0));
      const t = new Int32Array([0, 3, 0, 9, 2, 0]);
      const got = onPath(path, () => run(x, t, dl, N, C, 0, 0.1));
      expect(maxRelError(got.losses, refForward(x, t, N, C, 0, 0.1).losses, 1e-2)).toBeLessThan(1e-5);
      expect(maxRelError(got.dx, refBackward(x, t, dl, N, C, 0, 0.1), 1e-4)).toBeLessThan(1e-4);
      expect(got.losses[0]).toBe(0);
    });

    test(`large logits stay accurate on ${path.isa} x${path.threads}`, () => {
      const x = new Float32Array([1000, 990, -Infinity, 1001, 200, 201]);
      const t = new Int32Array([1, 1, 0]);
      const dl = new Float32Array([1, 1, 1]);
      const got = onPath(path, () => run(x, t, dl, 3, 2, -100, 0));
      expect(got.losses[0]).toBeCloseTo(10 + Math.log(1 + Math.exp(-10)), 4);
      expect(got.losses[1]).toBeCloseTo(0, 5);
      expect(got.losses[2]).toBeCloseTo(Math.log(1 + Math.exp(1)), 4);
      expect(got.dx[2]).toBe(0);
    });
  }

  test('N = 0 is a no-op', () => {
    const e = emptyStorage(0);
    addon.crossEntropyForward(e, e, e, e, 0, 5, -100, 0);
    addon.crossEntropyBackward(e, e, e, e, e, 0, 5, -100, 0.5);
  });

  test('backward matches central finite differences of the forward', () => {
    const N = 4;
    const C = 5;
    const x = randomArray(N * C, 51, -2, 2);
    const t = new Int32Array([1, -100, 4, 0]);
    const dl = randomArray(N, 52, 0.5, 1.5);
    for (const e of [0, 0.3]) {
      const loss = (v: Float32Array) => {
        const r = run(v, t, dl, N, C, -100, e);
        let l = 0;
        for (let n = 0; n < N; n++) l += dl[n] * r.losses[n];
        return l;
      };
      const numeric = new Float64Array(N * C);
      for (let i = 0; i < N * C; i++) {
        const plus = x.slice();
        const minus = x.slice();
        plus[i] += 1e-2;
        minus[i] -= 1e-2;
        numeric[i] = (loss(plus) - loss(minus)) / (plus[i] - minus[i]);
      }
      for (const path of kernelPaths()) {
        const got = onPath(path, () => run(x, t, dl, N, C, -100, e));
        expect(maxRelError(got.dx, numeric, 1e-1)).toBeLessThan(1e-2);
      }
    }
  });

  describe('rejects bad arguments', () => {
    const N = 3;
    const C = 4;
    let x: NativeStorage;
    let t: NativeStorage;
    let v: NativeStorage;
    beforeEach(() => {
      x = emptyStorage(N * C);
      t = storageOf(new Int32Array([0, 3, -100]));
      v = emptyStorage(N);
    });

    test('forward', () => {
      const fwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, t, v, v, N, C, -100, 0.1];
        for (const [i, val] of over) a[i] = val;
        return () => (addon.crossEntropyForward as (...args: unknown[]) => void)(...a);
      };
      expect(fwd()).not.toThrow();
      expectError(
        fwd([1, storageOf(new Int32Array([0, 4, 1]))]),
        'RangeError',
        /crossEntropyForward: targets\[1\] = 4 is outside \[0, C = 4\)/,
      );
      expectError(
        fwd([1, storageOf(new Int32Array([0, 1, -1]))]),
        'RangeError',
        /crossEntropyForward: targets\[2\] = -1 is outside \[0, C = 4\) and is not ignoreIndex \(-100\)/,
      );
      expectError(fwd([6, -1]), 'RangeError', /crossEntropyForward: targets\[2\] = -100/);
      expectError(fwd([0, emptyStorage(N * C - 1)]), 'RangeError', /crossEntropyForward: logits holds 11/);
      expectError(fwd([1, emptyStorage(N - 1)]), 'RangeError', /crossEntropyForward: targets holds/);
      expectError(fwd([2, emptyStorage(N - 1)]), 'RangeError', /crossEntropyForward: losses holds/);
      expectError(fwd([3, emptyStorage(N - 1)]), 'RangeError', /crossEntropyForward: lse holds/);
      expectError(fwd([4, -1]), 'RangeError', /crossEntropyForward: N must be in/);
      expectError(fwd([5, 0]), 'RangeError', /crossEntropyForward: C must be in/);
      expectError(fwd([5, 4.5]), 'RangeError', /crossEntropyForward: C must be an integer/);
      expectError(fwd([6, 0.5]), 'RangeError', /crossEntropyForward: ignoreIndex must be an integer/);
      expectError(fwd([6, NaN]), 'RangeError', /crossEntropyForward: ignoreIndex must be an integer/);
      expectError(fwd([7, -0.1]), 'RangeError', /crossEntropyForward: labelSmoothing must be in \[0, 1\], got -0.1/);
      expectError(fwd([7, 1.5]), 'RangeError', /crossEntropyForward: labelSmoothing must be in \[0, 1\]/);
      expectError(fwd([7, NaN]), 'RangeError', /crossEntropyForward: labelSmoothing must be finite/);
      expectError(fwd([7, '0']), 'TypeError', /crossEntropyForward: labelSmoothing must be a number/);
      const gone = storageOf(new Int32Array([0, 0, 0]));
      gone.dispose();
      expectError(fwd([1, gone]), 'TypeError', /crossEntropyForward: targets is used after dispose/);
    });

    test('backward', () => {
      const bwd = (...over: Array<[number, unknown]>) => {
        const a: unknown[] = [x, t, v, v, x, N, C, -100, 0];
        for (const [i, val] of over) a[i] = val;
        return () => (addon.crossEntropyBackward as (...args: unknown[]) => void)(...a);
      };
      expect(bwd()).not.toThrow();
      expectError(
        bwd([1, storageOf(new Int32Array([7, 0, 0]))]),
        'RangeError',
        /crossEntropyBackward: targets\[0\] = 7 is outside \[0, C = 4\)/,
      );
      expectError(bwd([0, emptyStorage(N * C - 1)]), 'RangeError', /crossEntropyBackward: logits holds/);
      expectError(bwd([2, emptyStorage(N - 1)]), 'RangeError', /crossEntropyBackward: lse holds/);
      expectError(bwd([3, emptyStorage(N - 1)]), 'RangeError', /crossEntropyBackward: dlosses holds/);
      expectError(bwd([4, emptyStorage(N * C - 1)]), 'RangeError', /crossEntropyBackward: dlogits holds/);
      expectError(bwd([5, 2 ** 60]), 'RangeError', /crossEntropyBackward: N must be in/);
      expectError(bwd([6, -4]), 'RangeError', /crossEntropyBackward: C must be in/);
      expectError(bwd([7, Infinity]), 'RangeError', /crossEntropyBackward: ignoreIndex must be an integer/);
      expectError(bwd([8, 2]), 'RangeError', /crossEntropyBackward: labelSmoothing must be in \[0, 1\]/);
      const gone = emptyStorage(N * C);
      gone.dispose();
      expectError(bwd([4, gone]), 'TypeError', /crossEntropyBackward: dlogits is used after dispose/);
    });

    test('bad targets leave the outputs untouched', () => {
      const losses = storageOf(new Float32Array([7, 7, 7]));
      const bad = storageOf(new Int32Array([0, 1, 99]));
      expectError(() => addon.crossEntropyForward(x, bad, losses, v, N, C, -100, 0), 'RangeError');
      expect(Array.from(losses.readFloat32(0, 3))).toEqual([7, 7, 7]);
    });
  });
});
