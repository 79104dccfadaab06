// Pieces shared by the task commands: the training options every `train` accepts, the run that turns them into
// an optimizer, schedule and Trainer, and checkpoint/file helpers with user-facing errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenizer } from '../data/tokenizers';
import { fromHuggingFace, isHuggingFaceFolder, Model, ModelConfig, modelFromConfig, saveHuggingFace } from '../models';
import type { HFConfig } from '../models';
import { checkSaveHuggingFace } from '../models/huggingface';
import type { Module } from '../nn/module';
import { AdamW } from '../optim/adam';
import { WarmupCosineLR } from '../optim/lr_scheduler';
import { manualSeed } from '../tensor';
import * as dist from '../distributed';
import { noGrad } from '../autograd';
import {
  averageCheckpointWeights,
  Checkpoint,
  isCheckpoint,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
} from '../training/checkpoint';
import type { LossFn } from '../training/losses';
import { EvalFn, Metrics, ProgressMode, Trainer, TrainResult } from '../training/trainer';
import { OptionSpec, OptionValues, UserError } from './args';
import type { CommandContext } from './tasks';

/** Options of every `train` command; tasks add their data and model options. */
export function trainOptions(defaults: { lr?: number; batchSize?: number; maxSteps?: number } = {}): OptionSpec[] {
  return [
    {
      name: 'out',
      type: 'string',
      placeholder: 'DIR',
      description: 'output folder: checkpoints/, best/, metrics.jsonl, loss.svg',
      required: true,
    },
    { name: 'seed', type: 'integer', min: 0, default: 0, description: 'seed of initialisation, dropout and shuffling' },
    {
      name: 'max-steps',
      type: 'integer',
      min: 1,
      description: `optimizer steps to train for${defaults.maxSteps === undefined ? '' : ` (default: ${defaults.maxSteps} unless --epochs is given)`}`,
    },
    {
      name: 'epochs',
      type: 'integer',
      min: 1,
      description: 'passes over the training data (with --max-steps, whichever ends first)',
    },
    {
      name: 'batch-size',
      type: 'integer',
      min: 1,
      default: defaults.batchSize ?? 32,
      description: 'examples per batch',
    },
    {
      name: 'lr',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      default: defaults.lr ?? 3e-4,
      description: 'peak learning rate (AdamW)',
    },
    { name: 'weight-decay', type: 'number', min: 0, default: 0.01, description: 'AdamW weight decay' },
    {
      name: 'warmup-steps',
      type: 'integer',
      min: 0,
      default: 100,
      description: 'linear warmup steps before the cosine decay',
    },
    { name: 'min-lr', type: 'number', min: 0, default: 0, description: 'learning rate at the end of the cosine decay' },
    { name: 'grad-accum', type: 'integer', min: 1, default: 1, description: 'micro-batches per optimizer step' },
    {
      name: 'clip-grad-norm',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      default: 1,
      description: 'clip the gradient norm to this value',
    },
    { name: 'eval-every', type: 'integer', min: 1, description: 'evaluate every N steps (always at the end)' },
    {
      name: 'checkpoint-every',
      type: 'integer',
      min: 1,
      description: 'save a checkpoint every N steps (always at the end)',
    },
    {
      name: 'keep-last',
      type: 'integer',
      min: 1,
      default: 3,
      description: 'step checkpoints to keep (best/ is kept apart)',
    },
    {
      name: 'average-last',
      type: 'integer',
      min: 1,
      default: 1,
      description:
        'at the end, average the weights of the last N step checkpoints and save the average as best/ (1: off)',
    },
    { name: 'log-every', type: 'integer', min: 1, default: 10, description: 'log every N steps' },
    {
      name: 'resume',
      type: 'string',
      placeholder: 'DIR|auto',
      description: "continue from a checkpoint folder, or 'auto': the newest one in --out",
    },
    {
      name: 'progress',
      type: 'string',
      choices: ['auto', 'bar', 'log', 'none'],
      default: 'auto',
      description: 'progress display',
    },
    {
      name: 'dist-timeout',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      default: 600,
      description: 'under mpirun/srun: seconds a collective may wait for the other ranks before the job is aborted',
    },
    {
      name: 'max-minutes',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      description: 'stop (and save) after this many minutes of training',
    },
  ];
}

