// ByteLevelBPETokenizer: byte-pair encoding over UTF-8 bytes, so every string round-trips exactly.
// Text is first split GPT-2 style into words carrying their leading space; merges never cross those pieces.
import { assertPositiveInt } from '../../checks';
import {
  checkCorpus,
  checkSpecialTokens,
  checkTokenizerJSON,
  DecodeOptions,
  EncodeOptions,
  readTokenizerJSON,
  SPECIAL_TOKENS,
  Tokenizer,
  TokenizerJSON,
} from './base';
import { byteLevelBPEToHuggingFace, writeHuggingFaceJSON } from './hf/export';

// Contractions, letter runs, digit runs and other-symbol runs (each with an optional leading space), then
// whitespace; `\s+(?!\S)` leaves the last space of a run to start the next word. Covers every character.
// This is GPT-2's split, with whitespace as Unicode's White_Space property (as Hugging Face's tokenizers read
// \s; JavaScript's \s differs on U+0085 and U+FEFF), so saved tokenizers encode the same there.
export const PRETOKENIZE_PATTERN =
  /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;
const FIRST_BYTE_ID = SPECIAL_TOKENS.length;
// Pair keys pack two ids into one number; ids stay below 2^20, keys below 2^40 (exact in a double).
const PAIR_SHIFT = 2 ** 20;
const MAX_VOCAB_SIZE = PAIR_SHIFT;
const ENCODE_CACHE_LIMIT = 50_000;

/** Each byte as a printable character (the GPT-2 convention), so tokens are readable strings with no spaces:
 * printable Latin-1 bytes stand for themselves, the others map to code points from 256 up. */
export const BYTE_TO_CHAR: string[] = (() => {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : next++);
  }
  return chars;
})();
export const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF

/** Splits text into the pieces BPE works within; their concatenation is the text. */
export function pretokenize(text: string): string[] {
  return text.match(PRETOKENIZE_PATTERN) ?? [];
}

export interface BPETrainOptions {
  /** Final vocabulary size: 4 special tokens + 256 bytes + the merged tokens. */
  vocabSize: number;
  /** Stop merging once the most frequent pair occurs fewer times than this (default 2). */
  minFrequency?: number;
}

interface Merge {
  rank: number;
  id: number;
}

export class ByteLevelBPETokenizer extends Tokenizer {
  /** The merges in rank order, as pairs of token strings. */
  readonly merges: ReadonlyArray<readonly [string, string]>;
  private readonly mergeOf: Map<number, Merge>;
  private readonly bytesOf: Uint8Array[];
  private readonly cache = new Map<string, number[]>();

  /** merges: token-string pairs in rank order (as produced by train); none gives a plain byte tokenizer. */
  constructor(merges: Iterable<readonly [string, string]> = []) {
    const owner = 'ByteLevelBPETokenizer';
    const tokens = [...BYTE_TO_CHAR];
    const idOf = new Map(tokens.map((t, i) => [t, FIRST_BYTE_ID + i]));
    const mergeOf = new Map<number, Merge>();
    const mergeList: Array<readonly [string, string]> = [];
    for (const pair of merges) {
      if (!Array.isArray(pair) || pair.length !== 2)
        throw new TypeError(
          `${owner}: merge ${mergeList.length} must be a pair of token strings, got ${JSON.stringify(pair)}`,
        );
      const [left, right] = pair;
      const a = idOf.get(left);
      const b = idOf.get(right);
      if (a === undefined || b === undefined)
        throw new RangeError(
          `${owner}: merge ${mergeList.length} (${JSON.stringify(left)}, ${JSON.stringify(right)}) uses a token no earlier merge made`,
        );
      const key = a * PAIR_SHIFT + b;
      if (mergeOf.has(key))
        throw new RangeError(`${owner}: merge (${JSON.stringify(left)}, ${JSON.stringify(right)}) appears twice`);
      // Two different merges can spell the same token ("ab"+"c", "a"+"bc"); they share its id.
      const merged = left + right;
      let id = idOf.get(merged);
      if (id === undefined) {
        id = FIRST_BYTE_ID + tokens.length;
        if (id >= MAX_VOCAB_SIZE) throw new RangeError(`${owner}: more than ${MAX_VOCAB_SIZE} tokens`);
        tokens.push(merged);
        idOf.set(merged, id);
      }
      mergeOf.set(key, { rank: mergeList.length, id });
      mergeList.push([left, right]);
    }
    super(tokens, owner);
    this.merges = mergeList;
    this.mergeOf = mergeOf;
    this.bytesOf = this.vocab.map((token, id) =>
      this.isSpecialId(id) ? utf8Encoder.encode(token) : Uint8Array.from(token, (c) => CHAR_TO_BYTE.get(c) as number),
    );
  }

