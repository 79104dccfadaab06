// The layers of the library as ONNX subgraphs, computing what their forward computes in eval mode (dropout is
// the identity): Linear, LayerNorm, the activations, MultiheadAttention (with an optional KV cache) and the
// Transformer encoder/decoder layers, pre-LN or post-LN. Weights become initializers under their state-dict names.
import { Tensor } from '../../tensor';
import { LayerNorm, Linear, MultiheadAttention, TransformerDecoderLayer, TransformerEncoderLayer } from '../../nn';
import { TiedLinear } from '../../models/common';
import { GraphBuilder } from './graph';

/** Exporting a module the exporter has no translation for. */
export class UnsupportedModuleError extends TypeError {
  constructor(what: string) {
    super(`exportOnnx: unsupported module ${what}`);
    this.name = 'UnsupportedModuleError';
  }
}

/** The graph being built, the opset it targets, and the weights already emitted (a tied matrix is stored once). */
export class ExportContext {
  private readonly emitted = new Map<Tensor, string>();

  constructor(
    readonly g: GraphBuilder,
    readonly opset: number,
  ) {}

  /** The initializer holding parameter `t`, named `name` the first time it is used. */
  param(t: Tensor, name: string): string {
    let stored = this.emitted.get(t);
    if (stored === undefined) {
      stored = this.g.weight(name, t.dataSync() as Float32Array, [...t.shape]);
      this.emitted.set(t, stored);
    }
    return stored;
  }

  /** W^T of a [out, in] matrix, for MatMul(x, W^T): a Transpose of the stored matrix, which runtimes fold once
   * when they load the model, so a weight shared with an embedding is still stored once. */
  transposed(t: Tensor, name: string): string {
    return this.g.node('Transpose', [this.param(t, name)], { perm: [1, 0] });
  }
}

/** y = x W^T + b for x [..., in]. */
export function linear(ctx: ExportContext, x: string, layer: Linear | TiedLinear, name: string): string {
  const y = ctx.g.node('MatMul', [x, ctx.transposed(layer.weight, `${name}.weight`)]);
  return layer.bias === null ? y : ctx.g.node('Add', [y, ctx.param(layer.bias, `${name}.bias`)]);
}

/** LayerNormalization over the last dimension (opset 17). */
export function layerNorm(ctx: ExportContext, x: string, norm: LayerNorm, name: string): string {
  if (norm.normalizedShape.length !== 1)
    throw new UnsupportedModuleError(`LayerNorm over ${norm.normalizedShape.length} dimensions (${name})`);
  const width = norm.normalizedShape[0];
  const scale =
    norm.weight === null ? ctx.g.floats(new Array<number>(width).fill(1)) : ctx.param(norm.weight, `${name}.weight`);
  const inputs = norm.bias === null ? [x, scale] : [x, scale, ctx.param(norm.bias, `${name}.bias`)];
  return ctx.g.node('LayerNormalization', inputs, { axis: -1, epsilon: { float: norm.eps } });
}

/** The exact (erf) GELU the library's 'gelu' activation computes: 0.5 x (1 + erf(x / sqrt(2))); the Gelu op from
 * opset 20, where it exists. */
export function gelu(ctx: ExportContext, x: string): string {
  const { g } = ctx;
  if (ctx.opset >= 20) return g.node('Gelu', [x]);
  const erf = g.node('Erf', [g.node('Mul', [x, g.scalar(Math.SQRT1_2)])]);
  return g.node('Mul', [g.node('Mul', [x, g.scalar(0.5)]), g.node('Add', [erf, g.scalar(1)])]);
}

/** GELU's tanh approximation ('gelu_tanh', GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)));
 * the Gelu op with approximate="tanh" from opset 20. */
export function geluTanh(ctx: ExportContext, x: string): string {
  const { g } = ctx;
  if (ctx.opset >= 20) return g.node('Gelu', [x], { approximate: 'tanh' });
  const cubic = g.node('Mul', [g.node('Mul', [g.node('Mul', [x, x]), x]), g.scalar(0.044715)]);
  const inner = g.node('Mul', [g.node('Add', [x, cubic]), g.scalar(Math.sqrt(2 / Math.PI))]);
  return g.node('Mul', [g.node('Mul', [x, g.scalar(0.5)]), g.node('Add', [g.node('Tanh', [inner]), g.scalar(1)])]);
}

