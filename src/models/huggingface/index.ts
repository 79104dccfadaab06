// Hugging Face model folders in and out: config.json, model.safetensors (or model.safetensors.index.json and its
// shards) and tokenizer.json. GPT-2 loads as a GPT, BERT as an EncoderClassifier, BART as a Seq2SeqTransformer;
// each family maps HF's config keys and weight names/layouts onto ours (see gpt2.ts, bert.ts, bart.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertKnownKeys, assertPositiveInt } from '../../checks';
import { Tokenizer } from '../../data/tokenizers/base';
import { loadTokenizer } from '../../data/tokenizers';
import { HuggingFaceTokenizer } from '../../data/tokenizers/hf/tokenizer';
import { saveSafetensors } from '../../io/safetensors';
import { SafetensorsShards } from '../../io/sharded';
import { writeFileAtomic } from '../../io/atomic';
import { EncoderClassifier } from '../classifier';
import { GPT } from '../gpt';
import { Seq2SeqTransformer } from '../seq2seq';
import { bartConfig, bartFromConfig, bartWeights } from './bart';
import { bertConfig, bertFromConfig, bertWeights } from './bert';
import { HFConfig } from './config';
import { gpt2Config, gpt2FromConfig, gpt2Weights } from './gpt2';
import { exportWeights, loadWeights, WeightMap } from './weights';

export type { HFConfig } from './config';

export type HuggingFaceModel = GPT | EncoderClassifier | Seq2SeqTransformer;

export interface HuggingFaceContent<M extends HuggingFaceModel = HuggingFaceModel> {
  model: M;
  /** The folder's tokenizer.json, or null when it has none. */
  tokenizer: Tokenizer | null;
  /** config.json as read. */
  config: HFConfig;
}

const SUPPORTED = ['gpt2', 'bert', 'bart'];
const WEIGHTS = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

function readConfig(op: string, dir: string): HFConfig {
  const file = path.join(dir, 'config.json');
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${op}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new TypeError(`${op}: ${file} must hold a JSON object`);
  return config as HFConfig;
}

function openWeights(op: string, dir: string): SafetensorsShards {
  for (const name of [WEIGHTS, INDEX]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return SafetensorsShards.open(file);
  }
  const pickle = fs.existsSync(path.join(dir, 'pytorch_model.bin'));
  throw new Error(
    `${op}: ${dir} has no ${WEIGHTS} or ${INDEX}${pickle ? ' (only pytorch_model.bin, a pickle this library does not read: convert it to safetensors)' : ''}`,
  );
}

export interface FromHuggingFaceOptions {
  /** BERT encoder folders (BertModel, BertForMaskedLM...): add a classification head of this many labels, newly
   * initialised, to fine-tune (HF's `BertForSequenceClassification.from_pretrained(dir, num_labels=N)`). */
  numLabels?: number;
}

function build(
  op: string,
  config: HFConfig,
  options: FromHuggingFaceOptions,
): { model: HuggingFaceModel; map: WeightMap } {
  if (options.numLabels !== undefined && config.model_type !== 'bert')
    throw new RangeError(`${op}: numLabels applies to bert folders, not ${JSON.stringify(config.model_type)}`);
  switch (config.model_type) {
    case 'gpt2': {
      const model = gpt2FromConfig(op, config);
      return { model, map: gpt2Weights(model) };
    }
    case 'bert': {
      const model = bertFromConfig(op, config, options.numLabels);
      const newHead = options.numLabels !== undefined && model.config.numClasses > 0 && !hasClassifier(config);
      return { model, map: bertWeights(model, newHead) };
    }
    case 'bart': {
      const model = bartFromConfig(op, config);
      return { model, map: bartWeights(model) };
    }
    default:
      throw new RangeError(
        `${op}: model_type ${JSON.stringify(config.model_type)} is not supported (supported: ${SUPPORTED.join(', ')})`,
      );
  }
}

/** Loads a Hugging Face model folder: the model (in eval mode) with its weights, the tokenizer when the folder
 * has tokenizer.json, and config.json. Names, shapes and config options are all checked before any weight is
 * read; anything this library cannot represent exactly is an error naming it. Weights are read tensor by tensor
 * (F32, F16 or BF16, converted to float32). */
