// A BERT-style sequence classifier: token + learned position embeddings with a LayerNorm, a Transformer
// encoder, a pooled vector (the first token's state, or the mean over real tokens) and a Linear-tanh-Linear
// head to class logits. With token-type embeddings and numClasses 0 it is also Hugging Face's BertModel (the
// encoder's hidden states); with numClasses > 0, BertForSequenceClassification.
import { assertKnownKeys, fmtShape } from '../checks';
import { compareScalar } from '../ops/elementwise';
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
import { tensor, Tensor, zeros } from '../tensor';
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
  positiveNumber,
} from './config';

export interface EncoderClassifierOptions {
  vocabSize: number;
  /** Classes of the head; 0: no classifier, forward returns the encoder's hidden states [B, T, dModel]. */
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
  /** Token types (segments, BERT's type_vocab_size): a learned embedding added per type; 0: none. */
  typeVocabSize?: number;
  /** Epsilon of every LayerNorm (BERT: 1e-12). */
  layerNormEps?: number;
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
  'typeVocabSize',
  'layerNormEps',
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
    numClasses:
      o.numClasses === undefined
        ? positiveInt(op, 'numClasses', o.numClasses)
        : nonNegativeInt(op, 'numClasses', o.numClasses, 0),
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
    typeVocabSize: nonNegativeInt(op, 'typeVocabSize', o.typeVocabSize, 0),
    layerNormEps: positiveNumber(op, 'layerNormEps', o.layerNormEps, 1e-5),
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
  /** [B, T], Hugging Face's convention: 1 = a token, 0 = padding (instead of keyPaddingMask). */
  attentionMask?: Tensor | null;
  /** [B, T] int32 token types (segment ids) in [0, typeVocabSize); all 0 when omitted. */
  tokenTypeIds?: Tensor | null;
}

export class EncoderClassifier extends Module {
  readonly config: EncoderClassifierConfig;
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: LearnedPositionalEncoding;
  readonly tokenTypeEmbedding: Embedding | null;
  readonly embeddingNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly encoder: TransformerEncoder;
  readonly pooler: Linear;
  readonly classifier: Linear | null;

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
    this.tokenTypeEmbedding = this.registerModule(
      'token_type_embedding',
      c.typeVocabSize > 0 ? new Embedding(c.typeVocabSize, c.dModel, { seed: seeds() }) : null,
    );
    if (this.tokenTypeEmbedding) fillNormal(this.tokenTypeEmbedding.weight, 0.02, seeds());
    this.embeddingNorm = this.registerModule('embedding_norm', new LayerNorm(c.dModel, { eps: c.layerNormEps }));
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout));
    const layer = () =>
      new TransformerEncoderLayer(c.dModel, c.nhead, {
        dimFeedforward: c.dimFeedforward,
        dropout: c.dropout,
        activation: c.activation,
        normFirst: c.normFirst,
        layerNormEps: c.layerNormEps,
        seed: seeds(),
      });
    // Pre-LN stacks need a final norm; post-LN layers already end in one.
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(layer, c.numLayers, {
        norm: c.normFirst ? new LayerNorm(c.dModel, { eps: c.layerNormEps }) : null,
      }),
    );
    this.pooler = this.registerModule('pooler', new Linear(c.dModel, c.dModel, { seed: seeds() }));
    this.classifier = this.registerModule(
      'classifier',
      c.numClasses > 0 ? new Linear(c.dModel, c.numClasses, { seed: seeds() }) : null,
    );
  }

  /** ids [B, T] int32 -> class logits [B, numClasses], or the hidden states [B, T, dModel] when numClasses is 0. */
  override forward(ids: Tensor, options: EncoderClassifierForwardOptions = {}): Tensor {
    const op = 'EncoderClassifier.forward';
    checkIds(op, 'ids', ids);
    const [B, T] = ids.shape;
    if (T > this.config.maxLen)
      throw new RangeError(`${op}: sequence length ${T} exceeds maxLen ${this.config.maxLen}`);
    const mask = this.paddingMask(op, ids, options);
    let embedded = this.positionEmbedding.forward(this.tokenEmbedding.forward(ids));
    if (this.tokenTypeEmbedding)
      embedded = embedded.add(this.tokenTypeEmbedding.forward(this.tokenTypes(op, ids, options)));
    else if (options.tokenTypeIds) throw new RangeError(`${op}: tokenTypeIds given but the model has no token types`);
    const states = this.encoder.forward(this.dropout.forward(this.embeddingNorm.forward(embedded)), {
      srcKeyPaddingMask: mask,
    });
    if (this.classifier === null) return states;
    const pooled =
      this.config.pooling === 'cls'
        ? states.slice(1, 0, 1).reshape(B, this.config.dModel)
        : meanOverTokens(states, mask);
    return this.classifier.forward(this.dropout.forward(this.pooler.forward(pooled).tanh()));
  }

  private paddingMask(op: string, ids: Tensor, options: EncoderClassifierForwardOptions): Tensor | null {
    const [B, T] = ids.shape;
    const { keyPaddingMask, attentionMask } = options;
    if (attentionMask !== undefined && attentionMask !== null) {
      if (keyPaddingMask !== undefined) throw new RangeError(`${op}: give keyPaddingMask or attentionMask, not both`);
      checkPaddingMask(op, 'attentionMask', attentionMask, B, T);
      return compareScalar(attentionMask, 'eq', 0);
    }
    if (keyPaddingMask === undefined) return paddingMaskOf(ids, this.config.padId);
    checkPaddingMask(op, 'keyPaddingMask', keyPaddingMask, B, T);
    return keyPaddingMask;
  }

  private tokenTypes(op: string, ids: Tensor, options: EncoderClassifierForwardOptions): Tensor {
    const types = options.tokenTypeIds;
    if (types === undefined || types === null) return zeros(ids.shape, { dtype: 'int32', device: ids.device });
    checkIds(op, 'tokenTypeIds', types);
    if (types.shape[0] !== ids.shape[0] || types.shape[1] !== ids.shape[1])
      throw new RangeError(`${op}: tokenTypeIds ${fmtShape(types.shape)} must match ids ${fmtShape(ids.shape)}`);
    return types;
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
