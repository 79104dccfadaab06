// Trainer: the training loop. Each optimizer step (gradient accumulation over micro-batches, clipping, update,
// scheduler step) runs inside one tidy(), so memory stays flat. Around it: evaluation, logging (a progress bar on
// a terminal, plain lines otherwise), metrics as JSON lines, a loss chart, periodic/best checkpoints, and exact
// resumption from a checkpoint. A run is startRun(), then per step: step(), countStep(), afterStep() (log, eval,
// checkpoint when due); then finish(). What a run tracks between steps is in its RunState.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noGrad } from '../autograd';
import { assertPositiveInt, fmtShape } from '../checks';
import type { Shard } from '../data/dataloader';
import type { Tokenizer } from '../data/tokenizers';
import * as dist from '../distributed';
import { writeFileAtomic } from '../io/atomic';
import { DistributedDataParallel } from '../nn/distributed';
import type { Module } from '../nn/module';
import { clipGradNorm } from '../optim/clip_grad';
import type { LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import { Tensor, tidy } from '../tensor';
import { lossChartSVG } from './chart';
import {
  latestCheckpoint,
  listCheckpoints,
  ResumableLoader,
  restoreCheckpoint,
  saveCheckpoint,
  TrainerCounters,
} from './checkpoint';
import { evaluateLoss } from './evaluate';
import { defaultLossFn, LossFn } from './losses';
import { ProgressDisplay } from './progress';

export type Metrics = Record<string, number>;

/** Evaluates the model; returns named metrics, e.g. { loss, accuracy }. It is called in eval mode under noGrad
 * (an async evalFn should do its tensor work before its first await, or wrap it in noGrad itself). */
export type EvalFn = (model: Module, context: { step: number; epoch: number }) => Metrics | Promise<Metrics>;

export interface TrainRecord {
  type: 'train';
  step: number;
  epoch: number;
  /** Mean loss of the steps since the previous record. */
  loss: number;
  lr: number;
  /** Target tokens per second since the previous record (null when the batches do not count tokens). */
  tokensPerSecond: number | null;
  /** Gradient norm before clipping, at the last step (with clipGradNorm only). */
  gradNorm?: number;
  elapsed: number;
}

export interface EvalRecord {
  type: 'eval';
  step: number;
  epoch: number;
  metrics: Metrics;
  elapsed: number;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  numTokens: number;
  gradNorm: number | null;
}

export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

/** What one optimizer step reports: mean loss over its micro-batches, the lr it used, tokens, gradient norm. */
type StepResult = Omit<StepInfo, 'step' | 'epoch'>;

export interface TrainerOptions<B> {
  model: Module;
  optimizer: Optimizer<{ lr: number }>;
  /** The training batches: a DataLoader (its state is saved in checkpoints). In a dist job (dist.init() with more
   * than one process) a DataLoader that is not sharded yet gets this rank's shard (setShard). */
  trainLoader: Iterable<B> & ResumableLoader & { length?: number; shard?: unknown; setShard?: (s: Shard) => void };
  /** Default: defaultLossFn() (language-model, seq2seq and classification batches). */
  lossFn?: LossFn<B>;
  /** Stepped once per optimizer step. */
  scheduler?: LRScheduler;
  /** Stop after this many optimizer steps. */
  maxSteps?: number;
  /** Stop after this many passes over the data. At least one of maxSteps and epochs is required. */
  epochs?: number;
  /** Micro-batches per optimizer step; each micro-batch's loss is divided by this (default 1). */
  gradAccumulationSteps?: number;
  /** Clip the total gradient norm (L2) to this value before each update. */
  clipGradNorm?: number;
  evalFn?: EvalFn;
  /** Instead of evalFn: batches whose mean loss (by lossFn, weighted by tokens) is the eval metric 'loss'. */
  evalLoader?: Iterable<B>;
  /** Evaluate every N steps (and at the end) when evalFn is given (default: only at the end). */
  evalEvery?: number;
  /** The eval metric that selects the best checkpoint (default 'loss'), and whether lower or higher is better. */
  bestMetric?: string;
  bestMode?: 'min' | 'max';
  /** Where metrics.jsonl, loss.svg, checkpoints/step-N and best/ go; without it nothing is written. */
  outDir?: string;
  /** Save a checkpoint every N steps (and at the end). */
  checkpointEvery?: number;
  /** Keep only the newest N step checkpoints (best/ is kept apart). Default: all. */
  keepLast?: number;
  /** Stored in every checkpoint. */
  tokenizers?: Tokenizer | Record<string, Tokenizer>;
  config?: unknown;
  metadata?: Record<string, unknown>;
  /** A checkpoint folder to continue from, or true for the newest one under outDir/checkpoints (if any). */
  resume?: string | true;
  /** Log (a record, a line, a bar update) every N steps (default 10). */
  logEvery?: number;
  /** 'auto' (default): a bar when logStream is a terminal, lines otherwise. */
  progress?: ProgressMode;
  /** Where progress goes (default process.stderr). */
  logStream?: NodeJS.WritableStream;
  /** Called after every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /** Called with every record written to metrics.jsonl. */
  onRecord?: (record: TrainRecord | EvalRecord) => void;
}

export interface TrainResult extends TrainerCounters {
  /** Loss of the last optimizer step. */
  lastLoss: number | null;
  /** Metrics of the last evaluation. */
  lastEval: Metrics | null;
  /** The last checkpoint written (null without outDir). */
  checkpoint: string | null;
  /** True when stop() ended the run early. */
  stopped: boolean;
}

const METRICS_FILE = 'metrics.jsonl';
const CHART_FILE = 'loss.svg';
const CHECKPOINTS_DIR = 'checkpoints';
const BEST_DIR = 'best';

/** An optional option that, when given, is a positive integer. */
function checkPositiveInteger(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  assertPositiveInt('Trainer', name, value);
  return value;
}

/** Reads metrics.jsonl records; a line cut short by a kill is skipped. */
export function readMetrics(file: string): Array<TrainRecord | EvalRecord> {
  if (!fs.existsSync(file)) return [];
  const records: Array<TrainRecord | EvalRecord> = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      // A partial last line from an interrupted append.
    }
  }
  return records;
}

