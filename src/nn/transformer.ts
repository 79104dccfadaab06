// The Transformer family with PyTorch's module names (self_attn, multihead_attn, linear1, dropout, linear2,
// norm1..3, dropout1..3, layers.N, norm), so torch state_dicts load as they are. Post-LN by default, pre-LN
// with normFirst. Incremental decoding goes through a KVCache (see cache.ts).
import { assertPositiveInt, fmtShape } from '../checks';
import * as F from '../functional';
import { tensor, Tensor } from '../tensor';
import { noGrad } from '../autograd';
import { AttentionCache, AttentionCacheRows, KVCache, KVCacheRows, LayerKVCache } from './cache';
import { MultiheadAttention } from './attention';
import { checkProbability, Dropout, LayerNorm, Linear, ModuleList, xavierUniform } from './layers';
import { Module, seedStream } from './module';

/** 'gelu' is the erf form; 'gelu_tanh' its tanh approximation (GPT-2's "gelu_new"). */
export type Activation = 'relu' | 'gelu' | 'gelu_tanh' | ((x: Tensor) => Tensor);

export interface TransformerLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: Activation;
  layerNormEps?: number;
  /** Pre-LN: x + f(norm(x)) instead of norm(x + f(x)). */
  normFirst?: boolean;
  /** [B, T, E] inputs (default); false: [T, B, E]. */
  batchFirst?: boolean;
  bias?: boolean;
  seed?: number;
}

interface ResolvedLayerOptions {
  dimFeedforward: number;
  dropout: number;
  activation: (x: Tensor) => Tensor;
  layerNormEps: number;
  normFirst: boolean;
  batchFirst: boolean;
  bias: boolean;
}

function resolveLayerOptions(
  op: string,
  dModel: number,
  nhead: number,
  options: TransformerLayerOptions,
): ResolvedLayerOptions {
  assertPositiveInt(op, 'dModel', dModel);
  assertPositiveInt(op, 'nhead', nhead);
  const dimFeedforward = options.dimFeedforward ?? 2048;
  assertPositiveInt(op, 'dimFeedforward', dimFeedforward);
  const dropout = options.dropout ?? 0.1;
  checkProbability(op, dropout);
  if (dropout === 1) throw new RangeError(`${op}: dropout must be below 1, got 1`);
  const activationOption = options.activation ?? 'relu';
  let activation: (x: Tensor) => Tensor;
  if (activationOption === 'relu') activation = F.relu;
  else if (activationOption === 'gelu') activation = (x) => F.gelu(x);
  else if (activationOption === 'gelu_tanh') activation = (x) => F.gelu(x, { approximate: 'tanh' });
  else if (typeof activationOption === 'function') activation = activationOption;
  else
    throw new RangeError(
      `${op}: activation must be 'relu', 'gelu', 'gelu_tanh' or a function, got '${String(activationOption)}'`,
    );
  return {
    dimFeedforward,
    dropout,
    activation,
    layerNormEps: options.layerNormEps ?? 1e-5,
    normFirst: options.normFirst ?? false,
    batchFirst: options.batchFirst ?? true,
    bias: options.bias ?? true,
  };
}

export type ActivationName = 'relu' | 'gelu' | 'gelu_tanh' | 'custom';

function activationName(options: TransformerLayerOptions): ActivationName {
  const a = options.activation ?? 'relu';
  return typeof a === 'function' ? 'custom' : a;
}

function copyLayer<M extends Module>(source: M, fresh: M): M {
  const state = source.stateDict();
  fresh.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return fresh.train(source.training);
}

export interface EncoderLayerForwardOptions {
  /** [T, T] or [B * nhead, T, T]: bool true = not allowed, float added to the scores. */
  srcMask?: Tensor | null;
  /** [B, T]: true = padding. */
  srcKeyPaddingMask?: Tensor | null;
  /** Causal self-attention without a mask tensor (default: true when a cache is given). */
  isCausal?: boolean;
  /** Incremental decoding (decoder-only models): the self-attention cache of this layer, or one per row. */
  cache?: AttentionCache | AttentionCacheRows | null;
}

