// The random family: the typed calls of the counter-based random kernels (fills and dropout) and the dropout op.
// The numbers depend only on (seed, element index), so every thread count and device draws the same ones.
import type { NativeAddon, NativeStorage } from '../native';
import { nextSeed, Tensor } from '../tensor';
import { assertFloat, kernelsFor, record } from './util';

/** Fills n floats keyed by seed (an integer in [0, 2^53)): 'uniform' in [a, b), 'normal' with mean a and
 * standard deviation b. */
export interface RandomFillCall {
  dst: NativeStorage;
  n: number;
  dist: 'uniform' | 'normal';
  seed: number;
  a: number;
  b: number;
}

export function randomFillKernel(k: NativeAddon, c: RandomFillCall): void {
  k.randomFill(c.dst, c.n, c.dist, c.seed, c.a, c.b);
}

/** out[i] = x[i] * keep(seed, i) / (1 - p), keeping with probability 1 - p: the same call on dy is the
 * backward. */
export interface DropoutCall {
  x: NativeStorage;
  out: NativeStorage;
  n: number;
  p: number;
  seed: number;
}

export function dropoutKernel(k: NativeAddon, c: DropoutCall): void {
  k.dropout(c.x, c.out, c.n, c.p, c.seed);
}

/** Zeroes elements with probability p and scales the rest by 1/(1-p) when training; identity otherwise. */
export function dropout(x: Tensor, p = 0.5, training = true, options: { seed?: number } = {}): Tensor {
  assertFloat('dropout', 'input', x);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const seed = options.seed ?? nextSeed();
  const out = Tensor.empty(x.shape, 'float32', x.device);
  if (out.size > 0) dropoutKernel(kernelsFor('dropout', x), { x: x.storage, out: out.storage, n: x.size, p, seed });
  return record(out, 'dropout', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    if (gx.size > 0) dropoutKernel(kernelsFor('dropout', g), { x: g.storage, out: gx.storage, n: g.size, p, seed });
    return [gx];
  });
}
