// The `seq2seq` task: text to text with an encoder-decoder model and its tokenizer, e.g. a BART folder from the
// Hugging Face hub (summarisation, translation). `train --init DIR` fine-tunes such a folder on JSON lines of
// {"source", "target"}; `predict` encodes each input with the tokenizer's own template, decodes with beam search
// (greedy at width 1) from the decoder's start token and prints the decoded text.
import * as fs from 'node:fs';
import { noGrad } from '../autograd';
import { Tokenizer } from '../data/tokenizers';
import { beamSearch } from '../generation';
import { Seq2SeqTransformer } from '../models';
import { Seq2SeqDataLoader, Seq2SeqExample } from '../data/dataloader';
import { evaluateLoss } from '../training/evaluate';
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

/** Inputs from the arguments, --data FILE (one per line) or, without either, stdin (one per line). */
function readInputs(context: CommandContext): string[] {
  const o = context.options;
  const inputs = [...context.positionals];
  const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');
  if (o.data !== undefined) inputs.push(...lines(readTextFile(o.data as string, 'input file')));
  else if (inputs.length === 0) {
    try {
      inputs.push(...lines(fs.readFileSync(0, 'utf8')));
    } catch {
      // No readable stdin: reported below.
    }
  }
  if (inputs.length === 0) throw new UserError('give texts as arguments, with --data FILE or on stdin', 2);
  return inputs;
}

function tokenId(metadata: Record<string, unknown>, key: string, fallback: number, what: string): number {
  const id = metadata[key] ?? fallback;
  if (typeof id !== 'number' || id < 0) throw new UserError(`the model does not name its ${what} token`);
  return id;
}

/** Source ids with the tokenizer's template (e.g. <s> text </s>), cut to maxLen keeping the closing token. */
function encodeSource(tokenizer: Tokenizer, text: string, maxLen: number): number[] {
  const ids = tokenizer.encode(text, { addSpecialTokens: true });
  return ids.length <= maxLen ? ids : [...ids.slice(0, maxLen - 1), ids[ids.length - 1]];
}