/** Self-attention and a feed-forward block, each with a residual connection and a LayerNorm. */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly normFirst: boolean;
  private readonly activation: (x: Tensor) => Tensor;

  constructor(
    readonly dModel: number,
    readonly nhead: number,
    private readonly options: TransformerLayerOptions = {},
  ) {
    super();
    const o = resolveLayerOptions('TransformerEncoderLayer', dModel, nhead, options);
    const seeds = seedStream('TransformerEncoderLayer', options.seed);
    this.selfAttn = this.registerModule(
      'self_attn',
      new MultiheadAttention(dModel, nhead, {
        dropout: o.dropout,
        bias: o.bias,
        batchFirst: o.batchFirst,
        seed: seeds(),
      }),
    );
    this.linear1 = this.registerModule(
      'linear1',
      new Linear(dModel, o.dimFeedforward, { bias: o.bias, seed: seeds() }),
    );
    this.dropout = this.registerModule('dropout', new Dropout(o.dropout));
    this.linear2 = this.registerModule(
      'linear2',
      new Linear(o.dimFeedforward, dModel, { bias: o.bias, seed: seeds() }),
    );
    this.norm1 = this.registerModule('norm1', new LayerNorm(dModel, { eps: o.layerNormEps, bias: o.bias }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dModel, { eps: o.layerNormEps, bias: o.bias }));
    this.dropout1 = this.registerModule('dropout1', new Dropout(o.dropout));
    this.dropout2 = this.registerModule('dropout2', new Dropout(o.dropout));
    this.normFirst = o.normFirst;
    this.activation = o.activation;
  }

  override forward(src: Tensor, options: EncoderLayerForwardOptions = {}): Tensor {
    const cache = options.cache ?? null;
    const selfAttention = (x: Tensor) =>
      this.dropout1.forward(
        this.selfAttn.forward(x, x, x, {
          attnMask: options.srcMask,
          keyPaddingMask: options.srcKeyPaddingMask,
          isCausal: options.isCausal ?? cache !== null,
          needWeights: false,
          cache,
        }).output,
      );
    const feedForward = (x: Tensor) =>
      this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.activation(this.linear1.forward(x)))));
    let x = src;
    if (this.normFirst) {
      x = x.add(selfAttention(this.norm1.forward(x)));
      return x.add(feedForward(this.norm2.forward(x)));
    }
    x = this.norm1.forward(x.add(selfAttention(x)));
    return this.norm2.forward(x.add(feedForward(x)));
  }

  /** The activation's name for exporters: 'relu', 'gelu', or 'custom' for a function. */
  get activationName(): ActivationName {
    return activationName(this.options);
  }

  /** An independent copy with the same configuration and weights (what PyTorch's deepcopy gives). */
  clone(): TransformerEncoderLayer {
    return copyLayer(this, new TransformerEncoderLayer(this.dModel, this.nhead, this.options));
  }
}

export interface DecoderLayerForwardOptions {
  /** [T, T] or [B * nhead, T, T] on the target's self-attention. */
  tgtMask?: Tensor | null;
  /** [T, S] or [B * nhead, T, S] on the attention over the memory. */
  memoryMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  /** Causal self-attention without a mask tensor (default: true when a cache is given). */
  tgtIsCausal?: boolean;
  memoryIsCausal?: boolean;
  /** Incremental decoding: this layer's caches (self: grows each step; cross: the memory, projected once). */
  cache?: LayerKVCache | null;
}

