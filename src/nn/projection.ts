// A linear map through a block of rows of a larger weight (and bias), read in place through the GEMM's
// offsets: MultiheadAttention's Q, K and V projections use their thirds of in_proj_weight without copying them.
import { fmtShape } from '../checks';
import { Tensor } from '../tensor';
import { gemmKernel } from '../ops/gemm';
import { reduceKernel } from '../ops/reduce';
import { kernelsFor, record } from '../ops/util';

/** x [..., in] -> x W[weightRow : weightRow + count]^T + bias[biasRow : biasRow + count], shape [..., count].
 * The gradients of weight and bias are zero outside the rows used. */
export function linearRows(
  x: Tensor,
  weight: Tensor,
  weightRow: number,
  bias: Tensor | null,
  biasRow: number,
  count: number,
): Tensor {
  const op = 'linearRows';
  for (const [name, t] of [
    ['input', x],
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t === null) continue;
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor`);
    if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
  }
  if (weight.ndim !== 2) throw new RangeError(`${op}: weight must be 2-D, got ${fmtShape(weight.shape)}`);
  const [weightRows, inF] = weight.shape;
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    !Number.isInteger(weightRow) ||
    weightRow < 0 ||
    weightRow + count > weightRows
  )
    throw new RangeError(
      `${op}: rows ${weightRow}..${weightRow + count - 1} are outside the weight ${fmtShape(weight.shape)}`,
    );
  if (
    bias !== null &&
    (bias.ndim !== 1 || !Number.isInteger(biasRow) || biasRow < 0 || biasRow + count > bias.shape[0])
  )
    throw new RangeError(
      `${op}: entries ${biasRow}..${biasRow + count - 1} are outside the bias ${fmtShape(bias.shape)}`,
    );
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inF)
    throw new RangeError(
      `${op}: input ${fmtShape(x.shape)} does not end in ${inF} features (weight ${fmtShape(weight.shape)})`,
    );
  const rows = x.size / inF;
  const weightOffset = weightRow * inF;
  const out = Tensor.empty([...x.shape.slice(0, -1), count], 'float32', x.device);
  if (rows > 0)
    gemmKernel(kernelsFor(op, x, weight, bias), {
      a: x.storage,
      b: weight.storage,
      bOffset: weightOffset,
      c: out.storage,
      M: rows,
      N: count,
      K: inF,
      transB: true,
      bias: bias ? bias.storage : null,
      biasOffset: biasRow,
    });
  return record(out, op, [x, weight, bias], (g) => {
    const k = kernelsFor(op, g);
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (x.requiresGrad) {
      gx = Tensor.empty(x.shape, 'float32', x.device);
      if (rows > 0)
        gemmKernel(k, {
          a: g.storage,
          b: weight.storage,
          bOffset: weightOffset,
          c: gx.storage,
          M: rows,
          N: inF,
          K: count,
        });
    }
    if (weight.requiresGrad) {
      gw = Tensor.empty(weight.shape, 'float32', weight.device, true);
      if (rows > 0)
        gemmKernel(k, {
          a: g.storage,
          transA: true,
          b: x.storage,
          c: gw.storage,
          cOffset: weightOffset,
          M: count,
          N: inF,
          K: rows,
        });
    }
    if (bias !== null && bias.requiresGrad) {
      gb = Tensor.empty(bias.shape, 'float32', bias.device, true);
      if (rows > 0) {
        const sums = Tensor.empty([count], 'float32', bias.device);
        reduceKernel(k, { op: 'sum', x: g.storage, out: sums.storage, outer: 1, dim: rows, inner: count });
        gb.storage.copyFrom(sums.storage, 0, biasRow, count);
        sums.dispose();
      }
    }
    return [gx, gw, gb];
  });
}
