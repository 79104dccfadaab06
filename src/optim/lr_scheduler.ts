// Learning-rate schedules. As in torch.optim.lr_scheduler, a scheduler records each group's lr as its base lr
// when created and sets the epoch-0 lr at once; every step() advances one epoch (or one optimizer step, for the
// per-step schedules) and writes the new lr into the optimizer's groups. Schedules are closed forms of the
// epoch, so a state dict (epoch + base lrs) restores them exactly.
import { assertKnownKeys } from '../checks';
import { checkInteger, checkNumber } from './checks';
import type { Optimizer } from './optimizer';

/** Anything with PyTorch-style param groups whose lr can be set. */
export interface LrSettable {
  paramGroups: Array<{ lr: number }>;
}

export interface SchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
  [option: string]: number | number[];
}

export abstract class LRScheduler {
  /** The epoch (step count) of the current lr: 0 right after construction. */
  lastEpoch = -1;
  /** Each group's lr when the scheduler was created. */
  baseLrs: number[];
  private lastLrs: number[] = [];

  protected constructor(
    readonly optimizer: Optimizer<{ lr: number }> | LrSettable,
    protected readonly name: string,
  ) {
    if (optimizer === null || typeof optimizer !== 'object' || !Array.isArray(optimizer.paramGroups))
      throw new TypeError(`${name}: optimizer must be an optimizer with paramGroups`);
    this.baseLrs = optimizer.paramGroups.map((g, i) => checkNumber(name, `param group ${i}`, 'lr', g.lr, 0));
  }

  /** The lr of group `group` (whose base lr is baseLr) at `epoch`. */
  protected abstract lrAt(epoch: number, baseLr: number, group: number): number;

  /** The options that define the schedule, saved in the state dict. */
  protected abstract options(): Record<string, number>;

  /** Advances one epoch and applies its lr to every group. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lr of each group as last set by this scheduler. */
  getLastLr(): number[] {
    return [...this.lastLrs];
  }

  private apply(): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.baseLrs.length)
      throw new RangeError(
        `${this.name}.step: the optimizer has ${groups.length} param groups, the scheduler was made for ${this.baseLrs.length}`,
      );
    const lrs = this.baseLrs.map((base, i) => {
      const lr = this.lrAt(this.lastEpoch, base, i);
      if (!Number.isFinite(lr) || lr < 0)
        throw new RangeError(`${this.name}.step: epoch ${this.lastEpoch} gives group ${i} the invalid lr ${lr}`);
      return lr;
    });
    lrs.forEach((lr, i) => {
      groups[i].lr = lr;
    });
    this.lastLrs = lrs;
  }

  /** Call at the end of the subclass constructor: sets the epoch-0 lr. */
  protected start(): void {
    this.step();
  }

  stateDict(): SchedulerStateDict {
    return { ...this.options(), lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: this.getLastLr() };
  }

  /** Restores the epoch and base lrs saved by stateDict() and sets the optimizer's lrs accordingly. The
   * schedule's options must match this scheduler's. */
  loadStateDict(stateDict: SchedulerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (stateDict === null || typeof stateDict !== 'object') throw new TypeError(`${op}: expected an object`);
    const epoch = checkInteger(op, 'state dict', 'lastEpoch', stateDict.lastEpoch, 0);
    const baseLrs = stateDict.baseLrs;
    if (!Array.isArray(baseLrs) || baseLrs.length !== this.optimizer.paramGroups.length)
      throw new RangeError(
        `${op}: baseLrs must hold one lr per param group (${this.optimizer.paramGroups.length}), got ${JSON.stringify(baseLrs)}`,
      );
    baseLrs.forEach((lr, i) => checkNumber(op, 'state dict', `baseLrs[${i}]`, lr, 0));
    for (const [key, value] of Object.entries(this.options()))
      if (stateDict[key] !== value)
        throw new RangeError(`${op}: the dict's ${key} is ${String(stateDict[key])}, this scheduler's ${value}`);
    this.lastEpoch = epoch;
    this.baseLrs = [...baseLrs];
    this.apply();
  }
}

export interface NoamOptions {
  /** The model width d_model. */
  dModel: number;
  warmupSteps: number;
  factor?: number;
}

/** The schedule of "Attention Is All You Need": lr = factor * dModel^-0.5 * min(s^-0.5, s * warmupSteps^-1.5)
 * for optimizer step s = lastEpoch + 1 (so the first step uses s = 1): linear warmup, then inverse square root
 * decay. The lr is absolute: the groups' own lrs are ignored. Call step() after every optimizer step. */
export class NoamLR extends LRScheduler {
  readonly dModel: number;
  readonly warmupSteps: number;
  readonly factor: number;

  constructor(optimizer: Optimizer<{ lr: number }> | LrSettable, options: NoamOptions) {
    super(optimizer, 'NoamLR');
    if (options === null || typeof options !== 'object')
      throw new TypeError('NoamLR: options must be { dModel, warmupSteps, factor? }');
    assertKnownKeys('NoamLR', options, ['dModel', 'warmupSteps', 'factor']);
    this.dModel = checkInteger('NoamLR', 'options', 'dModel', options.dModel, 1);
    this.warmupSteps = checkInteger('NoamLR', 'options', 'warmupSteps', options.warmupSteps, 1);
    this.factor = checkNumber('NoamLR', 'options', 'factor', options.factor ?? 1, 0);
    this.start();
  }

