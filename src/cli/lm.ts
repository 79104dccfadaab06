// The `lm` task: train a GPT on a text file with a character or byte-level BPE tokenizer, and generate text.
import { LanguageModelDataLoader } from '../data/dataloader';
import { ByteLevelBPETokenizer, CharTokenizer, Tokenizer } from '../data/tokenizers';
import { GPT } from '../models';
import type { Module } from '../nn/module';
import { generateStream } from '../generation';
import { writeFileAtomic } from '../io/atomic';
import { evaluateLoss } from '../training/evaluate';
import type { Metrics } from '../training/trainer';
import { OptionSpec, UserError } from './args';
import {
  checkSaveHf,
  HUGGING_FACE_TRAIN_OPTIONS,
  initialModel,
  loadModel,
  readTextFile,
  runTraining,
  saveTrainedHuggingFace,
  seedFrom,
  tokenizerOf,
  trainOptions,
} from './common';
import type { CommandContext, TaskDefinition } from './tasks';

const DEFAULT_MAX_STEPS = 2000;

const TRAIN_OPTIONS: OptionSpec[] = [
  { name: 'data', type: 'string', placeholder: 'FILE', description: 'UTF-8 text file to train on', required: true },
  {
    name: 'tokenizer',
    type: 'string',
    choices: ['char', 'bpe'],
    default: 'char',
    description: 'characters, or byte-level BPE learned from the data',
  },
  {
    name: 'vocab-size',
    type: 'integer',
    min: 260,
    default: 512,
    description: 'BPE vocabulary size (4 specials + 256 bytes + merges)',
  },
  { name: 'block-size', type: 'integer', min: 1, default: 64, description: 'context length in tokens' },
  { name: 'd-model', type: 'integer', min: 1, default: 128, description: 'model width' },
  { name: 'nhead', type: 'integer', min: 1, default: 4, description: 'attention heads' },
  { name: 'num-layers', type: 'integer', min: 1, default: 4, description: 'Transformer blocks' },
  { name: 'dim-feedforward', type: 'integer', min: 1, description: 'feed-forward width (default 4 x d-model)' },
  { name: 'dropout', type: 'number', min: 0, max: 0.99, default: 0.1, description: 'dropout probability' },
  {
    name: 'val-fraction',
    type: 'number',
    min: 0,
    max: 0.5,
    default: 0.1,
    description: 'share of the text (its end) held out for evaluation',
  },
  ...HUGGING_FACE_TRAIN_OPTIONS,
  ...trainOptions({ lr: 1e-3, batchSize: 32, maxSteps: DEFAULT_MAX_STEPS }),
];

/** What --init replaces (--block-size still sets the windows, to at most the loaded model's context). */
const NEW_MODEL_OPTIONS = TRAIN_OPTIONS.filter((spec) =>
  ['tokenizer', 'vocab-size', 'd-model', 'nhead', 'num-layers', 'dim-feedforward', 'dropout'].includes(spec.name),
);

const GENERATE_OPTIONS: OptionSpec[] = [
  {
    name: 'checkpoint',
    type: 'string',
    placeholder: 'DIR',
    description: 'checkpoint folder, or a training --out folder (its best checkpoint)',
    required: true,
  },
  { name: 'prompt', type: 'string', placeholder: 'TEXT', description: 'text to continue', required: true },
  { name: 'max-tokens', type: 'integer', min: 1, default: 200, description: 'tokens to generate' },
  {
    name: 'temperature',
    type: 'number',
    min: 0,
    default: 1,
    description: 'softmax temperature; 0 picks the most likely token (greedy)',
  },
  { name: 'top-k', type: 'integer', min: 0, default: 0, description: 'sample among the k most likely tokens (0: all)' },
  {
    name: 'top-p',
    type: 'number',
    min: 0,
    max: 1,
    exclusiveMin: true,
    default: 1,
    description: 'sample within the smallest set of tokens of this total probability',
  },
  { name: 'seed', type: 'integer', min: 0, default: 0, description: 'sampling seed' },
];

