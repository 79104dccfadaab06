// The attention family: the typed calls of the fused attention kernels, and the ops on them:
// scaledDotProductAttention, packedSelfAttention and packedQueryAttention (cached decoding).
import { assertPositiveInt, fmtShape } from '../checks';
import type { AttentionView, NativeAddon, NativeStorage } from '../native';
import { needsGrad, nextSeed, Tensor } from '../tensor';
import { add, cast, castKernel, unaryKernel } from './elementwise';
import { assertFloat, assertTensor, broadcastShapes, broadcastStrides, kernelsFor, record } from './util';

/** Sizes, views and options of one call of the attention kernels. Q is a [B, H, Tq, D] view, K and V
 * [B, H, Tk, D] views, out a [B, H, Tq, D] view (see AttentionView). Masks: isCausal lets query i see keys
 * j <= i + causalOffset (0 = PyTorch's is_causal; Tk - Tq when the queries are the last Tq positions, as with
 * a KV cache); keyPadding is null or int32 [B, Tk], nonzero = key ignored; attnMask is null or floats added to
 * the scores, element (b, h, i, j) at maskView[0] + b*maskView[1] + h*maskView[2] + i*maskView[3] + j (strides
 * of 0 broadcast), -Infinity masks. A row whose keys are all masked gives zero output and gradient, not NaN.
 * dropoutP > 0 drops probabilities with a counter-based RNG keyed by (seed, b, h, i, j), so the backward
 * regenerates the same mask. */
export interface AttentionArgs {
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  D: number;
  qView: AttentionView;
  kView: AttentionView;
  vView: AttentionView;
  outView: AttentionView;
  scale: number;
  isCausal: boolean;
  causalOffset: number;
  keyPadding: NativeStorage | null;
  attnMask: NativeStorage | null;
  maskView: AttentionView;
  dropoutP: number;
  seed: number;
}

/** Flash-style forward (online softmax, no [Tq, Tk] buffer per head). lse: B*H*Tq floats, contiguous, each
 * row's log-sum-exp of the scaled, masked scores, kept for the backward. weights: null, or B*H*Tq*Tk floats
 * receiving the probabilities (before dropout). */
export interface AttentionForwardCall extends AttentionArgs {
  q: NativeStorage;
  k: NativeStorage;
  v: NativeStorage;
  out: NativeStorage;
  lse: NativeStorage;
  weights: NativeStorage | null;
}

export function attentionForwardKernel(kernels: NativeAddon, c: AttentionForwardCall): void {
  kernels.attentionForward(
    c.q,
    c.k,
    c.v,
    c.out,
    c.lse,
    c.weights,
    c.B,
    c.H,
    c.Tq,
    c.Tk,
    c.D,
    c.qView,
    c.kView,
    c.vView,
    c.outView,
    c.scale,
    c.isCausal,
    c.causalOffset,
    c.keyPadding,
    c.attnMask,
    c.maskView,
    c.dropoutP,
    c.seed,
  );
}

/** Gradients of the forward. dout has the layout of out (outView); dq, dk, dv have the layouts of q, k, v in
 * their own storages and are overwritten (elements outside the views untouched). probs: null, or the weights
 * the forward wrote, read instead of recomputing the probabilities (CPU; the CUDA kernels always recompute). */
export interface AttentionBackwardCall extends AttentionArgs {
  q: NativeStorage;
  k: NativeStorage;
  v: NativeStorage;
  out: NativeStorage;
  dout: NativeStorage;
  lse: NativeStorage;
  dq: NativeStorage;
  dk: NativeStorage;
  dv: NativeStorage;
  probs: NativeStorage | null;
}

export function attentionBackwardKernel(kernels: NativeAddon, c: AttentionBackwardCall): void {
  kernels.attentionBackward(
    c.q,
    c.k,
    c.v,
    c.out,
    c.dout,
    c.lse,
    c.dq,
    c.dk,
    c.dv,
    c.B,
    c.H,
    c.Tq,
    c.Tk,
    c.D,
    c.qView,
    c.kView,
    c.vView,
    c.outView,
    c.scale,
    c.isCausal,
    c.causalOffset,
    c.keyPadding,
    c.attnMask,
    c.maskView,
    c.dropoutP,
    c.seed,
    c.probs,
  );
}

