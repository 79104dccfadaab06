// HF's Unigram model (SentencePiece's): each word is split into the vocabulary pieces whose scores (log
// probabilities) sum highest, found by Viterbi over the word's characters. A character no piece covers is the
// unk token (runs of them fused into one), or its UTF-8 bytes as <0xNN> tokens with byte_fallback.
import { byteToken, Model } from './bpe-model';
import { arrayAt, booleanAt, JSONObject, TokenizerFileError } from './schema';

// HF scores an unknown character this far below the lowest piece score.
const UNK_PENALTY = 10;
const CACHE_LIMIT = 50_000;
const utf8Encoder = new TextEncoder();

/** A trie over code units: the pieces starting at a position are found in one walk. */
interface TrieNode {
  id: number; // -1 when no piece ends here
  children: Map<number, TrieNode>;
}

export class UnigramModel implements Model {
  readonly vocab = new Map<string, number>();
  readonly unkToken: string | null;
  private readonly unkId: number | null;
  private readonly scores: Float64Array;
  private readonly minScore: number;
  private readonly byteFallback: boolean;
  private readonly root: TrieNode = { id: -1, children: new Map() };
  private readonly cache = new Map<string, Array<[number, number]>>();

  constructor(json: JSONObject) {
    const field = 'model';
    const pieces = arrayAt(json, 'vocab', field);
    this.scores = new Float64Array(pieces.length);
    let minScore = Infinity;
    pieces.forEach((entry, id) => {
      const f = `${field}.vocab[${id}]`;
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number')
        throw new TokenizerFileError(`field "${f}" must be a pair [piece, score]`);
      const [piece, score] = entry as [string, number];
      if (piece.length === 0) throw new TokenizerFileError(`field "${f}": the piece must not be empty`);
      if (this.vocab.has(piece))
        throw new TokenizerFileError(`field "${f}": the piece ${JSON.stringify(piece)} appears twice`);
      this.vocab.set(piece, id);
      this.scores[id] = score;
      minScore = Math.min(minScore, score);
      this.insert(piece, id);
    });
    this.minScore = minScore;
    const unk = json.unk_id;
    if (
      unk !== undefined &&
      unk !== null &&
      !(Number.isInteger(unk) && (unk as number) >= 0 && (unk as number) < pieces.length)
    )
      throw new TokenizerFileError(`field "model.unk_id" must be the index of a piece, got ${JSON.stringify(unk)}`);
    this.unkId = unk === undefined || unk === null ? null : (unk as number);
    this.unkToken = this.unkId === null ? null : (pieces[this.unkId] as [string, number])[0];
    this.byteFallback = booleanAt(json, 'byte_fallback', field, false);
  }

  private insert(piece: string, id: number): void {
    let node = this.root;
    for (let i = 0; i < piece.length; i++) {
      const unit = piece.charCodeAt(i);
      let child = node.children.get(unit);
      if (child === undefined) node.children.set(unit, (child = { id: -1, children: new Map() }));
      node = child;
    }
    node.id = id;
  }

  tokenize(word: string, spans?: number[]): number[] {
    let pieces = this.cache.get(word);
    if (pieces === undefined) {
      pieces = this.viterbi(word);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, pieces);
    }
    const ids: number[] = [];
    for (const [start, end] of pieces) {
      const piece = word.slice(start, end);
      const id = this.vocab.get(piece);
      if (id !== undefined) {
        ids.push(id);
        spans?.push(start, end);
        continue;
      }
      const bytes = this.byteFallback ? Array.from(utf8Encoder.encode(piece), (b) => this.vocab.get(byteToken(b))) : [];
      if (bytes.length > 0 && bytes.every((b) => b !== undefined)) {
        for (const b of bytes) {
          ids.push(b as number);
          spans?.push(start, end);
        }
        continue;
      }
      ids.push(this.unkId as number); // viterbi() made an unknown range only with an unk_id
      spans?.push(start, end);
    }
    return ids;
  }

  /** The best split of word as [start, end) ranges; unknown characters next to each other form one range. Ties
   * keep the path found first (the earliest start), as HF does. */
  private viterbi(word: string): Array<[number, number]> {
    const n = word.length;
    if (n === 0) return [];
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const isUnk = new Uint8Array(n + 1);
    const unkScore = this.minScore - UNK_PENALTY;
    for (let start = 0; start < n;) {
      const width = (word.codePointAt(start) as number) > 0xffff ? 2 : 1;
      const base = best[start];
      let single = false;
      let node: TrieNode | undefined = this.root;
      for (let end = start; end < n; end++) {
        node = node.children.get(word.charCodeAt(end));
        if (node === undefined) break;
        if (node.id < 0) continue;
        const score = base + this.scores[node.id];
        if (from[end + 1] < 0 || score > best[end + 1]) {
          best[end + 1] = score;
          from[end + 1] = start;
          isUnk[end + 1] = node.id === this.unkId ? 1 : 0;
        }
        if (end + 1 - start === width) single = true;
      }
      if (!single) {
        if (this.unkId === null)
          throw new Error(
            `Unigram: ${JSON.stringify(word)} has a character no piece covers, and the model has no unk_id`,
          );
        const end = start + width;
        const score = base + unkScore;
        if (from[end] < 0 || score > best[end]) {
          best[end] = score;
          from[end] = start;
          isUnk[end] = 1;
        }
      }
      start += width;
    }
    const out: Array<[number, number]> = [];
    let lastWasUnk = false;
    for (let end = n; end > 0; end = from[end]) {
      // HF fuses neighbouring unk tokens into one.
      if (isUnk[end] && lastWasUnk) out[out.length - 1][0] = from[end];
      else out.push([from[end], end]);
      lastWasUnk = isUnk[end] === 1;
    }
    return out.reverse();
  }
}
