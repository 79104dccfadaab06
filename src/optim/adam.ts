// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), step for step
// torch.optim.Adam / AdamW. Without amsgrad both run the fused native adamwStep kernel.
import { kernels } from '../backend';
import { adamwStepKernel } from '../ops/adamw';
import { unaryKernel } from '../ops/elementwise';
import { assertKnownKeys } from '../checks';
import type { Tensor } from '../tensor';
import { checkBoolean, checkNumber } from './checks';
import { addScaled, binaryInto, scaleInto } from './inplace';
import { Optimizer, ParamGroup, ParamsInput, ParamState, StateSchema } from './optimizer';

export interface AdamOptions {
  lr: number;
  /** Decay rates of the first and second moment averages. */
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Uses the maximum of past second moments (Reddi et al., "On the Convergence of Adam and Beyond"). */
  amsgrad: boolean;
  /** Ascends the objective instead of descending it. */
  maximize: boolean;
}

const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize'] as const;

const ADAM_STATE: StateSchema = {
  step: { kind: 'count', required: true },
  expAvg: { kind: 'tensor', required: true },
  expAvgSq: { kind: 'tensor', required: true },
  maxExpAvgSq: { kind: 'tensor', required: false },
};

abstract class AdamBase extends Optimizer<AdamOptions> {
  /** True for AdamW: weight decay shrinks the parameter instead of adding to the gradient. */
  protected abstract readonly decoupled: boolean;

  protected constructor(
    name: string,
    params: ParamsInput<AdamOptions>,
    options: Partial<AdamOptions>,
    weightDecay: number,
  ) {
    if (options === null || typeof options !== 'object') throw new TypeError(`${name}: options must be an object`);
    assertKnownKeys(name, options, ADAM_KEYS);
    super(
      name,
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, amsgrad: false, maximize: false, ...options },
      ADAM_STATE,
    );
  }

  protected checkOptions(o: Record<string, unknown>, where: string): void {
    checkNumber(this.name, where, 'lr', o.lr, 0);
    const betas = o.betas;
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new TypeError(`${this.name}: ${where}: betas must be [beta1, beta2], got ${JSON.stringify(betas)}`);
    checkNumber(this.name, where, 'betas[0]', betas[0], 0, 1, false);
    checkNumber(this.name, where, 'betas[1]', betas[1], 0, 1, false);
    checkNumber(this.name, where, 'eps', o.eps, 0);
    checkNumber(this.name, where, 'weightDecay', o.weightDecay, 0);
    checkBoolean(this.name, where, 'amsgrad', o.amsgrad);
    checkBoolean(this.name, where, 'maximize', o.maximize);
  }

  protected updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<AdamOptions>): void {
    const {
      lr,
      betas: [beta1, beta2],
      eps,
      weightDecay,
      amsgrad,
      maximize,
    } = group;
    if (state.step === undefined) {
      state.step = 0;
      state.expAvg = this.newState(param, 'zeros');
      state.expAvgSq = this.newState(param, 'zeros');
    }
    if (amsgrad && state.maxExpAvgSq === undefined) state.maxExpAvgSq = this.newState(param, 'zeros');
    const step = (state.step as number) + 1;
    state.step = step;
    const m = state.expAvg as Tensor;
    const v = state.expAvgSq as Tensor;

    const k = kernels(param.device);
    const n = param.size;
    if (n === 0) return;
    const scratch = this.workspace.get(k, 0, n);
    let g = grad.storage;
    const coupledDecay = this.decoupled ? 0 : weightDecay;
    if (coupledDecay !== 0 || maximize) {
      g = this.workspace.get(k, 1, n);
      scaleInto(k, g, grad.storage, maximize ? -1 : 1, n);
      addScaled(k, g, param.storage, coupledDecay, n, scratch);
    }
    const decoupledDecay = this.decoupled ? weightDecay : 0;
    if (!amsgrad) {
      adamwStepKernel(k, {
        param: param.storage,
        grad: g,
        m: m.storage,
        v: v.storage,
        n,
        lr,
        beta1,
        beta2,
        eps,
        weightDecay: decoupledDecay,
        step,
      });
      return;
    }

    // AMSGrad, in torch's order of operations: decay, moment updates, running max, bias-corrected step.
    const vMax = (state.maxExpAvgSq as Tensor).storage;
    if (decoupledDecay !== 0) scaleInto(k, param.storage, param.storage, 1 - lr * decoupledDecay, n);
    scaleInto(k, m.storage, m.storage, beta1, n);
    addScaled(k, m.storage, g, 1 - beta1, n, scratch);
    const work = this.workspace.get(k, 2, n);
    binaryInto(k, 'mul', work, g, g, n);
    scaleInto(k, v.storage, v.storage, beta2, n);
    addScaled(k, v.storage, work, 1 - beta2, n, scratch);
    binaryInto(k, 'maximum', vMax, vMax, v.storage, n);
    const bias1 = 1 - beta1 ** step;
    const bias2 = 1 - beta2 ** step;
    // work = sqrt(vMax) / sqrt(bias2) + eps, then m / work
    unaryKernel(k, { op: 'sqrt', x: vMax, out: work, n });
    scaleInto(k, work, work, 1 / Math.sqrt(bias2), n);
    unaryKernel(k, { op: 'addScalar', x: work, out: work, n, param: eps });
    binaryInto(k, 'div', work, m.storage, work, n);
    addScaled(k, param.storage, work, -lr / bias1, n, scratch);
  }
}

/** torch.optim.Adam: defaults lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0 (an L2 term added to the
 * gradient, which the moments then see). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, options, 0);
  }
}

/** torch.optim.AdamW: as Adam, but weight decay (default 1e-2) shrinks the parameters directly
 * (param *= 1 - lr * weightDecay), independent of the adaptive scaling. */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, options, 1e-2);
  }
}
