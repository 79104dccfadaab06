// Key/value caches for incremental (token by token) decoding. Each attention module gets an AttentionCache:
// 'append' for self-attention (every step adds the keys/values of its new positions), 'static' for
// cross-attention (the memory's keys/values are projected on the first step and reused). A KVCache holds
// one self and one cross cache per layer, so the same object serves an encoder-decoder Transformer and a
// decoder-only stack of TransformerEncoderLayer blocks (which use the self caches only).
// Cached tensors are detached and kept: decoding is inference, gradients do not flow into past positions.
import { noGrad } from '../autograd';
import { embedding } from '../ops';
import { kernels } from '../backend';
import { assertPositiveInt, fmtShape } from '../checks';
import { copyStridedKernel } from '../ops/copy';
import { keep, tidy, Tensor } from '../tensor';

export type AttentionCacheMode = 'append' | 'static';

export class AttentionCache {
  private cachedKey: Tensor | null = null;
  private cachedValue: Tensor | null = null;
  private cachedLength = 0;

  constructor(readonly mode: AttentionCacheMode = 'append') {
    if (mode !== 'append' && mode !== 'static')
      throw new RangeError(`AttentionCache: mode must be 'append' or 'static', got '${String(mode)}'`);
  }

  /** Cached keys [B, capacity, H, D], of which the first `length` positions are valid (null before the first
   * step). An 'append' cache grows its capacity by doubling, so a step writes only its new positions. */
  get key(): Tensor | null {
    return this.cachedKey;
  }

  get value(): Tensor | null {
    return this.cachedValue;
  }

  /** Number of valid cached positions. */
  get length(): number {
    return this.cachedLength;
  }

  /** Adds the keys and values [B, Tnew, H, D] of new positions; returns the buffers holding all of them (past
   * then new) in their first `length` positions. */
  append(key: Tensor, value: Tensor): { key: Tensor; value: Tensor; length: number } {
    this.checkPair('append', key, value);
    const [B, Tnew, H, D] = key.shape;
    const at = this.reserve('append', B, Tnew, H, D, key);
    copyPositions(key, 0, Tnew * H * D, H * D, this.cachedKey as Tensor, at, Tnew);
    copyPositions(value, 0, Tnew * H * D, H * D, this.cachedValue as Tensor, at, Tnew);
    return { key: this.cachedKey as Tensor, value: this.cachedValue as Tensor, length: this.cachedLength };
  }

  /** append() for keys and values that sit in a packed projection qkv [B, Tnew, 3 * H * D] (query, key and value
   * side by side in each row, as in_proj makes them): they are copied straight from it. */
  appendPacked(qkv: Tensor, numHeads: number): { key: Tensor; value: Tensor; length: number } {
    const op = 'appendPacked';
    if (!(qkv instanceof Tensor)) throw new TypeError(`AttentionCache.${op}: qkv must be a Tensor`);
    assertPositiveInt(`AttentionCache.${op}`, 'numHeads', numHeads);
    if (qkv.dtype !== 'float32' || qkv.ndim !== 3 || qkv.shape[2] % (3 * numHeads) !== 0 || qkv.size === 0)
      throw new RangeError(
        `AttentionCache.${op}: qkv must be a non-empty float32 [B, T, 3 * numHeads * D], got ${qkv.dtype} ${fmtShape(qkv.shape)} with numHeads ${numHeads}`,
      );
    const [B, Tnew, threeE] = qkv.shape;
    const E = threeE / 3;
    const at = this.reserve(op, B, Tnew, numHeads, E / numHeads, qkv);
    copyPositions(qkv, E, Tnew * threeE, threeE, this.cachedKey as Tensor, at, Tnew);
    copyPositions(qkv, 2 * E, Tnew * threeE, threeE, this.cachedValue as Tensor, at, Tnew);
    return { key: this.cachedKey as Tensor, value: this.cachedValue as Tensor, length: this.cachedLength };
  }

