// Public entry point of transformer-native.
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  randn,
  rand,
  uniform,
  normal,
  arange,
  tidy,
  keep,
  manualSeed,
  getRngState,
  setRngState,
} from './tensor';
export type { DType, Shape, TensorOptions, RandomOptions } from './tensor';
export { noGrad, enableGrad, isGradEnabled } from './autograd';
export { setNumThreads, getNumThreads, memory, emptyCache, getCacheLimit, setCacheLimit } from './backend';
export type { Device } from './backend';
export { cat, stack, matmul } from './ops';
export * as F from './functional';
export { addon as native } from './native';
export * from './data';
export * as g2p from './tasks/g2p';
export * as io from './io';
export * as optim from './optim';
export * as nn from './nn';
export * as models from './models';
export * as generation from './generation';
export { Seq2SeqTransformer, GPT, EncoderClassifier, modelFromConfig } from './models';
export { greedy, sample, beamSearch, generateStream, ContinuousBatcher } from './generation';
export * as training from './training';
export {
  Trainer,
  train,
  saveCheckpoint,
  loadCheckpoint,
  restoreCheckpoint,
  latestCheckpoint,
  evaluateLoss,
  defaultLossFn,
} from './training';
export { ModelWorker, QueueFullError, AbortError } from './serve/worker';
export { SupervisedModelWorker, ModelUnavailableError } from './serve/supervisor';
export type { SupervisorOptions } from './serve/supervisor';
export type {
  GenerateOptions,
  GenerateResult,
  ModelInfo,
  ModelWorkerOptions,
  PredictOutput,
  ServeTask,
  StreamChunk,
  WorkerStats,
} from './serve/types';
export type { GenerateStream } from './serve/worker';
export { InferenceServer } from './serve/http';
export type { ServeModel, ServerOptions } from './serve/http';
export { cuda } from './cuda';
export type { CudaAddon } from './cuda';
export * as dist from './distributed';
