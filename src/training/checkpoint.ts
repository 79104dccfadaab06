// Checkpoints: one folder with everything needed to resume training exactly where it stopped (weights,
// optimizer and scheduler state, RNG state, data loader position, trainer counters) and to use the model
// afterwards (config, tokenizers). The folder is written as a whole with replaceDirAtomic, so a kill at any
// moment leaves the previous checkpoint complete.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoaderState } from '../data/dataloader';
import { Tokenizer, tokenizerFromJSON } from '../data/tokenizers';
import { recoverDir, replaceDirAtomic } from '../io/atomic';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import type { Module } from '../nn/module';
import { flattenStateDict, Optimizer, OptimizerStateDict, unflattenStateDict } from '../optim/optimizer';
import type { LRScheduler, SchedulerStateDict } from '../optim/lr_scheduler';
import { getRngState, keep, setRngState, Tensor, tensor } from '../tensor';

export const CHECKPOINT_VERSION = 1;

/** File names inside a checkpoint folder. */
export const CHECKPOINT_FILES = Object.freeze({
  model: 'model.safetensors',
  optimizerTensors: 'optimizer.safetensors',
  optimizer: 'optimizer.json',
  scheduler: 'scheduler.json',
  trainerState: 'trainer_state.json',
  config: 'config.json',
});

/** The trainer's counters: optimizer steps done, the data epoch, and the best eval metric so far. */
export interface TrainerCounters {
  step: number;
  epoch: number;
  /** Best value of the watched eval metric, and the step it was reached at (null before any eval). */
  bestMetric: number | null;
  bestStep: number | null;
  /** Target tokens trained on so far. */
  tokensSeen: number;
  /** Training time so far, in seconds (checkpoint writes and evals included). */
  elapsedSeconds: number;
}

/** Anything with DataLoader's state()/loadState(). */
export interface ResumableLoader {
  state(): LoaderState;
  loadState(state: LoaderState): void;
}

export interface SaveCheckpointOptions {
  model: Module;
  optimizer?: Optimizer<{ lr: number }>;
  scheduler?: LRScheduler;
  dataLoader?: ResumableLoader;
  trainer?: TrainerCounters;
  /** One tokenizer (saved as tokenizer.json) or several by name (tokenizer.<name>.json). */
  tokenizers?: Tokenizer | Record<string, Tokenizer>;
  /** The model's JSON-serialisable config (config.json), e.g. model.config. */
  config?: unknown;
  /** State of the global RNG to store (default: getRngState() now). */
  rngState?: number;
  /** Free-form JSON stored in trainer_state.json (e.g. the task name, CLI options). */
  metadata?: Record<string, unknown>;
}

/** A checkpoint read back. Its tensors are kept out of tidy() scopes: call dispose() when done. */
export interface Checkpoint {
  dir: string;
  modelState: Map<string, Tensor>;
  optimizerState: OptimizerStateDict | null;
  /** Class name of the optimizer that was saved (e.g. 'AdamW'). */
  optimizerType: string | null;
  schedulerState: SchedulerStateDict | null;
  schedulerType: string | null;
  trainer: TrainerCounters | null;
  rngState: number | null;
  dataLoaderState: LoaderState | null;
  /** By name; a single tokenizer saved as tokenizer.json is named 'default'. */
  tokenizers: Record<string, Tokenizer>;
  config: unknown;
  metadata: Record<string, unknown>;
  dispose(): void;
}

export interface RestoreTargets {
  model: Module;
  optimizer?: Optimizer<{ lr: number }>;
  scheduler?: LRScheduler;
  dataLoader?: ResumableLoader;
  /** Restore the global RNG state (default true), so dropout masks continue as in an uninterrupted run. */
  rng?: boolean;
}

const TOKENIZER_NAME = /^[A-Za-z0-9_-]+$/;
const DEFAULT_TOKENIZER = 'default';