/** Code points per token of `ids` (1 for a character tokenizer; more for BPE), to turn a per-token loss into a
 * per-character one that compares across tokenizers and with character n-gram models. */
function charactersPerToken(tokenizer: Tokenizer, ids: ArrayLike<number>): number {
  const text = tokenizer.decode(ids);
  let characters = 0;
  // UTF-16 code units, less the second halves of surrogate pairs.
  for (let i = 0; i < text.length; i++) if ((text.charCodeAt(i) & 0xfc00) !== 0xdc00) characters++;
  return characters / Math.max(1, ids.length);
}

/** Mean next-token loss (nats) over a loader's first epoch, its perplexity, and the loss in bits per character. */
function languageModelLoss(model: Module, loader: LanguageModelDataLoader, charsPerToken: number): Metrics {
  const { loss } = evaluateLoss(model, loader.epoch(0));
  return { loss, perplexity: Math.exp(loss), bitsPerChar: loss / Math.LN2 / charsPerToken };
}

async function train(context: CommandContext): Promise<number> {
  const o = context.options;
  const text = readTextFile(o.data as string, 'data file');
  if (text.length === 0) throw new UserError(`data file ${o.data as string} is empty`);
  seedFrom(o);
  const init = o.init === undefined ? null : initialModel(context, 'GPT', NEW_MODEL_OPTIONS);
  const tokenizer: Tokenizer =
    init?.tokenizer ??
    (o.tokenizer === 'bpe'
      ? ByteLevelBPETokenizer.train([text], { vocabSize: o.vocabSize as number })
      : CharTokenizer.fromCorpus([text]));
  const ids = tokenizer.encode(text);
  const blockSize = Math.min(o.blockSize as number, (init?.model as GPT | undefined)?.config.contextLength ?? Infinity);
  const valTokens = Math.floor(ids.length * (o.valFraction as number));
  const trainIds = ids.slice(0, ids.length - valTokens);
  if (trainIds.length < 2)
    throw new UserError(`data file ${o.data as string} has too little text: ${ids.length} tokens`);
  const loaderOptions = { blockSize, batchSize: o.batchSize as number, seed: o.seed as number };
  const trainLoader = new LanguageModelDataLoader(trainIds, { ...loaderOptions, shuffle: true });
  const valIds = ids.slice(ids.length - valTokens);
  const valLoader = valTokens >= 2 ? new LanguageModelDataLoader(valIds, loaderOptions) : null;
  const valCharsPerToken = charactersPerToken(tokenizer, valIds);
  const model =
    (init?.model as GPT | undefined) ??
    new GPT({
      vocabSize: tokenizer.vocabSize,
      contextLength: blockSize,
      dModel: o.dModel as number,
      nhead: o.nhead as number,
      numLayers: o.numLayers as number,
      dimFeedforward: (o.dimFeedforward as number | undefined) ?? 4 * (o.dModel as number),
      dropout: o.dropout as number,
    });
  try {
    checkSaveHf(context, model, tokenizer);
    await runTraining('lm', context, {
      model,
      defaultMaxSteps: DEFAULT_MAX_STEPS,
      trainLoader,
      evalFn: valLoader === null ? undefined : (m) => languageModelLoss(m, valLoader, valCharsPerToken),
      tokenizers: tokenizer,
      config: model.config,
      metadata: { data: o.data, tokenizer: init ? 'init' : o.tokenizer, ...(init ? { init: o.init } : {}) },
    });
    saveTrainedHuggingFace(context, model, tokenizer, init?.config);
    return 0;
  } finally {
    model.dispose();
  }
}

