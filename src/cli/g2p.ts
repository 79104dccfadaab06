// The `g2p` task: grapheme-to-phoneme on CMUdict. `train` fits a Seq2SeqTransformer on the train split, watching
// dev WER (test is never looked at while training), and saves the average of its last checkpoints as best/, `eval`
// scores a checkpoint on dev or test, `predict` prints `word<TAB>PH PH PH` for words from the arguments or stdin.
import * as fs from 'node:fs';
import { noGrad } from '../autograd';
import type { CharTokenizer } from '../data/tokenizers/char';
import type { WordTokenizer } from '../data/tokenizers/word';
import { writeFileAtomic } from '../io/atomic';
import type { Seq2SeqTransformer } from '../models';
import { G2PTokenizers, g2pTokenizers, loadCmudict, SplitName } from '../tasks/g2p/data';
import { buildG2PModel, evaluateG2P, G2P_MODEL_DEFAULTS, g2pLoader, predictG2P } from '../tasks/g2p/task';
import { defaultLossFn } from '../training/losses';
import type { Checkpoint } from '../training/checkpoint';
import { OptionSpec, UserError } from './args';
import { loadModel, runTraining, seedFrom, tokenizerOf, trainOptions } from './common';
import type { CommandContext, TaskDefinition } from './tasks';

/** Steps of the cosine schedule: about 15 epochs of ~640 batches. In the 45 minutes of --max-minutes 2 cores of a
 * Zen 4 EPYC have run 8,933 to 9,714 of them, the host's speed varying from day to day (see the README), so the
 * run stops with the learning rate nearly down; a faster machine finishes the schedule early. */
const DEFAULT_MAX_STEPS = 10000;

/** Padded tokens per batch: at equal tokens seen, batches of 1,500 beat 3,000 by 7 dev WER points early in
 * training, at the same tokens/s. */
const DEFAULT_MAX_TOKENS = 1500;

const MODEL_OPTIONS: OptionSpec[] = [
  { name: 'd-model', type: 'integer', min: 1, default: G2P_MODEL_DEFAULTS.dModel, description: 'model width' },
  { name: 'nhead', type: 'integer', min: 1, default: G2P_MODEL_DEFAULTS.nhead, description: 'attention heads' },
  {
    name: 'encoder-layers',
    type: 'integer',
    min: 1,
    default: G2P_MODEL_DEFAULTS.numEncoderLayers,
    description: 'encoder layers',
  },
  {
    name: 'decoder-layers',
    type: 'integer',
    min: 1,
    default: G2P_MODEL_DEFAULTS.numDecoderLayers,
    description: 'decoder layers',
  },
  {
    name: 'dim-feedforward',
    type: 'integer',
    min: 1,
    default: G2P_MODEL_DEFAULTS.dimFeedforward,
    description: 'feed-forward width',
  },
  {
    name: 'dropout',
    type: 'number',
    min: 0,
    max: 0.99,
    default: G2P_MODEL_DEFAULTS.dropout,
    description: 'dropout probability',
  },
];

/** The common train options with the defaults that suit G2P. */
function g2pTrainOptions(): OptionSpec[] {
  const overrides: Record<string, Partial<OptionSpec>> = {
    'warmup-steps': { default: 400 },
    'min-lr': { default: 2e-5 },
    'max-minutes': { default: 45 },
    // The weights of the last 8 half-epoch checkpoints averaged: 23.9% dev WER without stress against 24.5% for the
    // last checkpoint alone and 24.2% for the last 5 epochs (see the README).
    'keep-last': { default: 8 },
    'average-last': { default: 8 },
    'log-every': { default: 50 },
  };
  // Batches are sized in tokens (--max-tokens), not examples.
  return trainOptions({ lr: 1e-3, maxSteps: DEFAULT_MAX_STEPS })
    .filter((spec) => spec.name !== 'batch-size')
    .map((spec) => ({ ...spec, ...(overrides[spec.name] ?? {}) }) as OptionSpec);
}

