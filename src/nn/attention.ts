// nn.MultiheadAttention with PyTorch's parameters (in_proj_weight [3E, E] or q/k/v_proj_weight, in_proj_bias,
// out_proj), on the fused attention kernels.
// Self-attention (query, key and value one tensor) with in_proj_weight makes Q, K and V with one GEMM into
// [B, T, 3E], as PyTorch's in_proj does: the kernels read the heads in place through strides and the backward
// writes the three gradients into one tensor, so no split into heads is copied and no zero-filled slice
// gradients are added up. With an append cache and needWeights false (decoding) the same product feeds the
// cache. Otherwise (cross-attention, a static cache, separate q/k/v weights) each projection is its own GEMM
// over its rows of the weight, read in place.
import { assertPositiveInt, fmtShape } from '../checks';
import * as F from '../functional';
import { AttentionOptions, packedQueryAttention } from '../ops/attention';
import { cat } from '../ops/copy';
import { Tensor, zeros } from '../tensor';
import { AttentionCache, AttentionCacheRows } from './cache';
import { checkProbability, Linear, xavierUniform } from './layers';
import { Module, seedStream } from './module';
import { linearRows } from './projection';

/** Attention options for the overloads that also return the weights. */
type WithWeights = AttentionOptions & { needWeights: true };

export interface MultiheadAttentionOptions {
  /** Dropout on the attention probabilities, in training mode only. */
  dropout?: number;
  bias?: boolean;
  /** Feature size of the keys (defaults to embedDim). */
  kdim?: number;
  /** Feature size of the values (defaults to embedDim). */
  vdim?: number;
  /** Inputs are [B, T, E] (default); false: [T, B, E] as PyTorch's default. */
  batchFirst?: boolean;
  seed?: number;
}

export interface MultiheadAttentionForwardOptions {
  /** [B, S]: bool/int32 true = that key is padding (ignored); float32 values are added to the scores. */
  keyPaddingMask?: Tensor | null;
  /** [L, S] or [B * numHeads, L, S]: bool/int32 true = not allowed; float32 values are added to the scores. */
  attnMask?: Tensor | null;
  /** Query i sees keys j <= i (with a cache: j <= i + cached length). Needs no mask tensor. */
  isCausal?: boolean;
  /** Also return the attention probabilities (default true, as PyTorch). They carry no gradient. */
  needWeights?: boolean;
  /** Average the weights over heads: [B, L, S] (default), else [B, numHeads, L, S]. */
  averageAttnWeights?: boolean;
  /** Incremental decoding: an 'append' cache adds this call's keys/values to the past ones; a 'static' cache
   * projects key/value on its first call and reuses them afterwards. AttentionCacheRows (self-attention of a
   * batch, needWeights false, no masks): row b appends to and attends over its own cache rows[b]. */
  cache?: AttentionCache | AttentionCacheRows | null;
}

export interface MultiheadAttentionOutput {
  output: Tensor;
  /** The attention probabilities (before dropout) when needWeights, else null. */
  weights: Tensor | null;
}