  /** Learns merges from a corpus: repeatedly merges the most frequent adjacent pair (ties: the pair of lower
   * ids), updating pair counts only in the words that contain the merged pair. */
  static train(corpus: Iterable<string>, options: BPETrainOptions): ByteLevelBPETokenizer {
    const owner = 'ByteLevelBPETokenizer.train';
    checkCorpus(corpus, owner);
    const { vocabSize } = options;
    const minFrequency = options.minFrequency ?? 2;
    const baseSize = FIRST_BYTE_ID + 256;
    if (!Number.isInteger(vocabSize) || vocabSize < baseSize || vocabSize > MAX_VOCAB_SIZE)
      throw new RangeError(
        `${owner}: vocabSize must be an integer in [${baseSize}, ${MAX_VOCAB_SIZE}], got ${vocabSize}`,
      );
    assertPositiveInt(owner, 'minFrequency', minFrequency);

    const wordCounts = new Map<string, number>();
    for (const text of corpus) {
      if (typeof text !== 'string') throw new TypeError(`${owner}: corpus items must be strings, got ${typeof text}`);
      for (const piece of pretokenize(text)) wordCounts.set(piece, (wordCounts.get(piece) ?? 0) + 1);
    }
    const words: number[][] = [];
    const freqs: number[] = [];
    for (const [piece, n] of wordCounts) {
      words.push(Array.from(utf8Encoder.encode(piece), (b) => FIRST_BYTE_ID + b));
      freqs.push(n);
    }

    const pairCounts = new Map<number, number>();
    const pairWords = new Map<number, Set<number>>();
    words.forEach((symbols, w) => {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i] * PAIR_SHIFT + symbols[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + freqs[w]);
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
    });
    const heap = new PairHeap();
    for (const [key, count] of pairCounts) heap.push(count, key);

    const tokens = [...BYTE_TO_CHAR];
    const idOf = new Map(tokens.map((t, i) => [t, FIRST_BYTE_ID + i]));
    const merges: Array<[string, string]> = [];
    while (FIRST_BYTE_ID + tokens.length < vocabSize) {
      const best = heap.popValid(pairCounts);
      if (best === null || best.count < minFrequency) break;
      const a = Math.floor(best.key / PAIR_SHIFT);
      const b = best.key % PAIR_SHIFT;
      const left = tokens[a - FIRST_BYTE_ID];
      const right = tokens[b - FIRST_BYTE_ID];
      let id = idOf.get(left + right);
      if (id === undefined) {
        id = FIRST_BYTE_ID + tokens.length;
        tokens.push(left + right);
        idOf.set(left + right, id);
      }
      merges.push([left, right]);

      const delta = new Map<number, number>();
      const change = (key: number, by: number, w: number) => {
        delta.set(key, (delta.get(key) ?? 0) + by);
        if (by > 0) {
          let set = pairWords.get(key);
          if (!set) pairWords.set(key, (set = new Set()));
          set.add(w);
        }
      };
      for (const w of pairWords.get(best.key) ?? []) {
        const symbols = words[w];
        const merged = mergePair(symbols, a, b, id);
        if (merged === null) continue; // a stale entry: an earlier merge removed the pair from this word
        const f = freqs[w];
        for (let i = 0; i + 1 < symbols.length; i++) change(symbols[i] * PAIR_SHIFT + symbols[i + 1], -f, w);
        for (let i = 0; i + 1 < merged.length; i++) change(merged[i] * PAIR_SHIFT + merged[i + 1], f, w);
        words[w] = merged;
      }
      pairWords.delete(best.key);
      for (const [key, by] of delta) {
        if (by === 0) continue;
        const count = (pairCounts.get(key) ?? 0) + by;
        if (count > 0) {
          pairCounts.set(key, count);
          heap.push(count, key);
        } else {
          pairCounts.delete(key);
          pairWords.delete(key);
        }
      }
    }
    return new ByteLevelBPETokenizer(merges);
  }

  encode(text: string, options?: EncodeOptions): number[] {
    this.checkText('ByteLevelBPETokenizer.encode', text);
    const ids: number[] = [];
    for (const piece of pretokenize(text)) {
      let pieceIds = this.cache.get(piece);
      if (pieceIds === undefined) {
        pieceIds = this.encodePiece(piece);
        if (this.cache.size >= ENCODE_CACHE_LIMIT) this.cache.clear();
        this.cache.set(piece, pieceIds);
      }
      for (const id of pieceIds) ids.push(id);
    }
    return this.wrap(ids, options);
  }

  /** Applies the merges to one piece, always the lowest-ranked pair present first (the leftmost on a tie).
   * Symbols form a linked list and candidate pairs a heap, so long pieces cost O(n log n), not O(n^2). */
  private encodePiece(piece: string): number[] {
    const symbols = Int32Array.from(utf8Encoder.encode(piece), (b) => FIRST_BYTE_ID + b);
    return applyMerges(symbols, (a, b) => this.mergeOf.get(a * PAIR_SHIFT + b));
  }

  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    const tokens = this.tokensOf('ByteLevelBPETokenizer.decode', ids, options);
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === null) continue;
      const bytes = this.bytesOf[ids[i]];
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) {
      all.set(p, offset);
      offset += p.length;
    }
    return utf8Decoder.decode(all);
  }

  toJSON(): TokenizerJSON {
    return {
      type: 'ByteLevelBPETokenizer',
      version: 1,
      specialTokens: [...SPECIAL_TOKENS],
      merges: this.merges.map(([l, r]) => [l, r]),
    };
  }

  /** This tokenizer as Hugging Face's tokenizer.json document (HF's library encodes and decodes with it exactly
   * as this class does, except that it also matches the special tokens' names, e.g. "<pad>", in text). */
  toHuggingFaceJSON(): Record<string, unknown> {
    return byteLevelBPEToHuggingFace(this);
  }

  /** Writes toHuggingFaceJSON() to path (a file, or a folder to hold tokenizer.json) atomically. */
  saveHuggingFace(path: string): void {
    writeHuggingFaceJSON(path, this.toHuggingFaceJSON());
  }

  static fromJSON(json: unknown): ByteLevelBPETokenizer {
    const owner = 'ByteLevelBPETokenizer.fromJSON';
    const data = checkTokenizerJSON(json, 'ByteLevelBPETokenizer', owner);
    checkSpecialTokens(data, owner);
    const merges = data.merges;
    if (
      !Array.isArray(merges) ||
      merges.some((m) => !Array.isArray(m) || m.length !== 2 || m.some((t: unknown) => typeof t !== 'string'))
    )
      throw new TypeError(`${owner}: field "merges" must be an array of [string, string] pairs`);
    return new ByteLevelBPETokenizer(merges as Array<[string, string]>);
  }

  static load(path: string): ByteLevelBPETokenizer {
    return ByteLevelBPETokenizer.fromJSON(
      readTokenizerJSON(path, 'ByteLevelBPETokenizer', 'ByteLevelBPETokenizer.load'),
    );
  }
}

