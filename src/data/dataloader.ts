// DataLoader: batches examples (by count or by a token budget), shuffles reproducibly per epoch, buckets by
// length to cut padding, and collates into padded int32 tensors. Its (epoch, position) state can be saved and
// restored to resume training mid-epoch.
//
// Every batch's tensors are new: the caller owns them and frees them with disposeBatch(batch) (or by pulling
// batches inside a tidy scope). Batches are built lazily, one per iteration step.
import type { Device } from '../backend';
import { assertPositiveInt } from '../checks';
import { Tensor, tensor } from '../tensor';
import { BOS_ID, EOS_ID, PAD_ID } from './tokenizers/base';

export interface BatchingOptions {
  /** Examples per batch. At least one of batchSize and maxTokens is required; with both, both limits hold. */
  batchSize?: number;
  /** Token budget per batch, counted with padding: examples x the longest example's length. */
  maxTokens?: number;
  /** Shuffle every epoch with a permutation derived from seed and the epoch number (default false). */
  shuffle?: boolean;
  /** Seed of the shuffles (default 0). */
  seed?: number;
  /** Sort examples by length within chunks of bucketSize (after shuffling), so batches hold similar lengths;
   * the batch order is then shuffled when shuffle is on (default false). */
  bucketByLength?: boolean;
  /** Examples per sorting chunk (default: about 100 batches' worth). */
  bucketSize?: number;
  /** Drop the last batch of an epoch if it has fewer than batchSize examples (needs batchSize; default false). */
  dropLast?: boolean;
  /** This process's part of each epoch in data-parallel training (the Trainer sets it in a dist job). */
  shard?: Shard;
}

/** PyTorch's DistributedSampler semantics: each epoch's (seeded) order is split into worldSize disjoint parts, rank r
 * taking the examples at positions r, r + worldSize, r + 2 * worldSize...; when the count does not divide, the order
 * is padded with its first examples (default) or its tail is dropped (dropLast), so every rank gets the same number
 * of examples. With maxTokens, every rank stops at the fewest batches any rank has, so the ranks stay in step. */
export interface Shard {
  rank: number;
  worldSize: number;
  dropLast?: boolean;
}

export interface DataLoaderOptions<E, B> extends BatchingOptions {
  /** Builds a batch from its examples (and their indices in the dataset). */
  collate: (examples: E[], indices: number[]) => B;
  /** The length of an example for maxTokens and bucketing (required when either is used). */
  lengthOf?: (example: E) => number;
}

/** Where iteration stands: the epoch, and how many of its batches were already handed out. */
export interface LoaderState {
  epoch: number;
  position: number;
  /** The ranks that shared each epoch when the state was saved (absent: 1). Restoring with another world size moves
   * the position to the same share of the epoch. */
  worldSize?: number;
}

function checkShard(owner: string, shard: Shard): Required<Shard> {
  if (shard === null || typeof shard !== 'object') throw new TypeError(`${owner}: shard must be { rank, worldSize }`);
  assertPositiveInt(owner, 'shard.worldSize', shard.worldSize);
  assertPositiveInt(owner, 'shard.rank', shard.rank, { allowZero: true });
  if (shard.rank >= shard.worldSize)
    throw new RangeError(`${owner}: shard.rank ${shard.rank} is not below shard.worldSize ${shard.worldSize}`);
  return { rank: shard.rank, worldSize: shard.worldSize, dropLast: shard.dropLast ?? false };
}

/** Rank `shard.rank`'s part of an epoch's order (see Shard). */
function shardOrder(order: number[], shard: Required<Shard>): number[] {
  const { rank, worldSize } = shard;
  const perRank = shard.dropLast ? Math.floor(order.length / worldSize) : Math.ceil(order.length / worldSize);
  const mine: number[] = [];
  for (let i = 0; i < perRank; i++) mine.push(order[(rank + i * worldSize) % order.length]);
  return order.length === 0 ? [] : mine;
}

