import { addon, AttentionView, NativeStorage } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, randomArray, rng, storageOf } from '../helpers';

// ---- a plain reference: full score matrix per head, float64 ------------------------------------------------------

type MaskView = [number, number, number, number];

interface Layout {
  /** elements the storage needs */
  size: number;
  view: AttentionView;
}

interface Case {
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  D: number;
  scale?: number;
  causal?: boolean;
  causalOffset?: number;
  keyPadding?: Int32Array;
  mask?: { data: Float32Array; view: MaskView };
  dropoutP?: number;
  seed?: number;
  /** q, k, v read out of one packed [B, T, 3, H, D] storage (needs Tq == Tk), out written as [B, T, H, D] */
  packed?: boolean;
}

/** A contiguous [B, H, T, D] view starting `offset` elements into its storage. */
function contiguous(B: number, H: number, T: number, D: number, offset = 0): Layout {
  return { size: offset + B * H * T * D, view: [offset, H * T * D, T * D, D] };
}

function at(view: AttentionView, b: number, h: number, t: number): number {
  return view[0] + b * view[1] + h * view[2] + t * view[3];
}

// Philox4x32-10 as specified in native/cpu/philox.h, so the reference draws the same dropout mask.
function mulHiLo(a: number, b: number): [number, number] {
  const p = BigInt(a) * BigInt(b);
  return [Number(p >> 32n), Number(p & 0xffffffffn)];
}

