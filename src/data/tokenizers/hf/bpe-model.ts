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
  /** The ids of one word; spans, when given, receives each token's range [start, end) in the word's code units
   * (flattened pairs). */
  tokenize(word: string, spans?: number[]): number[];
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
  // Per word: its ids, and its token spans once asked for.
  private readonly cache = new Map<string, { ids: number[]; spans: number[] | null }>();

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

  tokenize(word: string, spans?: number[]): number[] {
    let entry = this.cache.get(word);
    if (entry === undefined || (spans !== undefined && entry.spans === null)) {
      const wordSpans = spans === undefined ? null : [];
      entry = { ids: this.merge(word, wordSpans ?? undefined), spans: wordSpans };
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, entry);
    }
    if (spans !== undefined) for (const x of entry.spans as number[]) spans.push(x);
    return entry.ids;
  }

  /** The word's characters as symbols (unknown ones as their UTF-8 bytes or unk, as HF does), then the merges,
   * the lowest rank first (the leftmost on a tie). spans, when given, receives each token's code unit range. */
  private merge(word: string, spans?: number[]): number[] {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) {
        spans?.push(0, word.length);
        return [whole];
      }
    }
    // Each symbol's length in UTF-8 bytes: HF places tokens by adding up these lengths, so a character that is
    // dropped (no unk token) shifts the offsets of the tokens after it, and offsets inside a character are
    // widened to the whole character.
    const symbols: number[] = [];
    const byteLengths: number[] = [];
    const add = (id: number, length: number) => {
      symbols.push(id);
      byteLengths.push(length);
    };
    // An unknown character waits here (fused with the next unknown ones when asked) until a known one comes.
    let unkLength = -1;
    for (let i = 0; i < word.length;) {
      const width = (word.codePointAt(i) as number) > 0xffff ? 2 : 1;
      const end = i + width;
      const length = utf8Length(word.codePointAt(i) as number);
      let token = word.slice(i, end);
      if (i > 0) token = this.prefix + token;
      if (end === word.length) token += this.suffix;
      const id = this.vocab.get(token);
      if (id !== undefined) {
        if (unkLength >= 0) add(this.unkId as number, unkLength);
        unkLength = -1;
        add(id, length);
      } else if (!this.addBytes(token, add) && this.unkId !== null) {
        // HF drops a character it cannot represent when there is no unk token.
        if (unkLength >= 0 && this.fuseUnk) unkLength += length;
        else {
          if (unkLength >= 0) add(this.unkId, unkLength);
          unkLength = length;
        }
      }
      i = end;
    }
    if (unkLength >= 0) add(this.unkId as number, unkLength);

    const heads: number[] | undefined = spans === undefined ? undefined : [];
    const ids = applyMerges(Int32Array.from(symbols), (a, b) => this.mergeOf.get(a * PAIR_SHIFT + b), heads);
    if (spans !== undefined && heads !== undefined) byteSpansToUnits(word, byteLengths, heads, spans);
    return ids;
  }

  /** With byte_fallback, the token's UTF-8 bytes as <0xNN> tokens (one byte long each); false when the option is
   * off or a byte token is missing. */
  private addBytes(token: string, add: (id: number, length: number) => void): boolean {
    if (!this.byteFallback) return false;
    const ids = Array.from(utf8Encoder.encode(token), (b) => this.vocab.get(byteToken(b)));
    if (ids.some((id) => id === undefined)) return false;
    for (const id of ids) add(id as number, 1);
    return true;
  }
}

const utf8Encoder = new TextEncoder();

/** The name of a byte's fallback token, e.g. <0x0A>. */
export function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** Token ranges in code units from the symbols' byte lengths: the merged token starting at symbol heads[k] runs
 * up to the next head; byte positions are added up as HF does, then widened to whole characters of word. */
function byteSpansToUnits(word: string, byteLengths: number[], heads: number[], spans: number[]): void {
  // unitOfByte[b]: the code unit range of the character holding byte b of word.
  const charStart: number[] = [];
  const charEnd: number[] = [];
  for (let i = 0; i < word.length;) {
    const cp = word.codePointAt(i) as number;
    const end = i + (cp > 0xffff ? 2 : 1);
    for (let k = utf8Length(cp); k > 0; k--) {
      charStart.push(i);
      charEnd.push(end);
    }
    i = end;
  }
  const position = [0];
  for (const length of byteLengths) position.push(position[position.length - 1] + length);
  heads.forEach((head, k) => {
    const start = position[head];
    const end = position[k + 1 < heads.length ? heads[k + 1] : byteLengths.length];
    spans.push(charStart[start] ?? word.length, charEnd[end - 1] ?? word.length);
  });
}