/** Self-attention, attention over the encoder's memory, and a feed-forward block. */
export class TransformerDecoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly multiheadAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly dropout3: Dropout;
  readonly normFirst: boolean;
  private readonly activation: (x: Tensor) => Tensor;

  constructor(
    readonly dModel: number,
    readonly nhead: number,
    private readonly options: TransformerLayerOptions = {},
  ) {
    super();
    const o = resolveLayerOptions('TransformerDecoderLayer', dModel, nhead, options);
    const seeds = seedStream('TransformerDecoderLayer', options.seed);
    const attention = () =>
      new MultiheadAttention(dModel, nhead, {
        dropout: o.dropout,
        bias: o.bias,
        batchFirst: o.batchFirst,
        seed: seeds(),
      });
    this.selfAttn = this.registerModule('self_attn', attention());
    this.multiheadAttn = this.registerModule('multihead_attn', attention());
    this.linear1 = this.registerModule(
      'linear1',
      new Linear(dModel, o.dimFeedforward, { bias: o.bias, seed: seeds() }),
    );
    this.dropout = this.registerModule('dropout', new Dropout(o.dropout));
    this.linear2 = this.registerModule(
      'linear2',
      new Linear(o.dimFeedforward, dModel, { bias: o.bias, seed: seeds() }),
    );
    this.norm1 = this.registerModule('norm1', new LayerNorm(dModel, { eps: o.layerNormEps, bias: o.bias }));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dModel, { eps: o.layerNormEps, bias: o.bias }));
    this.norm3 = this.registerModule('norm3', new LayerNorm(dModel, { eps: o.layerNormEps, bias: o.bias }));
    this.dropout1 = this.registerModule('dropout1', new Dropout(o.dropout));
    this.dropout2 = this.registerModule('dropout2', new Dropout(o.dropout));
    this.dropout3 = this.registerModule('dropout3', new Dropout(o.dropout));
    this.normFirst = o.normFirst;
    this.activation = o.activation;
  }

  override forward(tgt: Tensor, memory: Tensor, options: DecoderLayerForwardOptions = {}): Tensor {
    const cache = options.cache ?? null;
    if (cache !== null && !(cache instanceof LayerKVCache))
      throw new TypeError('TransformerDecoderLayer: cache must be a LayerKVCache (e.g. kvCache.layer(i))');
    const selfAttention = (x: Tensor) =>
      this.dropout1.forward(
        this.selfAttn.forward(x, x, x, {
          attnMask: options.tgtMask,
          keyPaddingMask: options.tgtKeyPaddingMask,
          isCausal: options.tgtIsCausal ?? cache !== null,
          needWeights: false,
          cache: cache?.self,
        }).output,
      );
    const crossAttention = (x: Tensor) =>
      this.dropout2.forward(
        this.multiheadAttn.forward(x, memory, memory, {
          attnMask: options.memoryMask,
          keyPaddingMask: options.memoryKeyPaddingMask,
          isCausal: options.memoryIsCausal ?? false,
          needWeights: false,
          cache: cache?.cross,
        }).output,
      );
    const feedForward = (x: Tensor) =>
      this.dropout3.forward(this.linear2.forward(this.dropout.forward(this.activation(this.linear1.forward(x)))));
    let x = tgt;
    if (this.normFirst) {
      x = x.add(selfAttention(this.norm1.forward(x)));
      x = x.add(crossAttention(this.norm2.forward(x)));
      return x.add(feedForward(this.norm3.forward(x)));
    }
    x = this.norm1.forward(x.add(selfAttention(x)));
    x = this.norm2.forward(x.add(crossAttention(x)));
    return this.norm3.forward(x.add(feedForward(x)));
  }

  /** The activation's name for exporters: 'relu', 'gelu', or 'custom' for a function. */
  get activationName(): ActivationName {
    return activationName(this.options);
  }

  clone(): TransformerDecoderLayer {
    return copyLayer(this, new TransformerDecoderLayer(this.dModel, this.nhead, this.options));
  }
}

type LayerSource<L> = L | ((index: number) => L);

function buildLayers<L extends Module & { clone(): L }>(
  op: string,
  source: LayerSource<L>,
  numLayers: number,
  kind: new (...args: never[]) => L,
): L[] {
  assertPositiveInt(op, 'numLayers', numLayers);
  const layers: L[] = [];
  for (let i = 0; i < numLayers; i++) {
    // A layer instance is used first and then copied, like PyTorch's deepcopy clones (all start identical).
    const layer =
      typeof source === 'function' ? (source as (index: number) => L)(i) : i === 0 ? source : source.clone();
    if (!(layer instanceof kind)) throw new TypeError(`${op}: layer ${i} is not a ${kind.name}`);
    layers.push(layer);
  }
  return layers;
}

export interface EncoderForwardOptions {
  mask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  isCausal?: boolean;
  /** Incremental decoding for decoder-only stacks: layer i uses cache.layer(i).self (a KVCacheRows gives each
   * batch row its own cache). */
  cache?: KVCache | KVCacheRows | null;
}

