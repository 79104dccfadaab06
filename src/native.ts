// The compiled addon, loaded once through node-gyp-build: a prebuilt binary from prebuilds/ when one fits this
// platform, else the local build. Every function here validates its arguments natively and throws a
// TypeError/RangeError naming the op; the typed wrappers in src/ add shape-level messages on top.
import * as path from 'node:path';

/** Native memory backing tensors. Elements are 4 bytes (float32 or int32). */
export interface NativeStorage {
  dispose(): void;
  readonly disposed: boolean;
  readonly byteLength: number;
  readFloat32(offset: number, count: number): Float32Array;
  readInt32(offset: number, count: number): Int32Array;
  write(source: Float32Array | Int32Array, offset: number): void;
  copyFrom(source: NativeStorage, sourceOffset: number, offset: number, count: number): void;
}

/** [offset, strideB, strideH, strideT] in elements: where element (b, h, t, d) of a [B, H, T, D] view lives
 * (offset + b*strideB + h*strideH + t*strideT + d). Lets attention read Q/K/V straight out of a packed
 * [B, T, 3, H, D] projection without a permute. */
export type AttentionView = [number, number, number, number];

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'tanh' | 'relu' | 'sigmoid' | 'gelu' | 'geluTanh' | 'abs'
  | 'scale' | 'addScalar' | 'powScalar';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'argmax';

/** The kernel paths: portable C++, AVX2+FMA, AVX-512 (GEMM and the peak loop; AVX2 kernels elsewhere). */
export type Isa = 'generic' | 'avx2' | 'avx512';

export interface NativeAddon {
  Storage: new (byteLength: number, zeroFill?: boolean) => NativeStorage;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setIsa(isa: Isa): void;
  getIsa(): Isa;
  supportedIsas(): Isa[];
  /** Native tensor memory alive now (created and neither disposed nor collected). */
  memoryStats(): { storages: number; bytes: number };

  // ---- bench: machine limits -------------------------------------------------------------------------------
  measureFmaGflops(threads: number, seconds: number): number;
  measureBandwidthGBs(threads: number, bytesPerArray: number, repeats: number): number;

  // ---- gemm --------------------------------------------------------------------------------------------------
  /** For i in [0, batch): C_i = alpha * op(A_i) * op(B_i) + beta * C_i (+ bias broadcast over rows), row-major.
   * X_i starts at xOffset + i * strideX (a stride of 0 broadcasts). op(A_i) is M x K: A_i is stored M x K, or
   * K x M when transA. op(B_i) is K x N: B_i is stored K x N, or N x K when transB. C_i is M x N. beta = 0
   * never reads C (so C may hold garbage). bias (N floats at biasOffset) may be null. */
  gemm(
    a: NativeStorage, aOffset: number, b: NativeStorage, bOffset: number, c: NativeStorage, cOffset: number,
    bias: NativeStorage | null, biasOffset: number, transA: boolean, transB: boolean,
    M: number, N: number, K: number, batch: number, strideA: number, strideB: number, strideC: number,
    alpha: number, beta: number,
  ): void;