function philoxBlock(seed: number, stream: number, counter: number): number[] {
  let c0 = counter >>> 0;
  let c1 = Math.floor(counter / 2 ** 32) >>> 0;
  let c2 = stream >>> 0;
  let c3 = 0;
  let k0 = seed >>> 0;
  let k1 = Math.floor(seed / 2 ** 32) >>> 0;
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulHiLo(0xd2511f53, c0);
    const [hi1, lo1] = mulHiLo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const kStreamAttnDropout = 3;

/** keep(b,h,i,j) / (1 - p) for every element, as the kernel draws it. */
function dropoutScale(c: Case): Float64Array {
  const n = c.B * c.H * c.Tq * c.Tk;
  const out = new Float64Array(n).fill(1);
  const p = Math.fround(c.dropoutP ?? 0);
  if (p === 0) return out;
  const kept = Math.fround(1 / Math.fround(1 - p));
  for (let idx = 0; idx < n; idx++) {
    const word = philoxBlock(c.seed ?? 0, kStreamAttnDropout, Math.floor(idx / 4))[idx % 4];
    const u = (word >>> 8) / 16777216;
    out[idx] = u >= p ? kept : 0;
  }
  return out;
}

interface Tensors {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
  layouts: { q: Layout; k: Layout; v: Layout; out: Layout };
}

function makeTensors(c: Case, seed: number): Tensors {
  const { B, H, Tq, Tk, D } = c;
  let layouts: Tensors['layouts'];
  if (c.packed) {
    const T = Tq;
    const row = 3 * H * D;
    const packedSize = 2 + B * T * row;
    const packedView = (which: number): Layout => ({ size: packedSize, view: [2 + which * H * D, T * row, D, row] });
    layouts = {
      q: packedView(0),
      k: packedView(1),
      v: packedView(2),
      out: { size: 1 + B * T * H * D, view: [1, T * H * D, D, H * D] },
    };
  } else {
    layouts = {
      q: contiguous(B, H, Tq, D, 3),
      k: contiguous(B, H, Tk, D),
      v: contiguous(B, H, Tk, D, 1),
      out: contiguous(B, H, Tq, D, 2),
    };
  }
  if (c.packed) {
    const qkv = randomArray(layouts.q.size, seed + 1); // one array (and one storage) behind q, k and v
    return { q: qkv, k: qkv, v: qkv, dout: randomArray(layouts.out.size, seed + 4), layouts };
  }
  return {
    q: randomArray(layouts.q.size, seed + 1),
    k: randomArray(layouts.k.size, seed + 2),
    v: randomArray(layouts.v.size, seed + 3),
    dout: randomArray(layouts.out.size, seed + 4),
    layouts,
  };
}

function isMasked(c: Case, b: number, i: number, j: number): boolean {
  if (c.causal && j > i + (c.causalOffset ?? 0)) return true;
  if (c.keyPadding && c.keyPadding[b * c.Tk + j] !== 0) return true;
  return false;
}

function maskValue(c: Case, b: number, h: number, i: number, j: number): number {
  if (!c.mask) return 0;
  const m = c.mask.view;
  return c.mask.data[m[0] + b * m[1] + h * m[2] + i * m[3] + j];
}

interface Reference {
  out: Float64Array; // [B, H, Tq, D]
  lse: Float64Array;
  weights: Float64Array;
  dq: Float64Array;
  dk: Float64Array; // [B, H, Tk, D]
  dv: Float64Array;
}

function reference(c: Case, t: Tensors): Reference {
  const { B, H, Tq, Tk, D } = c;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const keep = dropoutScale(c);
  const { q: ql, k: kl, v: vl, out: ol } = t.layouts;
  const r: Reference = {
    out: new Float64Array(B * H * Tq * D),
    lse: new Float64Array(B * H * Tq),
    weights: new Float64Array(B * H * Tq * Tk),
    dq: new Float64Array(B * H * Tq * D),
    dk: new Float64Array(B * H * Tk * D),
    dv: new Float64Array(B * H * Tk * D),
  };
  const s = new Float64Array(Tk);
  const dp = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Tq; i++) {
        const row = (b * H + h) * Tq + i;
        const qo = at(ql.view, b, h, i);
        let m = -Infinity;
        for (let j = 0; j < Tk; j++) {
          const ko = at(kl.view, b, h, j);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += t.q[qo + d] * t.k[ko + d];
          s[j] = isMasked(c, b, i, j) ? -Infinity : scale * dot + maskValue(c, b, h, i, j);
          m = Math.max(m, s[j]);
        }
        if (m === -Infinity) {
          r.lse[row] = Infinity;
          continue; // out, weights and gradients stay 0
        }
        let sum = 0;
        for (let j = 0; j < Tk; j++) sum += Math.exp(s[j] - m);
        r.lse[row] = m + Math.log(sum);
        const P = (j: number) => r.weights[row * Tk + j];
        for (let j = 0; j < Tk; j++) r.weights[row * Tk + j] = Math.exp(s[j] - m) / sum;
        const oo = at(ol.view, b, h, i);
        let rowDot = 0;
        for (let j = 0; j < Tk; j++) {
          const vo = at(vl.view, b, h, j);
          const pk = P(j) * keep[row * Tk + j];
          let g = 0;
          for (let d = 0; d < D; d++) {
            r.out[row * D + d] += pk * t.v[vo + d];
            g += t.dout[oo + d] * t.v[vo + d];
            r.dv[((b * H + h) * Tk + j) * D + d] += pk * t.dout[oo + d];
          }
          dp[j] = g * keep[row * Tk + j];
          rowDot += P(j) * dp[j];
        }
        for (let j = 0; j < Tk; j++) {
          const ds = P(j) * (dp[j] - rowDot) * scale;
          const ko = at(kl.view, b, h, j);
          for (let d = 0; d < D; d++) {
            r.dq[row * D + d] += ds * t.k[ko + d];
            r.dk[((b * H + h) * Tk + j) * D + d] += ds * t.q[qo + d];
          }
        }
      }
  return r;
}

// ---- running the kernels ---------------------------------------------------------------------------------------

interface Result {
  out: Float32Array; // gathered to [B, H, Tq, D]
  lse: Float32Array;
  weights: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /** the raw out and dq storages, to check that regions outside the views are untouched */
  outRaw: Float32Array;
  dqRaw: Float32Array;
}

function gather(data: Float32Array, view: AttentionView, B: number, H: number, T: number, D: number): Float32Array {
  const out = new Float32Array(B * H * T * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++)
        for (let d = 0; d < D; d++) out[((b * H + h) * T + t) * D + d] = data[at(view, b, h, t) + d];
  return out;
}

const SENTINEL = 12345;