export interface AttentionOptions {
  /** Broadcastable to [B, H, Tq, Tk]: bool/int32 marks positions NOT allowed; float32 is added to the scores. */
  attnMask?: Tensor | null;
  /** [B, Tk]: bool/int32 nonzero = padding (ignored); float32 is added to the scores. */
  keyPaddingMask?: Tensor | null;
  /** Query i sees keys j <= i (top-left aligned, as PyTorch's is_causal). */
  isCausal?: boolean;
  /** Shifts the causal diagonal: query i sees keys j <= i + causalOffset (Tk - Tq for cached decoding). */
  causalOffset?: number;
  dropoutP?: number;
  /** Defaults to 1/sqrt(D). */
  scale?: number;
  /** Also return the attention probabilities [B, H, Tq, Tk] (before dropout). */
  needWeights?: boolean;
  /** Seed of the dropout mask (drawn from the global generator when omitted). */
  seed?: number;
  /** 'bhtd' (default, PyTorch's): inputs and output are [B, H, T, D]. 'bthd': they are [B, T, H, D], the
   * layout a projection [B, T, H*D] already has, so multi-head attention needs no permute in or out. */
  layout?: 'bhtd' | 'bthd';
  /** Use only the first kvLength positions of key and value (default: all): attention over a KV cache whose
   * buffers have spare capacity. */
  kvLength?: number;
}

/** Turns a bool/int32 "not allowed" mask into 0 / -Infinity (log(1 - m)). */
function additiveMask(mask: Tensor): Tensor {
  if (mask.dtype === 'float32') return mask;
  const k = kernelsFor('scaledDotProductAttention', mask);
  const m = cast(mask, 'bool');
  const f = Tensor.empty(mask.shape, 'float32', mask.device);
  if (f.size > 0) {
    castKernel(k, { src: m.storage, dst: f.storage, n: m.size, toFloat: true });
    unaryKernel(k, { op: 'scale', x: f.storage, out: f.storage, n: f.size, param: -1 });
    unaryKernel(k, { op: 'addScalar', x: f.storage, out: f.storage, n: f.size, param: 1 });
    unaryKernel(k, { op: 'log', x: f.storage, out: f.storage, n: f.size });
  }
  m.dispose();
  return f;
}

/** Fused scaled-dot-product attention over q [B, H, Tq, D] (or [B, Tq, D]), k and v [B, H, Tk, D]
 * (or [B, T, H, D] with layout 'bthd'). */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions & { needWeights: true },
): [Tensor, Tensor];
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor;
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: AttentionOptions = {},
): Tensor | [Tensor, Tensor] {
  const op = 'scaledDotProductAttention';
  assertFloat(op, 'query', q);
  assertFloat(op, 'key', k);
  assertFloat(op, 'value', v);
  const layout = options.layout ?? 'bhtd';
  if (layout !== 'bhtd' && layout !== 'bthd')
    throw new RangeError(`${op}: layout must be 'bhtd' or 'bthd', got '${String(layout)}'`);
  if (q.ndim !== k.ndim || q.ndim !== v.ndim || (q.ndim !== 3 && q.ndim !== 4) || (layout === 'bthd' && q.ndim !== 4))
    throw new RangeError(
      `${op}: query, key and value must all be ${layout === 'bthd' ? '[B, T, H, D]' : '[B, H, T, D] or [B, T, D]'}; got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`,
    );
  // Sizes as [B, H, T, D] whatever the layout.
  const four = (t: Tensor) =>
    t.ndim === 3
      ? [t.shape[0], 1, t.shape[1], t.shape[2]]
      : layout === 'bthd'
        ? [t.shape[0], t.shape[2], t.shape[1], t.shape[3]]
        : [...t.shape];
  const [B, H, Tq, D] = four(q);
  const [Bk, Hk, Tcap, Dk] = four(k);
  const [Bv, Hv, Tv, Dv] = four(v);
  const Tk = options.kvLength ?? Tcap;
  if (!Number.isInteger(Tk) || Tk < 1 || Tk > Tcap)
    throw new RangeError(`${op}: kvLength must be an integer in [1, ${Tcap}], got ${options.kvLength}`);
  if (Bk !== B || Bv !== B || Hk !== H || Hv !== H || Dk !== D || Dv !== D || Tv !== Tcap)
    throw new RangeError(
      `${op}: shapes do not match: query ${fmtShape(q.shape)}, key ${fmtShape(k.shape)}, value ${fmtShape(v.shape)}`,
    );
  if (B * H * Tq * D === 0 || Tk === 0)
    throw new RangeError(`${op}: empty inputs (query ${fmtShape(q.shape)}, key ${fmtShape(k.shape)})`);
  const view = (T: number): AttentionView => (layout === 'bthd' ? [0, T * H * D, D, H * D] : [0, H * T * D, T * D, D]);
  const qView = view(Tq);
  const kView = view(Tcap);
  const call = attentionCall(op, options, { B, H, Tq, Tk, D, qView, kView, vView: kView, outView: qView }, q, k, v);
  const out = Tensor.empty(q.shape, 'float32', q.device);
  const recorded = runAttention(call, q, k, v, out, [q, k, v], (g, run) => {
    const dq = Tensor.empty(q.shape, 'float32', q.device);
    const dk = Tensor.empty(k.shape, 'float32', k.device);
    const dv = Tensor.empty(v.shape, 'float32', v.device);
    run(g, dq, dk, dv);
    return [q.requiresGrad ? dq : null, k.requiresGrad ? dk : null, v.requiresGrad ? dv : null];
  });
  return call.weights ? [recorded, call.weights] : recorded;
}

