// io.exportOnnx: a GPT, EncoderClassifier or Seq2SeqTransformer as ONNX files that onnxruntime (or any ONNX
// runtime) runs with the outputs of the model's own forward in eval mode.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertKnownKeys } from '../../checks';
import { EncoderClassifier, GPT, Seq2SeqTransformer } from '../../models';
import { Module } from '../../nn';
import { AtomicFile, writeFilesAtomic } from '../atomic';
import { GraphBuilder } from './graph';
import { UnsupportedModuleError } from './layers';
import { classifierGraph, gptGraph, seq2seqDecoderGraph, seq2seqEncoderGraph } from './models';
import { EXTERNAL_DATA_THRESHOLD, initializerBytes, serializeModel } from './serialize';

export { UnsupportedModuleError };

export interface ExportOnnxOptions {
  /** The ONNX opset, 17 (the default; LayerNormalization is a standard op from 17) to 20 (where GELU becomes
   * the Gelu op instead of its erf formula). */
  opset?: number;
  /** Decoder graphs (GPT, the Seq2SeqTransformer decoder) take past_key_values.N.key/value and return
   * present.N.key/value for incremental decoding (default false). */
  kvCache?: boolean;
  /** Weights in a separate `<file>.data` next to each model file: true, false, or 'auto' (the default): only
   * when they exceed what one protobuf message holds (2 GB). */
  externalData?: boolean | 'auto';
}

export interface ExportOnnxResult {
  /** Every file written: the model files and any external data files. */
  files: string[];
}

const OPTION_KEYS = ['opset', 'kvCache', 'externalData'] as const;
const SUPPORTED = 'GPT, EncoderClassifier, Seq2SeqTransformer';
/** The file names of a Seq2SeqTransformer's two graphs inside the export folder. */
export const SEQ2SEQ_FILES = { encoder: 'encoder.onnx', decoder: 'decoder.onnx' } as const;

function resolveOptions(options: unknown): Required<ExportOnnxOptions> {
  const op = 'exportOnnx';
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`${op}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const o = options as ExportOnnxOptions;
  assertKnownKeys(op, o, OPTION_KEYS);
  const opset = o.opset ?? 17;
  if (typeof opset !== 'number' || !Number.isInteger(opset) || opset < 17 || opset > 20)
    throw new RangeError(`${op}: opset must be an integer from 17 to 20, got ${String(opset)}`);
  const kvCache = o.kvCache ?? false;
  if (typeof kvCache !== 'boolean') throw new TypeError(`${op}: kvCache must be a boolean, got ${typeof kvCache}`);
  const externalData = o.externalData ?? 'auto';
  if (typeof externalData !== 'boolean' && externalData !== 'auto')
    throw new TypeError(`${op}: externalData must be true, false or 'auto', got ${String(externalData)}`);
  return { opset, kvCache, externalData };
}

function checkPath(op: string, file: unknown): string {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError(`${op}: path must be a non-empty string, got ${typeof file === 'string' ? "''" : typeof file}`);
  return file;
}

function moduleName(model: unknown): string {
  if (model instanceof Module) return model.constructor.name;
  return model === null ? 'null' : typeof model;
}

function packageVersion(): string {
  for (const candidate of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, candidate), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'transformer-native' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

/** The model file's bytes and, with external data, the data file beside it. */
function modelFiles(
  graph: GraphBuilder,
  file: string,
  config: object,
  options: Required<ExportOnnxOptions>,
): AtomicFile[] {
  const external =
    options.externalData === true ||
    (options.externalData === 'auto' && initializerBytes(graph) > EXTERNAL_DATA_THRESHOLD);
  const dataName = `${path.basename(file)}.data`;
  const serialized = serializeModel(graph, {
    opset: options.opset,
    producerVersion: packageVersion(),
    metadata: { 'transformer_native.config': JSON.stringify(config) },
    externalDataFile: external ? dataName : null,
  });
  const files: AtomicFile[] = [{ path: file, data: serialized.model }];
  if (serialized.externalData !== null)
    files.unshift({ path: path.join(path.dirname(file), dataName), data: serialized.externalData });
  return files;
}

/** Writes the files, into `folder` (created, and removed again if the write fails) when not null. */
function writeInto(folder: string | null, files: AtomicFile[]): void {
  const created = folder !== null && !fs.existsSync(folder);
  if (created) fs.mkdirSync(folder, { recursive: true });
  try {
    writeFilesAtomic(files);
  } catch (e) {
    if (created) fs.rmSync(folder, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Writes `model` as ONNX, computing what the model's forward computes in eval mode (dropout off).
 *
 * - `GPT`: one file at `path`: input_ids [batch, sequence] int64 -> logits [batch, sequence, vocab].
 * - `EncoderClassifier`: one file: input_ids and attention_mask [batch, sequence] int64 (1 = token, 0 = padding)
 *   -> logits [batch, classes].
 * - `Seq2SeqTransformer`: `path` is a folder (created if missing) that receives `encoder.onnx` (input_ids,
 *   attention_mask -> last_hidden_state [batch, sequence, dModel]) and `decoder.onnx` (input_ids,
 *   encoder_hidden_states, encoder_attention_mask -> logits [batch, sequence, vocab]).
 *
 * With `kvCache`, the GPT and decoder graphs also take past_key_values.N.key/value [batch, heads, past, headDim]
 * (past = 0 on the first call) and return present.N.key/value with the new positions appended. Batch and
 * sequence sizes are dynamic. Files are written atomically: on any error none is left behind, complete or
 * partial. Returns the paths written.
 */
export function exportOnnx(model: Module, file: string, options: ExportOnnxOptions = {}): ExportOnnxResult {
  const op = 'exportOnnx';
  const target = checkPath(op, file);
  const o = resolveOptions(options);
  let files: AtomicFile[];
  if (model instanceof GPT) files = modelFiles(gptGraph(model, o.opset, o.kvCache), target, model.config, o);
  else if (model instanceof EncoderClassifier) {
    if (o.kvCache) throw new RangeError(`${op}: kvCache applies to decoders; an EncoderClassifier has none`);
    files = modelFiles(classifierGraph(model, o.opset), target, model.config, o);
  } else if (model instanceof Seq2SeqTransformer) {
    if (fs.existsSync(target) && !fs.statSync(target).isDirectory())
      throw new RangeError(`${op}: a Seq2SeqTransformer is written to a folder, and ${target} is a file`);
    const encoder = modelFiles(
      seq2seqEncoderGraph(model, o.opset),
      path.join(target, SEQ2SEQ_FILES.encoder),
      model.config,
      o,
    );
    const decoder = modelFiles(
      seq2seqDecoderGraph(model, o.opset, o.kvCache),
      path.join(target, SEQ2SEQ_FILES.decoder),
      model.config,
      o,
    );
    files = [...encoder, ...decoder];
  } else throw new UnsupportedModuleError(`${moduleName(model)} (supported: ${SUPPORTED})`);
  writeInto(model instanceof Seq2SeqTransformer ? target : null, files);
  return { files: files.map((f) => path.resolve(f.path)) };
}