const TRAIN_OPTIONS: OptionSpec[] = [
  ...MODEL_OPTIONS,
  { name: 'max-tokens', type: 'integer', min: 64, default: DEFAULT_MAX_TOKENS, description: 'padded tokens per batch' },
  {
    name: 'label-smoothing',
    type: 'number',
    min: 0,
    max: 0.99,
    default: 0.1,
    description: 'label smoothing of the loss',
  },
  {
    name: 'dev-words',
    type: 'integer',
    min: 0,
    default: 500,
    description: 'dev words scored at each evaluation, spread over the split (0: all of dev)',
  },
  { name: 'beam-size', type: 'integer', min: 1, default: 5, description: 'beam width when scoring dev' },
  ...g2pTrainOptions(),
];

/** The grapheme (src) and phoneme (tgt) tokenizers of a g2p checkpoint. */
export function tokenizersOf(checkpoint: Checkpoint): G2PTokenizers {
  return {
    graphemes: tokenizerOf(checkpoint, 'src') as CharTokenizer,
    phonemes: tokenizerOf(checkpoint, 'tgt') as WordTokenizer,
  };
}

function percent(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

async function train(context: CommandContext): Promise<number> {
  const o = context.options;
  seedFrom(o);
  const data = loadCmudict();
  const tokenizers = g2pTokenizers(data);
  const trainLoader = g2pLoader(data.train, tokenizers, { maxTokens: o.maxTokens as number, seed: o.seed as number });
  const devWords = o.devWords as number;
  // Every k-th dev word: the split is in dictionary order, and its first words (abbreviations, "a"-words) are
  // harder than the rest, so a prefix would mislead checkpoint selection.
  const stride = devWords > 0 ? Math.max(1, Math.floor(data.dev.length / devWords)) : 1;
  const dev = data.dev.filter((_, i) => i % stride === 0).slice(0, devWords > 0 ? devWords : undefined);
  const model = buildG2PModel(tokenizers, {
    dModel: o.dModel as number,
    nhead: o.nhead as number,
    numEncoderLayers: o.encoderLayers as number,
    numDecoderLayers: o.decoderLayers as number,
    dimFeedforward: o.dimFeedforward as number,
    dropout: o.dropout as number,
    seed: o.seed as number,
  });
  // Score dev once per epoch and save a checkpoint every half epoch (for --average-last) unless asked otherwise.
  if (o.evalEvery === undefined) o.evalEvery = trainLoader.length;
  if (o.checkpointEvery === undefined) o.checkpointEvery = Math.ceil(trainLoader.length / 2);
  context.io.stderr.write(
    `g2p: ${trainLoader.examples.length} training pairs (${data.train.length} words), ${trainLoader.length} batches per epoch; dev scoring on ${dev.length} words\n`,
  );
  try {
    await runTraining('g2p', context, {
      model,
      defaultMaxSteps: DEFAULT_MAX_STEPS,
      trainLoader,
      lossFn: defaultLossFn({ labelSmoothing: o.labelSmoothing as number }),
      evalFn: (m) => {
        const metrics = noGrad(() =>
          evaluateG2P(m as Seq2SeqTransformer, tokenizers, dev, { beamSize: o.beamSize as number }),
        );
        return {
          wer: metrics.wer,
          per: metrics.per,
          werNoStress: metrics.werNoStress,
          perNoStress: metrics.perNoStress,
        };
      },
      tokenizers: { src: tokenizers.graphemes, tgt: tokenizers.phonemes },
      config: model.config,
      metadata: { beamSize: o.beamSize },
      bestMetric: 'werNoStress',
      bestMode: 'min',
    });
    return 0;
  } finally {
    model.dispose();
  }
}

function evaluate(context: CommandContext): number {
  const o = context.options;
  const split = o.split as SplitName;
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'Seq2SeqTransformer');
  try {
    const tokenizers = tokenizersOf(checkpoint);
    const all = loadCmudict()[split];
    const limit = o.limit as number | undefined;
    const entries = limit === undefined ? all : all.slice(0, limit);
    const started = Date.now();
    const metrics = noGrad(() =>
      evaluateG2P(model as Seq2SeqTransformer, tokenizers, entries, { beamSize: o.beamSize as number }),
    );
    const seconds = (Date.now() - started) / 1000;
    context.io.stdout.write(
      `${split}: ${metrics.words} words | WER ${percent(metrics.wer)} PER ${percent(metrics.per)} | ` +
        `without stress: WER ${percent(metrics.werNoStress)} PER ${percent(metrics.perNoStress)} | beam ${o.beamSize as number} | ${seconds.toFixed(0)} s\n`,
    );
    if (o.json !== undefined)
      writeFileAtomic(
        o.json as string,
        `${JSON.stringify({ checkpoint: checkpoint.dir, split, beamSize: o.beamSize, seconds, ...metrics }, null, 2)}\n`,
      );
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

function predict(context: CommandContext): number {
  const o = context.options;
  let words = [...context.positionals];
  if (words.length === 0) {
    // One word per line from stdin; read synchronously so predictions come out in input order.
    let text = '';
    try {
      text = fs.readFileSync(0, 'utf8');
    } catch {
      throw new UserError('give words as arguments or one per line on stdin', 2);
    }
    words = text
      .split('\n')
      .map((w) => w.trim())
      .filter((w) => w !== '');
  }
  if (words.length === 0) throw new UserError('give words as arguments or one per line on stdin', 2);
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'Seq2SeqTransformer');
  try {
    const tokenizers = tokenizersOf(checkpoint);
    const batchSize = o.batchSize as number;
    for (let start = 0; start < words.length; start += batchSize) {
      const chunk = words.slice(start, start + batchSize);
      const predictions = noGrad(() =>
        predictG2P(model as Seq2SeqTransformer, tokenizers, chunk, { beamSize: o.beamSize as number }),
      );
      chunk.forEach((word, i) => context.io.stdout.write(`${word}\t${predictions[i].join(' ')}\n`));
    }
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

const CHECKPOINT_OPTION: OptionSpec = {
  name: 'checkpoint',
  type: 'string',
  placeholder: 'DIR',
  description: 'checkpoint folder, or a g2p train --out folder (its best checkpoint)',
  required: true,
};
const BEAM_OPTION: OptionSpec = {
  name: 'beam-size',
  type: 'integer',
  min: 1,
  default: 5,
  description: 'beam width (1: greedy)',
};

export const g2pTask: TaskDefinition = {
  name: 'g2p',
  description: 'grapheme-to-phoneme on CMUdict: a Seq2SeqTransformer from spelling to ARPAbet phonemes',
  commands: {
    train: {
      summary: 'train on the CMUdict train split (dev WER without stress watched; the last checkpoints averaged)',
      options: TRAIN_OPTIONS,
      details: 'Example:\n  transformer-native g2p train --out runs/g2p        # about 45 minutes on 2 cores',
      run: train,
    },
    eval: {
      summary: 'WER and PER (with and without stress digits) on dev or test',
      options: [
        CHECKPOINT_OPTION,
        {
          name: 'split',
          type: 'string',
          choices: ['dev', 'test'],
          default: 'dev',
          description: 'which split to score',
        },
        BEAM_OPTION,
        {
          name: 'limit',
          type: 'integer',
          min: 1,
          description: 'score only the first N words of the split (a quick check)',
        },
        { name: 'json', type: 'string', placeholder: 'FILE', description: 'also write the metrics to this JSON file' },
      ],
      run: evaluate,
    },
    predict: {
      summary: 'print word<TAB>PHONEMES for words from the arguments or stdin',
      positionals: '[WORD...]',
      options: [
        CHECKPOINT_OPTION,
        BEAM_OPTION,
        { name: 'batch-size', type: 'integer', min: 1, default: 256, description: 'words decoded together' },
      ],
      run: predict,
    },
  },
};
