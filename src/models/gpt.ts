// A decoder-only language model in the GPT-2 layout: token and learned position embeddings, a stack of causal
// pre-LN self-attention blocks (nn.TransformerEncoderLayer, so the familiar names stay), a final LayerNorm and
// an LM head tied to the token embedding.
import { assertKnownKeys } from '../checks';
import {
  Dropout,
  Embedding,
  KVCache,
  KVCacheRows,
  LayerNorm,
  LearnedPositionalEncoding,
  Linear,
  Module,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '../nn';
import { seedStream } from '../nn/module';
import { Tensor } from '../tensor';
import { checkIds, fillNormal, fillZeros, TiedLinear } from './common';
import {
  checkConfigObject,
  checkDivisible,
  CONFIG_KEY,
  choice,
  dropoutRate,
  flag,
  optionalSeed,
  positiveInt,
  positiveNumber,
} from './config';

export interface GPTOptions {
  vocabSize: number;
  /** Longest sequence the model attends over (size of the position table). */
  contextLength: number;
  dModel: number;
  nhead: number;
  numLayers: number;
  dimFeedforward?: number;
  dropout?: number;
  /** 'gelu' is the erf form, 'gelu_tanh' the tanh approximation GPT-2 uses. */
  activation?: 'relu' | 'gelu' | 'gelu_tanh';
  /** Epsilon of every LayerNorm (GPT-2's layer_norm_epsilon). */
  layerNormEps?: number;
  normFirst?: boolean;
  /** The LM head reuses the token embedding matrix. */
  tieEmbeddings?: boolean;
  seed?: number;
}

export type GPTConfig = Required<Omit<GPTOptions, 'seed'>> & { type: 'GPT'; seed?: number };

const KEYS = [
  'type',
  'vocabSize',
  'contextLength',
  'dModel',
  'nhead',
  'numLayers',
  'dimFeedforward',
  'dropout',
  'activation',
  'layerNormEps',
  'normFirst',
  'tieEmbeddings',
  'seed',
] as const;

function resolveConfig(options: unknown): GPTConfig {
  const op = 'GPT';
  const o = checkConfigObject(op, options);
  assertKnownKeys(op, o, KEYS, CONFIG_KEY);
  if (o.type !== undefined && o.type !== 'GPT')
    throw new RangeError(`${op}: config type must be 'GPT', got '${String(o.type)}'`);
  const dModel = positiveInt(op, 'dModel', o.dModel);
  const config: GPTConfig = {
    type: 'GPT',
    vocabSize: positiveInt(op, 'vocabSize', o.vocabSize),
    contextLength: positiveInt(op, 'contextLength', o.contextLength),
    dModel,
    nhead: positiveInt(op, 'nhead', o.nhead),
    numLayers: positiveInt(op, 'numLayers', o.numLayers),
    dimFeedforward: positiveInt(op, 'dimFeedforward', o.dimFeedforward, 4 * dModel),
    dropout: dropoutRate(op, o.dropout, 0.1),
    activation: choice(op, 'activation', o.activation, ['relu', 'gelu', 'gelu_tanh'] as const, 'gelu'),
    layerNormEps: positiveNumber(op, 'layerNormEps', o.layerNormEps, 1e-5),
    normFirst: flag(op, 'normFirst', o.normFirst, true),
    tieEmbeddings: flag(op, 'tieEmbeddings', o.tieEmbeddings, true),
  };
  const seed = optionalSeed(op, o.seed);
  if (seed !== undefined) config.seed = seed;
  checkDivisible(op, config.dModel, config.nhead);
  return config;
}

export interface GPTForwardOptions {
  /** Incremental decoding: ids hold only the new positions, the cache keeps the keys/values of the past ones.
   * A KVCacheRows gives each batch row its own cache, so rows at different lengths decode in one call
   * (continuous batching). */
  cache?: KVCache | KVCacheRows | null;
}

export class GPT extends Module {
  readonly config: GPTConfig;
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: LearnedPositionalEncoding;
  readonly dropout: Dropout;
  /** The blocks (`transformer.layers.N`) and the final LayerNorm (`transformer.norm`). */
  readonly transformer: TransformerEncoder;
  readonly lmHead: Linear | TiedLinear;

  constructor(options: GPTOptions) {
    super();
    const c = resolveConfig(options);
    this.config = c;
    const seeds = seedStream('GPT', c.seed);
    this.tokenEmbedding = this.registerModule(
      'token_embedding',
      new Embedding(c.vocabSize, c.dModel, { seed: seeds() }),
    );
    this.positionEmbedding = this.registerModule(
      'position_embedding',
      new LearnedPositionalEncoding(c.contextLength, c.dModel, { std: 0.02, seed: seeds() }),
    );
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout));
    const block = () =>
      new TransformerEncoderLayer(c.dModel, c.nhead, {
        dimFeedforward: c.dimFeedforward,
        dropout: c.dropout,
        activation: c.activation,
        layerNormEps: c.layerNormEps,
        normFirst: c.normFirst,
        seed: seeds(),
      });
    this.transformer = this.registerModule(
      'transformer',
      new TransformerEncoder(block, c.numLayers, { norm: new LayerNorm(c.dModel, { eps: c.layerNormEps }) }),
    );
    this.lmHead = this.registerModule(
      'lm_head',
      c.tieEmbeddings
        ? new TiedLinear(this.tokenEmbedding.weight, { bias: false })
        : new Linear(c.dModel, c.vocabSize, { bias: false, seed: seeds() }),
    );
    this.initWeights(seeds);
  }

  /** GPT-2's initialisation: N(0, 0.02) matrices and embeddings, zero biases, and the projections that feed
   * the residual stream scaled by 1/sqrt(2 * numLayers) so its variance does not grow with depth. */
  private initWeights(seeds: () => number): void {
    const residualStd = 0.02 / Math.sqrt(2 * this.config.numLayers);
    for (const [name, p] of this.namedParameters()) {
      if (name === 'position_embedding.weight') continue; // already N(0, 0.02)
      if (p.ndim === 2) {
        const residual = name.endsWith('out_proj.weight') || name.endsWith('linear2.weight');
        fillNormal(p, residual ? residualStd : 0.02, seeds());
      } else if (name.endsWith('bias')) fillZeros(p);
    }
  }

  /** ids [B, T] int32 -> logits [B, T, vocabSize], position t seeing ids[:, 0..t]. With a cache, ids are the
   * new positions only (they follow the cache's length). */
  override forward(ids: Tensor, options: GPTForwardOptions = {}): Tensor {
    const op = 'GPT.forward';
    checkIds(op, 'ids', ids);
    const cache = options.cache ?? null;
    if (cache !== null && !(cache instanceof KVCache) && !(cache instanceof KVCacheRows))
      throw new TypeError(`${op}: cache must be an nn.KVCache or an nn.KVCacheRows`);
    const T = ids.shape[1];
    const offsets = cache instanceof KVCacheRows ? cache.lengths : [cache?.length ?? 0];
    if (cache instanceof KVCacheRows && offsets.length !== ids.shape[0])
      throw new RangeError(`${op}: ${offsets.length} row caches for ${ids.shape[0]} rows of ids`);
    for (const offset of offsets)
      if (offset + T > this.config.contextLength)
        throw new RangeError(
          `${op}: positions ${offset}..${offset + T - 1} exceed contextLength ${this.config.contextLength}`,
        );
    const tokens = this.tokenEmbedding.forward(ids);
    const positioned =
      cache instanceof KVCacheRows
        ? this.positionEmbedding.forwardRows(tokens, offsets)
        : this.positionEmbedding.forward(tokens, offsets[0]);
    const x = this.dropout.forward(positioned);
    return this.lmHead.forward(this.transformer.forward(x, { isCausal: true, cache }));
  }
}
