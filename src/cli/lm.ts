// The `lm` task: train a GPT on a text file with a character or byte-level BPE tokenizer, and generate text.
import { noGrad } from '../autograd';
import { disposeBatch, LanguageModelDataLoader } from '../data/dataloader';
import { ByteLevelBPETokenizer, CharTokenizer, Tokenizer } from '../data/tokenizers';
import * as F from '../functional';
import { GPT } from '../models';
import type { Module } from '../nn/module';
import { tensor, tidy } from '../tensor';
import type { Metrics } from '../training/trainer';
import { OptionSpec, UserError } from './args';
import { loadModel, readTextFile, runTraining, seedFrom, tokenizerOf, trainOptions } from './common';
import type { TaskDefinition } from './tasks';

const TRAIN_OPTIONS: OptionSpec[] = [
  { name: 'data', type: 'string', placeholder: 'FILE', description: 'UTF-8 text file to train on', required: true },
  { name: 'tokenizer', type: 'string', choices: ['char', 'bpe'], default: 'char', description: 'characters, or byte-level BPE learned from the data' },
  { name: 'vocab-size', type: 'integer', min: 260, default: 512, description: 'BPE vocabulary size (4 specials + 256 bytes + merges)' },
  { name: 'block-size', type: 'integer', min: 1, default: 64, description: 'context length in tokens' },
  { name: 'd-model', type: 'integer', min: 1, default: 128, description: 'model width' },
  { name: 'nhead', type: 'integer', min: 1, default: 4, description: 'attention heads' },
  { name: 'num-layers', type: 'integer', min: 1, default: 4, description: 'Transformer blocks' },
  { name: 'dim-feedforward', type: 'integer', min: 1, description: 'feed-forward width (default 4 x d-model)' },
  { name: 'dropout', type: 'number', min: 0, max: 0.99, default: 0.1, description: 'dropout probability' },
  { name: 'val-fraction', type: 'number', min: 0, max: 0.5, default: 0.1, description: 'share of the text (its end) held out for evaluation' },
  ...trainOptions({ lr: 1e-3, batchSize: 32, maxSteps: 2000 }),
];

const GENERATE_OPTIONS: OptionSpec[] = [
  { name: 'checkpoint', type: 'string', placeholder: 'DIR', description: 'checkpoint folder, or a training --out folder (its best checkpoint)', required: true },
  { name: 'prompt', type: 'string', placeholder: 'TEXT', description: 'text to continue', required: true },
  { name: 'max-tokens', type: 'integer', min: 1, default: 200, description: 'tokens to generate' },
  { name: 'temperature', type: 'number', min: 0, default: 1, description: 'softmax temperature; 0 picks the most likely token (greedy)' },
  { name: 'top-k', type: 'integer', min: 0, default: 0, description: 'sample among the k most likely tokens (0: all)' },
  { name: 'top-p', type: 'number', min: 0, max: 1, exclusiveMin: true, default: 1, description: 'sample within the smallest set of tokens of this total probability' },
  { name: 'seed', type: 'integer', min: 0, default: 0, description: 'sampling seed' },
];

/** Mean next-token loss over a loader's current epoch. */
function languageModelLoss(model: Module, loader: LanguageModelDataLoader): Metrics {
  let total = 0;
  let tokens = 0;
  for (const batch of loader.epoch(0)) {
    total += tidy(() => {
      const logits = model.forward(batch.input);
      const vocab = logits.shape[logits.ndim - 1];
      return F.crossEntropy(logits.reshape([-1, vocab]), batch.target.reshape([-1]), { reduction: 'sum' }).item();
    });
    tokens += batch.numTargetTokens;
    disposeBatch(batch);
  }
  const loss = total / Math.max(1, tokens);
  return { loss, perplexity: Math.exp(loss) };
}

