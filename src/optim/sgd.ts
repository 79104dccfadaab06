// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay, step for step
// torch.optim.SGD.
import { kernels } from '../backend';
import { assertKnownKeys } from '../checks';
import type { Tensor } from '../tensor';
import { checkBoolean, checkNumber } from './checks';
import { addScaled, binaryInto, scaleInto } from './inplace';
import { Optimizer, ParamGroup, ParamsInput, ParamState } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  /** L2 penalty: weightDecay * param is added to the gradient. */
  weightDecay: number;
  nesterov: boolean;
  /** Ascends the objective instead of descending it. */
  maximize: boolean;
}

const SGD_KEYS = ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov', 'maximize'] as const;

export class SGD extends Optimizer<SGDOptions> {
  /** lr has no default (as in torch.optim.SGD); momentum, dampening, weightDecay 0; nesterov, maximize false. */
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('SGD: options must be an object with at least lr');
    assertKnownKeys('SGD', options, SGD_KEYS);
    if (options.lr === undefined) throw new TypeError('SGD: options.lr is required');
    super(
      'SGD',
      params,
      { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...options },
      {
        momentumBuffer: { kind: 'tensor', required: false },
      },
    );
  }

  protected checkOptions(o: Record<string, unknown>, where: string): void {
    checkNumber('SGD', where, 'lr', o.lr, 0);
    const momentum = checkNumber('SGD', where, 'momentum', o.momentum, 0);
    const dampening = checkNumber('SGD', where, 'dampening', o.dampening, -Infinity);
    checkNumber('SGD', where, 'weightDecay', o.weightDecay, 0);
    checkBoolean('SGD', where, 'maximize', o.maximize);
    if (checkBoolean('SGD', where, 'nesterov', o.nesterov) && (momentum <= 0 || dampening !== 0))
      throw new RangeError(
        `SGD: ${where}: nesterov needs momentum > 0 and dampening 0, got momentum ${momentum}, dampening ${dampening}`,
      );
  }

  protected updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<SGDOptions>): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    const k = kernels(param.device);
    const n = param.size;
    const scratch = this.workspace.get(k, 0, n);
    let direction = grad.storage;
    if (weightDecay !== 0 || maximize) {
      direction = this.workspace.get(k, 1, n);
      scaleInto(k, direction, grad.storage, maximize ? -1 : 1, n);
      addScaled(k, direction, param.storage, weightDecay, n, scratch);
    }
    if (momentum !== 0) {
      let buffer = state.momentumBuffer as Tensor | undefined;
      if (buffer === undefined) {
        // torch starts the buffer at the first direction itself (no dampening on step 1).
        buffer = this.newState(param, 'zeros');
        buffer.storage.copyFrom(direction, 0, 0, n);
        state.momentumBuffer = buffer;
      } else {
        scaleInto(k, buffer.storage, buffer.storage, momentum, n);
        addScaled(k, buffer.storage, direction, 1 - dampening, n, scratch);
      }
      if (nesterov) {
        const lookahead = this.workspace.get(k, 2, n);
        scaleInto(k, lookahead, buffer.storage, momentum, n);
        binaryInto(k, 'add', lookahead, lookahead, direction, n);
        direction = lookahead;
      } else {
        direction = buffer.storage;
      }
    }
    addScaled(k, param.storage, direction, -lr, n, scratch);
  }
}
