// The copy family: the typed call of the strided-copy kernel, and the ops that move elements through it:
// permute, transpose, expand, slice, cat and stack.
import { fmtShape } from '../checks';
import type { NativeAddon, NativeStorage } from '../native';
import { checkShape, Tensor } from '../tensor';
import { sumTo } from './reduce';
import { unsqueeze } from './shape';
import { assertTensor, contiguousStrides, kernelsFor, MAX_RANK, normalizeDim, record } from './util';

/** Copies the strided view of `shape` (at most 8 dims) at srcOffset of src into the strided view at dstOffset
 * of dst; element (i0, i1, ...) of a view lives at offset + sum(i_k * strides_k). Copies bits, so it serves
 * float32 and int32 alike. */
export interface CopyStridedCall {
  src: NativeStorage;
  srcOffset: number;
  srcStrides: number[];
  dst: NativeStorage;
  dstOffset: number;
  dstStrides: number[];
  shape: number[];
}

export function copyStridedKernel(k: NativeAddon, c: CopyStridedCall): void {
  k.copyStrided(c.src, c.srcOffset, c.srcStrides, c.dst, c.dstOffset, c.dstStrides, c.shape);
}

/** Copies a strided view of src (element (i0, i1, ...) at offset + sum(i_k * strides_k)) into a new contiguous tensor. */
function gather(src: Tensor, shape: number[], strides: number[], offset: number): Tensor {
  const out = Tensor.empty(shape, src.dtype, src.device);
  if (out.size === 0) return out;
  const ks = shape.length === 0 ? [1] : shape;
  const ss = shape.length === 0 ? [0] : strides;
  copyStridedKernel(kernelsFor('copy', src), {
    src: src.storage,
    srcOffset: offset,
    srcStrides: ss,
    dst: out.storage,
    dstOffset: 0,
    dstStrides: contiguousStrides(ks),
    shape: ks,
  });
  return out;
}

export function permute(x: Tensor, dims: number[]): Tensor {
  assertTensor('permute', 'input', x);
  if (dims.length !== x.ndim)
    throw new RangeError(
      `permute: ${dims.length} dims given for a tensor of rank ${x.ndim} (shape ${fmtShape(x.shape)})`,
    );
  if (x.ndim > MAX_RANK) throw new RangeError(`permute: rank ${x.ndim} exceeds ${MAX_RANK}`);
  const perm = dims.map((d) => normalizeDim('permute', d, x.ndim));
  if (new Set(perm).size !== perm.length) throw new RangeError(`permute: repeated dim in ${fmtShape(dims)}`);
  const strides = contiguousStrides(x.shape);
  const out = gather(
    x,
    perm.map((p) => x.shape[p]),
    perm.map((p) => strides[p]),
    0,
  );
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  assertTensor('transpose', 'input', x);
  const a = normalizeDim('transpose', dim0, x.ndim);
  const b = normalizeDim('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Repeats size-1 dims (and new leading dims) to reach shape; -1 keeps a dim. A copy, unlike PyTorch's view. */
export function expand(x: Tensor, shape: number[]): Tensor {
  assertTensor('expand', 'input', x);
  if (shape.length < x.ndim)
    throw new RangeError(`expand: target ${fmtShape(shape)} has fewer dims than the input ${fmtShape(x.shape)}`);
  const lead = shape.length - x.ndim;
  const own = contiguousStrides(x.shape);
  const target = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead] : d));
  checkShape('expand', target);
  const strides = target.map((d, i) => {
    if (i < lead) return 0;
    const src = x.shape[i - lead];
    if (src === d) return own[i - lead];
    if (src === 1) return 0;
    throw new RangeError(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  });
  const out = gather(x, target, strides, 0);
  return record(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

/** Elements start..end-1 along dim (negative indices count from the end, like Python slices). */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  assertTensor('slice', 'input', x);
  const d = normalizeDim('slice', dim, x.ndim);
  const n = x.shape[d];
  const clamp = (v: number) => Math.min(n, Math.max(0, v < 0 ? v + n : v));
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end)))
    throw new TypeError(`slice: start and end must be integers, got ${start}, ${end}`);
  const s = clamp(start);
  const e = Math.max(s, clamp(end ?? n));
  const shape = [...x.shape];
  shape[d] = e - s;
  const strides = contiguousStrides(x.shape);
  const out = gather(x, shape, strides, s * strides[d]);
  return record(out, 'slice', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'float32', x.device, true);
    if (g.size > 0)
      copyStridedKernel(kernelsFor('slice', g), {
        src: g.storage,
        srcOffset: 0,
        srcStrides: contiguousStrides(shape),
        dst: gx.storage,
        dstOffset: s * strides[d],
        dstStrides: strides,
        shape,
      });
    return [gx];
  });
}

/** Concatenates tensors of equal shape except along dim. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new RangeError('cat: expected a non-empty array of tensors');
  tensors.forEach((t, i) => assertTensor('cat', `tensors[${i}]`, t));
  const first = tensors[0];
  const d = normalizeDim('cat', dim, first.ndim);
  for (const [i, t] of tensors.entries()) {
    if (t.dtype !== first.dtype) throw new TypeError(`cat: tensors[${i}] is ${t.dtype}, tensors[0] is ${first.dtype}`);
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k]))
      throw new RangeError(
        `cat: tensors[${i}] has shape ${fmtShape(t.shape)}, incompatible with ${fmtShape(first.shape)} along dim ${d}`,
      );
  }
  const shape = [...first.shape];
  shape[d] = tensors.reduce((sum, t) => sum + t.shape[d], 0);
  const out = Tensor.empty(shape, first.dtype, first.device);
  const outStrides = contiguousStrides(shape);
  const k = kernelsFor('cat', ...tensors);
  let at = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(at);
    if (t.size > 0)
      copyStridedKernel(k, {
        src: t.storage,
        srcOffset: 0,
        srcStrides: contiguousStrides(t.shape),
        dst: out.storage,
        dstOffset: at * outStrides[d],
        dstStrides: outStrides,
        shape: [...t.shape],
      });
    at += t.shape[d];
  }
  return record(out, 'cat', tensors, (g) =>
    tensors.map((t, i) => (t.requiresGrad ? slice(g, d, starts[i], starts[i] + t.shape[d]) : null)),
  );
}

/** Stacks tensors of equal shape along a new dim. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new RangeError('stack: expected a non-empty array of tensors');
  const d = normalizeDim('stack', dim, tensors[0].ndim + 1);
  return cat(
    tensors.map((t) => unsqueeze(t, d)),
    d,
  );
}
