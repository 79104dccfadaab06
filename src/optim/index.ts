// Optimizers, learning-rate schedules and gradient clipping (torch.optim and torch.nn.utils.clip_grad_*).
export { flattenStateDict, Optimizer, unflattenStateDict } from './optimizer';
export type {
  FlatStateDict,
  OptimizerStateDict,
  ParamGroup,
  ParamGroupInput,
  ParamsInput,
  ParamState,
} from './optimizer';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamOptions } from './adam';
export { clipGradNorm, clipGradValue } from './clip_grad';
export type { ClipGradNormOptions } from './clip_grad';
export * as lrScheduler from './lr_scheduler';
