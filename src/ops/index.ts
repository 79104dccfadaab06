// The ops of every family, re-exported in one place; Tensor methods and F delegate here. Each family's file
// (src/ops/<family>.ts) also holds the typed calls of its kernels, the only callers of the raw bindings.
export { backward } from './backward';
export { packedSelfAttention, scaledDotProductAttention } from './attention';
export type { AttentionOptions } from './attention';
export { cat, expand, permute, slice, stack, transpose } from './copy';
export { crossEntropy } from './crossentropy';
export type { CrossEntropyOptions } from './crossentropy';
export {
  abs,
  add,
  cast,
  clone,
  div,
  exp,
  gelu,
  log,
  maskedFill,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  relu,
  sigmoid,
  sqrt,
  sub,
  tanh,
} from './elementwise';
export { embedding } from './embedding';
export { linear, matmul } from './gemm';
export { layerNorm } from './layernorm';
export { dropout } from './random';
export { argmax, max, mean, min, sum, sumTo } from './reduce';
export { flatten, reshape, squeeze, unsqueeze } from './shape';
export { logSoftmax, softmax } from './softmax';