/** The activation a Transformer layer was built with ('relu', 'gelu' or 'gelu_tanh'; a custom function cannot be
 * exported). */
function activation(ctx: ExportContext, x: string, layer: TransformerEncoderLayer | TransformerDecoderLayer): string {
  const kind = layer.activationName;
  if (kind === 'relu') return ctx.g.node('Relu', [x]);
  if (kind === 'gelu') return gelu(ctx, x);
  if (kind === 'gelu_tanh') return geluTanh(ctx, x);
  throw new UnsupportedModuleError(`${layer.constructor.name} with a custom activation function`);
}

/** Keys and values of one attention layer's cache, [B, H, S, D] each. */
export interface KV {
  key: string;
  value: string;
}

/** An additive mask broadcast to the scores [B, H, T, S]: 0 where allowed, -inf where not. */
export interface Mask {
  additive: string;
  /** Whether a query can have every key masked (padding masks): its softmax is then NaN, and the library's
   * attention gives such a row zeros instead. */
  hidesWholeRows: boolean;
}

export interface AttentionInputs {
  mask: Mask | null;
  /** Self-attention: the cached keys/values of past positions, concatenated before this call's. */
  past?: KV | null;
}

/** [B, T, n * E] -> n tensors [B, H, T, D]. */
function splitHeads(ctx: ExportContext, packed: string, n: number, attn: MultiheadAttention): string[] {
  const { g } = ctx;
  const H = attn.numHeads;
  const heads = g.node('Reshape', [packed, g.ints([0, 0, n * H, attn.headDim])]);
  const bhtd = g.node('Transpose', [heads], { perm: [0, 2, 1, 3] });
  if (n === 1) return [bhtd];
  return g.nodeN('Split', [bhtd, g.ints(new Array<number>(n).fill(H))], n, { axis: 1 });
}

/** The in-projection rows [from, from + count) of in_proj_weight/in_proj_bias applied to x. */
function inProjection(
  ctx: ExportContext,
  x: string,
  attn: MultiheadAttention,
  name: string,
  part: 'qkv' | 'q' | 'kv',
): string {
  if (attn.inProjWeight === null)
    throw new UnsupportedModuleError(`MultiheadAttention with separate q/k/v projections (${name}: kdim/vdim)`);
  const { g } = ctx;
  const E = attn.embedDim;
  const [from, to] = { qkv: [0, 3 * E], q: [0, E], kv: [E, 3 * E] }[part];
  const weight = ctx.transposed(attn.inProjWeight, `${name}.in_proj_weight`); // [E, 3E]
  const rows = part === 'qkv' ? weight : g.node('Slice', [weight, g.ints([from]), g.ints([to]), g.ints([1])]);
  const y = g.node('MatMul', [x, rows]);
  if (attn.inProjBias === null) return y;
  const bias = ctx.param(attn.inProjBias, `${name}.in_proj_bias`);
  const b = part === 'qkv' ? bias : g.node('Slice', [bias, g.ints([from]), g.ints([to]), g.ints([0])]);
  return g.node('Add', [y, b]);
}

/** softmax(q k^T / sqrt(D) + mask) v over heads [B, H, T, D], then the output projection -> [B, T, E]. */
function attend(ctx: ExportContext, q: string, kv: KV, mask: Mask | null, attn: MultiheadAttention, name: string) {
  const { g } = ctx;
  const keysT = g.node('Transpose', [kv.key], { perm: [0, 1, 3, 2] });
  let scores = g.node('Mul', [g.node('MatMul', [q, keysT]), g.scalar(1 / Math.sqrt(attn.headDim))]);
  if (mask !== null) scores = g.node('Add', [scores, mask.additive]);
  let probs = g.node('Softmax', [scores], { axis: -1 });
  // A query whose keys are all padding attends to nothing (zeros), as the library's kernels make it.
  if (mask?.hidesWholeRows) probs = g.node('Where', [g.node('IsNaN', [probs]), g.scalar(0), probs]);
  const context = g.node('MatMul', [probs, kv.value]);
  const merged = g.node('Reshape', [
    g.node('Transpose', [context], { perm: [0, 2, 1, 3] }),
    g.ints([0, 0, attn.embedDim]),
  ]);
  return linear(ctx, merged, attn.outProj, `${name}.out_proj`);
}