export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  /** [3E, E] when kdim = vdim = E, else null (and the separate projections are set). */
  readonly inProjWeight: Tensor | null;
  readonly qProjWeight: Tensor | null;
  readonly kProjWeight: Tensor | null;
  readonly vProjWeight: Tensor | null;
  readonly inProjBias: Tensor | null;
  readonly outProj: Linear;

  constructor(embedDim: number, numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    const op = 'MultiheadAttention';
    assertPositiveInt(op, 'embedDim', embedDim);
    assertPositiveInt(op, 'numHeads', numHeads);
    if (embedDim % numHeads !== 0)
      throw new RangeError(`${op}: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.kdim = options.kdim ?? embedDim;
    this.vdim = options.vdim ?? embedDim;
    assertPositiveInt(op, 'kdim', this.kdim);
    assertPositiveInt(op, 'vdim', this.vdim);
    this.dropout = options.dropout ?? 0;
    checkProbability(op, this.dropout);
    if (this.dropout === 1) throw new RangeError(`${op}: dropout must be below 1, got 1`);
    this.batchFirst = options.batchFirst ?? true;
    const bias = options.bias ?? true;
    const seeds = seedStream(op, options.seed);
    const E = embedDim;
    if (this.kdim === E && this.vdim === E) {
      this.inProjWeight = this.registerParameter('in_proj_weight', xavierUniform([3 * E, E], seeds()));
      this.qProjWeight = this.kProjWeight = this.vProjWeight = null;
    } else {
      this.qProjWeight = this.registerParameter('q_proj_weight', xavierUniform([E, E], seeds()));
      this.kProjWeight = this.registerParameter('k_proj_weight', xavierUniform([E, this.kdim], seeds()));
      this.vProjWeight = this.registerParameter('v_proj_weight', xavierUniform([E, this.vdim], seeds()));
      this.inProjWeight = null;
    }
    this.inProjBias = this.registerParameter('in_proj_bias', bias ? zeros([3 * E]) : null);
    this.outProj = this.registerModule('out_proj', new Linear(E, E, { bias, seed: seeds() }));
    // PyTorch zeroes out_proj.bias after the Linear's own init.
    if (this.outProj.bias) this.outProj.bias.storage.write(new Float32Array(E), 0);
  }

  /** query [B, L, E], key [B, S, kdim], value [B, S, vdim] (or unbatched [L, E]...; [L, B, E] when batchFirst
   * is false) -> output [B, L, E] and, when needWeights, weights [B, L, S] (or [B, H, L, S]). */
  override forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    options: MultiheadAttentionForwardOptions = {},
  ): MultiheadAttentionOutput {
    const op = 'MultiheadAttention';
    const inputs = [
      ['query', query],
      ['key', key],
      ['value', value],
    ] as const;
    for (const [name, t] of inputs) {
      if (!(t instanceof Tensor))
        throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
      if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
      if (t.ndim !== query.ndim || (t.ndim !== 2 && t.ndim !== 3))
        throw new RangeError(
          `${op}: query, key and value must all be 3-D (batched) or 2-D (unbatched); got ${fmtShape(query.shape)}, ${fmtShape(key.shape)}, ${fmtShape(value.shape)}`,
        );
    }
    const cache = options.cache ?? null;
    if (cache instanceof AttentionCacheRows) return this.forwardRows(query, key, value, cache, options);
    if (cache !== null && !(cache instanceof AttentionCache))
      throw new TypeError(`${op}: cache must be an AttentionCache or an AttentionCacheRows`);
    const unbatched = query.ndim === 2;
    // Everything below works on batch-first [B, T, features]; an input passed twice is converted once.
    const toBatchFirst = (t: Tensor): Tensor => (unbatched ? t.unsqueeze(0) : this.batchFirst ? t : t.transpose(0, 1));
    const q3 = toBatchFirst(query);
    const k3 = key === query ? q3 : toBatchFirst(key);
    const v3 = value === key ? k3 : value === query ? q3 : toBatchFirst(value);
    const [B, L, Eq] = q3.shape;
    const E = this.embedDim;
    if (Eq !== E) throw new RangeError(`${op}: query must have ${E} features, got ${fmtShape(query.shape)}`);
    const reuseStatic = cache !== null && cache.mode === 'static' && cache.key !== null;
    if (!reuseStatic) {
      if (k3.shape[2] !== this.kdim)
        throw new RangeError(`${op}: key must have kdim = ${this.kdim} features, got ${fmtShape(key.shape)}`);
      if (v3.shape[2] !== this.vdim)
        throw new RangeError(`${op}: value must have vdim = ${this.vdim} features, got ${fmtShape(value.shape)}`);
      if (k3.shape[0] !== B || v3.shape[0] !== B || k3.shape[1] !== v3.shape[1])
        throw new RangeError(
          `${op}: batch or length mismatch: query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`,
        );
    }

    const needWeights = options.needWeights ?? true;
    // One options object with every field a branch passes, filled in by that branch: spreading it instead
    // ({ ...options, kvLength }) makes V8 build a new hidden class on every call, and those outlive the young
    // generation (decoding then spent its scavenges copying them).
    const attentionOptions = {
      attnMask: null as Tensor | null,
      keyPaddingMask: null as Tensor | null,
      isCausal: options.isCausal ?? false,
      causalOffset: 0,
      dropoutP: this.training ? this.dropout : 0,
      needWeights,
      // For scaledDotProductAttention and packedQueryAttention; packedSelfAttention ignores them.
      layout: 'bthd' as const,
      kvLength: 0,
    };
    let heads: Tensor;
    let weights: Tensor | null = null;
    if (k3 === q3 && v3 === q3 && cache === null && this.qProjWeight === null) {
      // Self-attention without a cache: one product makes q, k and v side by side, and attention reads them in place.
      const qkv = linearRows(q3, this.inProjWeight as Tensor, 0, this.inProjBias, 0, 3 * E);
      attentionOptions.attnMask = this.attentionMask(options.attnMask ?? null, B, L, L);
      attentionOptions.keyPaddingMask = this.keyPaddingMask(options.keyPaddingMask ?? null, unbatched, B, L);
      if (needWeights) [heads, weights] = F.packedSelfAttention(qkv, this.numHeads, attentionOptions as WithWeights);
      else heads = F.packedSelfAttention(qkv, this.numHeads, attentionOptions);
      return this.finish(heads, weights, B, L, unbatched, options);
    }
    if (
      k3 === q3 &&
      v3 === q3 &&
      cache !== null &&
      cache.mode === 'append' &&
      this.qProjWeight === null &&
      !needWeights
    ) {
      // Cached self-attention (decoding): one product makes this step's q, k and v.
      const qkv = linearRows(q3, this.inProjWeight as Tensor, 0, this.inProjBias, 0, 3 * E);
      heads = this.attendCached(qkv, cache, attentionOptions, options, unbatched);
      return this.finish(heads, null, B, L, unbatched, options);
    }

    const q = this.projectHeads(q3, 0, this.qProjWeight);
    let keys: Tensor;
    let values: Tensor;
    if (reuseStatic) {
      keys = cache.key as Tensor;
      values = cache.value as Tensor;
      if (keys.shape[0] !== B)
        throw new RangeError(`${op}: the static cache holds keys for batch ${keys.shape[0]}, the query has batch ${B}`);
    } else {
      keys = this.projectHeads(k3, 1, this.kProjWeight);
      values = this.projectHeads(v3, 2, this.vProjWeight);
      if (cache !== null && cache.mode === 'static') cache.set(keys, values);
    }
    const past = cache !== null && cache.mode === 'append' ? cache.length : 0;
    let S = keys.shape[1];
    if (cache !== null && cache.mode === 'append')
      ({ key: keys, value: values, length: S } = cache.append(keys, values));

    attentionOptions.attnMask = this.attentionMask(options.attnMask ?? null, B, L, S);
    attentionOptions.keyPaddingMask = this.keyPaddingMask(options.keyPaddingMask ?? null, unbatched, B, S);
    attentionOptions.causalOffset = past;
    attentionOptions.kvLength = S;
    if (needWeights) [heads, weights] = F.scaledDotProductAttention(q, keys, values, attentionOptions as WithWeights);
    else heads = F.scaledDotProductAttention(q, keys, values, attentionOptions);
    return this.finish(heads, weights, B, L, unbatched, options);
  }

  /** Attention of a packed projection qkv [B, L, 3E] over an append cache: the cache copies this step's k and v
   * out of it, and attention reads q in place. Returns the heads [B, L, E]. */
  private attendCached(
    qkv: Tensor,
    cache: AttentionCache,
    attentionOptions: AttentionOptions & { kvLength: number; causalOffset: number },
    options: MultiheadAttentionForwardOptions,
    unbatched: boolean,
  ): Tensor {
    const [B, L] = qkv.shape;
    const past = cache.length;
    const { key, value, length } = cache.appendPacked(qkv, this.numHeads);
    attentionOptions.attnMask = this.attentionMask(options.attnMask ?? null, B, L, length);
    attentionOptions.keyPaddingMask = this.keyPaddingMask(options.keyPaddingMask ?? null, unbatched, B, length);
    attentionOptions.causalOffset = past;
    attentionOptions.kvLength = length;
    return packedQueryAttention(qkv, key, value, attentionOptions);
  }

  /** Self-attention of a batch whose rows decode at their own lengths: the in-projection and the output
   * projection run once over the batch, each row's attention over its own cache, exactly as that row alone. */
  private forwardRows(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    cache: AttentionCacheRows,
    options: MultiheadAttentionForwardOptions,
  ): MultiheadAttentionOutput {
    const op = 'MultiheadAttention';
    if (key !== query || value !== query || query.ndim !== 3 || !this.batchFirst || this.qProjWeight !== null)
      throw new RangeError(
        `${op}: per-row caches need batch-first self-attention (query = key = value) with in_proj_weight`,
      );
    if ((options.needWeights ?? true) || options.attnMask || options.keyPaddingMask)
      throw new RangeError(`${op}: per-row caches take no masks and need needWeights: false`);
    const [B, L, E] = query.shape;
    if (E !== this.embedDim)
      throw new RangeError(`${op}: query must have ${this.embedDim} features, got ${fmtShape(query.shape)}`);
    if (cache.rows.length !== B) throw new RangeError(`${op}: ${cache.rows.length} row caches for a batch of ${B}`);
    const qkv = linearRows(query, this.inProjWeight as Tensor, 0, this.inProjBias, 0, 3 * E);
    const heads = cache.rows.map((rowCache, b) => {
      const attentionOptions = {
        attnMask: null as Tensor | null,
        keyPaddingMask: null as Tensor | null,
        isCausal: options.isCausal ?? false,
        causalOffset: 0,
        dropoutP: this.training ? this.dropout : 0,
        needWeights: false,
        layout: 'bthd' as const,
        kvLength: 0,
      };
      return this.attendCached(qkv.slice(0, b, b + 1), rowCache, attentionOptions, options, false);
    });
    return this.finish(B === 1 ? heads[0] : cat(heads, 0), null, B, L, false, options);
  }

  /** The output projection of heads [B, L, H, D] (or [B, L, E]), and the layout and weights the caller asked for. */
  private finish(
    heads: Tensor,
    weights: Tensor | null,
    B: number,
    L: number,
    unbatched: boolean,
    options: MultiheadAttentionForwardOptions,
  ): MultiheadAttentionOutput {
    let output = this.outProj.forward(heads.reshape(B, L, this.embedDim));
    if (weights !== null && (options.averageAttnWeights ?? true)) weights = weights.mean(1);
    if (unbatched) {
      output = output.squeeze(0);
      if (weights !== null) weights = weights.squeeze(0);
    } else if (!this.batchFirst) output = output.transpose(0, 1);
    return { output, weights };
  }

  /** keyPaddingMask checked against [B, S] (a 1-D mask for unbatched input gains its batch dim). */
  private keyPaddingMask(mask: Tensor | null, unbatched: boolean, B: number, S: number): Tensor | null {
    if (mask === null) return null;
    const op = 'MultiheadAttention';
    if (!(mask instanceof Tensor)) throw new TypeError(`${op}: keyPaddingMask must be a Tensor`);
    const m = unbatched && mask.ndim === 1 ? mask.unsqueeze(0) : mask;
    if (m.ndim !== 2 || m.shape[0] !== B || m.shape[1] !== S)
      throw new RangeError(`${op}: keyPaddingMask must be [B, S] = [${B}, ${S}], got ${fmtShape(mask.shape)}`);
    return m;
  }

  /** Projection `index` (0: Q, 1: K, 2: V) as [B, T, H, D]: a view of the projection, which attention reads
   * head by head through strides. It reads its rows of in_proj_weight (or its own weight) and of in_proj_bias in
   * place. */
  private projectHeads(x: Tensor, index: number, ownWeight: Tensor | null): Tensor {
    const E = this.embedDim;
    const projected =
      ownWeight === null
        ? linearRows(x, this.inProjWeight as Tensor, index * E, this.inProjBias, index * E, E)
        : linearRows(x, ownWeight, 0, this.inProjBias, index * E, E);
    const [B, T] = projected.shape;
    return projected.reshape(B, T, this.numHeads, this.headDim);
  }

  /** PyTorch's attn_mask layouts ([L, S] or [B * H, L, S]) as something the kernel broadcasts to [B, H, L, S]. */
  private attentionMask(mask: Tensor | null, B: number, L: number, S: number): Tensor | null {
    if (mask === null) return null;
    const op = 'MultiheadAttention';
    if (!(mask instanceof Tensor)) throw new TypeError(`${op}: attnMask must be a Tensor`);
    const H = this.numHeads;
    if (mask.ndim === 2 && mask.shape[0] === L && mask.shape[1] === S) return mask;
    if (mask.ndim === 3 && mask.shape[0] === B * H && mask.shape[1] === L && mask.shape[2] === S)
      return mask.reshape(B, H, L, S);
    throw new RangeError(
      `${op}: attnMask must be [L, S] = [${L}, ${S}] or [B * numHeads, L, S] = [${B * H}, ${L}, ${S}], got ${fmtShape(mask.shape)}`,
    );
  }

  override toString(): string {
    return `MultiheadAttention(embedDim=${this.embedDim}, numHeads=${this.numHeads}, dropout=${this.dropout}, batchFirst=${this.batchFirst})`;
  }
}