export function readTextFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file}: ${(e as Error).message}`,
    );
  }
}

export function readJSONFile(file: string, what: string): unknown {
  const text = readTextFile(file, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A checkpoint folder, a Hugging Face model folder, or a training output folder (its best/ checkpoint, else its
 * newest step checkpoint). */
export function resolveCheckpoint(dir: string): string {
  if (!fs.existsSync(dir) && !fs.existsSync(`${path.resolve(dir)}.previous`))
    throw new UserError(`checkpoint not found: ${dir}`);
  if (isCheckpoint(dir) || isHuggingFaceFolder(dir)) return dir;
  const best = path.join(dir, 'best');
  if (isCheckpoint(best)) return best;
  const latest = latestCheckpoint(path.join(dir, 'checkpoints'));
  if (latest !== null) return latest;
  throw new UserError(`${dir} is neither a checkpoint nor a training folder with checkpoints`);
}

/** The task of each Hugging Face model_type the CLI runs. */
const HF_TASKS: Record<string, string> = { gpt2: 'lm', bert: 'classify', bart: 'seq2seq' };

/** The task a checkpoint was trained for (from its metadata; for a Hugging Face folder, from its model_type), or
 * null. */
export function checkpointTask(dir: string): string | null {
  if (isHuggingFaceFolder(dir)) {
    const config = readJSONFile(path.join(dir, 'config.json'), 'model config') as HFConfig;
    return HF_TASKS[config.model_type as string] ?? null;
  }
  try {
    const resolved = resolveCheckpoint(dir);
    const state = JSON.parse(fs.readFileSync(path.join(resolved, 'trainer_state.json'), 'utf8')) as {
      metadata?: { task?: unknown };
    };
    return typeof state.metadata?.task === 'string' ? state.metadata.task : null;
  } catch {
    return null;
  }
}

/** The `train` options that start from a Hugging Face folder and write one at the end. */
export const HUGGING_FACE_TRAIN_OPTIONS: OptionSpec[] = [
  {
    name: 'init',
    type: 'string',
    placeholder: 'DIR',
    description: 'fine-tune this Hugging Face model folder: its weights and tokenizer.json replace a new model',
  },
  {
    name: 'save-hf',
    type: 'string',
    placeholder: 'DIR',
    description: 'also write the final model (and tokenizer) as a Hugging Face folder',
  },
];

/** `--init DIR`: the Hugging Face model (of `expectedType`) and tokenizer to fine-tune. The options that would
 * describe a new model (`newModelOptions`) must keep their defaults: they cannot apply to a loaded one. */
export function initialModel(
  context: CommandContext,
  expectedType: string,
  newModelOptions: readonly OptionSpec[],
  numLabels?: number,
): { model: Model; tokenizer: Tokenizer; config: HFConfig } {
  const o = context.options;
  const dir = o.init as string;
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const conflicting = newModelOptions.filter((spec) => o[camel(spec.name)] !== spec.default);
  if (conflicting.length > 0)
    throw new UserError(`--${conflicting[0].name} describes a new model; with --init the model comes from ${dir}`, 2);
  if (!isHuggingFaceFolder(dir)) throw new UserError(`--init ${dir} is not a Hugging Face model folder (config.json)`);
  let loaded;
  try {
    loaded = fromHuggingFace(dir, numLabels === undefined ? {} : { numLabels });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const { model, tokenizer, config } = loaded;
  if (model.config.type !== expectedType || tokenizer === null) {
    model.dispose();
    throw new UserError(
      tokenizer === null
        ? `--init ${dir} has no tokenizer.json`
        : `--init ${dir} holds a ${String(config.model_type)} model (${model.config.type}), this task trains a ${expectedType}`,
    );
  }
  return { model, tokenizer, config };
}

/** Before training: a model that `--save-hf` could not write is a usage error now, not after the run. */
export function checkSaveHf(context: CommandContext, model: Model, tokenizer: Tokenizer): void {
  if (context.options.saveHf === undefined) return;
  try {
    checkSaveHuggingFace(model, { tokenizer });
  } catch (e) {
    throw new UserError(`--save-hf: ${(e as Error).message}`, 2);
  }
}

/** `--save-hf DIR`: the trained model as a Hugging Face folder, keeping the keys of the folder it started from. */
export function saveTrainedHuggingFace(
  context: CommandContext,
  model: Model,
  tokenizer: Tokenizer,
  config: HFConfig = {},
): void {
  const dir = context.options.saveHf as string | undefined;
  if (dir === undefined) return;
  try {
    saveHuggingFace(model, dir, { tokenizer, config });
  } catch (e) {
    throw new UserError(`--save-hf: ${(e as Error).message}`);
  }
  context.io.stdout.write(`hugging face folder: ${dir}\n`);
}

/** The metadata a task reads from a checkpoint, taken from a Hugging Face config: the classifier's label names
 * (id2label in id order), the decoder's start and end tokens. */
function huggingFaceMetadata(config: HFConfig): Record<string, unknown> {
  const metadata: Record<string, unknown> = { task: HF_TASKS[config.model_type as string] };
  const id2label = config.id2label as Record<string, string> | undefined;
  if (id2label !== null && typeof id2label === 'object')
    metadata.labels = Object.keys(id2label)
      .sort((a, b) => Number(a) - Number(b))
      .map((id) => String(id2label[id]));
  for (const [key, name] of [
    ['decoder_start_token_id', 'decoderStartId'],
    ['eos_token_id', 'eosId'],
  ])
    if (typeof config[key] === 'number') metadata[name] = config[key];
  return metadata;
}

/** A Hugging Face model folder as a checkpoint (no training state): its model, tokenizer.json and metadata. */
function loadHuggingFace(dir: string, expectedType: string | null): { model: Model; checkpoint: Checkpoint } {
  let loaded;
  try {
    loaded = fromHuggingFace(dir);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const { model, tokenizer, config } = loaded;
  if (expectedType !== null && model.config.type !== expectedType) {
    model.dispose();
    throw new UserError(
      `${dir} holds a ${String(config.model_type)} model (${model.config.type}), this command needs a ${expectedType}`,
    );
  }
  if (
    expectedType === 'EncoderClassifier' &&
    model.config.type === 'EncoderClassifier' &&
    model.config.numClasses === 0
  ) {
    model.dispose();
    throw new UserError(
      `${dir} holds a BERT encoder without a classification head (${String((config.architectures as string[] | undefined)?.[0] ?? 'BertModel')}); fine-tune a BertForSequenceClassification from it first`,
    );
  }
  const checkpoint: Checkpoint = {
    dir,
    modelState: new Map(),
    optimizerState: null,
    optimizerType: null,
    schedulerState: null,
    schedulerType: null,
    trainer: null,
    rngState: null,
    dataLoaderState: null,
    tokenizers: tokenizer === null ? {} : { default: tokenizer },
    config: model.config,
    metadata: huggingFaceMetadata(config),
    dispose: () => {},
  };
  return { model, checkpoint };
}

/** Rebuilds the model of a checkpoint from its config.json and loads its weights (in eval mode); a Hugging Face
 * model folder loads through fromHuggingFace. expectedType null takes any model type. The caller disposes both the
 * model and the returned checkpoint. */
export function loadModel(dir: string, expectedType: string | null): { model: Model; checkpoint: Checkpoint } {
  if (isHuggingFaceFolder(dir)) return loadHuggingFace(dir, expectedType);
  const checkpoint = loadCheckpoint(resolveCheckpoint(dir));
  try {
    const config = checkpoint.config as ModelConfig | null;
    if (config === null || typeof config !== 'object')
      throw new UserError(`checkpoint ${checkpoint.dir} has no config.json`);
    if (expectedType !== null && config.type !== expectedType)
      throw new UserError(
        `checkpoint ${checkpoint.dir} holds a ${String(config.type)}, this command needs a ${expectedType}`,
      );
    const model = modelFromConfig(config);
    model.loadStateDict(checkpoint.modelState);
    model.eval();
    return { model, checkpoint };
  } catch (e) {
    checkpoint.dispose();
    throw e;
  }
}

export function tokenizerOf(checkpoint: Checkpoint, name = 'default'): Tokenizer {
  const tokenizer = checkpoint.tokenizers[name];
  if (tokenizer === undefined)
    throw new UserError(
      `checkpoint ${checkpoint.dir} has no ${name === 'default' ? 'tokenizer.json' : `tokenizer.${name}.json`}`,
    );
  return tokenizer;
}

interface Schedule {
  warmupSteps: number;
  totalSteps: number;
  minLr: number;
}

/** The warmup/cosine schedule a checkpoint's run was started with (from its metadata), or null. */
function savedSchedule(dir: string): Schedule | null {
  const state = readJSONFile(path.join(dir, 'trainer_state.json'), 'checkpoint state') as {
    metadata?: { schedule?: Schedule };
  };
  const s = state?.metadata?.schedule;
  if (s === undefined || s === null || typeof s !== 'object') return null;
  const valid =
    Number.isInteger(s.warmupSteps) &&
    Number.isInteger(s.totalSteps) &&
    s.totalSteps >= 1 &&
    typeof s.minLr === 'number';
  return valid ? { warmupSteps: s.warmupSteps, totalSteps: s.totalSteps, minLr: s.minLr } : null;
}

export interface TrainingRun<B> {
  model: Module;
  /** Steps to train for when neither --max-steps nor --epochs is given (the value trainOptions() showed). */
  defaultMaxSteps?: number;
  trainLoader: ConstructorParameters<typeof Trainer<B>>[0]['trainLoader'];
  evalFn?: EvalFn;
  lossFn?: LossFn<B>;
  tokenizers: Tokenizer | Record<string, Tokenizer>;
  config: unknown;
  /** Stored in checkpoints; `task` is added. */
  metadata?: Record<string, unknown>;
  /** The eval metric that picks best/ (default 'loss', lower is better). */
  bestMetric?: string;
  bestMode?: 'min' | 'max';
}

/**
 * Averages the weights of the last `count` step checkpoints in outDir and saves the average as best/, with its
 * evaluation (where the task has one) beside the best single checkpoint's. Late in a run the checkpoints scatter
 * around a minimum that the learning rate is still too large to settle in, and their mean tends to lie nearer to
 * it. The average replaces best/ whatever its score: the best single checkpoint's score is the best of many noisy
 * evaluations on one sample, so a fresh evaluation of the average on that sample is no fair comparison (G2P: the
 * average of its last 5 epochs scored 25.0% on the 500 dev words against 24.8% for the best epoch, and 24.4%
 * against 25.1% on the whole dev split).
 */
async function averageLastCheckpoints<B>(
  context: CommandContext,
  run: TrainingRun<B>,
  outDir: string,
  count: number,
  result: TrainResult,
  metadata: Record<string, unknown>,
): Promise<void> {
  const steps = listCheckpoints(path.join(outDir, 'checkpoints'))
    .filter((c) => isCheckpoint(c.dir))
    .slice(-count);
  if (steps.length < 2) {
    context.io.stderr.write(
      `--average-last ${count}: ${steps.length} step checkpoint(s) in ${outDir}, nothing to average (save more often with --checkpoint-every)\n`,
    );
    return;
  }
  const weights = averageCheckpointWeights(steps.map((c) => c.dir));
  try {
    run.model.loadStateDict(weights);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  run.model.eval();
  const evalFn = run.evalFn;
  const metrics: Metrics | null =
    evalFn === undefined ? null : await noGrad(() => evalFn(run.model, { step: result.step, epoch: result.epoch }));
  const name = run.bestMetric ?? 'loss';
  const shown = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(4) : '-');
  const score =
    metrics === null
      ? ' (no held-out data to score it on)'
      : `: ${name} ${shown(metrics[name])} (best single checkpoint: ${shown(result.bestMetric)} at step ${result.bestStep ?? '-'})`;
  context.io.stdout.write(`average of steps ${steps.map((c) => c.step).join(', ')}${score}; saved as best/\n`);
  saveCheckpoint(path.join(outDir, 'best'), {
    model: run.model,
    tokenizers: run.tokenizers,
    config: run.config,
    trainer: result,
    metadata: {
      ...metadata,
      averagedSteps: steps.map((c) => c.step),
      ...(metrics === null ? {} : { averagedMetrics: metrics }),
    },
  });
}

export function seedFrom(options: OptionValues): void {
  manualSeed(options.seed as number);
}

/** AdamW + warmup/cosine schedule + Trainer from the common train options; logs to stderr, summary to stdout. */
export async function runTraining<B>(task: string, context: CommandContext, run: TrainingRun<B>): Promise<TrainResult> {
  const o = context.options;
  // Under a launcher (mpirun, srun) every process trains on its shard of the data; the Trainer takes it from here.
  if (dist.launcherInfo() !== null) dist.init({ timeout: o.distTimeout as number });
  const { rank, worldSize } = dist.processGroup();
  const stderr = rank === 0 ? context.io.stderr : { write: () => true };
  // Sharded before the schedule counts the batches of an epoch (the Trainer would shard it too).
  if (worldSize > 1) run.trainLoader.setShard?.({ rank, worldSize });
  const epochs = o.epochs as number | undefined;
  const maxSteps = (o.maxSteps as number | undefined) ?? (epochs === undefined ? run.defaultMaxSteps : undefined);
  if (maxSteps === undefined && epochs === undefined) throw new UserError('give --max-steps or --epochs', 2);
  const batchesPerEpoch = run.trainLoader.length ?? 0;
  const accumulation = o.gradAccum as number;
  const totalSteps = Math.max(
    1,
    Math.min(
      maxSteps ?? Infinity,
      epochs !== undefined ? Math.ceil((epochs * batchesPerEpoch) / accumulation) : Infinity,
    ),
  );
  const outDir = o.out as string;
  const resumeDir =
    o.resume === undefined
      ? null
      : o.resume === 'auto'
        ? latestCheckpoint(path.join(outDir, 'checkpoints'))
        : resolveCheckpoint(o.resume as string);
  if (o.resume === undefined && latestCheckpoint(path.join(outDir, 'checkpoints')) !== null)
    throw new UserError(
      `${outDir} already holds checkpoints of a run; pass --resume auto to continue it, or choose another --out`,
    );
  // The schedule belongs to the run: a resumed run keeps the one it started with, so the learning rates match
  // an uninterrupted run; the new --max-steps / --epochs only say where to stop.
  let schedule: Schedule = {
    warmupSteps: Math.min(o.warmupSteps as number, totalSteps),
    totalSteps,
    minLr: Math.min(o.minLr as number, o.lr as number),
  };
  if (resumeDir !== null) {
    const saved = savedSchedule(resumeDir);
    if (saved !== null) {
      if (saved.totalSteps < totalSteps)
        stderr.write(
          `${task}: note: the learning-rate schedule of ${resumeDir} ends at step ${saved.totalSteps}; later steps use its final lr\n`,
        );
      schedule = saved;
    }
  }
  // Weight decay on matrices only: biases, LayerNorm gains and other vectors are not shrunk.
  const parameters = run.model.parameters();
  const groups = [
    { params: parameters.filter((p) => p.ndim >= 2), weightDecay: o.weightDecay as number },
    { params: parameters.filter((p) => p.ndim < 2), weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
  const optimizer = new AdamW(groups, { lr: o.lr as number });
  const scheduler = new WarmupCosineLR(optimizer, schedule);
  const maxMinutes = o.maxMinutes as number | undefined;
  const averageLast = o.averageLast as number;
  if (averageLast > (o.keepLast as number))
    throw new UserError(`--average-last ${averageLast} needs --keep-last of at least ${averageLast}`, 2);
  const metadata = { task, schedule, ...run.metadata };
  let started = Date.now();
  const trainer: Trainer<B> = new Trainer<B>({
    onStep:
      maxMinutes === undefined
        ? undefined
        : () => {
            if ((Date.now() - started) / 60000 >= maxMinutes) trainer.stop();
          },
    model: run.model,
    optimizer,
    scheduler,
    trainLoader: run.trainLoader,
    lossFn: run.lossFn,
    evalFn: run.evalFn,
    maxSteps,
    epochs,
    gradAccumulationSteps: accumulation,
    clipGradNorm: o.clipGradNorm as number,
    evalEvery: o.evalEvery as number | undefined,
    checkpointEvery: o.checkpointEvery as number | undefined,
    keepLast: o.keepLast as number,
    logEvery: o.logEvery as number,
    bestMetric: run.bestMetric,
    bestMode: run.bestMode,
    outDir,
    resume: resumeDir ?? undefined,
    tokenizers: run.tokenizers,
    config: run.config,
    metadata,
    progress: o.progress as ProgressMode,
    logStream: context.io.stderr,
  });
  context.onInterrupt(() => trainer.stop());
  if (o.resume === 'auto' && resumeDir === null)
    stderr.write(`${task}: no checkpoint in ${outDir} yet, starting a new run\n`);
  else if (resumeDir !== null) stderr.write(`${task}: resuming from ${resumeDir}\n`);
  stderr.write(
    `${task}: training a model of ${run.model.numParameters().toLocaleString('en-US')} parameters for ${totalSteps} steps into ${outDir}${worldSize > 1 ? ` on ${worldSize} processes` : ''}\n`,
  );
  try {
    started = Date.now();
    const result = await trainer.train();
    const evalText = result.lastEval
      ? ` | eval ${Object.entries(result.lastEval)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(', ')}`
      : '';
    if (rank === 0)
      context.io.stdout.write(
        `${result.stopped ? 'stopped' : 'done'} at step ${result.step}: loss ${result.lastLoss === null ? '-' : result.lastLoss.toFixed(4)}${evalText}\n` +
          `checkpoint: ${result.checkpoint}\n` +
          `metrics: ${path.join(outDir, 'metrics.jsonl')}, chart: ${path.join(outDir, 'loss.svg')}\n`,
      );
    if (averageLast > 1) {
      if (worldSize > 1) stderr.write(`${task}: --average-last is skipped under a launcher\n`);
      else await averageLastCheckpoints(context, run, outDir, averageLast, result, metadata);
    }
    return result;
  } finally {
    optimizer.dispose();
  }
}
