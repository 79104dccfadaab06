// Reductions along dims, and softmax / log-softmax, with their gradients.
import type { ReduceOp } from '../native';
import { Tensor } from '../tensor';
import { expand } from './shape';
import { assertFloat, fmtShape, kernelsFor, normalizeDim, record, splitAround } from './util';

function reducedShape(shape: readonly number[], dim: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((s, i) => (i === dim ? 1 : s)) : shape.filter((_, i) => i !== dim);
}

/** One kernel call reducing a single dim (all dims at once when dim is null). */
function reduceOnce(op: ReduceOp, x: Tensor, dim: number | null, keepdim: boolean, withIndices: boolean): [Tensor, Tensor | null] {
  const [outer, n, inner] = dim === null ? [1, x.size, 1] : splitAround(x.shape, dim);
  const shape = dim === null ? (keepdim ? x.shape.map(() => 1) : []) : reducedShape(x.shape, dim, keepdim);
  if (n === 0 && op !== 'sum' && op !== 'mean')
    throw new RangeError(`${op}: cannot reduce an empty dim (input shape ${fmtShape(x.shape)})`);
  const values = op === 'argmax' ? null : Tensor.empty(shape, 'float32', x.device);
  const indices = withIndices ? Tensor.empty(shape, 'int32', x.device) : null;
  if (outer * inner > 0)
    kernelsFor(op, x).reduce(op, x.storage, values ? values.storage : null, indices ? indices.storage : null, outer, n, inner);
  return [values ?? (indices as Tensor), indices];
}

function dimsOf(op: string, x: Tensor, dim: number | number[] | undefined): number[] | null {
  if (dim === undefined) return null;
  const dims = (Array.isArray(dim) ? dim : [dim]).map((d) => normalizeDim(op, d, x.ndim));
  if (new Set(dims).size !== dims.length) throw new RangeError(`${op}: repeated dim in [${dims.join(', ')}]`);
  return dims.sort((a, b) => b - a); // highest first, so earlier dims keep their positions
}

/** Broadcasts a reduced gradient back over the reduced dims of shape. */
function expandBack(g: Tensor, shape: readonly number[], dims: number[] | null): Tensor {
  const kept = shape.map((s, i) => (dims === null || dims.includes(i) ? 1 : s));
  return expand(g.shareWith(kept), [...shape]);
}

function sumOrMean(op: 'sum' | 'mean', x: Tensor, dim: number | number[] | undefined, keepdim: boolean): Tensor {
  assertFloat(op, 'input', x);
  const dims = dimsOf(op, x, dim);
  let out: Tensor;
  if (dims === null) out = reduceOnce(op, x, null, keepdim, false)[0];
  else {
    out = x;
    for (const d of dims) {
      const next = reduceOnce(op, out, d, keepdim, false)[0];
      if (out !== x) out.dispose();
      out = next;
    }
    if (out === x) out = x.shareWith(x.shape);
  }
  const count = dims === null ? x.size : dims.reduce((p, d) => p * x.shape[d], 1);
  return record(out, op, [x], (g) => {
    const full = expandBack(g, x.shape, dims);
    if (op === 'sum') return [full];
    const scaled = Tensor.empty(full.shape, 'float32', full.device);
    if (full.size > 0) kernelsFor('mean', full).unary('scale', full.storage, scaled.storage, full.size, 1 / count);
    return [scaled];
  });
}

export function sum(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  return sumOrMean('sum', x, dim, keepdim);
}

export function mean(x: Tensor, dim?: number | number[], keepdim = false): Tensor {
  return sumOrMean('mean', x, dim, keepdim);
}

function extremum(op: 'max' | 'min', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  assertFloat(op, 'input', x);
  const d = dim === undefined ? null : normalizeDim(op, dim, x.ndim);
  const [values, indices] = reduceOnce(op, x, d, keepdim, true);
  const idx = indices as Tensor;
  const out = record(values, op, [x], (g) => {
    const [outer, n, inner] = d === null ? [1, x.size, 1] : splitAround(x.shape, d);
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    kernelsFor(op, g).indexBackward(g.storage, idx.storage, gx.storage, outer, n, inner);
    return [gx];
  });
  if (out.gradFn === null) idx.dispose();
  return out;
}

/** Largest value (over all elements, or along dim). The gradient goes to the first maximal element. */
export function max(x: Tensor, dim?: number, keepdim = false): Tensor {
  return extremum('max', x, dim, keepdim);
}

export function min(x: Tensor, dim?: number, keepdim = false): Tensor {
  return extremum('min', x, dim, keepdim);
}

/** int32 position of the largest value (of the flattened tensor when dim is omitted). */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  assertFloat('argmax', 'input', x);
  const d = dim === undefined ? null : normalizeDim('argmax', dim, x.ndim);
  return reduceOnce('argmax', x, d, keepdim, true)[0];
}

function softmaxImpl(name: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  assertFloat(name, 'input', x);
  if (dim === undefined) throw new TypeError(`${name}: dim is required`);
  const d = normalizeDim(name, dim, x.ndim);
  const [outer, n, inner] = x.ndim === 0 ? [1, 1, 1] : splitAround(x.shape, d);
  const log = name === 'logSoftmax';
  const y = Tensor.empty(x.shape, 'float32', x.device);
  if (y.size > 0) kernelsFor(name, x).softmaxForward(x.storage, y.storage, outer, n, inner, log);
  return record(y, name, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device);
    if (gx.size > 0) kernelsFor(name, g).softmaxBackward(y.storage, g.storage, gx.storage, outer, n, inner, log);
    return [gx];
  });
}

export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('softmax', x, dim);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxImpl('logSoftmax', x, dim);
}