/** Self-attention over one packed projection, as PyTorch's in_proj output: each row of qkv [B, T, 3 * E]
 * (E = numHeads * D) holds its query, key and value side by side. The kernels read the three in place and the
 * backward writes their gradients into one [B, T, 3 * E] tensor, so the projection runs as a single product
 * forward and backward. Returns [B, T, E], or [out, weights [B, H, T, T]] with needWeights; options as for
 * scaledDotProductAttention (layout and kvLength do not apply). */
export function packedSelfAttention(
  qkv: Tensor,
  numHeads: number,
  options: AttentionOptions & { needWeights: true },
): [Tensor, Tensor];
export function packedSelfAttention(qkv: Tensor, numHeads: number, options?: AttentionOptions): Tensor;
export function packedSelfAttention(
  qkv: Tensor,
  numHeads: number,
  options: AttentionOptions = {},
): Tensor | [Tensor, Tensor] {
  const op = 'packedSelfAttention';
  assertFloat(op, 'qkv', qkv);
  assertPositiveInt(op, 'numHeads', numHeads);
  if (qkv.ndim !== 3 || qkv.shape[2] % (3 * numHeads) !== 0 || qkv.size === 0)
    throw new RangeError(
      `${op}: qkv must be a non-empty [B, T, 3 * numHeads * D], got ${fmtShape(qkv.shape)} with numHeads ${numHeads}`,
    );
  const [B, T, threeE] = qkv.shape;
  const E = threeE / 3;
  const H = numHeads;
  const D = E / H;
  const rows = (offset: number): AttentionView => [offset, T * threeE, D, threeE];
  const call = attentionCall(
    op,
    options,
    {
      B,
      H,
      Tq: T,
      Tk: T,
      D,
      qView: rows(0),
      kView: rows(E),
      vView: rows(2 * E),
      outView: [0, T * E, D, E],
    },
    qkv,
    qkv,
    qkv,
  );
  const out = Tensor.empty([B, T, E], 'float32', qkv.device);
  const recorded = runAttention(call, qkv, qkv, qkv, out, [qkv], (g, run) => {
    // The three views cover every element of the gradient, so it needs no zeroing.
    const dqkv = Tensor.empty(qkv.shape, 'float32', qkv.device);
    run(g, dqkv, dqkv, dqkv);
    return [dqkv];
  });
  return call.weights ? [recorded, call.weights] : recorded;
}

/** Attention of the queries of a packed projection qkv [B, L, 3 * E] (the first E of each row, read in place)
 * over keys and values [B, Tcap, H, D] of which the first kvLength positions are used: cached decoding, where one
 * product makes this step's q, k and v and the cache has taken k and v already. Returns [B, L, E]. The gradient
 * reaches the query part of qkv only: the cached keys and values are detached. */
