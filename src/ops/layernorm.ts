// The layernorm family: the typed calls of its kernels and PyTorch's F.layer_norm with its gradient.
import { fmtShape } from '../checks';
import type { NativeAddon, NativeStorage } from '../native';
import { numel, Tensor } from '../tensor';
import { fillKernel } from './elementwise';
import { assertFloat, kernelsFor, record } from './util';

/** Normalises N rows of C: out = (x - mean) * rstd * weight + bias, saving mean [N] and rstd [N] for the
 * backward. weight/bias null: identity. */
export interface LayerNormForwardCall {
  x: NativeStorage;
  weight: NativeStorage | null;
  bias: NativeStorage | null;
  out: NativeStorage;
  mean: NativeStorage;
  rstd: NativeStorage;
  N: number;
  C: number;
  eps: number;
}

export function layerNormForwardKernel(k: NativeAddon, c: LayerNormForwardCall): void {
  k.layerNormForward(c.x, c.weight, c.bias, c.out, c.mean, c.rstd, c.N, c.C, c.eps);
}

/** Overwrites dx [N, C], and dweight/dbias [C] when given (not accumulated). */
export interface LayerNormBackwardCall {
  dout: NativeStorage;
  x: NativeStorage;
  weight: NativeStorage | null;
  mean: NativeStorage;
  rstd: NativeStorage;
  dx: NativeStorage;
  dweight: NativeStorage | null;
  dbias: NativeStorage | null;
  N: number;
  C: number;
}

export function layerNormBackwardKernel(k: NativeAddon, c: LayerNormBackwardCall): void {
  k.layerNormBackward(c.dout, c.x, c.weight, c.mean, c.rstd, c.dx, c.dweight, c.dbias, c.N, c.C);
}

/** PyTorch's F.layer_norm over the trailing normalizedShape dims. */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  assertFloat('layerNorm', 'input', x);
  const norm = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (norm.length === 0 || norm.length > x.ndim || norm.some((d, i) => x.shape[x.ndim - norm.length + i] !== d))
    throw new RangeError(`layerNorm: input ${fmtShape(x.shape)} does not end in normalizedShape ${fmtShape(norm)}`);
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (p == null) continue;
    assertFloat('layerNorm', name, p);
    if (p.ndim !== norm.length || p.shape.some((d, i) => d !== norm[i]))
      throw new RangeError(`layerNorm: ${name} must have shape ${fmtShape(norm)}, got ${fmtShape(p.shape)}`);
  }
  if (!(eps > 0) || !Number.isFinite(eps)) throw new RangeError(`layerNorm: eps must be a positive number, got ${eps}`);
  const C = numel(norm);
  const N = x.size / C;
  const k = kernelsFor('layerNorm', x, weight, bias);
  const out = Tensor.empty(x.shape, 'float32', x.device);
  const mean = Tensor.empty([N], 'float32', x.device);
  const rstd = Tensor.empty([N], 'float32', x.device);
  if (N > 0)
    layerNormForwardKernel(k, {
      x: x.storage,
      weight: weight ? weight.storage : null,
      bias: bias ? bias.storage : null,
      out: out.storage,
      mean: mean.storage,
      rstd: rstd.storage,
      N,
      C,
      eps,
    });
  const recorded = record(out, 'layerNorm', [x, weight ?? null, bias ?? null], (g) => {
    const dx = Tensor.empty(x.shape, 'float32', x.device);
    const dw = weight && weight.requiresGrad ? Tensor.empty(weight.shape, 'float32', x.device) : null;
    const db = bias && bias.requiresGrad ? Tensor.empty(bias.shape, 'float32', x.device) : null;
    const kg = kernelsFor('layerNorm', g);
    if (N > 0)
      layerNormBackwardKernel(kg, {
        dout: g.storage,
        x: x.storage,
        weight: weight ? weight.storage : null,
        mean: mean.storage,
        rstd: rstd.storage,
        dx: dx.storage,
        dweight: dw ? dw.storage : null,
        dbias: db ? db.storage : null,
        N,
        C,
      });
    else for (const t of [dw, db]) if (t) fillKernel(kg, { dst: t.storage, n: t.size, value: 0 });
    return [x.requiresGrad ? dx : null, dw, db];
  });
  if (recorded.gradFn === null) {
    mean.dispose();
    rstd.dispose();
  }
  return recorded;
}