  /** Makes room for Tnew more positions of [B, ., H, D] after the cached ones and counts them; returns where
   * they go. An 'append' cache grows its capacity by doubling, so a step writes only its new positions. */
  private reserve(op: string, B: number, Tnew: number, H: number, D: number, like: Tensor): number {
    if (this.mode !== 'append') throw new Error(`AttentionCache.${op}: this cache is 'static' (use set())`);
    const past = this.cachedKey;
    if (past !== null && (past.shape[0] !== B || past.shape[2] !== H || past.shape[3] !== D))
      throw new RangeError(
        `AttentionCache.${op}: new keys [${B}, ${Tnew}, ${H}, ${D}] do not continue the cached ${fmtShape(past.shape)} (same B, H and D expected)`,
      );
    const at = this.cachedLength;
    if (past === null || at + Tnew > past.shape[1])
      this.grow(Math.max(at + Tnew, 2 * (past?.shape[1] ?? 0), 16), [B, H, D], like);
    this.cachedLength = at + Tnew;
    return at;
  }

  /** Stores keys and values computed once (cross-attention on the memory). */
  set(key: Tensor, value: Tensor): void {
    this.checkPair('set', key, value);
    this.store(keep(key.detach()), keep(value.detach()), key.shape[1]);
  }

  private checkPair(op: string, key: Tensor, value: Tensor): void {
    if (!(key instanceof Tensor) || !(value instanceof Tensor))
      throw new TypeError(`AttentionCache.${op}: key and value must be Tensors`);
    if (key.ndim !== 4 || value.ndim !== 4 || key.shape.some((d, i) => d !== value.shape[i]))
      throw new RangeError(
        `AttentionCache.${op}: key and value must both be [B, T, H, D], got ${fmtShape(key.shape)} and ${fmtShape(value.shape)}`,
      );
  }

  /** Moves the valid positions into [B, capacity, H, D] buffers on the device of `like`. */
  private grow(capacity: number, [B, H, D]: number[], like: Tensor): void {
    const resize = (old: Tensor | null): Tensor => {
      const buffer = keep(Tensor.empty([B, capacity, H, D], 'float32', like.device));
      if (old !== null && this.cachedLength > 0)
        copyPositions(old, 0, old.shape[1] * H * D, H * D, buffer, 0, this.cachedLength);
      return buffer;
    };
    this.store(resize(this.cachedKey), resize(this.cachedValue), this.cachedLength);
  }

  private store(key: Tensor, value: Tensor, length: number): void {
    this.clear();
    this.cachedKey = key;
    this.cachedValue = value;
    this.cachedLength = length;
  }

  /** Keeps batch row indices[i] as new row i (int32 [B'], repeats allowed): beam search reorders and widens the
   * cache this way. */
  reorder(indices: Tensor): void {
    checkIndices('AttentionCache.reorder', indices);
    const key = this.cachedKey;
    const value = this.cachedValue;
    if (key === null || value === null) return;
    const pick = (t: Tensor) => {
      const [B, T, H, D] = t.shape;
      // A row gather: each batch row of the cache is one "embedding" of T*H*D values.
      return keep(embedding(indices, t.reshape(B, T * H * D)).reshape(indices.shape[0], T, H, D));
    };
    noGrad(() => tidy(() => this.store(pick(key), pick(value), this.cachedLength)));
  }

  /** Forgets the cached positions (frees their memory). */
  clear(): void {
    this.cachedKey?.dispose();
    this.cachedValue?.dispose();
    this.cachedKey = null;
    this.cachedValue = null;
    this.cachedLength = 0;
  }

  dispose(): void {
    this.clear();
  }
}

/** Copies `count` positions of dst's E = H * D values from src, where position t of batch row b starts at
 * offset + b * batchStride + t * positionStride, to positions at .. at + count - 1 of dst [B, Td, H, D]. */