function tokenizerFile(name: string): string {
  return name === DEFAULT_TOKENIZER ? 'tokenizer.json' : `tokenizer.${name}.json`;
}

function namedTokenizers(tokenizers: SaveCheckpointOptions['tokenizers']): Array<[string, Tokenizer]> {
  if (tokenizers === undefined) return [];
  if (tokenizers instanceof Tokenizer) return [[DEFAULT_TOKENIZER, tokenizers]];
  if (tokenizers === null || typeof tokenizers !== 'object')
    throw new TypeError(
      `saveCheckpoint: tokenizers must be a Tokenizer or an object of name -> Tokenizer, got ${tokenizers === null ? 'null' : typeof tokenizers}`,
    );
  return Object.entries(tokenizers).map(([name, t]) => {
    if (!TOKENIZER_NAME.test(name))
      throw new RangeError(`saveCheckpoint: tokenizer name '${name}' must hold only letters, digits, '_' and '-'`);
    if (!(t instanceof Tokenizer)) throw new TypeError(`saveCheckpoint: tokenizers.${name} must be a Tokenizer`);
    return [name, t];
  });
}

function checkCounters(op: string, counters: unknown): TrainerCounters {
  if (counters === null || typeof counters !== 'object')
    throw new TypeError(`${op}: trainer counters must be an object`);
  const c = counters as Record<string, unknown>;
  for (const key of ['step', 'epoch', 'tokensSeen'])
    if (!Number.isSafeInteger(c[key]) || (c[key] as number) < 0)
      throw new RangeError(`${op}: trainer.${key} must be a non-negative integer, got ${String(c[key])}`);
  if (typeof c.elapsedSeconds !== 'number' || !(c.elapsedSeconds >= 0))
    throw new RangeError(
      `${op}: trainer.elapsedSeconds must be a non-negative number, got ${String(c.elapsedSeconds)}`,
    );
  for (const key of ['bestMetric', 'bestStep'])
    if (c[key] !== null && typeof c[key] !== 'number')
      throw new TypeError(`${op}: trainer.${key} must be a number or null, got ${String(c[key])}`);
  return {
    step: c.step as number,
    epoch: c.epoch as number,
    bestMetric: c.bestMetric as number | null,
    bestStep: c.bestStep as number | null,
    tokensSeen: c.tokensSeen as number,
    elapsedSeconds: c.elapsedSeconds as number,
  };
}

