// The encoder-decoder Transformer of "Attention Is All You Need" for sequence-to-sequence tasks: token
// embeddings scaled by sqrt(dModel), positions, nn.Transformer, and a `generator` projecting to target logits.
import { assertKnownKeys, assertPositiveInt, fmtShape } from '../checks';
import {
  Dropout,
  Embedding,
  KVCache,
  LayerNorm,
  LearnedPositionalEncoding,
  Linear,
  Module,
  SinusoidalPositionalEncoding,
  Transformer,
} from '../nn';
import { seedStream } from '../nn/module';
import { Tensor } from '../tensor';
import { checkIds, checkPaddingMask, fillNormal, paddingMaskOf, TiedLinear } from './common';
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

export interface Seq2SeqTransformerOptions {
  srcVocabSize: number;
  tgtVocabSize: number;
  dModel?: number;
  nhead?: number;
  numEncoderLayers?: number;
  numDecoderLayers?: number;
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu';
  /** Pre-LN layers (x + f(norm(x))) instead of the paper's post-LN. */
  normFirst?: boolean;
  /** Longest source or target sequence (size of the positional table). */
  maxLen?: number;
  positional?: 'sinusoidal' | 'learned';
  /** The generator reuses the target embedding matrix as its weight. */
  tieEmbeddings?: boolean;
  /** One embedding for source and target (needs srcVocabSize === tgtVocabSize). */
  shareEmbeddings?: boolean;
  /** The padding token: its embedding row is zero and gets no gradient, and default padding masks use it. */
  padId?: number;
  /** Multiply token embeddings by sqrt(dModel) (the paper's; BART's scale_embedding). */
  scaleEmbedding?: boolean;
  /** Learned positions only: position p reads row p + positionOffset of a table of maxLen + positionOffset rows
   * (BART's tables hold 2 extra rows). */
  positionOffset?: number;
  /** Separate position tables for the encoder and the decoder (BART) instead of one shared. */
  separatePositions?: boolean;
  /** A LayerNorm after the (positioned) embeddings of each stack (BART's layernorm_embedding). */
  embeddingNorm?: boolean;
  /** The LayerNorm after each stack (nn.Transformer's encoder.norm / decoder.norm); BART has none. */
  finalNorm?: boolean;
  /** Seeds the initial weights (the global generator when omitted). */
  seed?: number;
}

/** The resolved, JSON-serialisable configuration (every default filled in). */
export type Seq2SeqTransformerConfig = Required<Omit<Seq2SeqTransformerOptions, 'seed'>> & {
  type: 'Seq2SeqTransformer';
  seed?: number;
};

const KEYS = [
  'type',
  'srcVocabSize',
  'tgtVocabSize',
  'dModel',
  'nhead',
  'numEncoderLayers',
  'numDecoderLayers',
  'dimFeedforward',
  'dropout',
  'activation',
  'normFirst',
  'maxLen',
  'positional',
  'tieEmbeddings',
  'shareEmbeddings',
  'padId',
  'scaleEmbedding',
  'positionOffset',
  'separatePositions',
  'embeddingNorm',
  'finalNorm',
  'seed',
] as const;