export function fromHuggingFace(dir: string, options: FromHuggingFaceOptions = {}): HuggingFaceContent {
  const op = 'fromHuggingFace';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${op}: dir must be a non-empty string`);
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object`);
  assertKnownKeys(op, options, ['numLabels']);
  if (options.numLabels !== undefined) assertPositiveInt(op, 'numLabels', options.numLabels);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${op}: ${dir} is not a folder`);
  const config = readConfig(op, dir);
  const { model, map } = build(op, config, options);
  try {
    const weights = openWeights(op, dir);
    try {
      loadWeights(op, model, map, weights);
    } finally {
      weights.close();
    }
    const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? loadTokenizer(dir) : null;
    return { model: model.eval(), tokenizer, config };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

function hasClassifier(config: HFConfig): boolean {
  return Array.isArray(config.architectures) && config.architectures[0] === 'BertForSequenceClassification';
}

/** True when `dir` looks like a Hugging Face model folder (a config.json with a model_type). */
export function isHuggingFaceFolder(dir: string): boolean {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    return typeof config?.model_type === 'string';
  } catch {
    return false;
  }
}

export interface SaveHuggingFaceOptions {
  /** Written as tokenizer.json (it must have saveHuggingFace, e.g. a ByteLevelBPETokenizer or a tokenizer
   * loaded from tokenizer.json). */
  tokenizer?: Tokenizer | null;
  /** Extra config.json keys to keep (e.g. the config fromHuggingFace returned: token ids, labels); the keys
   * that describe the architecture always come from the model. */
  config?: HFConfig;
}

function describe(op: string, model: unknown, extra: HFConfig): { hf: HFConfig; map: WeightMap } {
  if (model instanceof GPT) return { hf: gpt2Config(op, model), map: gpt2Weights(model) };
  if (model instanceof EncoderClassifier) return { hf: bertConfig(op, model, extra), map: bertWeights(model) };
  if (model instanceof Seq2SeqTransformer) return { hf: bartConfig(op, model), map: bartWeights(model) };
  throw new TypeError(
    `${op}: model must be a GPT, an EncoderClassifier or a Seq2SeqTransformer, got ${(model as object)?.constructor?.name ?? typeof model}`,
  );
}

/** Writes the model as a Hugging Face folder: config.json with HF's keys, model.safetensors with HF's names and
 * layouts (metadata format "pt", as transformers requires), and tokenizer.json when given. A GPT becomes
 * GPT-2, an EncoderClassifier BERT, a Seq2SeqTransformer BART (when its options have an HF equivalent). */
export function saveHuggingFace(model: HuggingFaceModel, dir: string, options: SaveHuggingFaceOptions = {}): void {
  const op = 'saveHuggingFace';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${op}: dir must be a non-empty string`);
  const extra = options.config ?? {};
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra))
    throw new TypeError(`${op}: options.config must be an object of config.json keys`);
  const { hf, map } = describe(op, model, extra);
  const writeTokenizer = tokenizerWriter(op, options.tokenizer ?? null);
  fs.mkdirSync(dir, { recursive: true });
  const weights = exportWeights(model, map);
  try {
    saveSafetensors(path.join(dir, WEIGHTS), weights, { format: 'pt' });
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  removeStaleShards(dir);
  const config = { ...extra, ...hf };
  writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(sortKeys(config), null, 2)}\n`);
  writeTokenizer?.(path.join(dir, 'tokenizer.json'));
}

/** Throws what saveHuggingFace would throw for this model and tokenizer, without writing anything: a long
 * training run can check up front that its result will export. */
export function checkSaveHuggingFace(model: HuggingFaceModel, options: SaveHuggingFaceOptions = {}): void {
  describe('saveHuggingFace', model, options.config ?? {});
  tokenizerWriter('saveHuggingFace', options.tokenizer ?? null);
}

/** How a tokenizer writes HF's tokenizer.json: one read from such a file writes it back as it was; ours that
 * have an HF equivalent through saveHuggingFace. */
function tokenizerWriter(op: string, tokenizer: Tokenizer | null): ((file: string) => void) | null {
  if (tokenizer === null) return null;
  if (tokenizer instanceof HuggingFaceTokenizer) return (file) => tokenizer.save(file);
  const save = (tokenizer as { saveHuggingFace?: (file: string) => void }).saveHuggingFace;
  if (!(tokenizer instanceof Tokenizer) || typeof save !== 'function')
    throw new TypeError(
      `${op}: options.tokenizer must be a tokenizer with a Hugging Face format, got ${(tokenizer as object)?.constructor?.name ?? typeof tokenizer}`,
    );
  return (file) => save.call(tokenizer, file);
}

/** A sharded index left from an earlier save would shadow nothing (model.safetensors is read first) but
 * mislead other tools: remove it and its shards. */
function removeStaleShards(dir: string): void {
  const index = path.join(dir, INDEX);
  if (!fs.existsSync(index)) return;
  try {
    const shards = new Set(Object.values(JSON.parse(fs.readFileSync(index, 'utf8')).weight_map ?? {}));
    for (const shard of shards)
      if (typeof shard === 'string' && shard === path.basename(shard))
        fs.rmSync(path.join(dir, shard), { force: true });
  } catch {
    // An unreadable index is removed all the same.
  }
  fs.rmSync(index, { force: true });
}

function sortKeys(config: HFConfig): HFConfig {
  return Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