/** Self-attention of x [B, T, E]; with `past`, the keys/values of this call are appended to it. Returns the
 * output and the keys/values attended over (the cache after this call). */
export function selfAttention(
  ctx: ExportContext,
  x: string,
  attn: MultiheadAttention,
  name: string,
  inputs: AttentionInputs,
): { output: string; present: KV } {
  const { g } = ctx;
  const [q, k, v] = splitHeads(ctx, inProjection(ctx, x, attn, name, 'qkv'), 3, attn);
  const past = inputs.past ?? null;
  const present =
    past === null
      ? { key: k, value: v }
      : { key: g.node('Concat', [past.key, k], { axis: 2 }), value: g.node('Concat', [past.value, v], { axis: 2 }) };
  return { output: attend(ctx, q, present, inputs.mask, attn, name), present };
}

/** Attention of x [B, T, E] over memory [B, S, E]. */
export function crossAttention(
  ctx: ExportContext,
  x: string,
  memory: string,
  attn: MultiheadAttention,
  name: string,
  mask: Mask | null,
): string {
  const [q] = splitHeads(ctx, inProjection(ctx, x, attn, name, 'q'), 1, attn);
  const [key, value] = splitHeads(ctx, inProjection(ctx, memory, attn, name, 'kv'), 2, attn);
  return attend(ctx, q, { key, value }, mask, attn, name);
}

function feedForward(
  ctx: ExportContext,
  x: string,
  layer: TransformerEncoderLayer | TransformerDecoderLayer,
  name: string,
) {
  const hidden = activation(ctx, linear(ctx, x, layer.linear1, `${name}.linear1`), layer);
  return linear(ctx, hidden, layer.linear2, `${name}.linear2`);
}

/** A residual block: pre-LN x + f(norm(x)), or post-LN norm(x + f(x)). */
function residual(
  ctx: ExportContext,
  x: string,
  normFirst: boolean,
  norm: LayerNorm,
  name: string,
  f: (x: string) => string,
) {
  if (normFirst) return ctx.g.node('Add', [x, f(layerNorm(ctx, x, norm, name))]);
  return layerNorm(ctx, ctx.g.node('Add', [x, f(x)]), norm, name);
}

/** The first block of either layer: (cached) self-attention under norm1, with its residual. */
function selfAttentionBlock(
  ctx: ExportContext,
  x: string,
  layer: TransformerEncoderLayer | TransformerDecoderLayer,
  name: string,
  inputs: AttentionInputs,
): { output: string; present: KV } {
  let present: KV | null = null;
  const output = residual(ctx, x, layer.normFirst, layer.norm1, `${name}.norm1`, (y) => {
    const out = selfAttention(ctx, y, layer.selfAttn, `${name}.self_attn`, inputs);
    present = out.present;
    return out.output;
  });
  return { output, present: present as unknown as KV };
}

/** nn.TransformerEncoderLayer; `inputs.past` makes its self-attention cached (decoder-only models). */
export function encoderLayer(
  ctx: ExportContext,
  x: string,
  layer: TransformerEncoderLayer,
  name: string,
  inputs: AttentionInputs,
): { output: string; present: KV } {
  const first = selfAttentionBlock(ctx, x, layer, name, inputs);
  const h = residual(ctx, first.output, layer.normFirst, layer.norm2, `${name}.norm2`, (y) =>
    feedForward(ctx, y, layer, name),
  );
  return { output: h, present: first.present };
}

export interface DecoderLayerInputs extends AttentionInputs {
  memory: string;
  memoryMask: Mask | null;
}

/** nn.TransformerDecoderLayer: causal self-attention (cached with `inputs.past`), attention over the memory,
 * feed-forward. */
export function decoderLayer(
  ctx: ExportContext,
  x: string,
  layer: TransformerDecoderLayer,
  name: string,
  inputs: DecoderLayerInputs,
): { output: string; present: KV } {
  const first = selfAttentionBlock(ctx, x, layer, name, inputs);
  let h = residual(ctx, first.output, layer.normFirst, layer.norm2, `${name}.norm2`, (y) =>
    crossAttention(ctx, y, inputs.memory, layer.multiheadAttn, `${name}.multihead_attn`, inputs.memoryMask),
  );
  h = residual(ctx, h, layer.normFirst, layer.norm3, `${name}.norm3`, (y) => feedForward(ctx, y, layer, name));
  return { output: h, present: first.present };
}