/** numLayers encoder layers, then the optional final `norm`. */
export class TransformerEncoder extends Module {
  readonly layers: ModuleList<TransformerEncoderLayer>;
  readonly norm: LayerNorm | null;

  constructor(
    layer: LayerSource<TransformerEncoderLayer>,
    numLayers: number,
    options: { norm?: LayerNorm | null } = {},
  ) {
    super();
    this.layers = this.registerModule(
      'layers',
      new ModuleList(buildLayers('TransformerEncoder', layer, numLayers, TransformerEncoderLayer)),
    );
    this.norm = this.registerModule('norm', options.norm ?? null);
  }

  override forward(src: Tensor, options: EncoderForwardOptions = {}): Tensor {
    const cache = options.cache ?? null;
    if (cache !== null && !(cache instanceof KVCache) && !(cache instanceof KVCacheRows))
      throw new TypeError('TransformerEncoder: cache must be a KVCache or a KVCacheRows');
    let x = src;
    let i = 0;
    for (const layer of this.layers) {
      x = layer.forward(x, {
        srcMask: options.mask,
        srcKeyPaddingMask: options.srcKeyPaddingMask,
        isCausal: options.isCausal,
        cache: cache === null ? null : cache.layer(i).self,
      });
      i++;
    }
    return this.norm ? this.norm.forward(x) : x;
  }
}

export interface DecoderForwardOptions {
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  tgtIsCausal?: boolean;
  memoryIsCausal?: boolean;
  /** Incremental decoding: pass only the new target positions each call; layer i uses cache.layer(i). */
  cache?: KVCache | null;
}

/** numLayers decoder layers, then the optional final `norm`. */
export class TransformerDecoder extends Module {
  readonly layers: ModuleList<TransformerDecoderLayer>;
  readonly norm: LayerNorm | null;

  constructor(
    layer: LayerSource<TransformerDecoderLayer>,
    numLayers: number,
    options: { norm?: LayerNorm | null } = {},
  ) {
    super();
    this.layers = this.registerModule(
      'layers',
      new ModuleList(buildLayers('TransformerDecoder', layer, numLayers, TransformerDecoderLayer)),
    );
    this.norm = this.registerModule('norm', options.norm ?? null);
  }

  override forward(tgt: Tensor, memory: Tensor, options: DecoderForwardOptions = {}): Tensor {
    const cache = options.cache ?? null;
    if (cache !== null && !(cache instanceof KVCache))
      throw new TypeError('TransformerDecoder: cache must be a KVCache');
    let x = tgt;
    let i = 0;
    for (const layer of this.layers) {
      x = layer.forward(x, memory, {
        tgtMask: options.tgtMask,
        memoryMask: options.memoryMask,
        tgtKeyPaddingMask: options.tgtKeyPaddingMask,
        memoryKeyPaddingMask: options.memoryKeyPaddingMask,
        tgtIsCausal: options.tgtIsCausal,
        memoryIsCausal: options.memoryIsCausal,
        cache: cache === null ? null : cache.layer(i),
      });
      i++;
    }
    return this.norm ? this.norm.forward(x) : x;
  }
}

export interface TransformerOptions {
  dModel?: number;
  nhead?: number;
  numEncoderLayers?: number;
  numDecoderLayers?: number;
  dimFeedforward?: number;
  dropout?: number;
  activation?: Activation;
  layerNormEps?: number;
  normFirst?: boolean;
  bias?: boolean;
  /** The LayerNorm `norm` after each stack (default true, as PyTorch's; BART-style post-LN models have none). */
  finalNorm?: boolean;
  seed?: number;
}

export interface TransformerForwardOptions {
  srcMask?: Tensor | null;
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  srcIsCausal?: boolean;
  tgtIsCausal?: boolean;
  memoryIsCausal?: boolean;
}

/** PyTorch's nn.Transformer, batch-first ([B, T, dModel]) always: `encoder` and `decoder`, each ending in a
 * LayerNorm `norm`. Every weight matrix is xavier-uniform initialised, as PyTorch's _reset_parameters. */
export class Transformer extends Module {
  readonly encoder: TransformerEncoder;
  readonly decoder: TransformerDecoder;
  readonly dModel: number;
  readonly nhead: number;

