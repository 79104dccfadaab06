// The embedding family: the typed calls of its kernels and the embedding lookup with its gradient.
import { fmtShape } from '../checks';
import type { NativeAddon, NativeStorage } from '../native';
import { Tensor } from '../tensor';
import { assertFloat, assertIndex, kernelsFor, record } from './util';

/** out [N, C] = weight[ids[n]] for weight [V, C]; ids outside [0, V) throw a RangeError. */
export interface EmbeddingForwardCall {
  weight: NativeStorage;
  ids: NativeStorage;
  out: NativeStorage;
  N: number;
  V: number;
  C: number;
}

export function embeddingForwardKernel(k: NativeAddon, c: EmbeddingForwardCall): void {
  k.embeddingForward(c.weight, c.ids, c.out, c.N, c.V, c.C);
}

/** dweight[ids[n]] += dout[n] (accumulates: the caller zero-fills), skipping ids equal to paddingIdx
 * (-1 = none). */
export interface EmbeddingBackwardCall {
  dout: NativeStorage;
  ids: NativeStorage;
  dweight: NativeStorage;
  N: number;
  V: number;
  C: number;
  paddingIdx: number;
}

export function embeddingBackwardKernel(k: NativeAddon, c: EmbeddingBackwardCall): void {
  k.embeddingBackward(c.dout, c.ids, c.dweight, c.N, c.V, c.C, c.paddingIdx);
}

/** Rows of weight [V, C] picked by int32 ids of any shape: out [...ids.shape, C]. Rows at paddingIdx get no
 * gradient. */
export function embedding(ids: Tensor, weight: Tensor, options: { paddingIdx?: number | null } = {}): Tensor {
  const op = 'embedding';
  assertIndex(op, 'input', ids);
  assertFloat(op, 'weight', weight);
  if (weight.ndim !== 2) throw new RangeError(`${op}: weight must be 2-D [V, C], got ${fmtShape(weight.shape)}`);
  const [V, C] = weight.shape;
  let paddingIdx = options.paddingIdx ?? -1;
  if (!Number.isInteger(paddingIdx) || paddingIdx >= V || paddingIdx < -V)
    throw new RangeError(`${op}: paddingIdx ${options.paddingIdx} is out of range for ${V} embeddings`);
  if (options.paddingIdx != null && paddingIdx < 0) paddingIdx += V;
  const N = ids.size;
  const out = Tensor.empty([...ids.shape, C], 'float32', weight.device);
  if (N > 0)
    embeddingForwardKernel(kernelsFor(op, ids, weight), {
      weight: weight.storage,
      ids: ids.storage,
      out: out.storage,
      N,
      V,
      C,
    });
  return record(out, op, [null, weight], (g) => {
    const dw = Tensor.empty(weight.shape, 'float32', weight.device, true);
    if (N > 0)
      embeddingBackwardKernel(kernelsFor(op, g), {
        dout: g.storage,
        ids: ids.storage,
        dweight: dw.storage,
        N,
        V,
        C,
        paddingIdx,
      });
    return [null, dw];
  });
}
