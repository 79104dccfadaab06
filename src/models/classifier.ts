// A BERT-style sequence classifier: token + learned position embeddings with a LayerNorm, a Transformer
// encoder, a pooled vector (the first token's state, or the mean over real tokens) and a Linear-tanh-Linear
// head to class logits.
import { assertKnownKeys } from '../checks';
import {
  Dropout,
  Embedding,
  LayerNorm,
  LearnedPositionalEncoding,
  Linear,
  Module,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '../nn';
import { seedStream } from '../nn/module';
import { tensor, Tensor } from '../tensor';
import { checkIds, checkPaddingMask, fillNormal, paddingMaskOf } from './common';
import {
  checkConfigObject,
  checkDivisible,
  CONFIG_KEY,
  choice,
  dropoutRate,
  flag,
  nonNegativeInt,
  optionalSeed,
  positiveInt,
} from './config';

export interface EncoderClassifierOptions {
  vocabSize: number;
  numClasses: number;
  dModel: number;
  nhead: number;
  numLayers: number;
  dimFeedforward?: number;
  dropout?: number;
  maxLen?: number;
  /** 'cls': the state of the first token (put a [CLS] token there); 'mean': the mean over non-padding tokens. */
  pooling?: 'cls' | 'mean';
  padId?: number;
  activation?: 'relu' | 'gelu';
  normFirst?: boolean;
  seed?: number;
}

export type EncoderClassifierConfig = Required<Omit<EncoderClassifierOptions, 'seed'>> & {
  type: 'EncoderClassifier';
  seed?: number;
};

const KEYS = [
  'type',
  'vocabSize',
  'numClasses',
  'dModel',
  'nhead',
  'numLayers',
  'dimFeedforward',
  'dropout',
  'maxLen',
  'pooling',
  'padId',
  'activation',
  'normFirst',
  'seed',
] as const;

function resolveConfig(options: unknown): EncoderClassifierConfig {
  const op = 'EncoderClassifier';
  const o = checkConfigObject(op, options);
  assertKnownKeys(op, o, KEYS, CONFIG_KEY);
  if (o.type !== undefined && o.type !== 'EncoderClassifier')
    throw new RangeError(`${op}: config type must be 'EncoderClassifier', got '${String(o.type)}'`);
  const dModel = positiveInt(op, 'dModel', o.dModel);
  const config: EncoderClassifierConfig = {
    type: 'EncoderClassifier',
    vocabSize: positiveInt(op, 'vocabSize', o.vocabSize),
    numClasses: positiveInt(op, 'numClasses', o.numClasses),
    dModel,
    nhead: positiveInt(op, 'nhead', o.nhead),
    numLayers: positiveInt(op, 'numLayers', o.numLayers),
    dimFeedforward: positiveInt(op, 'dimFeedforward', o.dimFeedforward, 4 * dModel),
    dropout: dropoutRate(op, o.dropout, 0.1),
    maxLen: positiveInt(op, 'maxLen', o.maxLen, 512),
    pooling: choice(op, 'pooling', o.pooling, ['cls', 'mean'] as const, 'cls'),
    padId: nonNegativeInt(op, 'padId', o.padId, 0),
    activation: choice(op, 'activation', o.activation, ['relu', 'gelu'] as const, 'gelu'),
    normFirst: flag(op, 'normFirst', o.normFirst, false),
  };
  const seed = optionalSeed(op, o.seed);
  if (seed !== undefined) config.seed = seed;
  checkDivisible(op, config.dModel, config.nhead);
  if (config.padId >= config.vocabSize)
    throw new RangeError(`${op}: padId ${config.padId} is outside the vocabulary (size ${config.vocabSize})`);
  return config;
}

export interface EncoderClassifierForwardOptions {
  /** [B, T], true = padding. Defaults to `ids === padId`; pass null for no mask. */
  keyPaddingMask?: Tensor | null;
}

export class EncoderClassifier extends Module {
  readonly config: EncoderClassifierConfig;
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: LearnedPositionalEncoding;
  readonly embeddingNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly encoder: TransformerEncoder;
  readonly pooler: Linear;
  readonly classifier: Linear;

  constructor(options: EncoderClassifierOptions) {
    super();
    const c = resolveConfig(options);
    this.config = c;
    const seeds = seedStream('EncoderClassifier', c.seed);
    this.tokenEmbedding = this.registerModule(
      'token_embedding',
      new Embedding(c.vocabSize, c.dModel, { paddingIdx: c.padId, seed: seeds() }),
    );
    fillNormal(this.tokenEmbedding.weight, 0.02, seeds(), c.padId); // BERT's N(0, 0.02)
    this.positionEmbedding = this.registerModule(
      'position_embedding',
      new LearnedPositionalEncoding(c.maxLen, c.dModel, { std: 0.02, seed: seeds() }),
    );
    this.embeddingNorm = this.registerModule('embedding_norm', new LayerNorm(c.dModel));
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout));
    const layer = () =>
      new TransformerEncoderLayer(c.dModel, c.nhead, {
        dimFeedforward: c.dimFeedforward,
        dropout: c.dropout,
        activation: c.activation,
        normFirst: c.normFirst,
        seed: seeds(),
      });
    // Pre-LN stacks need a final norm; post-LN layers already end in one.
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(layer, c.numLayers, { norm: c.normFirst ? new LayerNorm(c.dModel) : null }),
    );
    this.pooler = this.registerModule('pooler', new Linear(c.dModel, c.dModel, { seed: seeds() }));
    this.classifier = this.registerModule('classifier', new Linear(c.dModel, c.numClasses, { seed: seeds() }));
  }

  /** ids [B, T] int32 -> class logits [B, numClasses]. */
  override forward(ids: Tensor, options: EncoderClassifierForwardOptions = {}): Tensor {
    const op = 'EncoderClassifier.forward';
    checkIds(op, 'ids', ids);
    const [B, T] = ids.shape;
    if (T > this.config.maxLen)
      throw new RangeError(`${op}: sequence length ${T} exceeds maxLen ${this.config.maxLen}`);
    let mask = options.keyPaddingMask;
    if (mask === undefined) mask = paddingMaskOf(ids, this.config.padId);
    else checkPaddingMask(op, 'keyPaddingMask', mask, B, T);
    const embedded = this.embeddingNorm.forward(this.positionEmbedding.forward(this.tokenEmbedding.forward(ids)));
    const states = this.encoder.forward(this.dropout.forward(embedded), { srcKeyPaddingMask: mask });
    const pooled =
      this.config.pooling === 'cls'
        ? states.slice(1, 0, 1).reshape(B, this.config.dModel)
        : meanOverTokens(states, mask);
    return this.classifier.forward(this.dropout.forward(this.pooler.forward(pooled).tanh()));
  }
}

/** The mean of states [B, T, D] over the positions the mask does not mark as padding. */
function meanOverTokens(states: Tensor, mask: Tensor | null): Tensor {
  const [B, T] = states.shape;
  if (mask === null) return states.mean(1);
  const padding = mask.dataSync();
  const weights = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let count = 0;
    for (let t = 0; t < T; t++) if (padding[b * T + t] === 0) count++;
    if (count === 0)
      throw new RangeError(
        `EncoderClassifier.forward: sequence ${b} is all padding, mean pooling needs at least one token`,
      );
    for (let t = 0; t < T; t++) if (padding[b * T + t] === 0) weights[b * T + t] = 1 / count;
  }
  return states.mul(tensor(weights, { shape: [B, T, 1], device: states.device })).sum(1);
}
