// The adamw family: the typed call of the fused AdamW step (the optimizers in src/optim use it).
import type { NativeAddon, NativeStorage } from '../native';

/** One AdamW step over n parameters, as PyTorch's torch.optim.AdamW (decoupled weight decay, bias correction
 * with the 1-based step): updates param, m and v in place. */
export interface AdamwStepCall {
  param: NativeStorage;
  grad: NativeStorage;
  m: NativeStorage;
  v: NativeStorage;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export function adamwStepKernel(k: NativeAddon, c: AdamwStepCall): void {
  k.adamwStep(c.param, c.grad, c.m, c.v, c.n, c.lr, c.beta1, c.beta2, c.eps, c.weightDecay, c.step);
}
