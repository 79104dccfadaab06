// Every op, registered in one place; Tensor methods and F delegate here.
export { backward } from './backward';
export {
  abs, add, cast, clone, div, exp, gelu, log, maskedFill, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub,
  sumTo, tanh,
} from './elementwise';
export { linear, matmul } from './matmul';
export { crossEntropy, dropout, embedding, layerNorm, packedSelfAttention, scaledDotProductAttention } from './nn';
export type { AttentionOptions, CrossEntropyOptions } from './nn';
export { argmax, logSoftmax, max, mean, min, softmax, sum } from './reduce';
export { cat, expand, flatten, permute, reshape, slice, squeeze, stack, transpose, unsqueeze } from './shape';