/** 'weights': the forward writes the probabilities, which the backward recomputes; 'probs': the backward reads
 * them instead; 'none': no weights. */
type Mode = 'weights' | 'probs' | 'none';

function run(c: Case, t: Tensors, mode: Mode = 'weights'): Result {
  const { B, H, Tq, Tk, D } = c;
  const L = t.layouts;
  // Packed q, k, v live in one storage, and so do their gradients (as an autograd would lay them out).
  const shared = t.q === t.k;
  const q = storageOf(t.q);
  const k = shared ? q : storageOf(t.k);
  const v = shared ? q : storageOf(t.v);
  const out = storageOf(new Float32Array(L.out.size).fill(SENTINEL));
  const lse = emptyStorage(B * H * Tq);
  const weights = mode === 'none' ? null : emptyStorage(B * H * Tq * Tk);
  const dout = storageOf(t.dout);
  const dq = storageOf(new Float32Array(L.q.size).fill(SENTINEL));
  const dk = shared ? dq : emptyStorage(L.k.size);
  const dv = shared ? dq : emptyStorage(L.v.size);
  const keyPadding = c.keyPadding ? storageOf(c.keyPadding) : null;
  const mask = c.mask ? storageOf(c.mask.data) : null;
  const maskView: MaskView = c.mask ? c.mask.view : [0, 0, 0, 0];
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const common = [
    B,
    H,
    Tq,
    Tk,
    D,
    L.q.view,
    L.k.view,
    L.v.view,
    L.out.view,
    scale,
    c.causal ?? false,
    c.causalOffset ?? 0,
    keyPadding,
    mask,
    maskView,
    c.dropoutP ?? 0,
    c.seed ?? 0,
  ] as const;
  addon.attentionForward(q, k, v, out, lse, weights, ...common);
  addon.attentionBackward(q, k, v, out, dout, lse, dq, dk, dv, ...common, mode === 'probs' ? weights : null);
  const outRaw = out.readFloat32(0, L.out.size);
  const dqRaw = dq.readFloat32(0, L.q.size);
  const result: Result = {
    out: gather(outRaw, L.out.view, B, H, Tq, D),
    lse: lse.readFloat32(0, B * H * Tq),
    weights: weights ? weights.readFloat32(0, B * H * Tq * Tk) : new Float32Array(0),
    dq: gather(dqRaw, L.q.view, B, H, Tq, D),
    dk: gather(dk.readFloat32(0, L.k.size), L.k.view, B, H, Tk, D),
    dv: gather(dv.readFloat32(0, L.v.size), L.v.view, B, H, Tk, D),
    outRaw,
    dqRaw,
  };
  for (const s of new Set([q, k, v, out, lse, weights, dout, dq, dk, dv, keyPadding, mask])) s?.dispose();
  return result;
}

/** max |a - b| over max |b|: the error relative to the tensor's scale. */
function scaledError(actualIn: ArrayLike<number>, expectedIn: ArrayLike<number>): number {
  expect(actualIn.length).toBe(expectedIn.length);
  // One array type keeps the loops below monomorphic (mixed Float32/Float64 access is many times slower).
  const actual = new Float64Array(actualIn);
  const expected = new Float64Array(expectedIn);
  let worst = 0;
  let magnitude = 1e-6;
  for (let i = 0; i < expected.length; i++) magnitude = Math.max(magnitude, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worst)) worst = e; // NaN is the worst
  }
  return worst / magnitude;
}

/** Fails naming the path and tensor, which a bare toBeLessThan would not. */
function within(label: string, name: string, error: number, tolerance: number): void {
  if (!(error < tolerance)) throw new Error(`${label}: ${name} error ${error} exceeds ${tolerance}`);
}

function expectLse(actual: Float32Array, expected: Float64Array): void {
  let wrong = 0;
  for (let i = 0; i < expected.length; i++) {
    const ok =
      expected[i] === Infinity
        ? actual[i] === Infinity
        : Math.abs(actual[i] - expected[i]) < 1e-4 * Math.max(1, Math.abs(expected[i]));
    if (!ok) wrong++;
  }
  expect(wrong).toBe(0);
}