export function packedQueryAttention(
  qkv: Tensor,
  keys: Tensor,
  values: Tensor,
  options: AttentionOptions & { kvLength: number },
): Tensor {
  const op = 'packedQueryAttention';
  assertFloat(op, 'qkv', qkv);
  assertFloat(op, 'key', keys);
  assertFloat(op, 'value', values);
  if (keys.ndim !== 4 || values.ndim !== 4 || keys.shape.some((d, i) => d !== values.shape[i]))
    throw new RangeError(
      `${op}: key and value must both be [B, T, H, D], got ${fmtShape(keys.shape)} and ${fmtShape(values.shape)}`,
    );
  const [B, Tcap, H, D] = keys.shape;
  const E = H * D;
  if (qkv.ndim !== 3 || qkv.shape[0] !== B || qkv.shape[2] !== 3 * E || qkv.shape[1] === 0)
    throw new RangeError(`${op}: qkv must be [B, L, 3 * H * D] = [${B}, L, ${3 * E}], got ${fmtShape(qkv.shape)}`);
  const L = qkv.shape[1];
  const Tk = options.kvLength;
  if (!Number.isInteger(Tk) || Tk < 1 || Tk > Tcap)
    throw new RangeError(`${op}: kvLength must be an integer in [1, ${Tcap}], got ${Tk}`);
  if (options.needWeights) throw new RangeError(`${op}: needWeights is not supported`);
  const kView: AttentionView = [0, Tcap * E, D, E];
  const call = attentionCall(
    op,
    options,
    {
      B,
      H,
      Tq: L,
      Tk,
      D,
      qView: [0, L * 3 * E, D, 3 * E],
      kView,
      vView: kView,
      outView: [0, L * E, D, E],
    },
    qkv,
    keys,
    values,
  );
  const out = Tensor.empty([B, L, E], 'float32', qkv.device);
  return runAttention(call, qkv, keys, values, out, [qkv], (g, run) => {
    const dqkv = Tensor.empty(qkv.shape, 'float32', qkv.device, true);
    const dk = Tensor.empty(keys.shape, 'float32', keys.device);
    const dv = Tensor.empty(values.shape, 'float32', values.device);
    run(g, dqkv, dk, dv);
    dk.dispose();
    dv.dispose();
    return [dqkv];
  });
}

/** Sizes and views of one attention call, as the kernels take them. */
interface AttentionGeometry {
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  D: number;
  qView: AttentionView;
  kView: AttentionView;
  vView: AttentionView;
  outView: AttentionView;
}

/** An attention call with its options checked and its masks in kernel form. */
interface AttentionCall extends AttentionGeometry {
  op: string;
  kernels: NativeAddon;
  scale: number;
  isCausal: boolean;
  causalOffset: number;
  dropoutP: number;
  seed: number;
  keyPadding: Tensor | null;
  additive: Tensor | null;
  maskView: AttentionView;
  /** Masks made here, disposed when no backward needs them. */
  temporaries: Tensor[];
  lse: Tensor;
  weights: Tensor | null;
}

function attentionCall(
  op: string,
  options: AttentionOptions,
  g: AttentionGeometry,
  q: Tensor,
  k: Tensor,
  v: Tensor,
): AttentionCall {
  const { B, H, Tq, Tk, D } = g;
  const dropoutP = options.dropoutP ?? 0;
  if (!(dropoutP >= 0 && dropoutP < 1)) throw new RangeError(`${op}: dropoutP must be in [0, 1), got ${dropoutP}`);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeError(`${op}: scale must be finite, got ${scale}`);
  const causalOffset = options.causalOffset ?? 0;
  if (!Number.isInteger(causalOffset))
    throw new RangeError(`${op}: causalOffset must be an integer, got ${causalOffset}`);

  // Masks: int/bool key padding goes to the kernel as is; everything else becomes one additive float mask.
  let keyPadding: Tensor | null = null;
  let additive: Tensor | null = null;
  const temporaries: Tensor[] = [];
  const kpm = options.keyPaddingMask ?? null;
  if (kpm) {
    assertTensor(op, 'keyPaddingMask', kpm);
    if (kpm.ndim !== 2 || kpm.shape[0] !== B || kpm.shape[1] !== Tk)
      throw new RangeError(`${op}: keyPaddingMask must be [B, Tk] = [${B}, ${Tk}], got ${fmtShape(kpm.shape)}`);
    if (kpm.dtype === 'float32') additive = kpm.reshape(B, 1, 1, Tk);
    else keyPadding = kpm;
  }
  if (options.attnMask) {
    assertTensor(op, 'attnMask', options.attnMask);
    const m = additiveMask(options.attnMask);
    if (m !== options.attnMask) temporaries.push(m);
    broadcastShapes(`${op} (attnMask)`, m.shape, [B, H, Tq, Tk]);
    if (m.ndim > 4) throw new RangeError(`${op}: attnMask has rank ${m.ndim}, at most 4 allowed`);
    if (additive) {
      additive = add(additive, m);
      temporaries.push(additive);
    } else additive = m;
  }
  let maskView: AttentionView = [0, 0, 0, 0];
  if (additive) {
    const shape4 = [...new Array<number>(4 - additive.ndim).fill(1), ...additive.shape];
    if (shape4[3] !== Tk) {
      additive = additive.expand([...shape4.slice(0, 3), Tk]);
      temporaries.push(additive);
    }
    const strides = broadcastStrides(additive.shape, [B, H, Tq, Tk]);
    maskView = [0, strides[0], strides[1], strides[2]];
  }
  // Resolved before anything is allocated, so that a mask on another device fails first.
  const kernels = kernelsFor(op, q, k, v, additive, keyPadding);
  // Spelled out rather than spread: a spread of g made a new object shape per call, whose allocations
  // outlived the young generation (every scavenge of a 200-token generation copied ~2.5 MB of them).
  return {
    B,
    H,
    Tq,
    Tk,
    D,
    qView: g.qView,
    kView: g.kView,
    vView: g.vView,
    outView: g.outView,
    op,
    kernels,
    scale,
    isCausal: options.isCausal ?? false,
    causalOffset,
    dropoutP,
    seed: dropoutP > 0 ? (options.seed ?? nextSeed()) : 0,
    keyPadding,
    additive,
    maskView,
    temporaries,
    lse: Tensor.empty([B, H, Tq], 'float32', q.device),
    weights: options.needWeights ? Tensor.empty([B, H, Tq, Tk], 'float32', q.device) : null,
  };
}