function resolveConfig(options: unknown): Seq2SeqTransformerConfig {
  const op = 'Seq2SeqTransformer';
  const o = checkConfigObject(op, options);
  assertKnownKeys(op, o, KEYS, CONFIG_KEY);
  if (o.type !== undefined && o.type !== 'Seq2SeqTransformer')
    throw new RangeError(`${op}: config type must be 'Seq2SeqTransformer', got '${String(o.type)}'`);
  const config: Seq2SeqTransformerConfig = {
    type: 'Seq2SeqTransformer',
    srcVocabSize: positiveInt(op, 'srcVocabSize', o.srcVocabSize),
    tgtVocabSize: positiveInt(op, 'tgtVocabSize', o.tgtVocabSize),
    dModel: positiveInt(op, 'dModel', o.dModel, 512),
    nhead: positiveInt(op, 'nhead', o.nhead, 8),
    numEncoderLayers: positiveInt(op, 'numEncoderLayers', o.numEncoderLayers, 6),
    numDecoderLayers: positiveInt(op, 'numDecoderLayers', o.numDecoderLayers, 6),
    dimFeedforward: positiveInt(op, 'dimFeedforward', o.dimFeedforward, 2048),
    dropout: dropoutRate(op, o.dropout, 0.1),
    activation: choice(op, 'activation', o.activation, ['relu', 'gelu'] as const, 'relu'),
    normFirst: flag(op, 'normFirst', o.normFirst, false),
    maxLen: positiveInt(op, 'maxLen', o.maxLen, 512),
    positional: choice(op, 'positional', o.positional, ['sinusoidal', 'learned'] as const, 'sinusoidal'),
    tieEmbeddings: flag(op, 'tieEmbeddings', o.tieEmbeddings, false),
    shareEmbeddings: flag(op, 'shareEmbeddings', o.shareEmbeddings, false),
    padId: nonNegativeInt(op, 'padId', o.padId, 0),
    scaleEmbedding: flag(op, 'scaleEmbedding', o.scaleEmbedding, true),
    positionOffset: nonNegativeInt(op, 'positionOffset', o.positionOffset, 0),
    separatePositions: flag(op, 'separatePositions', o.separatePositions, false),
    embeddingNorm: flag(op, 'embeddingNorm', o.embeddingNorm, false),
    finalNorm: flag(op, 'finalNorm', o.finalNorm, true),
  };
  if (config.positionOffset > 0 && config.positional !== 'learned')
    throw new RangeError(`${op}: positionOffset applies to learned positions, not '${config.positional}'`);
  const seed = optionalSeed(op, o.seed);
  if (seed !== undefined) config.seed = seed;
  checkDivisible(op, config.dModel, config.nhead);
  if (config.shareEmbeddings && config.srcVocabSize !== config.tgtVocabSize)
    throw new RangeError(
      `${op}: shareEmbeddings needs equal vocabularies, got srcVocabSize ${config.srcVocabSize} and tgtVocabSize ${config.tgtVocabSize}`,
    );
  const smallest = Math.min(config.srcVocabSize, config.tgtVocabSize);
  if (config.padId >= smallest)
    throw new RangeError(
      `${op}: padId ${config.padId} is outside the vocabularies (sizes ${config.srcVocabSize} and ${config.tgtVocabSize})`,
    );
  return config;
}

type PositionalEncoding = SinusoidalPositionalEncoding | LearnedPositionalEncoding;

export interface Seq2SeqForwardOptions {
  /** [B, S], true = padding. Defaults to `src === padId`; pass null for no mask. */
  srcKeyPaddingMask?: Tensor | null;
  /** [B, T], true = padding. Defaults to `tgtIn === padId`; pass null for no mask. */
  tgtKeyPaddingMask?: Tensor | null;
}

export interface Seq2SeqDecodeOptions {
  /** [B, S] padding of the source the memory was encoded from (true = padding). */
  memoryKeyPaddingMask?: Tensor | null;
  /** [B, T] padding of tgtIn (uncached decoding only). */
  tgtKeyPaddingMask?: Tensor | null;
  /** Incremental decoding: tgtIn holds only the new positions; the cache keeps the past ones. */
  cache?: KVCache | null;
  /** Position of tgtIn's first token (defaults to the cache's length, else 0). */
  offset?: number;
}

export class Seq2SeqTransformer extends Module {
  readonly config: Seq2SeqTransformerConfig;
  readonly srcEmbedding: Embedding;
  readonly tgtEmbedding: Embedding;
  /** The source's positions (and the target's, unless separatePositions). */
  readonly positionalEncoding: PositionalEncoding;
  readonly tgtPositionalEncoding: PositionalEncoding;
  readonly srcEmbeddingNorm: LayerNorm | null;
  readonly tgtEmbeddingNorm: LayerNorm | null;
  readonly dropout: Dropout;
  readonly transformer: Transformer;
  readonly generator: Linear | TiedLinear;
  private readonly embeddingScale: number;