function evaluate(context: CommandContext): number {
  const o = context.options;
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'GPT');
  try {
    const tokenizer = tokenizerOf(checkpoint);
    const ids = tokenizer.encode(readTextFile(o.data as string, 'data file'));
    if (ids.length < 2) throw new UserError(`data file ${o.data as string} has fewer than 2 tokens`);
    const loader = new LanguageModelDataLoader(ids, {
      blockSize: (model as GPT).config.contextLength,
      batchSize: o.batchSize as number,
    });
    const metrics = languageModelLoss(model, loader, charactersPerToken(tokenizer, ids));
    context.io.stdout.write(
      `loss ${metrics.loss.toFixed(4)} | bits/char ${metrics.bitsPerChar.toFixed(4)} | ` +
        `perplexity ${metrics.perplexity.toFixed(4)} | tokens ${ids.length - 1}\n`,
    );
    if (o.json !== undefined)
      writeFileAtomic(
        o.json as string,
        `${JSON.stringify({ checkpoint: checkpoint.dir, data: o.data, ...metrics, tokens: ids.length - 1 }, null, 2)}\n`,
      );
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

async function generate(context: CommandContext): Promise<number> {
  const o = context.options;
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'GPT');
  try {
    const gpt = model as GPT;
    const tokenizer = tokenizerOf(checkpoint);
    const prompt = o.prompt as string;
    let ids = tokenizer.encode(prompt);
    if (ids.length === 0) throw new UserError('the prompt encodes to no tokens');
    const contextLength = gpt.config.contextLength;
    // The model attends over contextLength positions: the prompt keeps its end, and the output what fits.
    if (ids.length >= contextLength) {
      context.io.stderr.write(
        `lm: the prompt has ${ids.length} tokens; the model's context of ${contextLength} keeps the last ${contextLength - 1}\n`,
      );
      ids = ids.slice(ids.length - (contextLength - 1));
    }
    const room = contextLength - ids.length + 1;
    let maxLength = o.maxTokens as number;
    if (maxLength > room) {
      context.io.stderr.write(
        `lm: the model's context of ${contextLength} tokens leaves room for ${room} new tokens after this prompt\n`,
      );
      maxLength = room;
    }
    const temperature = o.temperature as number;
    const options = {
      maxLength,
      // The training text is one stream without end tokens, so generation runs to maxLength.
      eosId: null,
      strategy: temperature === 0 ? ('greedy' as const) : ('sample' as const),
      temperature: temperature === 0 ? 1 : temperature,
      topK: o.topK as number,
      topP: o.topP as number,
      seed: o.seed as number,
    };
    const out = context.io.stdout;
    out.write(prompt);
    // Tokens are printed as they come; a token that ends inside a multi-byte character waits for the rest.
    const generated: number[] = [];
    let printed = '';
    for await (const token of generateStream(gpt, [ids], options)) {
      generated.push(token);
      const text = tokenizer.decode(generated);
      if (!text.endsWith('\uFFFD')) {
        out.write(text.slice(printed.length));
        printed = text;
      }
    }
    out.write(`${tokenizer.decode(generated).slice(printed.length)}\n`);
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
    eval: {
      summary: 'loss (nats per token), bits per character and perplexity of a GPT on a text file',
      options: [
        GENERATE_OPTIONS[0],
        {
          name: 'data',
          type: 'string',
          placeholder: 'FILE',
          description: 'UTF-8 text file to evaluate on',
          required: true,
        },
        { name: 'batch-size', type: 'integer', min: 1, default: 32, description: 'windows per batch' },
        { name: 'json', type: 'string', placeholder: 'FILE', description: 'also write the metrics to this JSON file' },
      ],
      run: evaluate,
    },
    generate: {
      summary: 'continue a prompt with a trained GPT',
      options: GENERATE_OPTIONS,
      details:
        'Example:\n  transformer-native generate --checkpoint runs/lm --prompt "Once upon" --max-tokens 100 --temperature 0.8 --top-k 40',
      run: generate,
    },
  },
};