/** The training batches across epochs: restarts the loader at each epoch's end until `epochs` passes are done. */
class EpochBatches<B> {
  private iterator: Iterator<B> | null = null;
  private completedEpochs: number;

  constructor(
    private readonly loader: TrainerOptions<B>['trainLoader'],
    private readonly epochs: number | undefined,
  ) {
    // Epochs finished by the loader: a saved position at the end of an epoch counts that epoch as done.
    const { epoch, position } = loader.state();
    this.completedEpochs = epoch + (loader.length !== undefined && position > 0 && position >= loader.length ? 1 : 0);
  }

  /** True once `epochs` passes are done (never without an epoch limit). */
  get finished(): boolean {
    return this.epochs !== undefined && this.completedEpochs >= this.epochs;
  }

  /** The next batch, or null when the epochs are done. */
  next(): B | null {
    for (let attempt = 0; ; attempt++) {
      if (this.finished) return null;
      this.iterator ??= this.loader[Symbol.iterator]();
      const next = this.iterator.next();
      if (!next.done) return next.value;
      this.iterator = null;
      this.completedEpochs = this.loader.state().epoch;
      if (attempt > 0) throw new Error('Trainer: the training loader yields no batches');
    }
  }
}

/** The steps since the last train record: their summed loss and tokens, and when the window opened. */
interface LogWindow {
  loss: number;
  steps: number;
  tokens: number;
  start: number;
}

/** What one train() call tracks between its steps. */
class RunState<B> {
  /** When the run would have begun had it run without a break: now, less the elapsed time of the runs it
   * resumes, so elapsed times continue theirs. In seconds of performance.now(). */
  private readonly startedAt: number;
  window: LogWindow;
  /** The last optimizer step of this run. */
  last: StepResult | null = null;
  lastEval: Metrics | null = null;
  lastEvalStep = -1;
  lastCheckpoint: string | null = null;
  lastCheckpointStep = -1;

  constructor(
    readonly batches: EpochBatches<B>,
    readonly progress: ProgressDisplay,
    /** The step counter when the run began (after a resume, the checkpoint's). */
    readonly stepAtStart: number,
    elapsedBefore: number,
  ) {
    this.startedAt = performance.now() / 1000 - elapsedBefore;
    this.window = { loss: 0, steps: 0, tokens: 0, start: this.elapsed() };
  }

