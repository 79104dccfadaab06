// `transformer-native export --checkpoint DIR --format onnx --out FILE`: a checkpoint of any task as ONNX files
// (io.exportOnnx), for onnxruntime and the other ONNX runtimes.
import * as fs from 'node:fs';
import { Seq2SeqTransformer } from '../models';
import { exportOnnx } from '../io/onnx';
import { formatOptions, OptionSpec, OptionValues, UserError } from './args';
import { loadModel } from './common';
import type { CliIO } from './tasks';

export const EXPORT_OPTIONS: OptionSpec[] = [
  {
    name: 'checkpoint',
    type: 'string',
    placeholder: 'DIR',
    description: 'checkpoint folder, or a training --out folder (its best checkpoint); any task',
    required: true,
  },
  { name: 'format', type: 'string', choices: ['onnx'], required: true, description: 'the output format' },
  {
    name: 'out',
    type: 'string',
    placeholder: 'FILE',
    required: true,
    description: 'the .onnx file to write (a folder for encoder-decoder models: encoder.onnx, decoder.onnx)',
  },
  {
    name: 'opset',
    type: 'integer',
    min: 17,
    max: 20,
    default: 17,
    description: 'the ONNX opset, 17 to 20 (20: GELU as the Gelu op)',
  },
  {
    name: 'kv-cache',
    type: 'boolean',
    default: false,
    description: 'decoder graphs take past_key_values.N.key/value and return present.N.key/value',
  },
  {
    name: 'external-data',
    type: 'boolean',
    description: 'weights in FILE.data beside the model (default: only when over 2 GB)',
  },
];

export const EXPORT_SUMMARY = 'write a checkpoint as ONNX (any task; --checkpoint DIR --format onnx --out FILE)';

export function exportHelp(program: string, extra: readonly OptionSpec[]): string {
  return [
    `Usage: ${program} export --checkpoint DIR --format onnx --out FILE [options]`,
    '',
    `${EXPORT_SUMMARY[0].toUpperCase()}${EXPORT_SUMMARY.slice(1)}.`,
    '',
    'Options:',
    formatOptions([...EXPORT_OPTIONS, ...extra]),
    '',
    'Inputs are int64 input_ids (and attention_mask, 1 = token, 0 = padding); outputs logits. lm checkpoints',
    'give one file, classify checkpoints one file, g2p (encoder-decoder) checkpoints a folder.',
    '',
  ].join('\n');
}

/** Loads the checkpoint and writes it; resolves to the exit code. */
export function runExport(options: OptionValues, io: CliIO): number {
  const out = options.out as string;
  const { model, checkpoint } = loadModel(options.checkpoint as string, null);
  try {
    if (!(model instanceof Seq2SeqTransformer) && fs.existsSync(out) && fs.statSync(out).isDirectory())
      throw new UserError(`--out ${out} is a folder; a ${model.constructor.name} is written to one .onnx file`);
    const externalData = options.externalData as boolean | undefined;
    const { files } = exportOnnx(model, out, {
      opset: options.opset as number,
      kvCache: options.kvCache as boolean,
      externalData: externalData ?? 'auto',
    });
    io.stdout.write(`exported ${model.constructor.name} from ${checkpoint.dir} to ${files.join(', ')}\n`);
    return 0;
  } finally {
    model.dispose();
    checkpoint.dispose();
  }
}