export class DataLoader<E, B> implements Iterable<B> {
  readonly examples: readonly E[];
  readonly batchSize: number | null;
  readonly maxTokens: number | null;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly bucketByLength: boolean;
  readonly bucketSize: number;
  readonly dropLast: boolean;
  private readonly collate: (examples: E[], indices: number[]) => B;
  private readonly lengths: Int32Array | null;
  private currentEpoch = 0;
  private position = 0;
  private cachedPlan: { epoch: number; batches: number[][] } | null = null;
  private shardOf: Required<Shard> | null = null;

  constructor(examples: readonly E[], options: DataLoaderOptions<E, B>) {
    const owner = 'DataLoader';
    if (!Array.isArray(examples)) throw new TypeError(`${owner}: examples must be an array, got ${typeof examples}`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options are required`);
    if (typeof options.collate !== 'function') throw new TypeError(`${owner}: options.collate must be a function`);
    const { batchSize, maxTokens } = options;
    if (batchSize === undefined && maxTokens === undefined)
      throw new RangeError(`${owner}: give batchSize or maxTokens`);
    if (batchSize !== undefined) assertPositiveInt(owner, 'batchSize', batchSize);
    if (maxTokens !== undefined) assertPositiveInt(owner, 'maxTokens', maxTokens);
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new RangeError(`${owner}: seed must be an integer, got ${seed}`);
    if (options.dropLast && batchSize === undefined) throw new RangeError(`${owner}: dropLast needs batchSize`);
    this.examples = examples;
    this.batchSize = batchSize ?? null;
    this.maxTokens = maxTokens ?? null;
    this.shuffle = options.shuffle ?? false;
    this.seed = seed;
    if (options.shard !== undefined) this.shardOf = checkShard(owner, options.shard);
    this.bucketByLength = options.bucketByLength ?? false;
    this.dropLast = options.dropLast ?? false;
    this.collate = options.collate;

    if (this.maxTokens !== null || this.bucketByLength) {
      const lengthOf = options.lengthOf;
      if (typeof lengthOf !== 'function')
        throw new TypeError(`${owner}: maxTokens and bucketByLength need options.lengthOf`);
      this.lengths = new Int32Array(examples.length);
      for (let i = 0; i < examples.length; i++) {
        const length = lengthOf(examples[i]);
        if (!Number.isInteger(length) || length < 0)
          throw new RangeError(`${owner}: lengthOf(example ${i}) is ${length}, not a non-negative integer`);
        if (this.maxTokens !== null && length > this.maxTokens)
          throw new RangeError(`${owner}: example ${i} has ${length} tokens, more than maxTokens ${this.maxTokens}`);
        this.lengths[i] = length;
      }
    } else this.lengths = null;

    const typicalBatch =
      this.batchSize ?? Math.max(1, Math.floor((this.maxTokens as number) / Math.max(1, meanOf(this.lengths))));
    const bucketSize = options.bucketSize ?? 100 * typicalBatch;
    assertPositiveInt(owner, 'bucketSize', bucketSize);
    this.bucketSize = bucketSize;
  }

  /** Number of batches in the current epoch. */
  get length(): number {
    return this.batchesOf(this.currentEpoch).length;
  }

  /** The example indices of every batch of an epoch, in order (the same for the same seed and epoch). */
  plan(epoch: number): ReadonlyArray<readonly number[]> {
    assertPositiveInt('DataLoader.plan', 'epoch', epoch, { allowZero: true });
    return this.batchesOf(epoch);
  }

  /** This process's part of each epoch, or null when it iterates whole epochs. */
  get shard(): Readonly<Required<Shard>> | null {
    return this.shardOf;
  }

  /** Iterates only rank `shard.rank`'s part of each epoch from now on (null: whole epochs again). The position
   * within the current epoch is kept, as a state restored with another world size (see loadState). */
  setShard(shard: Shard | null): void {
    const next = shard === null ? null : checkShard('DataLoader.setShard', shard);
    const state = this.state();
    this.shardOf = next;
    this.cachedPlan = null;
    this.loadState(state);
  }

  /** plan() for an epoch already checked. */
  private batchesOf(epoch: number): ReadonlyArray<readonly number[]> {
    if (this.cachedPlan?.epoch === epoch) return this.cachedPlan.batches;
    const shard = this.shardOf;
    let batches = this.batchesFor(epoch, shard);
    // Token budgets make the ranks' batch counts differ: all stop at the smallest, so that they stay in step.
    if (shard !== null && this.maxTokens !== null) {
      let fewest = batches.length;
      for (let rank = 0; rank < shard.worldSize; rank++)
        if (rank !== shard.rank) fewest = Math.min(fewest, this.batchesFor(epoch, { ...shard, rank }).length);
      batches = batches.slice(0, fewest);
    }
    this.cachedPlan = { epoch, batches };
    return batches;
  }

  /** The batches of an epoch for one shard (or the whole epoch). */
  private batchesFor(epoch: number, shard: Required<Shard> | null): number[][] {
    const random = seededRandom(this.seed, epoch);
    let order = Array.from(this.examples, (_, i) => i);
    if (this.shuffle) shuffleInPlace(order, random);
    if (shard !== null) order = shardOrder(order, shard);
    const lengths = this.lengths;
    if (this.bucketByLength && lengths !== null) {
      for (let start = 0; start < order.length; start += this.bucketSize) {
        const chunk = order.slice(start, start + this.bucketSize).sort((a, b) => lengths[a] - lengths[b]);
        for (let i = 0; i < chunk.length; i++) order[start + i] = chunk[i];
      }
    }
    const batches: number[][] = [];
    let batch: number[] = [];
    let longest = 0;
    for (const index of order) {
      const length = lengths === null ? 0 : lengths[index];
      const full =
        batch.length > 0 &&
        ((this.batchSize !== null && batch.length >= this.batchSize) ||
          (this.maxTokens !== null && (batch.length + 1) * Math.max(longest, length) > this.maxTokens));
      if (full) {
        batches.push(batch);
        batch = [];
        longest = 0;
      }
      batch.push(index);
      longest = Math.max(longest, length);
    }
    if (batch.length > 0 && !(this.dropLast && batch.length < (this.batchSize as number))) batches.push(batch);
    if (this.bucketByLength && this.shuffle) shuffleInPlace(batches, random);
    return batches;
  }

  /** Iterates the rest of the current epoch (from the saved position), then moves to the next epoch. */
  *[Symbol.iterator](): Generator<B, void, undefined> {
    if (this.position >= this.batchesOf(this.currentEpoch).length)
      this.loadState({ epoch: this.currentEpoch + 1, position: 0 });
    const epoch = this.currentEpoch;
    const batches = this.batchesOf(epoch);
    while (this.currentEpoch === epoch && this.position < batches.length) {
      const indices = batches[this.position];
      const batch = this.collate(
        indices.map((i) => this.examples[i]),
        [...indices],
      );
      this.position++;
      yield batch;
    }
    if (this.currentEpoch === epoch && this.position >= batches.length)
      this.loadState({ epoch: epoch + 1, position: 0 });
  }

  /** Iterates epoch n from its start (and leaves the state at epoch n + 1 when done). */
  epoch(n: number): Generator<B, void, undefined> {
    this.loadState({ epoch: n, position: 0 });
    return this[Symbol.iterator]();
  }

  /** A copy of the state, to store with a checkpoint. */
  state(): LoaderState {
    const state: LoaderState = { epoch: this.currentEpoch, position: this.position };
    if (this.shardOf !== null) state.worldSize = this.shardOf.worldSize;
    return state;
  }

  /** Restores a state: iteration continues with batch `position` of `epoch`. */
  loadState(state: LoaderState): void {
    if (state === null || typeof state !== 'object')
      throw new TypeError('DataLoader.loadState: state must be { epoch, position }');
    const { epoch } = state;
    assertPositiveInt('DataLoader.loadState', 'epoch', epoch, { allowZero: true });
    const batches = this.batchesOf(epoch).length;
    let position = state.position;
    const savedWorld = state.worldSize ?? 1;
    assertPositiveInt('DataLoader.loadState', 'worldSize', savedWorld);
    const world = this.shardOf?.worldSize ?? 1;
    // Each rank had handed out `position` batches of its part: the same share of the epoch here. Exact when the
    // batches seen divide among the new ranks; otherwise rounded down, so a few examples come round again.
    if (savedWorld !== world && Number.isInteger(position))
      position = Math.min(batches, Math.floor((position * savedWorld) / world));
    if (!Number.isInteger(position) || position < 0 || position > batches)
      throw new RangeError(`DataLoader.loadState: position ${position} is outside [0, ${batches}] for epoch ${epoch}`);
    this.currentEpoch = epoch;
    this.position = position;
  }
}

// ---- sequence-to-sequence --------------------------------------------------------------------------------------

export interface Seq2SeqExample {
  src: ArrayLike<number>;
  tgt: ArrayLike<number>;
}

export interface Seq2SeqBatch {
  /** [B, S] int32 source ids, padded with padId. */
  src: Tensor;
  /** [B, T] int32 decoder inputs: bos + tgt, padded. */
  tgtIn: Tensor;
  /** [B, T] int32 decoder targets: tgt + eos, padded with padId (use it as crossEntropy's ignoreIndex). */
  tgtOut: Tensor;
  /** [B, S] bool, true at padding (PyTorch's key_padding_mask convention: true = not attended). */
  srcKeyPaddingMask: Tensor;
  /** [B, T] bool, true at padding. */
  tgtKeyPaddingMask: Tensor;
  /** Real (non-padding) tokens in tgtOut. */
  numTargetTokens: number;
  /** Dataset indices of the batch's rows. */
  indices: number[];
}

export interface SpecialIds {
  padId?: number;
  bosId?: number;
  eosId?: number;
}

export interface Seq2SeqLoaderOptions extends BatchingOptions, SpecialIds {
  device?: Device;
}

/** Length of an example as batched: the longer of the source and the decoder input (tgt + 1). */
export function seq2seqLength(example: Seq2SeqExample): number {
  return Math.max(example.src.length, example.tgt.length + 1);
}

export class Seq2SeqDataLoader extends DataLoader<Seq2SeqExample, Seq2SeqBatch> {
  constructor(examples: readonly Seq2SeqExample[], options: Seq2SeqLoaderOptions = {}) {
    if (!Array.isArray(examples))
      throw new TypeError(`Seq2SeqDataLoader: examples must be an array, got ${typeof examples}`);
    examples.forEach((e, i) => {
      if (e === null || typeof e !== 'object')
        throw new TypeError(`Seq2SeqDataLoader: example ${i} must be { src, tgt }`);
      checkIds(e.src, `Seq2SeqDataLoader: example ${i} src`);
      checkIds(e.tgt, `Seq2SeqDataLoader: example ${i} tgt`);
    });
    const ids = specialIds(options, 'Seq2SeqDataLoader');
    super(examples, {
      ...options,
      lengthOf: seq2seqLength,
      collate: (batch, indices) => collateSeq2Seq(batch, indices, ids, options.device ?? 'cpu'),
    });
  }
}

/** Pads a list of examples into a Seq2SeqBatch (the collate of Seq2SeqDataLoader). */
export function collateSeq2Seq(
  examples: readonly Seq2SeqExample[],
  indices: number[],
  ids: Required<SpecialIds>,
  device: Device = 'cpu',
): Seq2SeqBatch {
  const B = examples.length;
  let S = 0;
  let T = 0;
  for (const e of examples) {
    S = Math.max(S, e.src.length);
    T = Math.max(T, e.tgt.length + 1);
  }
  const src = new Int32Array(B * S).fill(ids.padId);
  const srcPad = new Int32Array(B * S).fill(1);
  const tgtIn = new Int32Array(B * T).fill(ids.padId);
  const tgtOut = new Int32Array(B * T).fill(ids.padId);
  const tgtPad = new Int32Array(B * T).fill(1);
  let numTargetTokens = 0;
  examples.forEach((e, b) => {
    for (let s = 0; s < e.src.length; s++) {
      src[b * S + s] = e.src[s];
      srcPad[b * S + s] = 0;
    }
    const row = b * T;
    tgtIn[row] = ids.bosId;
    for (let t = 0; t < e.tgt.length; t++) {
      tgtIn[row + t + 1] = e.tgt[t];
      tgtOut[row + t] = e.tgt[t];
    }
    tgtOut[row + e.tgt.length] = ids.eosId;
    tgtPad.fill(0, row, row + e.tgt.length + 1);
    numTargetTokens += e.tgt.length + 1;
  });
  return {
    src: tensor(src, { shape: [B, S], device }),
    tgtIn: tensor(tgtIn, { shape: [B, T], device }),
    tgtOut: tensor(tgtOut, { shape: [B, T], device }),
    srcKeyPaddingMask: tensor(srcPad, { shape: [B, S], dtype: 'bool', device }),
    tgtKeyPaddingMask: tensor(tgtPad, { shape: [B, T], dtype: 'bool', device }),
    numTargetTokens,
    indices,
  };
}

// ---- language modelling ------------------------------------------------------------------------------------------

export interface WindowOptions {
  /** Tokens per input row (T); each window holds blockSize + 1 tokens, the targets being the inputs shifted. */
  blockSize: number;
  /** Tokens between window starts (default blockSize: every token is a target exactly once). */
  stride?: number;
}

/** Cuts token streams into windows of up to blockSize + 1 tokens, starting every `stride` tokens; each stream's
 * last window may be shorter (it is padded when batched). Streams never share a window. */
export function languageModelWindows(
  streams: ArrayLike<number> | ReadonlyArray<ArrayLike<number>>,
  options: WindowOptions,
): Int32Array[] {
  const owner = 'languageModelWindows';
  const { blockSize } = options;
  const stride = options.stride ?? blockSize;
  assertPositiveInt(owner, 'blockSize', blockSize);
  if (!Number.isInteger(stride) || stride < 1 || stride > blockSize)
    throw new RangeError(`${owner}: stride must be an integer in [1, blockSize ${blockSize}], got ${stride}`);
  const list = isStreamList(streams) ? streams : [streams as ArrayLike<number>];
  const windows: Int32Array[] = [];
  list.forEach((stream, s) => {
    const tokens = Int32Array.from(checkIds(stream, `${owner}: stream ${s}`));
    for (let start = 0; start + 1 < tokens.length; start += stride) {
      const end = Math.min(start + blockSize + 1, tokens.length);
      windows.push(tokens.slice(start, end));
      if (end === tokens.length) break;
    }
  });
  return windows;
}

export interface LanguageModelBatch {
  /** [B, T] int32 inputs, padded with padId. */
  input: Tensor;
  /** [B, T] int32 next tokens, padded with ignoreIndex. */
  target: Tensor;
  /** Real tokens in target. */
  numTargetTokens: number;
  /** Window indices of the batch's rows. */
  indices: number[];
}

export interface LanguageModelLoaderOptions extends BatchingOptions, WindowOptions {
  padId?: number;
  /** Target value at padding, skipped by crossEntropy (default -100, its default ignoreIndex). */
  ignoreIndex?: number;
  device?: Device;
}

/** Batches of (input, next-token target) rows from token streams cut by languageModelWindows. */
export class LanguageModelDataLoader extends DataLoader<Int32Array, LanguageModelBatch> {
  constructor(streams: ArrayLike<number> | ReadonlyArray<ArrayLike<number>>, options: LanguageModelLoaderOptions) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('LanguageModelDataLoader: options with blockSize are required');
    const padId = options.padId ?? PAD_ID;
    const ignoreIndex = options.ignoreIndex ?? -100;
    if (!Number.isInteger(padId))
      throw new RangeError(`LanguageModelDataLoader: padId must be an integer, got ${padId}`);
    if (!Number.isInteger(ignoreIndex))
      throw new RangeError(`LanguageModelDataLoader: ignoreIndex must be an integer, got ${ignoreIndex}`);
    const device = options.device ?? 'cpu';
    super(languageModelWindows(streams, options), {
      ...options,
      lengthOf: (w) => w.length - 1,
      collate: (windows, indices) => collateLanguageModel(windows, indices, padId, ignoreIndex, device),
    });
  }
}

function collateLanguageModel(
  windows: Int32Array[],
  indices: number[],
  padId: number,
  ignoreIndex: number,
  device: Device,
): LanguageModelBatch {
  const B = windows.length;
  let T = 0;
  for (const w of windows) T = Math.max(T, w.length - 1);
  const input = new Int32Array(B * T).fill(padId);
  const target = new Int32Array(B * T).fill(ignoreIndex);
  let numTargetTokens = 0;
  windows.forEach((w, b) => {
    input.set(w.subarray(0, w.length - 1), b * T);
    target.set(w.subarray(1), b * T);
    numTargetTokens += w.length - 1;
  });
  return {
    input: tensor(input, { shape: [B, T], device }),
    target: tensor(target, { shape: [B, T], device }),
    numTargetTokens,
    indices,
  };
}

// ---- helpers -------------------------------------------------------------------------------------------------------

/** Disposes every tensor of a batch (its top-level values). */
export function disposeBatch(batch: object): void {
  for (const value of Object.values(batch)) if (value instanceof Tensor) value.dispose();
}

/** Share of padding cells in batches of the given example lengths (padded to each batch's longest). */
export function paddingFraction(
  batches: ReadonlyArray<readonly number[]>,
  lengthOf: (index: number) => number,
): number {
  let cells = 0;
  let real = 0;
  for (const batch of batches) {
    let longest = 0;
    for (const i of batch) {
      const n = lengthOf(i);
      longest = Math.max(longest, n);
      real += n;
    }
    cells += longest * batch.length;
  }
  return cells === 0 ? 0 : 1 - real / cells;
}

function specialIds(options: SpecialIds, owner: string): Required<SpecialIds> {
  const ids = { padId: options.padId ?? PAD_ID, bosId: options.bosId ?? BOS_ID, eosId: options.eosId ?? EOS_ID };
  for (const [name, value] of Object.entries(ids)) assertPositiveInt(owner, name, value, { allowZero: true });
  return ids;
}

function checkIds(ids: ArrayLike<number>, what: string): ArrayLike<number> {
  if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
    throw new TypeError(`${what} must be an array of token ids`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff)
      throw new RangeError(`${what}[${i}] is ${id}, not a token id (a non-negative int32)`);
  }
  return ids;
}

function isStreamList(
  streams: ArrayLike<number> | ReadonlyArray<ArrayLike<number>>,
): streams is ReadonlyArray<ArrayLike<number>> {
  return Array.isArray(streams) && streams.length > 0 && typeof streams[0] !== 'number';
}

function meanOf(values: Int32Array | null): number {
  if (values === null || values.length === 0) return 1;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** A seeded generator of floats in [0, 1) (mulberry32), its state mixed from seed and epoch so that each epoch
 * gets an unrelated permutation. */
function seededRandom(seed: number, epoch: number): () => number {
  const mix = (h: number) => {
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  let state = mix(mix(mix(seed >>> 0) ^ Math.floor(seed / 2 ** 32)) ^ Math.imul(epoch + 1, 0x9e3779b9));
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}
