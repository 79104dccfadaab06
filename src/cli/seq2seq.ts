// The `seq2seq` task: text to text with an encoder-decoder model and its tokenizer, e.g. a BART folder from the
// Hugging Face hub (summarisation, translation). `predict` encodes each input with the tokenizer's own template,
// decodes with beam search (greedy at width 1) from the decoder's start token and prints the decoded text.
import * as fs from 'node:fs';
import { noGrad } from '../autograd';
import { Tokenizer } from '../data/tokenizers';
import { beamSearch } from '../generation';
import { Seq2SeqTransformer } from '../models';
import { OptionSpec, UserError } from './args';
import { loadModel, readTextFile, tokenizerOf } from './common';
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