  constructor(options: Seq2SeqTransformerOptions) {
    super();
    const c = resolveConfig(options);
    this.config = c;
    const seeds = seedStream('Seq2SeqTransformer', c.seed);
    // N(0, dModel^-1/2) so that the embeddings scaled by sqrt(dModel) start at unit variance.
    const embedding = (vocabSize: number) => {
      const e = new Embedding(vocabSize, c.dModel, { paddingIdx: c.padId, seed: seeds() });
      fillNormal(e.weight, c.dModel ** -0.5, seeds(), c.padId);
      return e;
    };
    this.srcEmbedding = this.registerModule('src_embedding', embedding(c.srcVocabSize));
    this.tgtEmbedding = this.registerModule(
      'tgt_embedding',
      c.shareEmbeddings ? this.srcEmbedding : embedding(c.tgtVocabSize),
    );
    const positions = () =>
      c.positional === 'learned'
        ? new LearnedPositionalEncoding(c.maxLen + c.positionOffset, c.dModel, { seed: seeds() })
        : new SinusoidalPositionalEncoding(c.dModel, c.maxLen);
    if (c.separatePositions) {
      this.positionalEncoding = this.registerModule('src_positional_encoding', positions());
      this.tgtPositionalEncoding = this.registerModule('tgt_positional_encoding', positions());
    } else {
      this.positionalEncoding = this.registerModule('positional_encoding', positions());
      this.tgtPositionalEncoding = this.positionalEncoding;
    }
    const norm = () => (c.embeddingNorm ? new LayerNorm(c.dModel) : null);
    this.srcEmbeddingNorm = this.registerModule('src_embedding_norm', norm());
    this.tgtEmbeddingNorm = this.registerModule('tgt_embedding_norm', norm());
    this.dropout = this.registerModule('dropout', new Dropout(c.dropout));
    this.transformer = this.registerModule(
      'transformer',
      new Transformer({
        dModel: c.dModel,
        nhead: c.nhead,
        numEncoderLayers: c.numEncoderLayers,
        numDecoderLayers: c.numDecoderLayers,
        dimFeedforward: c.dimFeedforward,
        dropout: c.dropout,
        activation: c.activation,
        normFirst: c.normFirst,
        finalNorm: c.finalNorm,
        seed: seeds(),
      }),
    );
    this.generator = this.registerModule(
      'generator',
      c.tieEmbeddings
        ? new TiedLinear(this.tgtEmbedding.weight)
        : new Linear(c.dModel, c.tgtVocabSize, { seed: seeds() }),
    );
    this.embeddingScale = c.scaleEmbedding ? Math.sqrt(c.dModel) : 1;
  }

  /** src [B, S] and tgtIn [B, T] int32 -> logits [B, T, tgtVocabSize]; target position t sees tgtIn[:, 0..t]. */
  override forward(src: Tensor, tgtIn: Tensor, options: Seq2SeqForwardOptions = {}): Tensor {
    const op = 'Seq2SeqTransformer.forward';
    checkIds(op, 'src', src);
    checkIds(op, 'tgtIn', tgtIn);
    if (src.shape[0] !== tgtIn.shape[0])
      throw new RangeError(
        `${op}: src ${fmtShape(src.shape)} and tgtIn ${fmtShape(tgtIn.shape)} have different batch sizes`,
      );
    const srcMask = this.maskOrDefault(op, 'srcKeyPaddingMask', options.srcKeyPaddingMask, src);
    const tgtMask = this.maskOrDefault(op, 'tgtKeyPaddingMask', options.tgtKeyPaddingMask, tgtIn);
    const memory = this.encode(src, { srcKeyPaddingMask: srcMask });
    return this.decode(tgtIn, memory, { memoryKeyPaddingMask: srcMask, tgtKeyPaddingMask: tgtMask });
  }

