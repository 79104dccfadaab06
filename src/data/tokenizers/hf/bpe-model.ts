// HF's BPE model: a vocabulary (token -> id) and ranked merges, applied to each pre-tokenized word on its own.
import { applyMerges } from '../bpe';
import {
  arrayAt,
  booleanAt,
  idAt,
  JSONObject,
  objectAt,
  optionalStringAt,
  requireDefault,
  TokenizerFileError,
} from './schema';

// Pair keys pack two ids into one number (exact in a double while ids stay below 2^26).
const PAIR_SHIFT = 2 ** 26;
const CACHE_LIMIT = 50_000;

export interface Model {
  /** token string -> id for every token of the model. */
  readonly vocab: Map<string, number>;
  readonly unkToken: string | null;
  tokenize(word: string): number[];
}

interface Merge {
  rank: number;
  id: number;
}

export class BPEModel implements Model {
  readonly vocab: Map<string, number>;
  readonly unkToken: string | null;
  private readonly unkId: number | null;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly mergeOf = new Map<number, Merge>();
  private readonly cache = new Map<string, number[]>();

  constructor(json: JSONObject) {
    const field = 'model';
    const what = 'model BPE';
    const dropout = json.dropout;
    if (dropout !== undefined && dropout !== null && dropout !== 0)
      throw new TokenizerFileError(`${what}: option "model.dropout" = ${JSON.stringify(dropout)} is not supported`);
    this.unkToken = optionalStringAt(json, 'unk_token', field);
    this.prefix = optionalStringAt(json, 'continuing_subword_prefix', field) ?? '';
    this.suffix = optionalStringAt(json, 'end_of_word_suffix', field) ?? '';
    this.fuseUnk = booleanAt(json, 'fuse_unk', field, false);
    this.byteFallback = booleanAt(json, 'byte_fallback', field, false);
    this.ignoreMerges = booleanAt(json, 'ignore_merges', field, false);
    requireDefault(json, 'dropout', field, null, what);

    const vocabJSON = objectAt(json.vocab, 'model.vocab');
    this.vocab = new Map();
    for (const token of Object.keys(vocabJSON)) this.vocab.set(token, idAt(vocabJSON, token, 'model.vocab'));
    this.unkId = this.unkToken === null ? null : (this.vocab.get(this.unkToken) ?? null);
    if (this.unkToken !== null && this.unkId === null)
      throw new TokenizerFileError(`field "model.unk_token" names ${JSON.stringify(this.unkToken)}, not in the vocab`);

    const merges = arrayAt(json, 'merges', field);
    merges.forEach((m, rank) => {
      let pair: unknown[];
      if (typeof m === 'string') {
        pair = m.split(' ');
        if (pair.length !== 2)
          throw new TokenizerFileError(`field "model.merges[${rank}]" must be two tokens separated by one space`);
      } else if (Array.isArray(m) && m.length === 2 && m.every((t) => typeof t === 'string')) pair = m;
      else throw new TokenizerFileError(`field "model.merges[${rank}]" must be a string "a b" or a pair [a, b]`);
      const [left, right] = pair as [string, string];
      const a = this.vocab.get(left);
      const b = this.vocab.get(right);
      const mergedToken =
        left + right.slice(this.prefix.length > 0 && right.startsWith(this.prefix) ? this.prefix.length : 0);
      const id = this.vocab.get(mergedToken);
      if (a === undefined || b === undefined || id === undefined)
        throw new TokenizerFileError(
          `field "model.merges[${rank}]": ${JSON.stringify(a === undefined ? left : b === undefined ? right : mergedToken)} is not in the vocab`,
        );
      if (a >= PAIR_SHIFT || b >= PAIR_SHIFT) throw new TokenizerFileError(`model BPE: ids above ${PAIR_SHIFT}`);
      const key = a * PAIR_SHIFT + b;
      if (!this.mergeOf.has(key)) this.mergeOf.set(key, { rank, id });
    });
  }

  tokenize(word: string): number[] {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.merge(word);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  /** The word's characters as ids (unknown ones as unk, bytes, or dropped, as HF does), then the merges, the
   * lowest rank first (the leftmost on a tie). */
  private merge(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const chars = Array.from(word);
    const symbols: number[] = [];
    let lastWasUnk = false;
    chars.forEach((c, i) => {
      let token = c;
      if (i > 0) token = this.prefix + token;
      if (i === chars.length - 1) token = token + this.suffix;
      const id = this.vocab.get(token);
      if (id !== undefined) {
        symbols.push(id);
        lastWasUnk = false;
        return;
      }
      if (this.byteFallback) {
        const bytes = Array.from(new TextEncoder().encode(c), (b) =>
          this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`),
        );
        if (bytes.every((b) => b !== undefined)) {
          for (const b of bytes) symbols.push(b as number);
          lastWasUnk = false;
          return;
        }
      }
      if (this.unkId === null) return; // HF drops a character it cannot represent when there is no unk token
      if (!(this.fuseUnk && lastWasUnk)) symbols.push(this.unkId);
      lastWasUnk = true;
    });

    return applyMerges(Int32Array.from(symbols), (a, b) => this.mergeOf.get(a * PAIR_SHIFT + b));
  }
}