  constructor(options: TransformerOptions = {}) {
    super();
    const op = 'Transformer';
    this.dModel = options.dModel ?? 512;
    this.nhead = options.nhead ?? 8;
    const numEncoderLayers = options.numEncoderLayers ?? 6;
    const numDecoderLayers = options.numDecoderLayers ?? 6;
    const seeds = seedStream(op, options.seed);
    const layerOptions = (): TransformerLayerOptions => ({
      dimFeedforward: options.dimFeedforward ?? 2048,
      dropout: options.dropout ?? 0.1,
      activation: options.activation ?? 'relu',
      layerNormEps: options.layerNormEps ?? 1e-5,
      normFirst: options.normFirst ?? false,
      batchFirst: true,
      bias: options.bias ?? true,
      seed: seeds(),
    });
    const norm = () =>
      (options.finalNorm ?? true)
        ? new LayerNorm(this.dModel, { eps: options.layerNormEps ?? 1e-5, bias: options.bias ?? true })
        : null;
    this.encoder = this.registerModule(
      'encoder',
      new TransformerEncoder(
        () => new TransformerEncoderLayer(this.dModel, this.nhead, layerOptions()),
        numEncoderLayers,
        { norm: norm() },
      ),
    );
    this.decoder = this.registerModule(
      'decoder',
      new TransformerDecoder(
        () => new TransformerDecoderLayer(this.dModel, this.nhead, layerOptions()),
        numDecoderLayers,
        { norm: norm() },
      ),
    );
    noGrad(() => {
      for (const p of this.parameters()) {
        if (p.ndim < 2) continue;
        const init = xavierUniform([p.shape[0], p.shape[1]], seeds());
        p.copy_(init);
        init.dispose();
      }
    });
  }

  /** src [B, S, dModel], tgt [B, T, dModel] -> [B, T, dModel]. */
  override forward(src: Tensor, tgt: Tensor, options: TransformerForwardOptions = {}): Tensor {
    const memory = this.encode(src, options);
    return this.decode(tgt, memory, options);
  }

  /** The encoder's memory for src. */
  encode(
    src: Tensor,
    options: Pick<TransformerForwardOptions, 'srcMask' | 'srcKeyPaddingMask' | 'srcIsCausal'> = {},
  ): Tensor {
    this.checkInput('src', src);
    return this.encoder.forward(src, {
      mask: options.srcMask,
      srcKeyPaddingMask: options.srcKeyPaddingMask,
      isCausal: options.srcIsCausal,
    });
  }

  /** The decoder on tgt and the memory; with a cache, tgt holds only the new positions. */
  decode(tgt: Tensor, memory: Tensor, options: TransformerForwardOptions & { cache?: KVCache | null } = {}): Tensor {
    this.checkInput('tgt', tgt);
    this.checkInput('memory', memory);
    if (memory.shape[0] !== tgt.shape[0])
      throw new RangeError(
        `Transformer: the batch sizes of src/memory (${memory.shape[0]}) and tgt (${tgt.shape[0]}) differ`,
      );
    return this.decoder.forward(tgt, memory, {
      tgtMask: options.tgtMask,
      memoryMask: options.memoryMask,
      tgtKeyPaddingMask: options.tgtKeyPaddingMask,
      memoryKeyPaddingMask: options.memoryKeyPaddingMask,
      tgtIsCausal: options.tgtIsCausal,
      memoryIsCausal: options.memoryIsCausal,
      cache: options.cache,
    });
  }

  private checkInput(name: string, t: Tensor): void {
    if (!(t instanceof Tensor)) throw new TypeError(`Transformer: ${name} must be a Tensor`);
    if (t.ndim !== 3 || t.shape[2] !== this.dModel)
      throw new RangeError(
        `Transformer: ${name} must be [B, T, ${this.dModel}] (batch first), got ${fmtShape(t.shape)}`,
      );
  }

  /** A float [n, n] mask with -Infinity above the diagonal and 0 elsewhere (position i sees j <= i). */
  static generateSquareSubsequentMask(n: number): Tensor {
    assertPositiveInt('Transformer.generateSquareSubsequentMask', 'n', n);
    const values = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) values[i * n + j] = -Infinity;
    return tensor(values, { shape: [n, n] });
  }
}