function writeJSON(dir: string, name: string, value: unknown): void {
  fs.writeFileSync(path.join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a checkpoint folder at `dir`, replacing any previous one atomically. */
export function saveCheckpoint(dir: string, options: SaveCheckpointOptions): void {
  const op = 'saveCheckpoint';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${op}: dir must be a non-empty string`);
  if (options === null || typeof options !== 'object' || options.model === undefined)
    throw new TypeError(`${op}: options must hold at least { model }`);
  const { model, optimizer, scheduler, dataLoader } = options;
  if (typeof model.stateDict !== 'function') throw new TypeError(`${op}: model must be an nn.Module`);
  const tokenizers = namedTokenizers(options.tokenizers);
  const trainer = options.trainer === undefined ? null : checkCounters(op, options.trainer);
  const rngState = options.rngState ?? getRngState();
  if (options.config !== undefined && JSON.stringify(options.config) === undefined)
    throw new TypeError(`${op}: config must be JSON-serialisable`);

  replaceDirAtomic(dir, (temp) => {
    const weights = model.stateDict();
    try {
      saveSafetensors(path.join(temp, CHECKPOINT_FILES.model), weights, { format: 'pt' });
    } finally {
      for (const t of weights.values()) t.dispose(); // views: the model's memory stays
    }
    if (optimizer !== undefined) {
      const flat = flattenStateDict(optimizer.stateDict());
      saveSafetensors(path.join(temp, CHECKPOINT_FILES.optimizerTensors), flat.tensors);
      writeJSON(temp, CHECKPOINT_FILES.optimizer, { type: optimizer.constructor.name, ...flat.json });
    }
    if (scheduler !== undefined)
      writeJSON(temp, CHECKPOINT_FILES.scheduler, { type: scheduler.constructor.name, state: scheduler.stateDict() });
    for (const [name, tokenizer] of tokenizers) writeJSON(temp, tokenizerFile(name), tokenizer.toJSON());
    if (options.config !== undefined) writeJSON(temp, CHECKPOINT_FILES.config, options.config);
    writeJSON(temp, CHECKPOINT_FILES.trainerState, {
      version: CHECKPOINT_VERSION,
      trainer,
      rngState,
      dataLoader: dataLoader === undefined ? null : dataLoader.state(),
      metadata: options.metadata ?? {},
    });
  });
}

function readJSON(op: string, file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${op}: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${op}: ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function keepAll(tensors: Map<string, Tensor>): Map<string, Tensor> {
  for (const t of tensors.values()) keep(t);
  return tensors;
}

/** Whether dir holds a checkpoint (after finishing or undoing an interrupted write). */
export function isCheckpoint(dir: string): boolean {
  recoverDir(dir);
  return (
    fs.existsSync(path.join(dir, CHECKPOINT_FILES.trainerState)) &&
    fs.existsSync(path.join(dir, CHECKPOINT_FILES.model))
  );
}

/** Reads a checkpoint folder written by saveCheckpoint (first repairing an interrupted replacement). */
export function loadCheckpoint(dir: string): Checkpoint {
  const op = 'loadCheckpoint';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${op}: dir must be a non-empty string`);
  recoverDir(dir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${op}: no checkpoint folder at ${dir}`);
  const file = (name: string) => path.join(dir, name);
  if (!fs.existsSync(file(CHECKPOINT_FILES.trainerState)) || !fs.existsSync(file(CHECKPOINT_FILES.model)))
    throw new Error(
      `${op}: ${dir} is not a checkpoint (it lacks ${CHECKPOINT_FILES.model} or ${CHECKPOINT_FILES.trainerState})`,
    );

  const state = readJSON(op, file(CHECKPOINT_FILES.trainerState)) as Record<string, unknown>;
  if (state === null || typeof state !== 'object')
    throw new TypeError(`${op}: ${file(CHECKPOINT_FILES.trainerState)} must hold an object`);
  if (state.version !== CHECKPOINT_VERSION)
    throw new RangeError(
      `${op}: unsupported checkpoint version ${String(state.version)} in ${dir} (expected ${CHECKPOINT_VERSION})`,
    );
  const trainer = state.trainer === null || state.trainer === undefined ? null : checkCounters(op, state.trainer);
  const rngState = typeof state.rngState === 'number' ? state.rngState : null;
  const dataLoaderState = (state.dataLoader ?? null) as LoaderState | null;
  const metadata = (state.metadata ?? {}) as Record<string, unknown>;

  const config = fs.existsSync(file(CHECKPOINT_FILES.config)) ? readJSON(op, file(CHECKPOINT_FILES.config)) : null;
  let schedulerState: SchedulerStateDict | null = null;
  let schedulerType: string | null = null;
  if (fs.existsSync(file(CHECKPOINT_FILES.scheduler))) {
    const saved = readJSON(op, file(CHECKPOINT_FILES.scheduler)) as { type: string; state: SchedulerStateDict };
    schedulerType = saved.type;
    schedulerState = saved.state;
  }
  const tokenizers: Record<string, Tokenizer> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const match = /^tokenizer(?:\.([A-Za-z0-9_-]+))?\.json$/.exec(name);
    if (match === null) continue;
    try {
      tokenizers[match[1] ?? DEFAULT_TOKENIZER] = tokenizerFromJSON(readJSON(op, file(name)));
    } catch (e) {
      throw new Error(`${op}: cannot read the tokenizer in ${file(name)}: ${(e as Error).message}`);
    }
  }

  const modelState = keepAll(loadSafetensors(file(CHECKPOINT_FILES.model)).tensors);
  let optimizerState: OptimizerStateDict | null = null;
  let optimizerType: string | null = null;
  try {
    if (fs.existsSync(file(CHECKPOINT_FILES.optimizer))) {
      const json = readJSON(op, file(CHECKPOINT_FILES.optimizer)) as { type: string } & Parameters<
        typeof unflattenStateDict
      >[1];
      const tensors = fs.existsSync(file(CHECKPOINT_FILES.optimizerTensors))
        ? keepAll(loadSafetensors(file(CHECKPOINT_FILES.optimizerTensors)).tensors)
        : new Map<string, Tensor>();
      optimizerType = json.type;
      optimizerState = unflattenStateDict(tensors, json);
    }
  } catch (e) {
    for (const t of modelState.values()) t.dispose();
    throw e;
  }

  return {
    dir,
    modelState,
    optimizerState,
    optimizerType,
    schedulerState,
    schedulerType,
    trainer,
    rngState,
    dataLoaderState,
    tokenizers,
    config,
    metadata,
    dispose() {
      for (const t of modelState.values()) t.dispose();
      if (optimizerState !== null)
        for (const entry of Object.values(optimizerState.state))
          for (const v of Object.values(entry)) if (v instanceof Tensor) v.dispose();
    },
  };
}

/** Loads a checkpoint's state into fresh (or existing) objects: model weights, optimizer, scheduler, loader
 * position and the global RNG. Everything is checked against the targets before anything changes where the
 * underlying loaders allow; returns the checkpoint's trainer counters. */
export function restoreCheckpoint(source: string | Checkpoint, targets: RestoreTargets): TrainerCounters | null {
  const op = 'restoreCheckpoint';
  if (targets === null || typeof targets !== 'object' || targets.model === undefined)
    throw new TypeError(`${op}: targets must hold at least { model }`);
  const checkpoint = typeof source === 'string' ? loadCheckpoint(source) : source;
  try {
    const { optimizer, scheduler, dataLoader } = targets;
    if (optimizer !== undefined) {
      if (checkpoint.optimizerState === null) throw new Error(`${op}: ${checkpoint.dir} holds no optimizer state`);
      if (checkpoint.optimizerType !== optimizer.constructor.name)
        throw new TypeError(
          `${op}: ${checkpoint.dir} holds ${checkpoint.optimizerType} state, the optimizer is ${optimizer.constructor.name}`,
        );
    }
    if (scheduler !== undefined) {
      if (checkpoint.schedulerState === null) throw new Error(`${op}: ${checkpoint.dir} holds no scheduler state`);
      if (checkpoint.schedulerType !== scheduler.constructor.name)
        throw new TypeError(
          `${op}: ${checkpoint.dir} holds ${checkpoint.schedulerType} state, the scheduler is ${scheduler.constructor.name}`,
        );
    }
    if (dataLoader !== undefined && checkpoint.dataLoaderState === null)
      throw new Error(`${op}: ${checkpoint.dir} holds no data loader state`);
    targets.model.loadStateDict(checkpoint.modelState);
    if (optimizer !== undefined) optimizer.loadStateDict(checkpoint.optimizerState as OptimizerStateDict);
    if (scheduler !== undefined) scheduler.loadStateDict(checkpoint.schedulerState as SchedulerStateDict);
    if (dataLoader !== undefined) dataLoader.loadState(checkpoint.dataLoaderState as LoaderState);
    if ((targets.rng ?? true) && checkpoint.rngState !== null) setRngState(checkpoint.rngState);
    return checkpoint.trainer;
  } finally {
    if (typeof source === 'string') checkpoint.dispose();
  }
}

/**
 * The element-wise mean of the model weights of several checkpoints (as in Vaswani et al., who average the last
 * checkpoints of a run): a state dict for model.loadStateDict. Every checkpoint must hold the same tensor names
 * and shapes. Integer tensors (counters, ids) are not averaged: they come from the last checkpoint. The tensors
 * are kept out of tidy() scopes: dispose them when done.
 */
export function averageCheckpointWeights(dirs: string[]): Map<string, Tensor> {
  const op = 'averageCheckpointWeights';
  if (!Array.isArray(dirs) || dirs.length === 0) throw new TypeError(`${op}: dirs must be a non-empty array`);
  const entries = new Map<string, AverageEntry>();
  try {
    dirs.forEach((dir, i) => {
      if (!isCheckpoint(dir)) throw new Error(`${op}: ${dir} is not a checkpoint`);
      const { tensors } = loadSafetensors(path.join(dir, CHECKPOINT_FILES.model));
      try {
        if (i > 0 && tensors.size !== entries.size)
          throw new Error(`${op}: ${dir} holds ${tensors.size} tensors, ${dirs[0]} ${entries.size}`);
        for (const [name, t] of tensors)
          addToAverage(op, entries, name, t, dir, dirs[0], i === 0, i === dirs.length - 1);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    });
  } catch (e) {
    for (const entry of entries.values()) entry.last?.dispose();
    throw e;
  }
  const mean = new Map<string, Tensor>();
  for (const [name, { shape, sum, last }] of entries) {
    const averaged =
      sum === null
        ? null
        : tensor(
            Float32Array.from(sum, (v) => v / dirs.length),
            { shape },
          );
    mean.set(name, averaged === null ? (last as Tensor) : keep(averaged));
  }
  return mean;
}

/** One tensor of averageCheckpointWeights: a float tensor's float64 sum, or the last checkpoint's value of another. */
interface AverageEntry {
  shape: readonly number[];
  sum: Float64Array | null;
  last: Tensor | null;
}

/** Adds tensor `name` of checkpoint `dir` to the running sums of averageCheckpointWeights. */
function addToAverage(
  op: string,
  entries: Map<string, AverageEntry>,
  name: string,
  t: Tensor,
  dir: string,
  firstDir: string,
  first: boolean,
  last: boolean,
): void {
  let entry = entries.get(name);
  if (entry === undefined) {
    if (!first) throw new Error(`${op}: ${dir} holds '${name}', which ${firstDir} lacks`);
    entry = { shape: t.shape, sum: t.dtype === 'float32' ? new Float64Array(t.size) : null, last: null };
    entries.set(name, entry);
  }
  if (entry.shape.join() !== t.shape.join())
    throw new Error(`${op}: '${name}' is [${t.shape}] in ${dir} but [${entry.shape}] in ${firstDir}`);
  if (entry.sum === null) {
    if (last) entry.last = keep(t.clone());
    return;
  }
  const values = t.dataSync();
  for (let j = 0; j < values.length; j++) entry.sum[j] += values[j];
}

/** The checkpoint folders under `root` named step-<n>, oldest first. */
export function listCheckpoints(root: string): Array<{ step: number; dir: string }> {
  if (!fs.existsSync(root)) return [];
  const found: Array<{ step: number; dir: string }> = [];
  for (const name of fs.readdirSync(root)) {
    const match = /^step-(\d+)$/.exec(name);
    if (match !== null) found.push({ step: Number(match[1]), dir: path.join(root, name) });
  }
  // An interrupted replacement may have left only the previous version of the newest folder.
  for (const name of fs.readdirSync(root)) {
    const match = /^step-(\d+)\.previous$/.exec(name);
    if (match !== null && !found.some((c) => c.step === Number(match[1]))) {
      const dir = path.join(root, `step-${match[1]}`);
      recoverDir(dir);
      found.push({ step: Number(match[1]), dir });
    }
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint folder under root (step-<n> folders), or null. */
export function latestCheckpoint(root: string): string | null {
  const all = listCheckpoints(root).filter((c) => isCheckpoint(c.dir));
  return all.length === 0 ? null : all[all.length - 1].dir;
}
