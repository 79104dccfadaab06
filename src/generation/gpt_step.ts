// One token-by-token decoding step of a GPT (one new position per row, over a KVCache), run straight on the
// kernels with buffers kept across steps. At batch 1 a step is ~80 kernel calls that together stream the whole
// model from memory; through the Tensor ops each call also built tensors, checked shapes, recorded scopes and
// freed its temporaries, about a tenth of a step on top of the kernels. Here a step makes no Tensor but the ids
// and calls the kernels with exactly the arguments GPT.forward gives them, so the logits are bit-identical.
// Models this does not cover (training mode, a custom activation, separate q/k/v weights, CUDA) go through
// GPT.forward as before: see GPTStep.supported.
import { kernels } from '../backend';
import type { GPT } from '../models/gpt';
import type { AttentionView, NativeAddon, NativeStorage, UnaryOp } from '../native';
import { AttentionCache, KVCache, LayerNorm, Module, TransformerEncoderLayer } from '../nn';
import { attentionForwardKernel } from '../ops/attention';
import { binaryKernel, unaryKernel } from '../ops/elementwise';
import { embeddingForwardKernel } from '../ops/embedding';
import { gemmKernel } from '../ops/gemm';
import { layerNormForwardKernel } from '../ops/layernorm';
import { keep, tensor, Tensor } from '../tensor';

const ACTIVATION_KERNELS: Record<string, UnaryOp | undefined> = { relu: 'relu', gelu: 'gelu', gelu_tanh: 'geluTanh' };

/** The buffers of one step at a batch size: x is the residual stream, the rest scratch. */
interface Workspace {
  rows: number;
  x: Tensor;
  normed: Tensor;
  qkv: Tensor;
  heads: Tensor;
  projected: Tensor;
  hidden: Tensor;
  logits: Tensor;
  lse: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

export class GPTStep {
  private workspace: Workspace | null = null;
  private readonly k: NativeAddon = kernels('cpu');
  /** The model and its submodules, whose training flags decide whether dropout applies. */
  private readonly modules: Module[];

  constructor(
    private readonly model: GPT,
    private readonly cache: KVCache,
  ) {
    this.modules = model.modules();
  }

  /** Whether step() gives the model's next-token logits: every module in eval mode, on the CPU, with the
   * built-in activations and the packed in_proj_weight a GPT has. Asked before each step, since the model's
   * mode can change between steps (a stream yields to the event loop). */
  get supported(): boolean {
    if (this.model.tokenEmbedding.weight.device !== 'cpu' || this.modules.some((m) => m.training)) return false;
    for (const layer of this.model.transformer.layers)
      if (ACTIVATION_KERNELS[layer.activationName] === undefined || layer.selfAttn.inProjWeight === null) return false;
    return true;
  }

  /** Next-token logits [rows * vocabSize] after feeding ids[b] at position cache.length of row b. */
  step(ids: readonly number[]): Float32Array {
    const { model, k } = this;
    const { dModel: E, vocabSize: V } = model.config;
    const w = this.reserve(ids.length);
    const B = w.rows;
    const position = this.cache.length;
    const idTensor = tensor(Int32Array.from(ids), { shape: [B], dtype: 'int32' });
    try {
      const tokenWeight = model.tokenEmbedding.weight.storage;
      embeddingForwardKernel(k, { weight: tokenWeight, ids: idTensor.storage, out: w.x.storage, N: B, V, C: E });
    } finally {
      idTensor.dispose();
    }
    this.add(w.x.storage, model.positionEmbedding.weight.storage, position * E, 0, B, E);
    let i = 0;
    for (const layer of model.transformer.layers) this.layer(layer, this.cache.layer(i++).self, position, w);
    let last = w.x.storage;
    if (model.transformer.norm !== null) {
      this.norm(model.transformer.norm, last, w.normed.storage, w);
      last = w.normed.storage;
    }
    this.linear(last, model.lmHead.weight.storage, model.lmHead.bias, w.logits.storage, B, V, E);
    return w.logits.dataSync() as Float32Array;
  }