/** Applies merges to a sequence of symbol ids, always the lowest-ranked pair present first (the leftmost on a
 * tie); mergeOf(a, b) gives the rank and result of merging a with b. Symbols form a linked list and candidate
 * pairs a heap, so long pieces cost O(n log n), not O(n^2). Overwrites symbols. heads, when given, receives the
 * index of each result's first symbol. */
export function applyMerges(
  symbols: Int32Array,
  mergeOf: (a: number, b: number) => { rank: number; id: number } | undefined,
  heads?: number[],
): number[] {
  const n = symbols.length;
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const alive = new Uint8Array(n).fill(1);
  const candidates = new MinHeap();
  const consider = (i: number) => {
    if (i < 0 || next[i] < 0) return;
    const merge = mergeOf(symbols[i], symbols[next[i]]);
    if (merge !== undefined) candidates.push(merge.rank, i);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (candidates.size > 0) {
    const [rank, i] = candidates.pop();
    const j = next[i];
    if (!alive[i] || j < 0) continue;
    const merge = mergeOf(symbols[i], symbols[j]);
    if (merge === undefined || merge.rank !== rank) continue; // stale: a neighbour changed since the push
    symbols[i] = merge.id;
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    consider(prev[i]);
    consider(i);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
    out.push(symbols[i]);
    heads?.push(i);
  }
  return out;
}

/** symbols with every non-overlapping (a, b), left to right, replaced by id; null when there is none. */
function mergePair(symbols: number[], a: number, b: number, id: number): number[] | null {
  let out: number[] | null = null;
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      if (out === null) out = symbols.slice(0, i);
      out.push(id);
      i++;
    } else if (out !== null) out.push(symbols[i]);
  }
  return out;
}

/** A min-heap of (rank, position) pairs: the lowest rank first, then the leftmost position. */
class MinHeap {
  private ranks: number[] = [];
  private positions: number[] = [];

  get size(): number {
    return this.ranks.length;
  }

  push(rank: number, position: number): void {
    this.ranks.push(rank);
    this.positions.push(position);
    let i = this.ranks.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.ranks[0], this.positions[0]];
    const last = this.ranks.length - 1;
    this.swap(0, last);
    this.ranks.pop();
    this.positions.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let first = i;
      if (l < this.ranks.length && this.before(l, first)) first = l;
      if (r < this.ranks.length && this.before(r, first)) first = r;
      if (first === i) return top;
      this.swap(i, first);
      i = first;
    }
  }

  private before(i: number, j: number): boolean {
    return this.ranks[i] < this.ranks[j] || (this.ranks[i] === this.ranks[j] && this.positions[i] < this.positions[j]);
  }

  private swap(i: number, j: number): void {
    [this.ranks[i], this.ranks[j]] = [this.ranks[j], this.ranks[i]];
    [this.positions[i], this.positions[j]] = [this.positions[j], this.positions[i]];
  }
}

/** A max-heap of (count, pair key) with lazy deletion: an entry is valid while its count is the pair's current
 * count. Equal counts prefer the smaller key, i.e. the pair of lower ids, so training is deterministic. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  popValid(current: Map<number, number>): { count: number; key: number } | null {
    while (this.counts.length > 0) {
      const count = this.counts[0];
      const key = this.keys[0];
      this.removeTop();
      if (current.get(key) === count) return { count, key };
    }
    return null;
  }

  private removeTop(): void {
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < this.counts.length && this.before(l, top)) top = l;
      if (r < this.counts.length && this.before(r, top)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }

  private before(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }
}
