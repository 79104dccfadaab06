// Shape ops that share memory: reshape and its relatives only re-label the elements (the ops that move them,
// permute, expand, slice and cat, are the copy family's, in copy.ts).
import { fmtShape } from '../checks';
import { numel, Tensor } from '../tensor';
import { assertTensor, normalizeDim, record } from './util';

/** A view with another shape of the same size; one dim may be -1 (inferred). Shares memory. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  assertTensor('reshape', 'input', x);
  let inferAt = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) throw new RangeError(`reshape: only one dim can be -1, got ${fmtShape(shape)}`);
      inferAt = i;
    } else {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`reshape: invalid size ${d} in ${fmtShape(shape)}`);
      known *= d;
    }
  });
  const resolved = [...shape];
  if (inferAt >= 0) {
    if (known === 0 || x.size % known !== 0)
      throw new RangeError(`reshape: cannot infer -1 in ${fmtShape(shape)} for ${x.size} elements`);
    resolved[inferAt] = x.size / known;
  }
  if (numel(resolved) !== x.size)
    throw new RangeError(
      `reshape: shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(x.shape)} (${x.size} elements)`,
    );
  const out = x.shareWith(resolved);
  return record(out, 'reshape', [x], (g) => [g.shareWith(x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  assertTensor('flatten', 'input', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.ndim);
  const e = normalizeDim('flatten', endDim, x.ndim);
  if (s > e) throw new RangeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  assertTensor('unsqueeze', 'input', x);
  const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Removes dim (when its size is 1), or every size-1 dim when dim is omitted. */
export function squeeze(x: Tensor, dim?: number): Tensor {
  assertTensor('squeeze', 'input', x);
  if (dim === undefined)
    return reshape(
      x,
      x.shape.filter((s) => s !== 1),
    );
  const d = normalizeDim('squeeze', dim, x.ndim);
  if (x.shape[d] !== 1) return reshape(x, [...x.shape]);
  return reshape(x, [...x.shape.slice(0, d), ...x.shape.slice(d + 1)]);
}
