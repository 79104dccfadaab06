// The compiled addon, loaded once through node-gyp-build: a prebuilt binary from prebuilds/ when one fits this
// platform, else the local build. Every function here validates what JS cannot see (sizes against storages,
// indices against ranges) and throws a TypeError/RangeError naming the op; the ops validate shapes first.
import * as path from 'node:path';

/** Native memory backing tensors. Elements are 4 bytes (float32 or int32). */
export interface NativeStorage {
  dispose(): void;
  readonly disposed: boolean;
  readonly byteLength: number;
  /** Where the memory starts (0n once disposed): collectives of the MPI addon work on it in place. */
  readonly address: bigint;
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
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'tanh'
  | 'relu'
  | 'sigmoid'
  | 'gelu'
  | 'geluTanh'
  | 'abs'
  | 'scale'
  | 'addScalar'
  | 'powScalar';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export type CompareOp = 'eq' | 'ne';
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'argmax';

/** The kernel paths: portable C++, AVX2+FMA, AVX-512 (where a family has an AVX-512 twin, native/cpu/*_avx512.cc;
 * the AVX2 kernels elsewhere). */
export type Isa = 'generic' | 'avx2' | 'avx512';

/** The raw bindings, positional as N-API takes them: each family's typed call in src/ops/<family>.ts (e.g.
 * gemmKernel in src/ops/gemm.ts) is their only caller and documents them. */
export interface NativeAddon {
  Storage: new (byteLength: number, zeroFill?: boolean) => NativeStorage;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setIsa(isa: Isa): void;
  getIsa(): Isa;
  supportedIsas(): Isa[];
  /** Native tensor memory alive now (created and neither disposed nor collected). */
  memoryStats(): { storages: number; bytes: number };

  // peak (src/ops/peak.ts)
  measureFmaGflops(threads: number, seconds: number): number;
  measureBandwidthGBs(threads: number, bytesPerArray: number, repeats: number): number;

  // gemm (src/ops/gemm.ts)
  gemm(
    a: NativeStorage,
    aOffset: number,
    b: NativeStorage,
    bOffset: number,
    c: NativeStorage,
    cOffset: number,
    bias: NativeStorage | null,
    biasOffset: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
    alpha: number,
    beta: number,
  ): void;

  // attention (src/ops/attention.ts)
  attentionForward(
    q: NativeStorage,
    k: NativeStorage,
    v: NativeStorage,
    out: NativeStorage,
    lse: NativeStorage,
    weights: NativeStorage | null,
    B: number,
    H: number,
    Tq: number,
    Tk: number,
    D: number,
    qView: AttentionView,
    kView: AttentionView,
    vView: AttentionView,
    outView: AttentionView,
    scale: number,
    isCausal: boolean,
    causalOffset: number,
    keyPadding: NativeStorage | null,
    attnMask: NativeStorage | null,
    maskView: AttentionView,
    dropoutP: number,
    seed: number,
  ): void;
  attentionBackward(
    q: NativeStorage,
    k: NativeStorage,
    v: NativeStorage,
    out: NativeStorage,
    dout: NativeStorage,
    lse: NativeStorage,
    dq: NativeStorage,
    dk: NativeStorage,
    dv: NativeStorage,
    B: number,
    H: number,
    Tq: number,
    Tk: number,
    D: number,
    qView: AttentionView,
    kView: AttentionView,
    vView: AttentionView,
    outView: AttentionView,
    scale: number,
    isCausal: boolean,
    causalOffset: number,
    keyPadding: NativeStorage | null,
    attnMask: NativeStorage | null,
    maskView: AttentionView,
    dropoutP: number,
    seed: number,
    probs?: NativeStorage | null,
  ): void;

  // layernorm (src/ops/layernorm.ts)
  layerNormForward(
    x: NativeStorage,
    weight: NativeStorage | null,
    bias: NativeStorage | null,
    out: NativeStorage,
    mean: NativeStorage,
    rstd: NativeStorage,
    N: number,
    C: number,
    eps: number,
  ): void;
  layerNormBackward(
    dout: NativeStorage,
    x: NativeStorage,
    weight: NativeStorage | null,
    mean: NativeStorage,
    rstd: NativeStorage,
    dx: NativeStorage,
    dweight: NativeStorage | null,
    dbias: NativeStorage | null,
    N: number,
    C: number,
  ): void;

