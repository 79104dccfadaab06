// The softmax family: the typed calls of its kernels and softmax / log-softmax with their gradients.
import type { NativeAddon, NativeStorage } from '../native';
import { Tensor } from '../tensor';
import { assertFloat, kernelsFor, normalizeDim, record, splitAround } from './util';

/** Softmax (log-softmax when log) along the middle axis of a contiguous [outer, dim, inner] tensor. */
export interface SoftmaxForwardCall {
  x: NativeStorage;
  out: NativeStorage;
  outer: number;
  dim: number;
  inner: number;
  log: boolean;
}

export function softmaxForwardKernel(k: NativeAddon, c: SoftmaxForwardCall): void {
  k.softmaxForward(c.x, c.out, c.outer, c.dim, c.inner, c.log);
}

/** dx from the forward's output y and dy (same layout as the forward); overwrites dx. */
export interface SoftmaxBackwardCall {
  y: NativeStorage;
  dy: NativeStorage;
  dx: NativeStorage;
  outer: number;
  dim: number;
  inner: number;
  log: boolean;
}

export function softmaxBackwardKernel(k: NativeAddon, c: SoftmaxBackwardCall): void {
  k.softmaxBackward(c.y, c.dy, c.dx, c.outer, c.dim, c.inner, c.log);
}

function softmaxImpl(name: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  assertFloat(name, 'input', x);
  if (dim === undefined) throw new TypeError(`${name}: dim is required`);
  const d = normalizeDim(name, dim, x.ndim);
  const [outer, n, inner] = x.ndim === 0 ? [1, 1, 1] : splitAround(x.shape, d);
  const log = name === 'logSoftmax';
  const y = Tensor.empty(x.shape, 'float32', x.device);
  if (y.size > 0)
    softmaxForwardKernel(kernelsFor(name, x), { x: x.storage, out: y.storage, outer, dim: n, inner, log });
  return record(y, name, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    if (gx.size > 0)
      softmaxBackwardKernel(kernelsFor(name, g), {
        y: y.storage,
        dy: g.storage,
        dx: gx.storage,
        outer,
        dim: n,
        inner,
        log,
      });
    return [gx];
  });
}

export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('softmax', x, dim);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('logSoftmax', x, dim);
}
