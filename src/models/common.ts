// Pieces shared by the models: input checks, padding masks from token ids, an output projection that reuses
// an embedding matrix (weight tying), and re-initialisation helpers.
import * as F from '../functional';
import { noGrad } from '../autograd';
import { fmtShape } from '../checks';
import { Module } from '../nn';
import { kernels } from '../backend';
import { compareScalar } from '../ops/elementwise';
import { randomFillKernel } from '../ops/random';
import { normal, Tensor, zeros } from '../tensor';

/** Checks that ids is an int32 [B, T] tensor with T >= 1. */
export function checkIds(op: string, name: string, ids: unknown): Tensor {
  if (!(ids instanceof Tensor))
    throw new TypeError(`${op}: ${name} must be an int32 Tensor [B, T], got ${ids === null ? 'null' : typeof ids}`);
  if (ids.dtype !== 'int32' || ids.ndim !== 2 || ids.shape[0] < 1 || ids.shape[1] < 1)
    throw new TypeError(
      `${op}: ${name} must be a non-empty int32 Tensor [B, T], got ${ids.dtype} ${fmtShape(ids.shape)}`,
    );
  return ids;
}

/** Checks an optional [B, T] key padding mask (true = padding). */
export function checkPaddingMask(
  op: string,
  name: string,
  mask: Tensor | null | undefined,
  B: number,
  T: number,
): void {
  if (mask === null || mask === undefined) return;
  if (!(mask instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor or null`);
  if (mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== T)
    throw new RangeError(`${op}: ${name} must be [B, T] = [${B}, ${T}], got ${fmtShape(mask.shape)}`);
}

/** A bool [B, T] mask, true where ids equals padId, computed on ids' device (no copy back to the host). */
export function paddingMaskOf(ids: Tensor, padId: number): Tensor {
  return compareScalar(ids, 'eq', padId);
}

/** y = x W^T + b with W borrowed from an embedding (PyTorch's `generator.weight = embedding.weight`): the
 * tensor is registered here too, so both names appear in stateDict() while parameters() lists it once. */
export class TiedLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(weight: Tensor, options: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', (options.bias ?? true) ? zeros([weight.shape[0]]) : null);
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  override toString(): string {
    return `TiedLinear(inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null})`;
  }
}

/** Overwrites a parameter with N(0, std) samples (the values normal(shape, 0, std, { seed }) draws), in place:
 * no temporary as big as the parameter, so building a large model needs only its own memory. A padding row is
 * zeroed again. */
export function fillNormal(param: Tensor, std: number, seed: number, paddingRow: number | null = null): void {
  if (param.storage.byteLength === param.size * 4)
    randomFillKernel(kernels(param.device), { dst: param.storage, n: param.size, dist: 'normal', seed, a: 0, b: std });
  else
    noGrad(() => {
      const values = normal(param.shape, 0, std, { seed });
      param.copy_(values);
      values.dispose();
    });
  if (paddingRow !== null) {
    const width = param.shape[1];
    param.storage.write(new Float32Array(width), paddingRow * width);
  }
}

export function fillZeros(param: Tensor): void {
  param.storage.write(new Float32Array(param.size), 0);
}
