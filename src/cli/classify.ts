// The `classify` task: train an EncoderClassifier on JSON lines of { "text": ..., "label": ... }, evaluate it
// (accuracy, loss, per-class counts) and predict labels for new texts.
import { noGrad } from '../autograd';
import { DataLoader, disposeBatch } from '../data/dataloader';
import {
  ByteLevelBPETokenizer,
  CharTokenizer,
  HuggingFaceTokenizer,
  Tokenizer,
  WordTokenizer,
} from '../data/tokenizers';
import * as F from '../functional';
import { writeFileAtomic } from '../io/atomic';
import { EncoderClassifier } from '../models';
import type { Module } from '../nn/module';
import { tensor, tidy } from '../tensor';
import type { ClassificationBatch } from '../training/losses';
import type { Metrics } from '../training/trainer';
import { OptionSpec, OptionValues, UserError } from './args';
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

interface LabelledText {
  text: string;
  label: string;
}

interface EncodedExample {
  ids: Int32Array;
  label: number;
}

/** Reads a JSON-lines file of { text, label } objects (labels: strings or numbers; blank lines skipped). */
export function readLabelledTexts(file: string): LabelledText[] {
  const lines = readTextFile(file, 'data file').split('\n');
  const out: LabelledText[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${file}:${i + 1}: not valid JSON: ${(e as Error).message}`);
    }
    const r = row as { text?: unknown; label?: unknown };
    if (r === null || typeof r !== 'object' || typeof r.text !== 'string')
      throw new UserError(`${file}:${i + 1}: expected an object with a string "text", got ${line.slice(0, 60)}`);
    if (typeof r.label !== 'string' && typeof r.label !== 'number')
      throw new UserError(`${file}:${i + 1}: "label" must be a string or a number`);
    out.push({ text: r.text, label: String(r.label) });
  });
  if (out.length === 0) throw new UserError(`data file ${file} holds no examples`);
  return out;
}

/** The ids a classifier reads: a Hugging Face tokenizer's own template (BERT: [CLS] text [SEP]; cut to maxLen
 * keeping the closing token), else bos then the text. */
function encodeText(tokenizer: Tokenizer, text: string, maxLen: number): Int32Array {
  if (tokenizer instanceof HuggingFaceTokenizer) {
    const ids = tokenizer.encode(text, { addSpecialTokens: true });
    return Int32Array.from(ids.length <= maxLen ? ids : [...ids.slice(0, maxLen - 1), ids[ids.length - 1]]);
  }
  return Int32Array.from([tokenizer.bosId, ...tokenizer.encode(text)].slice(0, maxLen));
}

function collate(examples: EncodedExample[], indices: number[], padId: number): ClassificationBatch {
  const B = examples.length;
  const T = Math.max(1, ...examples.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(padId);
  const padding = new Int32Array(B * T).fill(1);
  examples.forEach((e, b) => {
    ids.set(e.ids, b * T);
    padding.fill(0, b * T, b * T + e.ids.length);
  });
  return {
    input: tensor(ids, { shape: [B, T] }),
    keyPaddingMask: tensor(padding, { shape: [B, T], dtype: 'bool' }),
    labels: tensor(
      Int32Array.from(examples, (e) => e.label),
      { shape: [B] },
    ),
    indices,
  };
}

function classificationLoader(
  examples: EncodedExample[],
  batchSize: number,
  shuffle: boolean,
  seed: number,
  padId: number,
) {
  return new DataLoader<EncodedExample, ClassificationBatch>(examples, {
    batchSize,
    shuffle,
    seed,
    collate: (batch, indices) => collate(batch, indices, padId),
  });
}

/** Accuracy and mean loss over every batch of the loader (and the predictions, in dataset order). */
function evaluateClassifier(
  model: Module,
  loader: DataLoader<EncodedExample, ClassificationBatch>,
): Metrics & { predictions?: never } {
  let correct = 0;
  let total = 0;
  let lossSum = 0;
  noGrad(() => {
    for (const batch of loader.epoch(0)) {
      const [batchLoss, batchCorrect] = tidy(() => {
        const logits = model.forward(batch.input, { keyPaddingMask: batch.keyPaddingMask });
        const loss = F.crossEntropy(logits, batch.labels, { reduction: 'sum' }).item();
        const predicted = logits.argmax(1).dataSync();
        const labels = batch.labels.dataSync();
        let hits = 0;
        for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits++;
        return [loss, hits];
      });
      lossSum += batchLoss;
      correct += batchCorrect;
      total += batch.indices.length;
      disposeBatch(batch);
    }
  });
  return { loss: lossSum / Math.max(1, total), accuracy: correct / Math.max(1, total), examples: total };
}

const MODEL_OPTIONS: OptionSpec[] = [
  {
    name: 'tokenizer',
    type: 'string',
    choices: ['char', 'word', 'bpe'],
    default: 'word',
    description: 'how texts are split into tokens',
  },
  {
    name: 'vocab-size',
    type: 'integer',
    min: 5,
    default: 8000,
    description: 'largest vocabulary (word: most frequent words; bpe: at least 260)',
  },
  {
    name: 'lowercase',
    type: 'boolean',
    description: 'lower-case texts before splitting them into words (word tokenizer)',
  },
  { name: 'max-len', type: 'integer', min: 2, default: 256, description: 'tokens per text (longer texts are cut)' },
  { name: 'd-model', type: 'integer', min: 1, default: 64, description: 'model width' },
  { name: 'nhead', type: 'integer', min: 1, default: 4, description: 'attention heads' },
  { name: 'num-layers', type: 'integer', min: 1, default: 2, description: 'encoder layers' },
  { name: 'dim-feedforward', type: 'integer', min: 1, description: 'feed-forward width (default 4 x d-model)' },
  { name: 'dropout', type: 'number', min: 0, max: 0.99, default: 0.1, description: 'dropout probability' },
  {
    name: 'pooling',
    type: 'string',
    choices: ['cls', 'mean'],
    default: 'mean',
    description: 'first-token state or mean over tokens',
  },
];

const DEFAULT_MAX_STEPS = 1000;

const TRAIN_OPTIONS: OptionSpec[] = [
  {
    name: 'data',
    type: 'string',
    placeholder: 'FILE',
    description: 'JSON lines of {"text": ..., "label": ...}',
    required: true,
  },
  {
    name: 'val-data',
    type: 'string',
    placeholder: 'FILE',
    description: 'held-out JSON lines (default: a --val-fraction of --data)',
  },
  {
    name: 'val-fraction',
    type: 'number',
    min: 0,
    max: 0.5,
    default: 0.1,
    description: 'share of --data held out when there is no --val-data',
  },
  ...MODEL_OPTIONS,
  ...HUGGING_FACE_TRAIN_OPTIONS,
  ...trainOptions({ lr: 1e-3, batchSize: 32, maxSteps: DEFAULT_MAX_STEPS }),
];

/** What --init replaces (--max-len still cuts texts, to at most the loaded model's positions). */
const NEW_MODEL_OPTIONS = MODEL_OPTIONS.filter((spec) => spec.name !== 'max-len');

function buildTokenizer(kind: string, texts: string[], vocabSize: number, lowercase: boolean): Tokenizer {
  if (kind === 'word') return WordTokenizer.fromCorpus(texts, { maxSize: vocabSize, lowercase });
  if (lowercase) throw new UserError(`--lowercase works with the word tokenizer only, not ${kind}`, 2);
  if (kind === 'bpe') {
    if (vocabSize < 260)
      throw new UserError(`--vocab-size must be at least 260 for the bpe tokenizer, got ${vocabSize}`, 2);
    return ByteLevelBPETokenizer.train(texts, { vocabSize });
  }
  return CharTokenizer.fromCorpus(texts, { maxSize: vocabSize });
}

/** A seeded Fisher-Yates shuffle of indices, for the held-out split. */
function shuffledIndices(n: number, seed: number): number[] {
  let state = (seed ^ 0x5bd1e995) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

async function train(context: CommandContext): Promise<number> {
  const o = context.options;
  const rows = readLabelledTexts(o.data as string);
  let trainRows = rows;
  let valRows: LabelledText[] = [];
  if (o.valData !== undefined) valRows = readLabelledTexts(o.valData as string);
  else {
    const order = shuffledIndices(rows.length, o.seed as number);
    const held = Math.floor(rows.length * (o.valFraction as number));
    valRows = order.slice(0, held).map((i) => rows[i]);
    trainRows = order.slice(held).map((i) => rows[i]);
  }
  const labels = [...new Set(trainRows.map((r) => r.label))].sort();
  if (labels.length < 2)
    throw new UserError(`the training data has ${labels.length} label(s); classification needs at least 2`);
  const unknown = valRows.find((r) => !labels.includes(r.label));
  if (unknown !== undefined) throw new UserError(`held-out label '${unknown.label}' never occurs in the training data`);
  seedFrom(o);
  const init =
    o.init === undefined ? null : initialModel(context, 'EncoderClassifier', NEW_MODEL_OPTIONS, labels.length);
  const tokenizer =
    init?.tokenizer ??
    buildTokenizer(
      o.tokenizer as string,
      trainRows.map((r) => r.text),
      o.vocabSize as number,
      o.lowercase === true,
    );
  const maxLen = Math.min(
    o.maxLen as number,
    (init?.model as EncoderClassifier | undefined)?.config.maxLen ?? Infinity,
  );
  const encode = (r: LabelledText): EncodedExample => ({
    ids: encodeText(tokenizer, r.text, maxLen),
    label: labels.indexOf(r.label),
  });
  const seed = o.seed as number;
  const trainLoader = classificationLoader(trainRows.map(encode), o.batchSize as number, true, seed, tokenizer.padId);
  const valLoader =
    valRows.length > 0
      ? classificationLoader(valRows.map(encode), o.batchSize as number, false, seed, tokenizer.padId)
      : null;
  const model = (init?.model as EncoderClassifier | undefined) ?? newClassifier(o, tokenizer, labels.length, maxLen);
  try {
    checkSaveHf(context, model, tokenizer);
    await runTraining('classify', context, {
      model,
      defaultMaxSteps: DEFAULT_MAX_STEPS,
      trainLoader,
      evalFn: valLoader === null ? undefined : (m) => evaluateClassifier(m, valLoader),
      tokenizers: tokenizer,
      config: model.config,
      metadata: { labels, data: o.data, ...(init ? { init: o.init } : {}) },
      bestMetric: valLoader === null ? 'loss' : 'accuracy',
      bestMode: valLoader === null ? 'min' : 'max',
    });
    saveTrainedHuggingFace(context, model, tokenizer, {
      ...init?.config,
      id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
    });
    return 0;
  } finally {
    model.dispose();
  }
}

function newClassifier(o: OptionValues, tokenizer: Tokenizer, numClasses: number, maxLen: number): EncoderClassifier {
  return new EncoderClassifier({
    vocabSize: tokenizer.vocabSize,
    numClasses,
    dModel: o.dModel as number,
    nhead: o.nhead as number,
    numLayers: o.numLayers as number,
    dimFeedforward: (o.dimFeedforward as number | undefined) ?? 4 * (o.dModel as number),
    dropout: o.dropout as number,
    maxLen,
    pooling: o.pooling as 'cls' | 'mean',
    padId: tokenizer.padId,
  });
}

/** The class probabilities (softmax of the logits) of each text, batchSize texts per forward. */
export function classProbabilities(
  model: EncoderClassifier,
  tokenizer: Tokenizer,
  texts: readonly string[],
  batchSize: number,
): number[][] {
  const maxLen = model.config.maxLen;
  const out: number[][] = [];
  noGrad(() => {
    for (let start = 0; start < texts.length; start += batchSize) {
      const chunk = texts.slice(start, start + batchSize);
      const probabilities = tidy(() => {
        const batch = collate(
          chunk.map((text) => ({ ids: encodeText(tokenizer, text, maxLen), label: 0 })),
          [],
          tokenizer.padId,
        );
        return model.forward(batch.input, { keyPaddingMask: batch.keyPaddingMask }).softmax(-1).toArray() as number[][];
      });
      out.push(...probabilities);
    }
  });
  return out;
}

/** The label names a classify checkpoint stores in its metadata, in class order. */
export function labelsOf(metadata: Record<string, unknown>, dir: string): string[] {
  const labels = metadata.labels;
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string'))
    throw new UserError(`checkpoint ${dir} does not list its labels`);
  return labels as string[];
}

function evaluate(context: CommandContext): number {
  const o = context.options;
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'EncoderClassifier');
  try {
    const labels = labelsOf(checkpoint.metadata, checkpoint.dir);
    const tokenizer = tokenizerOf(checkpoint);
    const rows = readLabelledTexts(o.data as string);
    const unknown = rows.find((r) => !labels.includes(r.label));
    if (unknown !== undefined)
      throw new UserError(
        `label '${unknown.label}' in ${o.data as string} is not one the model knows (${labels.join(', ')})`,
      );
    const maxLen = (model as EncoderClassifier).config.maxLen;
    const examples = rows.map((r) => ({ ids: encodeText(tokenizer, r.text, maxLen), label: labels.indexOf(r.label) }));
    const metrics = evaluateClassifier(
      model,
      classificationLoader(examples, o.batchSize as number, false, 0, tokenizer.padId),
    );
    context.io.stdout.write(
      `accuracy ${metrics.accuracy.toFixed(4)} | loss ${metrics.loss.toFixed(4)} | examples ${metrics.examples}\n`,
    );
    if (o.json !== undefined)
      writeFileAtomic(
        o.json as string,
        `${JSON.stringify({ checkpoint: checkpoint.dir, data: o.data, ...metrics }, null, 2)}\n`,
      );
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

function predict(context: CommandContext): number {
  const o = context.options;
  const texts = [...context.positionals];
  if (o.data !== undefined)
    texts.push(
      ...readTextFile(o.data as string, 'input file')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
  if (texts.length === 0) throw new UserError('give texts to classify as arguments or with --data FILE', 2);
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'EncoderClassifier');
  try {
    const labels = labelsOf(checkpoint.metadata, checkpoint.dir);
    const tokenizer = tokenizerOf(checkpoint);
    const probabilities = classProbabilities(model as EncoderClassifier, tokenizer, texts, o.batchSize as number);
    const results = probabilities.map((p, i) => {
      const best = p.indexOf(Math.max(...p));
      return { text: texts[i], label: labels[best], probability: p[best] };
    });
    for (const r of results)
      context.io.stdout.write(
        o.json ? `${JSON.stringify(r)}\n` : `${r.label}\t${r.probability.toFixed(4)}\t${r.text}\n`,
      );
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
  description: 'checkpoint folder, or a training --out folder (its best checkpoint)',
  required: true,
};

export const classifyTask: TaskDefinition = {
  name: 'classify',
  description: 'text classification: an EncoderClassifier trained on JSON lines of {text, label}',
  commands: {
    train: {
      summary: 'train a text classifier',
      options: TRAIN_OPTIONS,
      details: 'Example:\n  transformer-native train --task classify --data reviews.jsonl --out runs/cls --epochs 5',
      run: train,
    },
    eval: {
      summary: 'accuracy and loss of a classifier on labelled JSON lines',
      options: [
        CHECKPOINT_OPTION,
        {
          name: 'data',
          type: 'string',
          placeholder: 'FILE',
          description: 'JSON lines of {"text": ..., "label": ...}',
          required: true,
        },
        { name: 'batch-size', type: 'integer', min: 1, default: 64, description: 'examples per batch' },
        { name: 'json', type: 'string', placeholder: 'FILE', description: 'also write the metrics to this JSON file' },
      ],
      run: evaluate,
    },
    predict: {
      summary: 'label texts with a classifier',
      positionals: '[TEXT...]',
      options: [
        CHECKPOINT_OPTION,
        { name: 'data', type: 'string', placeholder: 'FILE', description: 'a file of texts, one per line' },
        { name: 'batch-size', type: 'integer', min: 1, default: 64, description: 'texts per batch' },
        { name: 'json', type: 'boolean', description: 'print JSON lines {text, label, probability}' },
      ],
      details: 'Prints label, probability and text, tab-separated, one line per text.',
      run: predict,
    },
  },
};
