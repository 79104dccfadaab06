// The reduce family: the typed calls of its kernels (reductions over the middle axis of [outer, dim, inner],
// the index scatter that is the backward of max/min, the sum that undoes a broadcast) and the reductions
// along dims with their gradients.
import { fmtShape } from '../checks';
import type { NativeAddon, NativeStorage, ReduceOp } from '../native';
import { Tensor } from '../tensor';
import { expand } from './copy';
import { unaryKernel } from './elementwise';
import { assertFloat, kernelShape, kernelsFor, normalizeDim, record, splitAround } from './util';

/** Reduces the middle axis of a contiguous x [outer, dim, inner] into out [outer, inner]. 'max'/'min' also
 * write the int32 position of the first winner into indices when given; 'argmax' writes only indices (out may
 * be null). dim must be >= 1 for max/min/argmax. */
export interface ReduceCall {
  op: ReduceOp;
  x: NativeStorage;
  out: NativeStorage | null;
  indices?: NativeStorage | null;
  outer: number;
  dim: number;
  inner: number;
}

export function reduceKernel(k: NativeAddon, c: ReduceCall): void {
  k.reduce(c.op, c.x, c.out, c.indices ?? null, c.outer, c.dim, c.inner);
}

/** dx [outer, dim, inner] = 0 except dx[o, indices[o, i], i] = dy[o, i]: the backward of max/min. */
export interface IndexBackwardCall {
  dy: NativeStorage;
  indices: NativeStorage;
  dx: NativeStorage;
  outer: number;
  dim: number;
  inner: number;
}

export function indexBackwardKernel(k: NativeAddon, c: IndexBackwardCall): void {
  k.indexBackward(c.dy, c.indices, c.dx, c.outer, c.dim, c.inner);
}

/** Sums a contiguous x of xShape into out of outShape (same rank, each dim equal or 1): the backward of a
 * broadcast. Overwrites out. */
export interface SumToShapeCall {
  x: NativeStorage;
  xShape: number[];
  out: NativeStorage;
  outShape: number[];
}

export function sumToShapeKernel(k: NativeAddon, c: SumToShapeCall): void {
  k.sumToShape(c.x, c.xShape, c.out, c.outShape);
}

/** Sums a broadcast gradient back to the shape of the input it came from. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const padded = [...new Array<number>(g.shape.length - shape.length).fill(1), ...shape];
  const out = Tensor.empty(padded, 'float32', g.device);
  sumToShapeKernel(kernelsFor('sumTo', g), {
    x: g.storage,
    xShape: kernelShape(g.shape),
    out: out.storage,
    outShape: kernelShape(padded),
  });
  if (padded.length === shape.length) return out;
  const view = out.shareWith(shape);
  out.dispose();
  return view;
}

function reducedShape(shape: readonly number[], dim: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((s, i) => (i === dim ? 1 : s)) : shape.filter((_, i) => i !== dim);
}

/** One kernel call reducing a single dim (all dims at once when dim is null). */
function reduceOnce(
  op: ReduceOp,
  x: Tensor,
  dim: number | null,
  keepdim: boolean,
  withIndices: boolean,
): [Tensor, Tensor | null] {
  const [outer, n, inner] = dim === null ? [1, x.size, 1] : splitAround(x.shape, dim);
  const shape = dim === null ? (keepdim ? x.shape.map(() => 1) : []) : reducedShape(x.shape, dim, keepdim);
  if (n === 0 && op !== 'sum' && op !== 'mean')
    throw new RangeError(`${op}: cannot reduce an empty dim (input shape ${fmtShape(x.shape)})`);
  const values = op === 'argmax' ? null : Tensor.empty(shape, 'float32', x.device);
  const indices = withIndices ? Tensor.empty(shape, 'int32', x.device) : null;
  if (outer * inner > 0)
    reduceKernel(kernelsFor(op, x), {
      op,
      x: x.storage,
      out: values ? values.storage : null,
      indices: indices ? indices.storage : null,
      outer,
      dim: n,
      inner,
    });
  return [values ?? (indices as Tensor), indices];
}

function dimsOf(op: string, x: Tensor, dim: number | number[] | undefined): number[] | null {
  if (dim === undefined) return null;
  const dims = (Array.isArray(dim) ? dim : [dim]).map((d) => normalizeDim(op, d, x.ndim));
  if (new Set(dims).size !== dims.length) throw new RangeError(`${op}: repeated dim in ${fmtShape(dims)}`);
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
    if (full.size > 0)
      unaryKernel(kernelsFor('mean', full), {
        op: 'scale',
        x: full.storage,
        out: scaled.storage,
        n: full.size,
        param: 1 / count,
      });
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
    indexBackwardKernel(kernelsFor(op, g), {
      dy: g.storage,
      indices: idx.storage,
      dx: gx.storage,
      outer,
      dim: n,
      inner,
    });
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