  // ---- attention ---------------------------------------------------------------------------------------------
  /** Fused scaled-dot-product attention, flash-style (online softmax, no [Tq, Tk] buffer per head).
   * Q is a [B, H, Tq, D] view, K and V [B, H, Tk, D] views, out a [B, H, Tq, D] view (see AttentionView).
   * lse: B*H*Tq floats, contiguous: log-sum-exp of each row's (scaled, masked) scores, kept for the backward.
   * weights: null, or B*H*Tq*Tk floats receiving the softmax probabilities (before dropout).
   * Masks: causal lets query i see keys j <= i + causalOffset (0 = PyTorch's is_causal; Tk - Tq when the
   * queries are the last Tq positions, as with a KV cache). keyPadding: null or int32 [B, Tk], nonzero = key
   * ignored. attnMask: null or floats added to the scores, element (b, h, i, j) at
   * maskView[0] + b*maskView[1] + h*maskView[2] + i*maskView[3] + j (strides 0 broadcast); -Infinity
   * masks. A row whose keys are all masked gives zero output (and zero gradient), not NaN.
   * dropoutP > 0 drops probabilities with a counter-based RNG keyed by (seed, b, h, i, j), so the backward
   * regenerates the same mask. */
  attentionForward(
    q: NativeStorage, k: NativeStorage, v: NativeStorage, out: NativeStorage, lse: NativeStorage,
    weights: NativeStorage | null, B: number, H: number, Tq: number, Tk: number, D: number,
    qView: AttentionView, kView: AttentionView, vView: AttentionView, outView: AttentionView,
    scale: number, isCausal: boolean, causalOffset: number, keyPadding: NativeStorage | null,
    attnMask: NativeStorage | null, maskView: [number, number, number, number],
    dropoutP: number, seed: number,
  ): void;
  /** Gradients of attentionForward. dout has the layout of out (outView); dq, dk, dv have the layouts of q, k, v
   * (qView, kView, vView) in their own storages and are overwritten (regions outside the views untouched).
   * probs: null/omitted, or the weights the forward wrote (B*H*Tq*Tk), read instead of recomputing the
   * probabilities (the CUDA kernels always recompute). */
  attentionBackward(
    q: NativeStorage, k: NativeStorage, v: NativeStorage, out: NativeStorage, dout: NativeStorage,
    lse: NativeStorage, dq: NativeStorage, dk: NativeStorage, dv: NativeStorage,
    B: number, H: number, Tq: number, Tk: number, D: number,
    qView: AttentionView, kView: AttentionView, vView: AttentionView, outView: AttentionView,
    scale: number, isCausal: boolean, causalOffset: number, keyPadding: NativeStorage | null,
    attnMask: NativeStorage | null, maskView: [number, number, number, number],
    dropoutP: number, seed: number, probs?: NativeStorage | null,
  ): void;

  // ---- norm: layernorm, softmax, cross-entropy ---------------------------------------------------------------
  /** Rows of C over N rows: out = (x - mean) * rstd * weight + bias; saves mean[N] and rstd[N].
   * weight/bias may be null (identity). */
  layerNormForward(
    x: NativeStorage, weight: NativeStorage | null, bias: NativeStorage | null, out: NativeStorage,
    mean: NativeStorage, rstd: NativeStorage, N: number, C: number, eps: number,
  ): void;
  /** Overwrites dx [N, C], and dweight/dbias [C] when given (not accumulated). */
  layerNormBackward(
    dout: NativeStorage, x: NativeStorage, weight: NativeStorage | null, mean: NativeStorage, rstd: NativeStorage,
    dx: NativeStorage, dweight: NativeStorage | null, dbias: NativeStorage | null, N: number, C: number,
  ): void;
  /** Softmax (or log-softmax) along the middle axis of a contiguous [outer, dim, inner] tensor. */
  softmaxForward(x: NativeStorage, out: NativeStorage, outer: number, dim: number, inner: number, log: boolean): void;
  /** dx from the forward's output y and dy (same layout); overwrites dx. */
  softmaxBackward(
    y: NativeStorage, dy: NativeStorage, dx: NativeStorage, outer: number, dim: number, inner: number, log: boolean,
  ): void;
  /** Per-row loss of logits [N, C] against int32 targets [N]: with smoothing e,
   * loss = (1 - e) * (-log p[target]) + e / C * sum_c(-log p[c]); rows whose target is ignoreIndex get 0.
   * Targets outside [0, C) other than ignoreIndex throw a RangeError naming the row and value.
   * Writes losses [N] and lse [N] (log-sum-exp of each row, for the backward). */
  crossEntropyForward(
    logits: NativeStorage, targets: NativeStorage, losses: NativeStorage, lse: NativeStorage,
    N: number, C: number, ignoreIndex: number, labelSmoothing: number,
  ): void;
  /** dlogits [N, C] = dlosses[n] * d(loss_n)/d(logits_n); ignored rows get 0. Overwrites dlogits. */
  crossEntropyBackward(
    logits: NativeStorage, targets: NativeStorage, lse: NativeStorage, dlosses: NativeStorage,
    dlogits: NativeStorage, N: number, C: number, ignoreIndex: number, labelSmoothing: number,
  ): void;