/** Counts the elements of raw outside the views ([view, T] pairs) that no longer hold SENTINEL. */
function expectUntouchedOutside(raw: Float32Array, views: Array<[AttentionView, number]>, c: Case): void {
  const inside = new Uint8Array(raw.length);
  for (const [view, T] of views)
    for (let b = 0; b < c.B; b++)
      for (let h = 0; h < c.H; h++)
        for (let t = 0; t < T; t++) for (let d = 0; d < c.D; d++) inside[at(view, b, h, t) + d] = 1;
  let changed = 0;
  for (let i = 0; i < raw.length; i++) if (!inside[i] && raw[i] !== SENTINEL) changed++;
  expect(changed).toBe(0);
}

function checkCase(c: Case, seed = 1): void {
  const t = makeTensors(c, seed);
  const ref = reference(c, t);
  for (const path of kernelPaths())
    for (const mode of ['weights', 'probs'] as const) {
      const got = onPath(path, () => run(c, t, mode));
      const label = `${path.isa} x${path.threads}, ${mode}`;
      within(label, 'out', scaledError(got.out, ref.out), 1e-5);
      expectLse(got.lse, ref.lse);
      within(label, 'weights', scaledError(got.weights, ref.weights), 1e-5);
      within(label, 'dq', scaledError(got.dq, ref.dq), 1e-4);
      within(label, 'dk', scaledError(got.dk, ref.dk), 1e-4);
      within(label, 'dv', scaledError(got.dv, ref.dv), 1e-4);
      const L = t.layouts;
      expectUntouchedOutside(got.outRaw, [[L.out.view, c.Tq]], c);
      const gradViews: Array<[AttentionView, number]> = [[L.q.view, c.Tq]];
      if (c.packed) gradViews.push([L.k.view, c.Tk], [L.v.view, c.Tk]);
      expectUntouchedOutside(got.dqRaw, gradViews, c);
    }
}

// ---- tests -------------------------------------------------------------------------------------------------------