function copyPositions(
  src: Tensor,
  offset: number,
  batchStride: number,
  positionStride: number,
  dst: Tensor,
  at: number,
  count: number,
): void {
  const [B, Td, H, D] = dst.shape;
  const E = H * D;
  copyStridedKernel(kernels(src.device), {
    src: src.storage,
    srcOffset: offset,
    srcStrides: [batchStride, positionStride, 1],
    dst: dst.storage,
    dstOffset: at * E,
    dstStrides: [Td * E, E, 1],
    shape: [B, count, E],
  });
}

function checkIndices(op: string, indices: Tensor): void {
  if (!(indices instanceof Tensor)) throw new TypeError(`${op}: indices must be a Tensor`);
  if (indices.dtype !== 'int32' || indices.ndim !== 1 || indices.size === 0)
    throw new TypeError(
      `${op}: indices must be a non-empty 1-D int32 tensor, got ${indices.dtype} ${fmtShape(indices.shape)}`,
    );
}

/** The caches of one layer: `self` for its self-attention, `cross` for its attention over the memory. */
export class LayerKVCache {
  readonly self = new AttentionCache('append');
  readonly cross = new AttentionCache('static');

  reorder(indices: Tensor): void {
    this.self.reorder(indices);
    this.cross.reorder(indices);
  }

  dispose(): void {
    this.self.dispose();
    this.cross.dispose();
  }
}

/** The caches of a stack of layers, created on first use. Free them with dispose(). */
export class KVCache {
  private readonly layerCaches: LayerKVCache[] = [];

  /** The cache of layer i. */
  layer(i: number): LayerKVCache {
    assertPositiveInt('KVCache.layer', 'index', i, { allowZero: true });
    while (this.layerCaches.length <= i) this.layerCaches.push(new LayerKVCache());
    return this.layerCaches[i];
  }

  get numLayers(): number {
    return this.layerCaches.length;
  }

  /** Positions decoded so far (the self-attention length of the first layer): the offset of the next step. */
  get length(): number {
    return this.layerCaches.length === 0 ? 0 : this.layerCaches[0].self.length;
  }

  /** Reorders every layer's batch rows (see AttentionCache.reorder). */
  reorder(indices: Tensor): void {
    checkIndices('KVCache.reorder', indices);
    for (const c of this.layerCaches) c.reorder(indices);
  }

  dispose(): void {
    for (const c of this.layerCaches) c.dispose();
    this.layerCaches.length = 0;
  }
}

/** The self-attention caches of the rows of a batch, one AttentionCache (of batch 1) per row, each at its own
 * length: continuous batching decodes sequences of different lengths in one step, each attending over its own
 * cache, while the projections and feed-forward layers run batched. */
export class AttentionCacheRows {
  constructor(readonly rows: readonly AttentionCache[]) {
    if (
      !Array.isArray(rows) ||
      rows.length === 0 ||
      rows.some((r) => !(r instanceof AttentionCache) || r.mode !== 'append')
    )
      throw new TypeError('AttentionCacheRows: rows must be a non-empty array of append AttentionCaches');
  }
}

/** A batch whose row b decodes with its own KVCache rows[b] (its own length and positions): layer i of the
 * stack gets AttentionCacheRows over the rows' layer-i self caches. The rows stay owned by the caller. */
export class KVCacheRows {
  constructor(readonly rows: readonly KVCache[]) {
    if (!Array.isArray(rows) || rows.length === 0 || rows.some((r) => !(r instanceof KVCache)))
      throw new TypeError('KVCacheRows: rows must be a non-empty array of KVCaches');
  }

  /** The self-attention caches of layer i, one per row. */
  layer(i: number): { self: AttentionCacheRows } {
    return { self: new AttentionCacheRows(this.rows.map((r) => r.layer(i).self)) };
  }

  /** Each row's decoded length: the position of its next token. */
  get lengths(): number[] {
    return this.rows.map((r) => r.length);
  }
}