function predict(context: CommandContext): number {
  const o = context.options;
  const inputs = readInputs(context);
  const { model, checkpoint } = loadModel(o.checkpoint as string, 'Seq2SeqTransformer');
  try {
    const s2s = model as Seq2SeqTransformer;
    const tokenizer = tokenizerOf(checkpoint);
    const eosId = tokenId(checkpoint.metadata, 'eosId', tokenizer.eosId, 'end');
    const bosId = tokenId(checkpoint.metadata, 'decoderStartId', tokenizer.bosId, 'decoder start');
    const maxLength = Math.min(o.maxTokens as number, s2s.config.maxLen);
    for (const text of inputs) {
      const source = encodeSource(tokenizer, text, s2s.config.maxLen);
      const { sequences } = noGrad(() =>
        beamSearch(s2s, [source], { beamSize: o.beamSize as number, bosId, eosId, maxLength }),
      );
      const output = tokenizer.decode(sequences[0], { skipSpecialTokens: true });
      context.io.stdout.write(o.json ? `${JSON.stringify({ input: text, output })}\n` : `${output}\n`);
    }
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}

/** JSON lines of {"source": ..., "target": ...}. */
function readPairs(file: string): Array<{ source: string; target: string }> {
  const out: Array<{ source: string; target: string }> = [];
  readTextFile(file, 'data file')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      let row: { source?: unknown; target?: unknown };
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${file}:${i + 1}: not valid JSON: ${(e as Error).message}`);
      }
      if (row === null || typeof row.source !== 'string' || typeof row.target !== 'string')
        throw new UserError(`${file}:${i + 1}: expected an object with string "source" and "target"`);
      out.push({ source: row.source, target: row.target });
    });
  if (out.length === 0) throw new UserError(`data file ${file} holds no pairs`);
  return out;
}

async function train(context: CommandContext): Promise<number> {
  const o = context.options;
  const pairs = readPairs(o.data as string);
  const valPairs = o.valData === undefined ? [] : readPairs(o.valData as string);
  seedFrom(o);
  const { model, tokenizer, config } = initialModel(context, 'Seq2SeqTransformer', []);
  const s2s = model as Seq2SeqTransformer;
  const maxLen = s2s.config.maxLen;
  const bosId = tokenId(huggingFaceIds(config), 'decoderStartId', tokenizer.bosId, 'decoder start');
  const eosId = tokenId(huggingFaceIds(config), 'eosId', tokenizer.eosId, 'end');
  // As HF's BART trains: source <s> text </s>; decoder input bos + target, labels target + </s> where the
  // target is the template's <s> text (its closing token is the loader's eos).
  const example = (p: { source: string; target: string }): Seq2SeqExample => ({
    src: encodeSource(tokenizer, p.source, maxLen),
    tgt: tokenizer
      .encode(p.target, { addSpecialTokens: true })
      .slice(0, -1)
      .slice(0, maxLen - 1),
  });
  const loaderOptions = { batchSize: o.batchSize as number, padId: s2s.config.padId, bosId, eosId };
  const trainLoader = new Seq2SeqDataLoader(pairs.map(example), {
    ...loaderOptions,
    shuffle: true,
    seed: o.seed as number,
  });
  const valLoader = valPairs.length > 0 ? new Seq2SeqDataLoader(valPairs.map(example), loaderOptions) : null;
  try {
    checkSaveHf(context, model, tokenizer);
    await runTraining('seq2seq', context, {
      model,
      trainLoader,
      evalFn: valLoader === null ? undefined : (m) => ({ loss: evaluateLoss(m, valLoader.epoch(0)).loss }),
      tokenizers: tokenizer,
      config: model.config,
      metadata: { data: o.data, init: o.init, decoderStartId: bosId, eosId },
    });
    saveTrainedHuggingFace(context, model, tokenizer, config);
    return 0;
  } finally {
    model.dispose();
  }
}

/** decoder_start_token_id and eos_token_id of an HF config under the metadata names predict reads. */
function huggingFaceIds(config: Record<string, unknown>): Record<string, unknown> {
  return { decoderStartId: config.decoder_start_token_id, eosId: config.eos_token_id };
}

const TRAIN_OPTIONS: OptionSpec[] = [
  {
    name: 'data',
    type: 'string',
    placeholder: 'FILE',
    description: 'JSON lines of {"source": ..., "target": ...}',
    required: true,
  },
  { name: 'val-data', type: 'string', placeholder: 'FILE', description: 'held-out JSON lines (eval loss)' },
  ...HUGGING_FACE_TRAIN_OPTIONS.map((spec) =>
    spec.name === 'init'
      ? { ...spec, required: true, description: 'the Hugging Face folder (BART) to fine-tune' }
      : spec,
  ),
  ...trainOptions({ lr: 5e-5, batchSize: 16 }),
];

const OPTIONS: OptionSpec[] = [
  {
    name: 'checkpoint',
    type: 'string',
    placeholder: 'DIR',
    description: 'a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)',
    required: true,
  },
  { name: 'data', type: 'string', placeholder: 'FILE', description: 'a file of inputs, one per line' },
  { name: 'beam-size', type: 'integer', min: 1, default: 4, description: 'beam width (1: greedy)' },
  { name: 'max-tokens', type: 'integer', min: 1, default: 128, description: 'most tokens per output' },
  { name: 'json', type: 'boolean', description: 'print JSON lines {input, output}' },
];

export const seq2seqTask: TaskDefinition = {
  name: 'seq2seq',
  description: 'text to text with an encoder-decoder model (e.g. a BART folder from the Hugging Face hub)',
  commands: {
    train: {
      summary: 'fine-tune a Hugging Face encoder-decoder folder on source/target pairs',
      options: TRAIN_OPTIONS,
      details:
        'Example:\n  transformer-native train --task seq2seq --init models/bart-base --data pairs.jsonl --out runs/s2s --epochs 3 --save-hf runs/s2s-hf',
      run: train,
    },
    predict: {
      summary: 'turn texts into texts (summaries, translations) with beam search',
      positionals: '[TEXT...]',
      options: OPTIONS,
      details:
        'Prints one output per input line.\nExample:\n  transformer-native predict --checkpoint bart-large-cnn --data articles.txt --beam-size 4',
      run: predict,
    },
  },
};