describe('attention forward and backward vs a float64 reference', () => {
  test.each([
    { B: 1, H: 1, Tq: 1, Tk: 1, D: 1 },
    { B: 2, H: 3, Tq: 7, Tk: 33, D: 5 },
    { B: 1, H: 2, Tq: 1, Tk: 257, D: 64 },
    { B: 2, H: 1, Tq: 70, Tk: 70, D: 65 },
    { B: 1, H: 2, Tq: 33, Tk: 7, D: 16, scale: 0.7 },
    { B: 3, H: 2, Tq: 130, Tk: 129, D: 8 },
    { B: 4, H: 3, Tq: 20, Tk: 140, D: 4 }, // enough heads for one thread per head in the backward
  ])('plain B=$B H=$H Tq=$Tq Tk=$Tk D=$D', (c) => checkCase(c));

  test.each([
    { B: 2, H: 2, Tq: 33, Tk: 33, D: 7, causalOffset: 0 },
    { B: 1, H: 3, Tq: 7, Tk: 33, D: 5, causalOffset: 33 - 7 },
    { B: 1, H: 2, Tq: 130, Tk: 200, D: 16, causalOffset: 200 - 130 },
    { B: 2, H: 1, Tq: 140, Tk: 140, D: 9, causalOffset: 0 },
    { B: 1, H: 2, Tq: 9, Tk: 12, D: 4, causalOffset: -3 }, // the first 3 rows see nothing
    { B: 1, H: 2, Tq: 70, Tk: 20, D: 8, causalOffset: 20 - 70 }, // more queries than keys: 50 rows see nothing
    { B: 2, H: 1, Tq: 5, Tk: 6, D: 3, causalOffset: -100 }, // every row masked
  ])('causal Tq=$Tq Tk=$Tk offset=$causalOffset', (c) => checkCase({ ...c, causal: true }));

  test('key padding, including a batch row with every key ignored', () => {
    const B = 3,
      Tk = 37;
    const keyPadding = new Int32Array(B * Tk);
    const r = rng(5);
    for (let j = 0; j < Tk; j++) keyPadding[j] = r() < 0.3 ? 1 : 0;
    for (let j = 0; j < Tk; j++) keyPadding[Tk + j] = 7; // nonzero = ignored
    keyPadding[2 * Tk + Tk - 1] = 1;
    checkCase({ B, H: 2, Tq: 11, Tk, D: 6, keyPadding });
    checkCase({ B, H: 2, Tq: 70, Tk, D: 6, keyPadding, causal: true, causalOffset: 4 });
  });

  test('additive masks with broadcast strides and -Infinity entries', () => {
    const B = 2,
      H = 3,
      Tq = 9,
      Tk = 70,
      D = 8;
    // [B, 1, Tq, Tk]: shared by heads
    const perBatch = randomArray(B * Tq * Tk, 11, -2, 2);
    for (let n = 0; n < perBatch.length; n += 5) perBatch[n] = -Infinity;
    for (let j = 0; j < Tk; j++) perBatch[1 * Tq * Tk + 4 * Tk + j] = -Infinity; // row (b=1, i=4) fully masked
    checkCase({ B, H, Tq, Tk, D, mask: { data: perBatch, view: [0, Tq * Tk, 0, Tk] } });
    // [1, H, Tq, Tk] at an offset: shared by the batch
    const perHead = new Float32Array(3 + H * Tq * Tk);
    perHead.set(randomArray(H * Tq * Tk, 12, -3, 1), 3);
    checkCase({ B, H, Tq, Tk, D, mask: { data: perHead, view: [3, 0, Tq * Tk, Tk] }, causal: true, causalOffset: 60 });
    // [B, 1, 1, Tk]: one additive key mask per batch row
    const perKey = randomArray(B * Tk, 13, -1, 1);
    perKey[3] = -Infinity;
    checkCase({ B, H, Tq, Tk, D, mask: { data: perKey, view: [0, Tk, 0, 0] } });
  });

  test('strided views: q, k, v inside one packed [B, T, 3, H, D] storage, out as [B, T, H, D]', () => {
    checkCase({ B: 2, H: 3, Tq: 67, Tk: 67, D: 8, packed: true });
    checkCase({ B: 1, H: 2, Tq: 33, Tk: 33, D: 5, packed: true, causal: true, causalOffset: 0 });
  });

  test('dropout matches the Philox mask drawn at ((b*H + h)*Tq + i)*Tk + j', () => {
    checkCase({ B: 2, H: 2, Tq: 9, Tk: 13, D: 5, dropoutP: 0.3, seed: 42 });
    checkCase({ B: 1, H: 3, Tq: 70, Tk: 66, D: 4, dropoutP: 0.1, seed: 2 ** 40 + 7, causal: true, causalOffset: 0 });
    // Short rows are drawn in one run across the tile, in 512-draw pieces that end inside rows.
    checkCase({ B: 2, H: 3, Tq: 24, Tk: 23, D: 33, dropoutP: 0.2, seed: 11 });
    checkCase({ B: 1, H: 2, Tq: 24, Tk: 24, D: 32, dropoutP: 0.1, seed: 12, causal: true, causalOffset: 0 });
  });
});

describe('attention dropout', () => {
  const c: Case = { B: 1, H: 4, Tq: 64, Tk: 64, D: 64, dropoutP: 0.25, seed: 9 };

  test('same seed gives the same output (on every path), another seed a different one', () => {
    const t = makeTensors(c, 3);
    const first = run(c, t).out;
    expect(run(c, t).out).toEqual(first);
    for (const path of kernelPaths())
      within(
        path.isa,
        'out',
        scaledError(
          onPath(path, () => run(c, t).out),
          first,
        ),
        1e-5,
      );
    const other = run({ ...c, seed: 10 }, t).out;
    expect(scaledError(other, first)).toBeGreaterThan(1e-2);
  });

  test('drops close to a fraction p of the probabilities', () => {
    // With V = identity (Tk = D), out[i][j] = P_ij * keep_ij / (1 - p), so zeros in out are the dropped entries.
    const t = makeTensors(c, 4);
    const L = t.layouts;
    t.v.fill(0);
    for (let h = 0; h < c.H; h++) for (let j = 0; j < c.Tk; j++) t.v[at(L.v.view, 0, h, j) + j] = 1;
    const got = run(c, t);
    let dropped = 0;
    for (let n = 0; n < got.out.length; n++) {
      const kept = got.out[n] / (got.weights[n] / (1 - 0.25));
      if (got.out[n] === 0) dropped++;
      else expect(Math.abs(kept - 1)).toBeLessThan(1e-4);
    }
    expect(Math.abs(dropped / got.out.length - 0.25)).toBeLessThan(0.02);
  });
});