  /** Seconds of training, this run's and those it resumes. */
  elapsed(): number {
    return performance.now() / 1000 - this.startedAt;
  }
}

/** In a dist job (dist.init(), before the Trainer is made, with more than one process) the Trainer trains
 * data-parallel: the model is wrapped in nn.DistributedDataParallel (unless it is one already), the train loader
 * sharded, micro-batches before the last of a step run under noSync(), gradients are averaged before clipping and
 * the update, and losses, token counts and eval metrics are averaged (tokens summed) over the ranks; only rank 0
 * writes metrics, charts, checkpoints and progress. Checkpoints hold the unwrapped model, so they resume with any
 * number of ranks. Every rank evaluates on its whole evalLoader / evalFn. */
export class Trainer<B = unknown> {
  readonly model: Module;
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly scheduler: LRScheduler | undefined;
  readonly trainLoader: TrainerOptions<B>['trainLoader'];
  private readonly options: TrainerOptions<B>;
  private readonly lossFn: LossFn<B>;
  private readonly evalFn: EvalFn | undefined;
  private readonly accumulation: number;
  private readonly logEvery: number;
  private counters: TrainerCounters = {
    step: 0,
    epoch: 0,
    bestMetric: null,
    bestStep: null,
    tokensSeen: 0,
    elapsedSeconds: 0,
  };
  private stopRequested = false;
  private running = false;
  /** The data-parallel wrapper in a dist job (null alone). */
  private ddp: DistributedDataParallel | null = null;
  private readonly group = dist.processGroup();

  constructor(options: TrainerOptions<B>) {
    if (options === null || typeof options !== 'object') throw new TypeError('Trainer: options must be an object');
    const { model, optimizer, trainLoader } = options;
    if (model === undefined || typeof (model as Module).parameters !== 'function')
      throw new TypeError('Trainer: options.model must be an nn.Module');
    if (optimizer === undefined || typeof (optimizer as Optimizer<{ lr: number }>).step !== 'function')
      throw new TypeError('Trainer: options.optimizer must be an optimizer');
    if (
      trainLoader === undefined ||
      typeof trainLoader[Symbol.iterator] !== 'function' ||
      typeof trainLoader.state !== 'function'
    )
      throw new TypeError('Trainer: options.trainLoader must be a DataLoader (iterable, with state() and loadState())');
    if (options.lossFn !== undefined && typeof options.lossFn !== 'function')
      throw new TypeError('Trainer: options.lossFn must be a function');
    if (options.evalFn !== undefined && typeof options.evalFn !== 'function')
      throw new TypeError('Trainer: options.evalFn must be a function');
    if (options.evalLoader !== undefined && typeof options.evalLoader?.[Symbol.iterator] !== 'function')
      throw new TypeError('Trainer: options.evalLoader must be iterable (a DataLoader)');
    if (options.evalFn !== undefined && options.evalLoader !== undefined)
      throw new RangeError('Trainer: give evalFn or evalLoader, not both');
    checkPositiveInteger('maxSteps', options.maxSteps);
    checkPositiveInteger('epochs', options.epochs);
    if (options.maxSteps === undefined && options.epochs === undefined)
      throw new RangeError('Trainer: give maxSteps or epochs');
    this.accumulation = checkPositiveInteger('gradAccumulationSteps', options.gradAccumulationSteps) ?? 1;
    this.logEvery = checkPositiveInteger('logEvery', options.logEvery) ?? 10;
    checkPositiveInteger('evalEvery', options.evalEvery);
    checkPositiveInteger('checkpointEvery', options.checkpointEvery);
    checkPositiveInteger('keepLast', options.keepLast);
    if (options.clipGradNorm !== undefined && !(typeof options.clipGradNorm === 'number' && options.clipGradNorm > 0))
      throw new RangeError(`Trainer: clipGradNorm must be a positive number, got ${String(options.clipGradNorm)}`);
    if (options.bestMode !== undefined && options.bestMode !== 'min' && options.bestMode !== 'max')
      throw new RangeError(`Trainer: bestMode must be 'min' or 'max', got '${String(options.bestMode)}'`);
    if (options.progress !== undefined && !['auto', 'bar', 'log', 'none'].includes(options.progress))
      throw new RangeError(
        `Trainer: progress must be 'auto', 'bar', 'log' or 'none', got '${String(options.progress)}'`,
      );
    if (options.outDir !== undefined && (typeof options.outDir !== 'string' || options.outDir.length === 0))
      throw new TypeError('Trainer: outDir must be a non-empty string');
    if (options.resume === true && options.outDir === undefined)
      throw new RangeError('Trainer: resume: true needs outDir');
    if ((options.checkpointEvery !== undefined || options.keepLast !== undefined) && options.outDir === undefined)
      throw new RangeError('Trainer: checkpointEvery and keepLast need outDir');
    this.options = options;
    this.model = model;
    this.optimizer = optimizer;
    this.scheduler = options.scheduler;
    this.trainLoader = trainLoader;
    this.lossFn = options.lossFn ?? (defaultLossFn() as LossFn<B>);
    const { evalLoader } = options;
    this.evalFn =
      evalLoader === undefined
        ? options.evalFn
        : (m) => ({ loss: evaluateLoss(m, evalLoader, { lossFn: this.lossFn }).loss });
  }