  /** The encoder's memory [B, S, dModel] for src [B, S]. srcKeyPaddingMask defaults to `src === padId`. */
  encode(src: Tensor, options: { srcKeyPaddingMask?: Tensor | null } = {}): Tensor {
    const op = 'Seq2SeqTransformer.encode';
    checkIds(op, 'src', src);
    const mask = this.maskOrDefault(op, 'srcKeyPaddingMask', options.srcKeyPaddingMask, src);
    const x = this.embed(op, 'src', src, 0);
    return this.transformer.encode(x, { srcKeyPaddingMask: mask });
  }

  /** Target logits [B, T, tgtVocabSize] for tgtIn [B, T] given the memory. With a cache, tgtIn holds only
   * the new positions (the cache then also keeps the memory's projected keys and values). */
  decode(tgtIn: Tensor, memory: Tensor, options: Seq2SeqDecodeOptions = {}): Tensor {
    const op = 'Seq2SeqTransformer.decode';
    checkIds(op, 'tgtIn', tgtIn);
    const cache = options.cache ?? null;
    if (cache !== null && !(cache instanceof KVCache)) throw new TypeError(`${op}: cache must be an nn.KVCache`);
    const offset = options.offset ?? cache?.length ?? 0;
    assertPositiveInt(op, 'offset', offset, { allowZero: true });
    if (!(memory instanceof Tensor) || memory.ndim !== 3 || memory.shape[0] !== tgtIn.shape[0])
      throw new RangeError(
        `${op}: memory must be [B, S, ${this.config.dModel}] with B = ${tgtIn.shape[0]}, got ${memory instanceof Tensor ? fmtShape(memory.shape) : typeof memory}`,
      );
    checkPaddingMask(op, 'memoryKeyPaddingMask', options.memoryKeyPaddingMask, memory.shape[0], memory.shape[1]);
    if (cache !== null && options.tgtKeyPaddingMask)
      throw new RangeError(`${op}: tgtKeyPaddingMask cannot be combined with a cache`);
    checkPaddingMask(op, 'tgtKeyPaddingMask', options.tgtKeyPaddingMask, tgtIn.shape[0], tgtIn.shape[1]);
    const y = this.embed(op, 'tgt', tgtIn, offset);
    const hidden = this.transformer.decode(y, memory, {
      memoryKeyPaddingMask: options.memoryKeyPaddingMask,
      tgtKeyPaddingMask: options.tgtKeyPaddingMask,
      tgtIsCausal: true,
      cache,
    });
    return this.generator.forward(hidden);
  }

  /** A bool [B, T] mask, true where ids === padId. */
  paddingMask(ids: Tensor): Tensor {
    checkIds('Seq2SeqTransformer.paddingMask', 'ids', ids);
    return paddingMaskOf(ids, this.config.padId);
  }

  private embed(op: string, side: 'src' | 'tgt', ids: Tensor, offset: number): Tensor {
    const T = ids.shape[1];
    if (offset + T > this.config.maxLen)
      throw new RangeError(`${op}: positions ${offset}..${offset + T - 1} exceed maxLen ${this.config.maxLen}`);
    const embedding = side === 'src' ? this.srcEmbedding : this.tgtEmbedding;
    const tokens = embedding.forward(ids);
    const scaled = this.embeddingScale === 1 ? tokens : tokens.mul(this.embeddingScale);
    const positions = side === 'src' ? this.positionalEncoding : this.tgtPositionalEncoding;
    const positioned = positions.forward(scaled, offset + this.config.positionOffset);
    const norm = side === 'src' ? this.srcEmbeddingNorm : this.tgtEmbeddingNorm;
    return this.dropout.forward(norm ? norm.forward(positioned) : positioned);
  }

  private maskOrDefault(op: string, name: string, mask: Tensor | null | undefined, ids: Tensor): Tensor | null {
    if (mask === undefined) return paddingMaskOf(ids, this.config.padId);
    checkPaddingMask(op, name, mask, ids.shape[0], ids.shape[1]);
    return mask;
  }
}