describe('attention gradients by central finite differences of the forward', () => {
  // loss = sum(out * G); each input element is nudged by +-h and the float64 loss difference compared.
  function finiteDifferenceCheck(c: Case): void {
    const t = makeTensors(c, 21);
    const { B, H, Tq, D } = c;
    const L = t.layouts;
    const G = gather(t.dout, L.out.view, B, H, Tq, D);
    const lossOf = (tensors: Tensors): number => {
      const out = run(c, tensors, 'none').out;
      let sum = 0;
      for (let n = 0; n < out.length; n++) sum += out[n] * G[n];
      return sum;
    };
    const analytic = run(c, t);
    const step = 1e-2;
    for (const name of ['q', 'k', 'v'] as const) {
      const T = name === 'q' ? c.Tq : c.Tk;
      const grad = analytic[`d${name}`];
      const numeric = new Float64Array(grad.length);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let s = 0; s < T; s++)
            for (let d = 0; d < D; d++) {
              const idx = at(L[name].view, b, h, s) + d;
              const original = t[name][idx];
              t[name][idx] = original + step;
              const plus = lossOf(t);
              t[name][idx] = original - step;
              const minus = lossOf(t);
              t[name][idx] = original;
              numeric[((b * H + h) * T + s) * D + d] = (plus - minus) / (2 * step);
            }
      within('finite differences', `d${name}`, scaledError(grad, numeric), 1e-2);
    }
  }

  test('plain with causal mask, additive mask and padding', () => {
    const mask = randomArray(3 * 4, 8, -1, 1);
    mask[5] = -Infinity;
    finiteDifferenceCheck({
      B: 1,
      H: 2,
      Tq: 3,
      Tk: 4,
      D: 3,
      causal: true,
      causalOffset: 1,
      keyPadding: new Int32Array([0, 0, 1, 0]),
      mask: { data: mask, view: [0, 0, 0, 4] },
      scale: 0.9,
    });
  });

  test('with dropout (the same seed regenerates the same mask)', () => {
    finiteDifferenceCheck({ B: 1, H: 2, Tq: 4, Tk: 5, D: 3, dropoutP: 0.4, seed: 77 });
  });
});