  /** The counters (steps, epoch, best metric...) as they stand. */
  get state(): Readonly<TrainerCounters> {
    return { ...this.counters };
  }

  /** Asks a running train() to finish after the current step (saving a final checkpoint), e.g. on SIGINT. */
  stop(): void {
    this.stopRequested = true;
  }

  private get parameters(): Tensor[] {
    return this.optimizer.paramGroups.flatMap((g) => g.params);
  }

  /** Whether this process writes files and progress: rank 0 of a dist job, or a process alone. */
  private get writes(): boolean {
    return this.group.rank === 0;
  }

  /** The model checkpoints hold: the wrapped one under DistributedDataParallel. */
  private get savedModel(): Module {
    return this.model instanceof DistributedDataParallel ? this.model.module : this.model;
  }

  private file(name: string): string {
    return path.join(this.options.outDir as string, name);
  }

  /** Restores a checkpoint (when resuming) and drops metrics recorded after the step training starts from:
   * they are about to be recomputed. A fresh run refuses an outDir holding a later run's checkpoints. */
  private prepareOutput(): void {
    const { resume, outDir } = this.options;
    const dir =
      resume === undefined
        ? null
        : resume === true
          ? latestCheckpoint(path.join(outDir as string, CHECKPOINTS_DIR))
          : resume;
    if (dir !== null) {
      const counters = restoreCheckpoint(dir, {
        model: this.savedModel,
        optimizer: this.optimizer,
        scheduler: this.scheduler,
        dataLoader: this.trainLoader,
      });
      if (counters === null) throw new Error(`Trainer: checkpoint ${dir} holds no trainer counters`);
      this.counters = { ...counters };
    }
    if (outDir === undefined) return;
    const step = this.counters.step;
    const later = listCheckpoints(this.file(CHECKPOINTS_DIR)).filter((c) => c.step > step);
    if (resume === undefined && later.length > 0)
      throw new Error(
        `Trainer: ${outDir} already holds checkpoints of a run (${path.basename(later[later.length - 1].dir)}); resume it (resume: true) or use another outDir`,
      );
    if (this.writes && fs.existsSync(this.file(METRICS_FILE))) {
      const kept = readMetrics(this.file(METRICS_FILE)).filter((r) => r.step <= step);
      writeFileAtomic(this.file(METRICS_FILE), kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
  }

  private saveTo(dir: string): void {
    if (!this.writes) return;
    saveCheckpoint(dir, {
      model: this.savedModel,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      dataLoader: this.trainLoader,
      trainer: this.counters,
      tokenizers: this.options.tokenizers,
      config: this.options.config,
      metadata: this.options.metadata,
    });
  }

  /** Saves checkpoints/step-<step> and prunes old ones beyond keepLast. Returns the folder. */
  private checkpoint(): string {
    const root = this.file(CHECKPOINTS_DIR);
    const dir = path.join(root, `step-${String(this.counters.step).padStart(8, '0')}`);
    this.saveTo(dir);
    const keepLast = this.options.keepLast;
    if (keepLast !== undefined && this.writes) {
      const all = listCheckpoints(root);
      for (const old of all.slice(0, Math.max(0, all.length - keepLast)))
        fs.rmSync(old.dir, { recursive: true, force: true });
    }
    return dir;
  }

  /** Runs training to maxSteps / epochs (or stop()). */
  async train(): Promise<TrainResult> {
    if (this.running) throw new Error('Trainer.train: already running');
    this.running = true;
    this.stopRequested = false;
    try {
      return await this.run();
    } finally {
      this.running = false;
    }
  }

  private async run(): Promise<TrainResult> {
    const run = this.startRun();
    try {
      while (!this.stopAgreed() && this.stepsLeft(run)) {
        const result = tidy(() => this.step(() => run.batches.next()));
        if (result === null) break;
        this.countStep(run, result);
        await this.afterStep(run);
        // Let timers, signal handlers and finalizers run between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await this.finish(run);
    } finally {
      run.progress.stop();
    }
    return {
      ...this.counters,
      lastLoss: run.last?.loss ?? null,
      lastEval: run.lastEval,
      checkpoint: run.lastCheckpoint,
      stopped: this.stopRequested,
    };
  }

  /** Prepares outDir (restoring the checkpoint when resuming), starts the progress display, puts the model in
   * training mode and starts the clock. */
  private startRun(): RunState<B> {
    const { outDir, maxSteps, epochs } = this.options;
    if (outDir !== undefined && this.writes) fs.mkdirSync(outDir, { recursive: true });
    const { rank, worldSize } = this.group;
    const loader = this.trainLoader;
    if (worldSize > 1 && typeof loader.setShard === 'function' && (loader.shard ?? null) === null)
      loader.setShard({ rank, worldSize });
    this.prepareOutput();
    // After a resume, every rank holds the checkpoint; alone, there is nothing to wrap. Once per Trainer: the
    // wrapper's hooks stay on the parameters.
    if (worldSize > 1)
      this.ddp ??= this.model instanceof DistributedDataParallel ? this.model : new DistributedDataParallel(this.model);
    const batches = new EpochBatches(this.trainLoader, epochs);
    const totalSteps = maxSteps ?? Math.ceil(((epochs as number) * (this.trainLoader.length ?? 0)) / this.accumulation);
    const progress = new ProgressDisplay(
      this.options.logStream ?? process.stderr,
      this.writes ? (this.options.progress ?? 'auto') : 'none',
      totalSteps,
    );
    progress.start(this.counters.step, this.counters.epoch, this.optimizer.paramGroups[0].lr);
    this.model.train();
    return new RunState(batches, progress, this.counters.step, this.counters.elapsedSeconds);
  }

  /** Whether stop() was called; in a dist job, on any rank (a deadline or a signal may reach the ranks at different
   * steps, and they must all stop at the same one). */
  private stopAgreed(): boolean {
    if (this.group.worldSize > 1)
      this.stopRequested = dist.allReduceNumbers([this.stopRequested ? 1 : 0], 'max')[0] > 0;
    return this.stopRequested;
  }

  /** Whether another step is due: maxSteps not reached and the epochs not done. */
  private stepsLeft(run: RunState<B>): boolean {
    const { maxSteps } = this.options;
    return (maxSteps === undefined || this.counters.step < maxSteps) && !run.batches.finished;
  }

  /** Counts a finished optimizer step in the counters and the log window, and reports it to onStep. */
  private countStep(run: RunState<B>, result: StepResult): void {
    const counters = this.counters;
    counters.step++;
    counters.epoch = this.trainLoader.state().epoch;
    counters.tokensSeen += result.numTokens;
    run.last = result;
    run.window.loss += result.loss;
    run.window.steps++;
    run.window.tokens += result.numTokens;
    this.options.onStep?.({ step: counters.step, epoch: counters.epoch, ...result });
  }

  /** Logs, evaluates and checkpoints when the step just counted calls for it. */
  private async afterStep(run: RunState<B>): Promise<void> {
    const { evalEvery, checkpointEvery } = this.options;
    const step = this.counters.step;
    if (step % this.logEvery === 0 || !this.stepsLeft(run)) this.flushLog(run);
    // Evals and checkpoints are left out of the tokens/s and ETA of the training window.
    const pausedAt = run.elapsed();
    if (evalEvery !== undefined && step % evalEvery === 0) await this.evaluate(run);
    if (checkpointEvery !== undefined && step % checkpointEvery === 0) this.saveStepCheckpoint(run);
    run.window.start += run.elapsed() - pausedAt;
  }

  /** After the last step: the last train record, then an eval and a checkpoint unless this step already had
   * them. A resumed run that trained nothing (its checkpoint was already at the end) adds neither; a fresh run
   * always ends with a checkpoint. */
  private async finish(run: RunState<B>): Promise<void> {
    this.flushLog(run);
    const step = this.counters.step;
    const trainedNow = step > run.stepAtStart;
    if (trainedNow && run.lastEvalStep !== step) await this.evaluate(run);
    if (run.lastCheckpointStep !== step && (trainedNow || this.options.resume === undefined))
      this.saveStepCheckpoint(run);
    this.counters.elapsedSeconds = run.elapsed();
    if (this.options.outDir !== undefined && this.writes) this.writeChart();
  }

  /** Appends a record to metrics.jsonl (with an outDir) and passes it to onRecord. */
  private record(r: TrainRecord | EvalRecord): void {
    if (this.options.outDir !== undefined && this.writes)
      fs.appendFileSync(this.file(METRICS_FILE), `${JSON.stringify(r)}\n`);
    this.options.onRecord?.(r);
  }

  /** Records and shows the steps of the log window (mean loss, tokens/s), then opens a new window. */
  private flushLog(run: RunState<B>): void {
    const { window, last } = run;
    if (window.steps === 0 || last === null) return;
    const now = run.elapsed();
    const seconds = now - window.start;
    const tps = window.tokens > 0 && seconds > 0 ? window.tokens / seconds : null;
    this.counters.elapsedSeconds = now;
    const { step, epoch } = this.counters;
    const r: TrainRecord = {
      type: 'train',
      step,
      epoch,
      loss: window.loss / window.steps,
      lr: last.lr,
      tokensPerSecond: tps,
      elapsed: now,
    };
    if (last.gradNorm !== null) r.gradNorm = last.gradNorm;
    this.record(r);
    run.progress.train(r, seconds / window.steps);
    run.window = { loss: 0, steps: 0, tokens: 0, start: now };
  }

  /** Runs evalFn in eval mode under noGrad, records and shows its metrics, and keeps best/ up to date. */
  private async evaluate(run: RunState<B>): Promise<void> {
    const evalFn = this.evalFn;
    if (evalFn === undefined) return;
    const { model, counters } = this;
    model.eval();
    let metrics: Metrics;
    try {
      metrics = await noGrad(() => evalFn(model, { step: counters.step, epoch: counters.epoch }));
    } finally {
      model.train();
    }
    if (metrics === null || typeof metrics !== 'object')
      throw new TypeError('Trainer: evalFn must return an object of metrics');
    metrics = this.averageOverRanks(metrics);
    run.lastEval = metrics;
    run.lastEvalStep = counters.step;
    counters.elapsedSeconds = run.elapsed();
    this.record({
      type: 'eval',
      step: counters.step,
      epoch: counters.epoch,
      metrics,
      elapsed: counters.elapsedSeconds,
    });
    run.progress.eval(counters.step, metrics);
    this.trackBest(metrics);
  }

  /** Metrics averaged over the ranks of a dist job (every rank must report the same names). */
  private averageOverRanks(metrics: Metrics): Metrics {
    if (this.group.worldSize === 1) return metrics;
    const names = Object.keys(metrics).sort();
    const values = dist.allReduceNumbers(
      names.map((k) => metrics[k]),
      'mean',
    );
    return Object.fromEntries(names.map((k, i) => [k, values[i]]));
  }

  /** Keeps the best value of the watched metric (and saves best/) when these metrics improve on it. */
  private trackBest(metrics: Metrics): void {
    const value = metrics[this.options.bestMetric ?? 'loss'];
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    const best = this.counters.bestMetric;
    const better = best === null || ((this.options.bestMode ?? 'min') === 'min' ? value < best : value > best);
    if (!better) return;
    this.counters.bestMetric = value;
    this.counters.bestStep = this.counters.step;
    if (this.options.outDir !== undefined) this.saveTo(this.file(BEST_DIR));
  }

  /** Saves checkpoints/step-N (with an outDir), with the elapsed time up to now. */
  private saveStepCheckpoint(run: RunState<B>): void {
    if (this.options.outDir === undefined) return;
    this.counters.elapsedSeconds = run.elapsed();
    run.lastCheckpoint = this.checkpoint();
    run.lastCheckpointStep = this.counters.step;
  }

  /** One optimizer step over `accumulation` micro-batches; null when the data ran out before any. */
  private step(nextBatch: () => B | null): StepResult | null {
    try {
      return this.accumulateAndUpdate(nextBatch);
    } catch (e) {
      // Gradients of a failed step must not leak into the next attempt.
      this.optimizer.zeroGrad();
      throw e;
    }
  }

  private accumulateAndUpdate(nextBatch: () => B | null): StepResult | null {
    let lossSum = 0;
    let numTokens = 0;
    let micro = 0;
    // One batch ahead, so that the last micro-batch of the step is known: only its backward averages gradients.
    let batch = nextBatch();
    for (; micro < this.accumulation && batch !== null; micro++) {
      const next = micro + 1 < this.accumulation ? nextBatch() : null;
      const current = batch;
      const backward = () => this.microStep(current);
      const result = this.ddp !== null && next !== null ? this.ddp.noSync(backward) : backward();
      lossSum += result.loss;
      numTokens += result.numTokens;
      batch = next;
    }
    if (micro === 0) return null;
    this.ddp?.finishGradientSync();
    if (this.group.worldSize > 1) [lossSum, numTokens] = this.overRanks(lossSum, numTokens);
    const params = this.parameters;
    // The data ran out mid-accumulation: rescale so the update is the mean over the micro-batches there were.
    if (micro < this.accumulation)
      noGrad(() => {
        for (const p of params) if (p.grad !== null) p.grad.copy_(p.grad.mul(this.accumulation / micro));
      });
    const gradNorm = this.options.clipGradNorm !== undefined ? clipGradNorm(params, this.options.clipGradNorm) : null;
    const lr = this.optimizer.paramGroups[0].lr;
    this.optimizer.step();
    this.optimizer.zeroGrad();
    this.scheduler?.step();
    return { loss: lossSum / micro, lr, numTokens, gradNorm };
  }

  /** Forward and backward of one micro-batch: its loss value and target tokens. */
  private microStep(batch: B): { loss: number; numTokens: number } {
    const out = this.lossFn(this.model, batch);
    if (out === null || typeof out !== 'object' || !(out.loss instanceof Tensor))
      throw new TypeError('Trainer: lossFn must return { loss: Tensor, numTokens? }');
    const { loss } = out;
    if (loss.size !== 1) throw new RangeError(`Trainer: the loss must be a scalar, got shape ${fmtShape(loss.shape)}`);
    if (!loss.requiresGrad)
      throw new Error(
        'Trainer: the loss does not require grad (was it computed under noGrad, or are all parameters frozen?)',
      );
    const value = loss.item();
    if (!Number.isFinite(value)) throw new Error(`Trainer: the loss is ${value} at step ${this.counters.step + 1}`);
    (this.accumulation > 1 ? loss.mul(1 / this.accumulation) : loss).backward();
    const batchTokens = out.numTokens ?? (batch as { numTargetTokens?: unknown }).numTargetTokens;
    return { loss: value, numTokens: typeof batchTokens === 'number' ? batchTokens : 0 };
  }

  /** The step's loss sum averaged and its tokens summed over the ranks of a dist job. */
  private overRanks(lossSum: number, numTokens: number): [number, number] {
    const [loss, tokens] = dist.allReduceNumbers([lossSum / this.group.worldSize, numTokens], 'sum');
    return [loss, tokens];
  }

  private writeChart(): void {
    const records = readMetrics(this.file(METRICS_FILE));
    const train = records.filter((r): r is TrainRecord => r.type === 'train').map((r) => [r.step, r.loss] as const);
    const evalLoss = records
      .filter((r): r is EvalRecord => r.type === 'eval' && typeof r.metrics?.loss === 'number')
      .map((r) => [r.step, r.metrics.loss] as const);
    writeFileAtomic(this.file(CHART_FILE), lossChartSVG(train, evalLoss));
  }
}

/** Functional form: new Trainer(options).train(). */
export function train<B>(options: TrainerOptions<B>): Promise<TrainResult> {
  return new Trainer(options).train();
}
