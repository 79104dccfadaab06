// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_: gradients are rescaled in place.
import { kernels } from '../backend';
import type { NativeAddon, NativeStorage } from '../native';
import { binaryKernel, fillKernel, unaryKernel } from '../ops/elementwise';
import { gemmKernel } from '../ops/gemm';
import { reduceKernel } from '../ops/reduce';
import { Tensor } from '../tensor';

// Each statistic writes one float32 per gradient into slot `slot` of a storage on the gradient's device; the
// slots of all gradients on a device are read back together, so clipping waits for a device once, not once per
// parameter.
type Statistic = (k: NativeAddon, g: Tensor, out: NativeStorage, slot: number) => void;

/** sum(g^2) as a 1 x n by n x 1 product: no temporary the size of g. */
const sumOfSquares: Statistic = (k, g, out, slot) =>
  gemmKernel(k, { a: g.storage, b: g.storage, c: out, cOffset: slot, M: 1, N: 1, K: g.size });

/** A reduction of the whole of x into out[slot], through a one-element temporary (the reduction writes at 0). */
function reduceInto(
  k: NativeAddon,
  op: 'max' | 'min' | 'sum',
  x: NativeStorage,
  n: number,
  out: NativeStorage,
  slot: number,
) {
  const one = new k.Storage(4, false);
  try {
    reduceKernel(k, { op, x, out: one, outer: 1, dim: n, inner: 1 });
    out.copyFrom(one, 0, slot, 1);
  } finally {
    one.dispose();
  }
}

/** max |g| = max(max g, -min g), from two reductions without a temporary the size of g: both go in (two slots). */
const maxAndMin: Statistic = (k, g, out, slot) => {
  reduceInto(k, 'max', g.storage, g.size, out, slot);
  reduceInto(k, 'min', g.storage, g.size, out, slot + 1);
};

/** sum(|g|^p), through a temporary (orders other than 2 and infinity are rare enough to allocate). */
function sumOfPowers(p: number): Statistic {
  return (k, g, out, slot) => {
    const mapped = new k.Storage(g.size * 4, false);
    try {
      unaryKernel(k, { op: 'abs', x: g.storage, out: mapped, n: g.size });
      if (p !== 1) unaryKernel(k, { op: 'powScalar', x: mapped, out: mapped, n: g.size, param: p });
      reduceInto(k, 'sum', mapped, g.size, out, slot);
    } finally {
      mapped.dispose();
    }
  };
}

/** `slots` values of `statistic` per gradient (0 for empty ones), in the order of grads. */
function statistics(grads: Tensor[], statistic: Statistic, slots: number): Float32Array[] {
  const values = new Array<Float32Array>(grads.length);
  for (const device of new Set(grads.map((g) => g.device))) {
    const k = kernels(device);
    const indices = grads.flatMap((g, i) => (g.device === device ? [i] : []));
    const out = new k.Storage(indices.length * slots * 4, true);
    try {
      indices.forEach((i, j) => {
        if (grads[i].size > 0) statistic(k, grads[i], out, j * slots);
      });
      const read = out.readFloat32(0, indices.length * slots);
      indices.forEach((i, j) => (values[i] = read.subarray(j * slots, (j + 1) * slots)));
    } finally {
      out.dispose();
    }
  }
  return values;
}

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite (instead of scaling the gradients by NaN, as torch does). */
  errorIfNonfinite?: boolean;
}

function gradientsOf(op: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  const list =
    params instanceof Tensor
      ? [params]
      : params !== null && typeof params === 'object' && Symbol.iterator in params
        ? [...params]
        : null;
  if (list === null)
    throw new TypeError(
      `${op}: params must be a Tensor or an array of Tensors, got ${params === null ? 'null' : typeof params}`,
    );
  const grads: Tensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor))
      throw new TypeError(`${op}: params[${i}] must be a Tensor, got ${p === null ? 'null' : typeof p}`);
    if (p.grad === null) return;
    if (p.grad.isDisposed) throw new Error(`${op}: the gradient of params[${i}] was disposed`);
    grads.push(p.grad);
  });
  return grads;
}

/** Rescales the gradients of params so that their total norm (the norm of all of them concatenated) is at most
 * maxNorm, and returns that total norm as it was before clipping. normType is p > 0 or Infinity (max |g|).
 * Parameters without a gradient are skipped. */
export function clipGradNorm(
  params: Tensor | Iterable<Tensor>,
  maxNorm: number,
  normType: number | 'inf' = 2,
  options: ClipGradNormOptions = {},
): number {
  const op = 'clipGradNorm';
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0)
    throw new RangeError(`${op}: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  const p: unknown = normType === 'inf' ? Infinity : normType;
  if (typeof p !== 'number' || Number.isNaN(p) || p <= 0)
    throw new RangeError(`${op}: normType must be a number > 0 or Infinity, got ${String(normType)}`);
  const grads = gradientsOf(op, params);
  if (grads.length === 0) return 0;
  let total: number;
  if (p === Infinity) {
    total = 0;
    for (const [high, low] of statistics(grads, maxAndMin, 2)) {
      const m = Number.isNaN(high) || Number.isNaN(low) ? NaN : Math.max(high, -low);
      total = Number.isNaN(m) || Number.isNaN(total) ? NaN : Math.max(total, m);
    }
  } else {
    // Per-gradient sums come from the float32 kernels; they are combined in double.
    let sum = 0;
    for (const [partial] of statistics(grads, p === 2 ? sumOfSquares : sumOfPowers(p), 1)) sum += partial;
    total = sum ** (1 / p);
  }
  if (options.errorIfNonfinite && !Number.isFinite(total))
    throw new Error(
      `${op}: the total norm of order ${p} of the gradients is ${total}; the gradients cannot be clipped`,
    );
  const coefficient = maxNorm / (total + 1e-6);
  // torch multiplies by min(coefficient, 1); multiplying by 1 changes nothing, so only smaller factors (or NaN,
  // which torch propagates into the gradients) are applied.
  if (coefficient < 1 || Number.isNaN(coefficient))
    for (const g of grads)
      if (g.size > 0)
        unaryKernel(kernels(g.device), { op: 'scale', x: g.storage, out: g.storage, n: g.size, param: coefficient });
  return total;
}

/** Clamps every gradient element of params into [-clipValue, clipValue], in place. */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  const op = 'clipGradValue';
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue) || clipValue < 0)
    throw new RangeError(`${op}: clipValue must be a number >= 0, got ${String(clipValue)}`);
  for (const g of gradientsOf(op, params)) {
    if (g.size === 0) continue;
    const k = kernels(g.device);
    const bound = new k.Storage(4, false);
    try {
      // The bound is read with stride 0: broadcast over every element.
      for (const [op, value] of [
        ['minimum', clipValue],
        ['maximum', -clipValue],
      ] as const) {
        fillKernel(k, { dst: bound, n: 1, value });
        binaryKernel(k, {
          op,
          a: g.storage,
          aOffset: 0,
          aStrides: [1],
          b: bound,
          bOffset: 0,
          bStrides: [0],
          out: g.storage,
          shape: [g.size],
        });
      }
    } finally {
      bound.dispose();
    }
  }
}