  protected lrAt(epoch: number): number {
    const s = epoch + 1;
    return this.factor * this.dModel ** -0.5 * Math.min(s ** -0.5, s * this.warmupSteps ** -1.5);
  }

  protected options(): Record<string, number> {
    return { dModel: this.dModel, warmupSteps: this.warmupSteps, factor: this.factor };
  }
}

export interface WarmupCosineOptions {
  warmupSteps: number;
  totalSteps: number;
  /** The lr the cosine decays to (and stays at after totalSteps). */
  minLr?: number;
}

/** Linear warmup from 0 to each group's base lr over warmupSteps, then a half cosine from the base lr down to
 * minLr at totalSteps, constant after: at epoch e < W, lr = base * e / W; then with
 * p = min(1, (e - W) / (totalSteps - W)), lr = minLr + (base - minLr) * (1 + cos(pi * p)) / 2. The warmup matches
 * Hugging Face's get_cosine_schedule_with_warmup (whose minLr is 0). Call step() after every optimizer step. */
export class WarmupCosineLR extends LRScheduler {
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly minLr: number;

  constructor(optimizer: Optimizer<{ lr: number }> | LrSettable, options: WarmupCosineOptions) {
    super(optimizer, 'WarmupCosineLR');
    if (options === null || typeof options !== 'object')
      throw new TypeError('WarmupCosineLR: options must be { warmupSteps, totalSteps, minLr? }');
    assertKnownKeys('WarmupCosineLR', options, ['warmupSteps', 'totalSteps', 'minLr']);
    this.warmupSteps = checkInteger('WarmupCosineLR', 'options', 'warmupSteps', options.warmupSteps, 0);
    this.totalSteps = checkInteger('WarmupCosineLR', 'options', 'totalSteps', options.totalSteps, 1);
    if (this.warmupSteps > this.totalSteps)
      throw new RangeError(
        `WarmupCosineLR: options: warmupSteps (${this.warmupSteps}) exceeds totalSteps (${this.totalSteps})`,
      );
    this.minLr = checkNumber('WarmupCosineLR', 'options', 'minLr', options.minLr ?? 0, 0);
    this.start();
  }

  protected lrAt(epoch: number, baseLr: number): number {
    if (epoch < this.warmupSteps) return (baseLr * epoch) / this.warmupSteps;
    const span = this.totalSteps - this.warmupSteps;
    const progress = span === 0 ? 1 : Math.min(1, (epoch - this.warmupSteps) / span);
    return this.minLr + ((baseLr - this.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }

  protected options(): Record<string, number> {
    return { warmupSteps: this.warmupSteps, totalSteps: this.totalSteps, minLr: this.minLr };
  }
}

export interface StepLROptions {
  stepSize: number;
  gamma?: number;
}

/** torch.optim.lr_scheduler.StepLR: lr = base * gamma^floor(epoch / stepSize) (gamma defaults to 0.1). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer<{ lr: number }> | LrSettable, options: StepLROptions) {
    super(optimizer, 'StepLR');
    if (options === null || typeof options !== 'object')
      throw new TypeError('StepLR: options must be { stepSize, gamma? }');
    assertKnownKeys('StepLR', options, ['stepSize', 'gamma']);
    this.stepSize = checkInteger('StepLR', 'options', 'stepSize', options.stepSize, 1);
    this.gamma = checkNumber('StepLR', 'options', 'gamma', options.gamma ?? 0.1, 0);
    this.start();
  }

  protected lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }

  protected options(): Record<string, number> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
}

export type LrLambda = (epoch: number) => number;

/** torch.optim.lr_scheduler.LambdaLR: lr = base * lrLambda(epoch), with one function for every group or one per
 * group. The functions are not part of the state dict (recreate the scheduler with them, then load). */
export class LambdaLR extends LRScheduler {
  private readonly lambdas: LrLambda[];

  constructor(optimizer: Optimizer<{ lr: number }> | LrSettable, lrLambda: LrLambda | LrLambda[]) {
    super(optimizer, 'LambdaLR');
    const groups = this.baseLrs.length;
    const lambdas = Array.isArray(lrLambda) ? [...lrLambda] : Array.from({ length: groups }, () => lrLambda);
    if (lambdas.length !== groups)
      throw new RangeError(`LambdaLR: got ${lambdas.length} lrLambda functions for ${groups} param groups`);
    lambdas.forEach((f, i) => {
      if (typeof f !== 'function')
        throw new TypeError(
          `LambdaLR: lrLambda${Array.isArray(lrLambda) ? `[${i}]` : ''} must be a function, got ${typeof f}`,
        );
    });
    this.lambdas = lambdas;
    this.start();
  }

  protected lrAt(epoch: number, baseLr: number, group: number): number {
    const factor = this.lambdas[group](epoch);
    if (typeof factor !== 'number' || !Number.isFinite(factor))
      throw new RangeError(
        `LambdaLR.step: lrLambda(${epoch}) for group ${group} returned ${String(factor)}, not a finite number`,
      );
    return baseLr * factor;
  }

  protected options(): Record<string, number> {
    return {};
  }
}