  // ---- elementwise, reductions, indexing, copies, random, optimizer ------------------------------------------
  /** out (contiguous, `shape`) = a op b, where a and b are read through element strides (0 = broadcast)
   * from their offsets. Up to 8 dims. out may alias a or b when their strides are contiguous. */
  binary(
    op: BinaryOp, a: NativeStorage, aOffset: number, aStrides: number[], b: NativeStorage, bOffset: number,
    bStrides: number[], out: NativeStorage, shape: number[],
  ): void;
  /** out[i] = f(x[i]) for n contiguous elements. param: the factor of 'scale', the addend of 'addScalar',
   * the exponent of 'powScalar' (ignored by the others). 'gelu' is the erf form, 'geluTanh' the tanh one. */
  unary(op: UnaryOp, x: NativeStorage, out: NativeStorage, n: number, param: number): void;
  /** dx[i] = dy[i] * f'(x[i]); y = f(x) is passed too (ops such as exp/tanh/sigmoid/sqrt use it). */
  unaryBackward(
    op: UnaryOp, x: NativeStorage, y: NativeStorage, dy: NativeStorage, dx: NativeStorage, n: number, param: number,
  ): void;
  /** Reduces the middle axis of a contiguous [outer, dim, inner] tensor into out [outer, inner]. 'max'/'min'
   * also write the int32 position of the winner into indices when given; 'argmax' writes positions (as int32)
   * into indices and leaves out untouched (out may be null). dim must be >= 1 for max/min/argmax. */
  reduce(
    op: ReduceOp, x: NativeStorage, out: NativeStorage | null, indices: NativeStorage | null,
    outer: number, dim: number, inner: number,
  ): void;
  /** dx [outer, dim, inner] = 0 except dx[o, indices[o, i], i] = dy[o, i]: the backward of max/min. */
  indexBackward(
    dy: NativeStorage, indices: NativeStorage, dx: NativeStorage, outer: number, dim: number, inner: number,
  ): void;
  /** Sums a contiguous x of xShape into out of outShape (same rank, each dim equal or 1): the backward of a
   * broadcast. Overwrites out. */
  sumToShape(x: NativeStorage, xShape: number[], out: NativeStorage, outShape: number[]): void;
  /** out [N, C] = weight[ids[n]] for weight [V, C]; ids outside [0, V) throw a RangeError. */
  embeddingForward(weight: NativeStorage, ids: NativeStorage, out: NativeStorage, N: number, V: number, C: number): void;
  /** dweight[ids[n]] += dout[n] (accumulates; the caller zero-fills), skipping ids equal to paddingIdx
   * (-1 = none). */
  embeddingBackward(
    dout: NativeStorage, ids: NativeStorage, dweight: NativeStorage, N: number, V: number, C: number,
    paddingIdx: number,
  ): void;
  /** Copies a strided view of `shape` from src into dst's strided view: permute/contiguous, slices,
   * concatenation and expand are all this. Works for int32 as well (bytes are copied). Up to 8 dims. */
  copyStrided(
    src: NativeStorage, srcOffset: number, srcStrides: number[], dst: NativeStorage, dstOffset: number,
    dstStrides: number[], shape: number[],
  ): void;
  /** out (contiguous, `shape`) = value where the int32 mask (read through strides from maskOffset, 0 = broadcast)
   * is nonzero, else x (contiguous). value may be +-Infinity. With x = dy and value 0 it is its own backward. */
  maskedFill(
    x: NativeStorage, mask: NativeStorage, maskOffset: number, maskStrides: number[], out: NativeStorage,
    shape: number[], value: number,
  ): void;
  /** dst[offset .. offset+n) = value (float32). */
  fill(dst: NativeStorage, offset: number, n: number, value: number): void;
  /** Converts n elements between int32 and float32 (toFloat: int32 -> float32, else float32 -> int32 by truncation). */
  cast(src: NativeStorage, dst: NativeStorage, n: number, toFloat: boolean): void;
  /** Fills n floats from a counter-based RNG keyed by seed (an integer in [0, 2^53)): 'uniform' in [a, b),
   * 'normal' with mean a and standard deviation b. The same seed gives the same numbers on every thread count. */
  randomFill(dst: NativeStorage, n: number, dist: 'uniform' | 'normal', seed: number, a: number, b: number): void;
  /** out[i] = x[i] * keep(seed, i) / (1 - p), keep with probability 1 - p from a counter-based RNG, so the same
   * call on dy is the backward. */
  dropout(x: NativeStorage, out: NativeStorage, n: number, p: number, seed: number): void;
  /** One fused AdamW step over n parameters (PyTorch's torch.optim.AdamW, decoupled weight decay, bias
   * correction with the 1-based step): updates param, m and v in place. */
  adamwStep(
    param: NativeStorage, grad: NativeStorage, m: NativeStorage, v: NativeStorage, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
  ): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The CPU addon; src/ and dist/ both sit one level below the package root. */
export const addon = load(path.join(__dirname, '..')) as NativeAddon;