  // softmax (src/ops/softmax.ts)
  softmaxForward(x: NativeStorage, out: NativeStorage, outer: number, dim: number, inner: number, log: boolean): void;
  softmaxBackward(
    y: NativeStorage,
    dy: NativeStorage,
    dx: NativeStorage,
    outer: number,
    dim: number,
    inner: number,
    log: boolean,
  ): void;

  // crossentropy (src/ops/crossentropy.ts)
  crossEntropyForward(
    logits: NativeStorage,
    targets: NativeStorage,
    losses: NativeStorage,
    lse: NativeStorage,
    N: number,
    C: number,
    ignoreIndex: number,
    labelSmoothing: number,
  ): void;
  crossEntropyBackward(
    logits: NativeStorage,
    targets: NativeStorage,
    lse: NativeStorage,
    dlosses: NativeStorage,
    dlogits: NativeStorage,
    N: number,
    C: number,
    ignoreIndex: number,
    labelSmoothing: number,
  ): void;

  // elementwise (src/ops/elementwise.ts)
  binary(
    op: BinaryOp,
    a: NativeStorage,
    aOffset: number,
    aStrides: number[],
    b: NativeStorage,
    bOffset: number,
    bStrides: number[],
    out: NativeStorage,
    shape: number[],
  ): void;
  unary(op: UnaryOp, x: NativeStorage, out: NativeStorage, n: number, param: number): void;
  unaryBackward(
    op: UnaryOp,
    x: NativeStorage,
    y: NativeStorage,
    dy: NativeStorage,
    dx: NativeStorage,
    n: number,
    param: number,
  ): void;
  maskedFill(
    x: NativeStorage,
    mask: NativeStorage,
    maskOffset: number,
    maskStrides: number[],
    out: NativeStorage,
    shape: number[],
    value: number,
  ): void;
  fill(dst: NativeStorage, offset: number, n: number, value: number): void;
  cast(src: NativeStorage, dst: NativeStorage, n: number, toFloat: boolean): void;
  compareScalar(
    op: CompareOp,
    src: NativeStorage,
    dst: NativeStorage,
    n: number,
    srcIsInt: boolean,
    value: number,
  ): void;

  // reduce (src/ops/reduce.ts)
  reduce(
    op: ReduceOp,
    x: NativeStorage,
    out: NativeStorage | null,
    indices: NativeStorage | null,
    outer: number,
    dim: number,
    inner: number,
  ): void;
  indexBackward(
    dy: NativeStorage,
    indices: NativeStorage,
    dx: NativeStorage,
    outer: number,
    dim: number,
    inner: number,
  ): void;
  sumToShape(x: NativeStorage, xShape: number[], out: NativeStorage, outShape: number[]): void;

  // embedding (src/ops/embedding.ts)
  embeddingForward(
    weight: NativeStorage,
    ids: NativeStorage,
    out: NativeStorage,
    N: number,
    V: number,
    C: number,
  ): void;
  embeddingBackward(
    dout: NativeStorage,
    ids: NativeStorage,
    dweight: NativeStorage,
    N: number,
    V: number,
    C: number,
    paddingIdx: number,
  ): void;

  // copy (src/ops/copy.ts)
  copyStrided(
    src: NativeStorage,
    srcOffset: number,
    srcStrides: number[],
    dst: NativeStorage,
    dstOffset: number,
    dstStrides: number[],
    shape: number[],
  ): void;

  // random (src/ops/random.ts)
  randomFill(dst: NativeStorage, n: number, dist: 'uniform' | 'normal', seed: number, a: number, b: number): void;
  dropout(x: NativeStorage, out: NativeStorage, n: number, p: number, seed: number): void;

  // adamw (src/ops/adamw.ts)
  adamwStep(
    param: NativeStorage,
    grad: NativeStorage,
    m: NativeStorage,
    v: NativeStorage,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

/** The CPU addon; src/ and dist/ both sit one level below the package root. */
export const addon = load(path.join(__dirname, '..')) as NativeAddon;
