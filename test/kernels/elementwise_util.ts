// Fast versions of two helpers for the element-wise family's large inputs. Jest runs tests in a vm context
// where every `Math.x` is a slow global lookup; binding the functions once here makes these loops far faster.
const { abs, max, imul } = Math;

/** n floats uniform in [lo, hi) from mulberry32 (the generator of helpers.rng), seeded. */
export function uniformArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** max |a - b| / max(|b|, floor), NaN counting as the worst case: helpers.maxRelError, faster. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-3): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = abs(actual[i] - expected[i]) / max(abs(expected[i]), floor);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

/** Index of the first element where actual and expected differ (Object.is: NaN equals NaN, 0 differs from
 * -0), or -1. Much faster than toEqual on long arrays. */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Math.min(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      e = expected[i];
    if (a !== e && !(a !== a && e !== e)) return i;
    if (a === 0 && 1 / a !== 1 / e) return i;
  }
  return -1;
}
