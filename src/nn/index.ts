// nn: PyTorch-style modules (re-exported by the package as the `nn` namespace).
export { Module } from './module';
export type { LoadStateDictResult, StateDict } from './module';
export { Dropout, Embedding, GELU, LayerNorm, Linear, ModuleList, ReLU, Sequential } from './layers';
export type { EmbeddingOptions, LayerNormOptions, LinearOptions } from './layers';
export { LearnedPositionalEncoding, SinusoidalPositionalEncoding } from './positional';
export { MultiheadAttention } from './attention';
export type {
  MultiheadAttentionForwardOptions,
  MultiheadAttentionOptions,
  MultiheadAttentionOutput,
} from './attention';
export { AttentionCache, AttentionCacheRows, KVCache, KVCacheRows, LayerKVCache } from './cache';
export type { AttentionCacheMode } from './cache';
export {
  Transformer,
  TransformerDecoder,
  TransformerDecoderLayer,
  TransformerEncoder,
  TransformerEncoderLayer,
} from './transformer';
export type {
  Activation,
  DecoderForwardOptions,
  DecoderLayerForwardOptions,
  EncoderForwardOptions,
  EncoderLayerForwardOptions,
  TransformerForwardOptions,
  TransformerLayerOptions,
  TransformerOptions,
} from './transformer';
export { DistributedDataParallel } from './distributed';
export type { BucketTiming, DistributedDataParallelOptions, GradientSyncTiming } from './distributed';
