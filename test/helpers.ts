// Shared test utilities: seeded random data, native storages from arrays, error measures, and a loop over
// every kernel path (each ISA the CPU supports x 1 and 2 threads).
import { addon, Isa, NativeStorage } from '../src/native';

/** mulberry32: a small seeded PRNG so every test input is reproducible. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n floats uniform in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function storageOf(data: Float32Array | Int32Array): NativeStorage {
  const s = new addon.Storage(Math.max(1, data.length) * 4);
  s.write(data, 0);
  return s;
}

export function emptyStorage(n: number): NativeStorage {
  return new addon.Storage(Math.max(1, n) * 4);
}

export function readAll(s: NativeStorage): Float32Array {
  return s.readFloat32(0, s.byteLength / 4);
}

// Bound once: a global Math lookup per element is slow inside jest's sandbox.
const { abs, max } = Math;

/** The relative error allowed between two computations of the same values that take different kernel paths:
 * a product of a few rows (decoding steps) goes through the single-row GEMM kernel, a larger one (the full
 * forward) through the tiled kernel, and their float32 sums differ in order; over a few layers the outputs then
 * differ by up to about 1e-4 of their size. Computations on the same path are held to 1e-5. */
export const CROSS_PATH_TOLERANCE = 1e-4;

/** max |a - b| / max(|b|, floor): a relative error that stays meaningful near zero. */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-3): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = abs(actual[i] - expected[i]) / max(abs(expected[i]), floor);
    if (!(e <= worst)) worst = e; // NaN propagates as the worst case
  }
  return worst;
}

export interface KernelPath {
  isa: Isa;
  threads: number;
}

/** Every path a kernel can take here: each supported ISA with 1 and 2 threads. */
export function kernelPaths(): KernelPath[] {
  const paths: KernelPath[] = [];
  for (const isa of addon.supportedIsas()) for (const threads of [1, 2]) paths.push({ isa, threads });
  return paths;
}

/** Runs fn on the given path and restores the previous ISA and thread count afterwards. */
export function onPath<T>(path: KernelPath, fn: () => T): T {
  const isa = addon.getIsa();
  const threads = addon.getNumThreads();
  addon.setIsa(path.isa);
  addon.setNumThreads(path.threads);
  try {
    return fn();
  } finally {
    addon.setIsa(isa);
    addon.setNumThreads(threads);
  }
}

/** Asserts fn throws an error of the given class name whose message matches. Compares by name because errors
 * made by the addon come from the main realm, not jest's sandbox, so `toThrow(RangeError)` cannot see them. */
export function expectError(fn: () => unknown, kind: 'Error' | 'TypeError' | 'RangeError', message?: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a ${kind}, nothing was thrown`);
  const err = error as Error;
  expect(err.constructor?.name ?? err.name).toBe(kind);
  if (message) expect(err.message).toMatch(message);
}