async function train(context: Parameters<NonNullable<TaskDefinition['commands']['train']>['run']>[0]): Promise<number> {
  const o = context.options;
  const text = readTextFile(o.data as string, 'data file');
  if (text.length === 0) throw new UserError(`data file ${o.data as string} is empty`);
  seedFrom(o);
  const tokenizer: Tokenizer = o.tokenizer === 'bpe' ? ByteLevelBPETokenizer.train([text], { vocabSize: o.vocabSize as number }) : CharTokenizer.fromCorpus([text]);
  const ids = tokenizer.encode(text);
  const blockSize = o.blockSize as number;
  const valTokens = Math.floor(ids.length * (o.valFraction as number));
  const trainIds = ids.slice(0, ids.length - valTokens);
  if (trainIds.length < 2) throw new UserError(`data file ${o.data as string} has too little text: ${ids.length} tokens`);
  const loaderOptions = { blockSize, batchSize: o.batchSize as number, seed: o.seed as number };
  const trainLoader = new LanguageModelDataLoader(trainIds, { ...loaderOptions, shuffle: true });
  const valLoader = valTokens >= 2 ? new LanguageModelDataLoader(ids.slice(ids.length - valTokens), loaderOptions) : null;
  const model = new GPT({
    vocabSize: tokenizer.vocabSize,
    contextLength: blockSize,
    dModel: o.dModel as number,
    nhead: o.nhead as number,
    numLayers: o.numLayers as number,
    dimFeedforward: (o.dimFeedforward as number | undefined) ?? 4 * (o.dModel as number),
    dropout: o.dropout as number,
  });
  try {
    await runTraining('lm', context, {
      model,
      trainLoader,
      evalFn: valLoader === null ? undefined : (m) => languageModelLoss(m, valLoader),
      tokenizers: tokenizer,
      config: model.config,
      metadata: { data: o.data, tokenizer: o.tokenizer },
    });
    return 0;
  } finally {
    model.dispose();
  }
}

/** A seeded generator of floats in [0, 1) (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SamplingOptions {
  temperature: number;
  topK: number;
  topP: number;
}

/** Picks a token id from logits: argmax at temperature 0, else a draw from the tempered distribution restricted
 * to the top-k tokens and then to the smallest set whose probability reaches top-p. */
export function sampleToken(logits: Float32Array, options: SamplingOptions, random: () => number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (options.temperature === 0) return best;
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  const kept = options.topK > 0 ? order.slice(0, options.topK) : order;
  const weights = kept.map((i) => Math.exp((logits[i] - logits[best]) / options.temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  let cut = kept.length;
  if (options.topP < 1) {
    let mass = 0;
    for (let j = 0; j < kept.length; j++) {
      mass += weights[j] / sum;
      if (mass >= options.topP) {
        cut = j + 1;
        break;
      }
    }
  }
  const total = weights.slice(0, cut).reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let j = 0; j < cut; j++) {
    r -= weights[j];
    if (r < 0) return kept[j];
  }
  return kept[cut - 1];
}

function generate(context: Parameters<NonNullable<TaskDefinition['commands']['generate']>['run']>[0]): number {
  const o = context.options;
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'GPT');
  try {
    const gpt = model as GPT;
    const tokenizer = tokenizerOf(checkpoint);
    const prompt = o.prompt as string;
    const ids = tokenizer.encode(prompt);
    if (ids.length === 0) throw new UserError('the prompt encodes to no tokens');
    const random = seededRandom(o.seed as number);
    const sampling = { temperature: o.temperature as number, topK: o.topK as number, topP: o.topP as number };
    const contextLength = gpt.config.contextLength;
    const generated: number[] = [];
    noGrad(() => {
      for (let i = 0; i < (o.maxTokens as number); i++) {
        const window = [...ids, ...generated].slice(-contextLength);
        const logits = tidy(() => {
          const out = gpt.forward(tensor(Int32Array.from(window), { shape: [1, window.length] }));
          return out.slice(1, window.length - 1, window.length).dataSync() as Float32Array;
        });
        const next = sampleToken(logits, sampling, random);
        if (next === tokenizer.eosId) break;
        generated.push(next);
      }
    });
    context.io.stdout.write(`${prompt}${tokenizer.decode(generated)}\n`);
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

export const lmTask: TaskDefinition = {
  name: 'lm',
  description: 'language modelling: a GPT trained on a text file',
  commands: {
    train: {
      summary: 'train a GPT on a text file',
      options: TRAIN_OPTIONS,
      details: 'Example:\n  transformer-native train --task lm --data corpus.txt --out runs/lm --max-steps 2000',
      run: train,
    },
    generate: {
      summary: 'continue a prompt with a trained GPT',
      options: GENERATE_OPTIONS,
      details: 'Example:\n  transformer-native generate --checkpoint runs/lm --prompt "Once upon" --max-tokens 100 --temperature 0.8 --top-k 40',
      run: generate,
    },
  },
};