describe('attention argument checks', () => {
  const B = 2,
    H = 2,
    Tq = 3,
    Tk = 4,
    D = 5;
  const qv: AttentionView = [0, H * Tq * D, Tq * D, D];
  const kv: AttentionView = [0, H * Tk * D, Tk * D, D];
  let s: Record<string, NativeStorage>;
  beforeEach(() => {
    s = {
      q: emptyStorage(B * H * Tq * D),
      k: emptyStorage(B * H * Tk * D),
      v: emptyStorage(B * H * Tk * D),
      out: emptyStorage(B * H * Tq * D),
      dout: emptyStorage(B * H * Tq * D),
      lse: emptyStorage(B * H * Tq),
      dq: emptyStorage(B * H * Tq * D),
      dk: emptyStorage(B * H * Tk * D),
      dv: emptyStorage(B * H * Tk * D),
      small: emptyStorage(3),
      pad: emptyStorage(B * Tk),
      mask: emptyStorage(Tq * Tk),
      weights: emptyStorage(B * H * Tq * Tk),
    };
  });
  afterEach(() => Object.values(s).forEach((x) => x.disposed || x.dispose()));

  type Overrides = Partial<
    Record<
      | 'q'
      | 'k'
      | 'v'
      | 'out'
      | 'dout'
      | 'lse'
      | 'weights'
      | 'probs'
      | 'dq'
      | 'dk'
      | 'dv'
      | 'B'
      | 'H'
      | 'Tq'
      | 'Tk'
      | 'D'
      | 'qView'
      | 'kView'
      | 'vView'
      | 'outView'
      | 'scale'
      | 'isCausal'
      | 'causalOffset'
      | 'keyPadding'
      | 'attnMask'
      | 'maskView'
      | 'dropoutP'
      | 'seed',
      unknown
    >
  >;

  function forward(o: Overrides = {}): void {
    const a = {
      q: s.q,
      k: s.k,
      v: s.v,
      out: s.out,
      lse: s.lse,
      weights: null,
      B,
      H,
      Tq,
      Tk,
      D,
      qView: qv,
      kView: kv,
      vView: kv,
      outView: qv,
      scale: 0.5,
      isCausal: false,
      causalOffset: 0,
      keyPadding: null,
      attnMask: null,
      maskView: [0, 0, 0, 0],
      dropoutP: 0,
      seed: 0,
      ...o,
    } as unknown as Record<string, never>;
    addon.attentionForward(
      a.q,
      a.k,
      a.v,
      a.out,
      a.lse,
      a.weights,
      a.B,
      a.H,
      a.Tq,
      a.Tk,
      a.D,
      a.qView,
      a.kView,
      a.vView,
      a.outView,
      a.scale,
      a.isCausal,
      a.causalOffset,
      a.keyPadding,
      a.attnMask,
      a.maskView,
      a.dropoutP,
      a.seed,
    );
  }

  function backward(o: Overrides = {}): void {
    const a = {
      q: s.q,
      k: s.k,
      v: s.v,
      out: s.out,
      dout: s.dout,
      lse: s.lse,
      dq: s.dq,
      dk: s.dk,
      dv: s.dv,
      B,
      H,
      Tq,
      Tk,
      D,
      qView: qv,
      kView: kv,
      vView: kv,
      outView: qv,
      scale: 0.5,
      isCausal: false,
      causalOffset: 0,
      keyPadding: null,
      attnMask: null,
      maskView: [0, 0, 0, 0],
      dropoutP: 0,
      seed: 0,
      ...o,
    } as unknown as Record<string, never>;
    addon.attentionBackward(
      a.q,
      a.k,
      a.v,
      a.out,
      a.dout,
      a.lse,
      a.dq,
      a.dk,
      a.dv,
      a.B,
      a.H,
      a.Tq,
      a.Tk,
      a.D,
      a.qView,
      a.kView,
      a.vView,
      a.outView,
      a.scale,
      a.isCausal,
      a.causalOffset,
      a.keyPadding,
      a.attnMask,
      a.maskView,
      a.dropoutP,
      a.seed,
      a.probs,
    );
  }

  test('valid arguments pass', () => {
    forward({ weights: s.weights });
    backward();
    backward({ probs: s.weights });
    forward({
      keyPadding: s.pad,
      attnMask: s.mask,
      maskView: [0, 0, 0, Tk],
      isCausal: true,
      dropoutP: 0.5,
      seed: 2 ** 53 - 1,
    });
  });

  test('storages too small for their views', () => {
    expectError(
      () => forward({ q: s.small }),
      'RangeError',
      /attentionForward: q view \[0, 30, 15, 5\] over \[2, 2, 3, 5\] reaches element 60 but q holds 3/,
    );
    expectError(() => forward({ kView: [1, H * Tk * D, Tk * D, D] }), 'RangeError', /attentionForward: k view/);
    expectError(() => forward({ vView: [0, 0, 0, 100] }), 'RangeError', /attentionForward: v view/);
    expectError(() => forward({ out: s.small }), 'RangeError', /attentionForward: out view/);
    expectError(() => forward({ lse: s.small }), 'RangeError', /attentionForward: lse holds 3 elements, needs 12/);
    expectError(() => forward({ weights: s.small }), 'RangeError', /attentionForward: weights holds 3 elements/);
    expectError(() => forward({ keyPadding: s.small }), 'RangeError', /attentionForward: keyPadding holds 3/);
    expectError(
      () => forward({ attnMask: s.mask, maskView: [0, 0, 0, Tk + 1] }),
      'RangeError',
      /attentionForward: attnMask view/,
    );
    expectError(() => forward({ attnMask: s.mask, maskView: [0, 1, 0, Tk] }), 'RangeError', /attnMask view/);
    expectError(() => forward({ qView: [0, 2 ** 50, 2 ** 50, 2 ** 50] }), 'RangeError', /q view .* past 2\^50/);
    for (const name of ['q', 'k', 'v', 'out', 'dout', 'dq', 'dk', 'dv'])
      expectError(() => backward({ [name]: s.small }), 'RangeError', new RegExp(`attentionBackward: ${name} view`));
    expectError(() => backward({ lse: s.small }), 'RangeError', /attentionBackward: lse holds 3/);
    expectError(
      () => backward({ probs: s.small }),
      'RangeError',
      /attentionBackward: probs holds 3 elements, needs 48/,
    );
  });

  test('sizes must be integers >= 1', () => {
    for (const name of ['B', 'H', 'Tq', 'Tk', 'D'])
      for (const bad of [0, -1, NaN, 1.5, Infinity]) {
        expectError(() => forward({ [name]: bad }), 'RangeError', new RegExp(`attentionForward: ${name} must be`));
        expectError(() => backward({ [name]: bad }), 'RangeError', new RegExp(`attentionBackward: ${name} must be`));
      }
    expectError(() => forward({ B: '2' }), 'TypeError', /attentionForward: B must be a number/);
    expectError(() => forward({ D: 65537 }), 'RangeError', /attentionForward: D must be in \[1, 65536\]/);
    expectError(() => forward({ B: 2 ** 20, H: 2 ** 20, Tq: 2 ** 10, Tk: 2 ** 20 }), 'RangeError', /too many elements/);
  });

  test('views must be four non-negative integers', () => {
    expectError(() => forward({ qView: [0, 1, 2] }), 'TypeError', /attentionForward: qView must be \[offset/);
    expectError(() => forward({ qView: [0, 1, 2, 3, 4] }), 'RangeError', /qView has 5 entries/);
    expectError(() => forward({ kView: [0, -1, 0, 0] }), 'RangeError', /kView\[1\] must be in/);
    expectError(() => forward({ outView: [0.5, 0, 0, 0] }), 'RangeError', /outView\[0\] must be an integer/);
    expectError(() => forward({ maskView: null }), 'TypeError', /maskView must be an array/);
  });

  test('options: scale, causalOffset, dropoutP, seed', () => {
    expectError(() => forward({ scale: NaN }), 'RangeError', /attentionForward: scale must be finite/);
    expectError(() => forward({ scale: 1e39 }), 'RangeError', /scale must be finite in float32/);
    expectError(() => forward({ isCausal: 1 }), 'TypeError', /isCausal must be a boolean/);
    expectError(() => forward({ causalOffset: 0.5 }), 'RangeError', /causalOffset must be an integer/);
    for (const p of [1, -0.1, 1.5, NaN])
      expectError(() => backward({ dropoutP: p }), 'RangeError', /attentionBackward: dropoutP must be/);
    for (const seed of [-1, 2 ** 53, 0.5])
      expectError(() => forward({ seed }), 'RangeError', /attentionForward: seed must be/);
  });

  test('storage arguments: type and use after dispose', () => {
    expectError(() => forward({ q: 'x' }), 'TypeError', /attentionForward: q must be a Storage/);
    expectError(() => forward({ lse: null }), 'TypeError', /attentionForward: lse must be a Storage/);
    expectError(() => forward({ keyPadding: {} }), 'TypeError', /keyPadding must be a Storage/);
    s.v.dispose();
    expectError(() => forward(), 'TypeError', /attentionForward: v is used after dispose/);
    s.dk.dispose();
    expectError(() => backward({ v: s.k }), 'TypeError', /attentionBackward: dk is used after dispose/);
    expectError(
      () => (addon.attentionForward as unknown as () => void)(),
      'TypeError',
      /attentionForward: expected 23 arguments/,
    );
  });
});
