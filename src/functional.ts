// F: PyTorch's torch.nn.functional, in camelCase.
export {
  crossEntropy,
  dropout,
  embedding,
  gelu,
  layerNorm,
  linear,
  logSoftmax,
  packedSelfAttention,
  relu,
  scaledDotProductAttention,
  sigmoid,
  softmax,
  tanh,
} from './ops';
export type { AttentionOptions, CrossEntropyOptions } from './ops';
