// Training: the Trainer loop, checkpoints, default losses and the loss chart.
export { Trainer, train, readMetrics } from './trainer';
export type {
  EvalFn,
  EvalRecord,
  Metrics,
  ProgressMode,
  StepInfo,
  TrainerOptions,
  TrainRecord,
  TrainResult,
} from './trainer';
export {
  averageCheckpointWeights,
  CHECKPOINT_FILES,
  CHECKPOINT_VERSION,
  isCheckpoint,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from './checkpoint';
export type { Checkpoint, RestoreTargets, ResumableLoader, SaveCheckpointOptions, TrainerCounters } from './checkpoint';
export { evaluateLoss } from './evaluate';
export type { EvaluateLossOptions } from './evaluate';
export { defaultLossFn } from './losses';
export type { ClassificationBatch, DefaultLossOptions, LossFn, LossOutput } from './losses';
export { lineChartSVG, lossChartSVG, niceTicks, smoothSeries } from './chart';
export type { ChartOptions, ChartSeries } from './chart';
