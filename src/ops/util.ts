// Helpers shared by the ops: argument checks, broadcasting, and graph recording.
import { BackwardFn, GradNode } from '../autograd';
import { kernels } from '../backend';
import { fmtShape } from '../checks';
import type { NativeAddon } from '../native';
import { needsGrad, Shape, Tensor } from '../tensor';

export const MAX_RANK = 8;

export function assertTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor))
    throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.isDisposed) throw new Error(`${op}: ${name} (shape ${fmtShape(t.shape)}) was used after dispose()`);
}

export function assertFloat(op: string, name: string, t: Tensor): void {
  assertTensor(op, name, t);
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
}

export function assertIndex(op: string, name: string, t: Tensor): void {
  assertTensor(op, name, t);
  if (t.dtype !== 'int32') throw new TypeError(`${op}: ${name} must be int32, got ${t.dtype}`);
}

/** The kernels of the device all the given tensors live on. */
export function kernelsFor(op: string, ...tensors: Array<Tensor | null | undefined>): NativeAddon {
  let device: Tensor['device'] | null = null;
  for (const t of tensors) {
    if (!t) continue;
    if (device !== null && t.device !== device)
      throw new Error(`${op}: tensors are on different devices (${device} and ${t.device})`);
    device = t.device;
  }
  return kernels(device ?? 'cpu');
}

/** Rank-0 tensors go to the kernels as one-element rank-1 views. */
export function kernelShape(shape: readonly number[]): number[] {
  return shape.length === 0 ? [1] : [...shape];
}

/** Resolves a possibly negative dim against a rank. */
export function normalizeDim(op: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim)) throw new TypeError(`${op}: dim must be an integer, got ${dim}`);
  const d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= Math.max(ndim, 1))
    throw new RangeError(`${op}: dim ${dim} is out of range for a tensor of rank ${ndim}`);
  return d;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** NumPy/PyTorch broadcasting of two shapes (right-aligned; sizes equal or 1). */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new RangeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together`);
    out[i] = da === 1 ? db : da;
  }
  if (n > MAX_RANK) throw new RangeError(`${op}: rank ${n} exceeds the maximum of ${MAX_RANK}`);
  return out;
}

/** Strides that read a contiguous tensor of `shape` as if it had `outShape` (0 along broadcast dims). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = contiguousStrides(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((d, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j];
  });
}

/** Splits a shape around dim into the [outer, dim, inner] form the reduction/softmax kernels take. */
export function splitAround(shape: Shape, dim: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i];
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[dim] ?? 1, inner];
}

/** Attaches a graph node to out when any input requires grad and recording is on. Returns out. */
export function record(out: Tensor, name: string, inputs: Array<Tensor | null>, backwardFn: BackwardFn): Tensor {
  if (needsGrad(...inputs)) out.setGradFn(new GradNode(name, inputs, backwardFn));
  return out;
}