  /** One block, as TransformerEncoderLayer.forward with a cache: pre-LN x + f(norm(x)), or post-LN norm(x + f(x)). */
  private layer(layer: TransformerEncoderLayer, cache: AttentionCache, position: number, w: Workspace): void {
    const B = w.rows;
    const E = layer.dModel;
    const F = layer.linear1.outFeatures;
    const attn = layer.selfAttn;
    const H = attn.numHeads;
    const D = attn.headDim;
    const inProjWeight = (attn.inProjWeight as Tensor).storage;
    this.linear(this.sublayerInput(layer, layer.norm1, w), inProjWeight, attn.inProjBias, w.qkv.storage, B, 3 * E, E);
    const { key, value, length } = cache.appendPacked(w.qkv, H);
    const kView: AttentionView = [0, key.shape[1] * E, D, E];
    attentionForwardKernel(this.k, {
      q: w.qkv.storage,
      k: key.storage,
      v: value.storage,
      out: w.heads.storage,
      lse: w.lse.storage,
      weights: null,
      B,
      H,
      Tq: 1,
      Tk: length,
      D,
      qView: [0, 3 * E, D, 3 * E],
      kView,
      vView: kView,
      outView: [0, E, D, E],
      scale: 1 / Math.sqrt(D),
      isCausal: true,
      causalOffset: position,
      keyPadding: null,
      attnMask: null,
      maskView: [0, 0, 0, 0],
      dropoutP: 0,
      seed: 0,
    });
    this.linear(w.heads.storage, attn.outProj.weight.storage, attn.outProj.bias, w.projected.storage, B, E, E);
    this.addResidual(layer, layer.norm1, w);
    this.linear(
      this.sublayerInput(layer, layer.norm2, w),
      layer.linear1.weight.storage,
      layer.linear1.bias,
      w.hidden.storage,
      B,
      F,
      E,
    );
    const activation = ACTIVATION_KERNELS[layer.activationName] as UnaryOp;
    unaryKernel(this.k, { op: activation, x: w.hidden.storage, out: w.hidden.storage, n: B * F, param: 0 });
    this.linear(w.hidden.storage, layer.linear2.weight.storage, layer.linear2.bias, w.projected.storage, B, E, F);
    this.addResidual(layer, layer.norm2, w);
  }

  /** The input of a sublayer: norm(x) pre-LN, x itself post-LN. */
  private sublayerInput(layer: TransformerEncoderLayer, norm: LayerNorm, w: Workspace): NativeStorage {
    if (!layer.normFirst) return w.x.storage;
    this.norm(norm, w.x.storage, w.normed.storage, w);
    return w.normed.storage;
  }

  /** x += the sublayer's output (in w.projected), then post-LN x = norm(x), the normalised rows going to the
   * other buffer, which becomes x. */
  private addResidual(layer: TransformerEncoderLayer, norm: LayerNorm, w: Workspace): void {
    this.add(w.x.storage, w.projected.storage, 0, layer.dModel, w.rows, layer.dModel);
    if (layer.normFirst) return;
    this.norm(norm, w.x.storage, w.normed.storage, w);
    [w.x, w.normed] = [w.normed, w.x];
  }

  /** out [rows, N] = x [rows, K] W^T + bias: F.linear's GEMM call. */
  private linear(
    x: NativeStorage,
    weight: NativeStorage,
    bias: Tensor | null,
    out: NativeStorage,
    rows: number,
    N: number,
    K: number,
  ): void {
    gemmKernel(this.k, { a: x, b: weight, c: out, M: rows, N, K, transB: true, bias: bias ? bias.storage : null });
  }

  /** x [rows, C] += other [rows, C] (rowStride C) or other's row at otherOffset broadcast (rowStride 0). */
  private add(
    x: NativeStorage,
    other: NativeStorage,
    otherOffset: number,
    otherRowStride: number,
    rows: number,
    C: number,
  ) {
    binaryKernel(this.k, {
      op: 'add',
      a: x,
      aOffset: 0,
      aStrides: [C, 1],
      b: other,
      bOffset: otherOffset,
      bStrides: [otherRowStride, 1],
      out: x,
      shape: [rows, C],
    });
  }

  private norm(norm: LayerNorm, x: NativeStorage, out: NativeStorage, w: Workspace): void {
    layerNormForwardKernel(this.k, {
      x,
      weight: norm.weight ? norm.weight.storage : null,
      bias: norm.bias ? norm.bias.storage : null,
      out,
      mean: w.mean.storage,
      rstd: w.rstd.storage,
      N: w.rows,
      C: norm.normalizedShape[0],
      eps: norm.eps,
    });
  }

  /** The buffers for `rows` rows, reallocated only when the batch size changes. */
  private reserve(rows: number): Workspace {
    if (this.workspace !== null && this.workspace.rows === rows) return this.workspace;
    this.dispose();
    const { dModel: E, vocabSize: V, nhead: H, dimFeedforward: F } = this.model.config;
    const make = (...shape: number[]) => keep(Tensor.empty(shape, 'float32', 'cpu'));
    this.workspace = {
      rows,
      x: make(rows, E),
      normed: make(rows, E),
      qkv: make(rows, 1, 3 * E),
      heads: make(rows, E),
      projected: make(rows, E),
      hidden: make(rows, F),
      logits: make(rows, V),
      lse: make(rows, H),
      mean: make(rows),
      rstd: make(rows),
    };
    return this.workspace;
  }

  dispose(): void {
    const w = this.workspace;
    if (w === null) return;
    for (const t of [w.x, w.normed, w.qkv, w.heads, w.projected, w.hidden, w.logits, w.lse, w.mean, w.rstd])
      t.dispose();
    this.workspace = null;
  }
}