/** Heads with at most this many queries and keys keep their probabilities from the forward for the backward
 * (CPU only; the CUDA kernels recompute them). */
export const KEEP_PROBS_MAX_LENGTH = 64;

/** Runs the forward into out and records the backward; `gradients` allocates the input gradients and calls
 * run(dout, dq, dk, dv), which fills them through the call's views. */
function runAttention(
  c: AttentionCall,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  inputs: Tensor[],
  gradients: (g: Tensor, run: (g: Tensor, dq: Tensor, dk: Tensor, dv: Tensor) => void) => (Tensor | null)[],
): Tensor {
  // Flash-style attention recomputes the probabilities in the backward so as never to store the T x T scores.
  // For short sequences they are small (no larger than Q when Tk <= D) and keeping them skips the recomputed
  // Q K^T product and its exps.
  const probs =
    c.weights === null &&
    q.device === 'cpu' &&
    c.Tq <= KEEP_PROBS_MAX_LENGTH &&
    c.Tk <= KEEP_PROBS_MAX_LENGTH &&
    needsGrad(...inputs)
      ? Tensor.empty([c.B, c.H, c.Tq, c.Tk], 'float32', q.device)
      : null;
  const written = c.weights ?? probs;
  const keyPadding = c.keyPadding ? c.keyPadding.storage : null;
  const attnMask = c.additive ? c.additive.storage : null;
  attentionForwardKernel(c.kernels, {
    q: q.storage,
    k: k.storage,
    v: v.storage,
    out: out.storage,
    lse: c.lse.storage,
    weights: written ? written.storage : null,
    B: c.B,
    H: c.H,
    Tq: c.Tq,
    Tk: c.Tk,
    D: c.D,
    qView: c.qView,
    kView: c.kView,
    vView: c.vView,
    outView: c.outView,
    scale: c.scale,
    isCausal: c.isCausal,
    causalOffset: c.causalOffset,
    keyPadding,
    attnMask,
    maskView: c.maskView,
    dropoutP: c.dropoutP,
    seed: c.seed,
  });
  const recorded = record(out, c.op, inputs, (g) =>
    gradients(g, (dout, dq, dk, dv) => {
      attentionBackwardKernel(kernelsFor(c.op, dout), {
        q: q.storage,
        k: k.storage,
        v: v.storage,
        out: out.storage,
        dout: dout.storage,
        lse: c.lse.storage,
        dq: dq.storage,
        dk: dk.storage,
        dv: dv.storage,
        probs: probs && !probs.isDisposed ? probs.storage : null,
        B: c.B,
        H: c.H,
        Tq: c.Tq,
        Tk: c.Tk,
        D: c.D,
        qView: c.qView,
        kView: c.kView,
        vView: c.vView,
        outView: c.outView,
        scale: c.scale,
        isCausal: c.isCausal,
        causalOffset: c.causalOffset,
        keyPadding,
        attnMask,
        maskView: c.maskView,
        dropoutP: c.dropoutP,
        seed: c.seed,
      });
      // Freed with the first backward; a second one through a retained graph recomputes them.
      probs?.dispose();
    }),
  );
  if (recorded.gradFn === null) {
    c.lse.dispose();
    for (const t of c.temporaries) t.dispose();
  }
  return recorded;
}
