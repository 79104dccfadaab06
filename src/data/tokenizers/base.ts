// The interface shared by every tokenizer: a vocabulary whose first four ids are the special tokens, encode/decode,
// and JSON (de)serialisation with atomic saves.
import * as fs from 'fs';
import { assertPositiveInt } from '../../checks';
import { writeFileAtomic } from '../../io/atomic';

/** The special tokens, at fixed ids in every tokenizer. */
export const PAD_TOKEN = '<pad>';
export const BOS_TOKEN = '<bos>';
export const EOS_TOKEN = '<eos>';
export const UNK_TOKEN = '<unk>';
export const SPECIAL_TOKENS: readonly string[] = Object.freeze([PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN]);
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;

export interface EncodeOptions {
  /** Wrap the ids in bos ... eos (default false, so that decode(encode(text)) === text). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave pad/bos/eos/unk out of the text (default true); when false they appear as '<pad>', '<bos>'... */
  skipSpecialTokens?: boolean;
}

/** The serialised form every tokenizer's toJSON() returns; `type` names the class. */
export interface TokenizerJSON {
  type: string;
  version: number;
  [key: string]: unknown;
}

/** Where a tokenizer that does not use this library's four fixed specials keeps its special tokens. */
export interface SpecialLayout {
  padId: number;
  bosId: number;
  eosId: number;
  unkId: number;
}

export abstract class Tokenizer {
  /** The special tokens' ids; -1 where a loaded tokenizer has no such token. */
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Token strings by id; ids 0..3 are the special tokens (unless a layout says otherwise). */
  protected readonly vocab: string[];
  protected readonly ids: Map<string, number>;

  /** tokens: the regular tokens (ids 4, 5, ... in order); duplicates and special-token names are rejected.
   * With a layout, tokens are the whole vocabulary from id 0 and the layout gives the special ids. */
  protected constructor(tokens: Iterable<string>, owner: string, layout?: SpecialLayout) {
    const specials = layout ? [] : SPECIAL_TOKENS;
    this.padId = layout?.padId ?? PAD_ID;
    this.bosId = layout?.bosId ?? BOS_ID;
    this.eosId = layout?.eosId ?? EOS_ID;
    this.unkId = layout?.unkId ?? UNK_ID;
    this.vocab = [...specials];
    this.ids = new Map(specials.map((t, i) => [t, i]));
    for (const token of tokens) {
      if (typeof token !== 'string' || token.length === 0)
        throw new TypeError(`${owner}: tokens must be non-empty strings, got ${JSON.stringify(token)}`);
      if (this.ids.has(token))
        throw new RangeError(`${owner}: token ${JSON.stringify(token)} appears twice (or is a special token name)`);
      this.ids.set(token, this.vocab.length);
      this.vocab.push(token);
    }
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The id of a token string, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** The token string of an id, or undefined when the id is out of range. */
  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocab.length ? this.vocab[id] : undefined;
  }

  /** Whether id is one of pad/bos/eos/unk. */
  isSpecialId(id: number): boolean {
    return id >= 0 && id < SPECIAL_TOKENS.length;
  }

  abstract encode(text: string, options?: EncodeOptions): number[];

  /** encode() of each text. */
  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    if (!Array.isArray(texts)) throw new TypeError('encodeBatch: texts must be an array of strings');
    return texts.map((t) => this.encode(t, options));
  }

  abstract decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  abstract toJSON(): TokenizerJSON;

  /** Writes toJSON() to path atomically (temporary file in the same directory, fsync, rename). */
  save(path: string): void {
    writeFileAtomic(path, JSON.stringify(this.toJSON()));
  }

  protected checkText(op: string, text: unknown): asserts text is string {
    if (typeof text !== 'string') throw new TypeError(`${op}: text must be a string, got ${typeof text}`);
  }

  protected wrap(ids: number[], options: EncodeOptions | undefined): number[] {
    return options?.addSpecialTokens ? [BOS_ID, ...ids, EOS_ID] : ids;
  }

  /** Validates ids and maps each to its token, dropping specials when asked (null marks a dropped id). */
  protected tokensOf(op: string, ids: ArrayLike<number>, options: DecodeOptions | undefined): Array<string | null> {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number')
      throw new TypeError(`${op}: ids must be an array of integers, got ${ids === null ? 'null' : typeof ids}`);
    const skip = options?.skipSpecialTokens ?? true;
    const out: Array<string | null> = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length)
        throw new RangeError(`${op}: id ${id} at position ${i} is outside the vocabulary [0, ${this.vocab.length})`);
      out[i] = skip && this.isSpecialId(id) ? null : this.vocab[id];
    }
    return out;
  }
}

/** Reads and parses a tokenizer JSON file, checking that it holds the expected type. */
export function readTokenizerJSON(path: string, expectedType: string | null, owner: string): TokenizerJSON {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${owner}: cannot read a tokenizer from ${path}: ${(error as Error).message}`);
  }
  return checkTokenizerJSON(json, expectedType, owner);
}

export function checkTokenizerJSON(json: unknown, expectedType: string | null, owner: string): TokenizerJSON {
  if (json === null || typeof json !== 'object' || typeof (json as TokenizerJSON).type !== 'string')
    throw new TypeError(`${owner}: expected a tokenizer JSON object with a "type" field`);
  const data = json as TokenizerJSON;
  if (expectedType !== null && data.type !== expectedType)
    throw new TypeError(`${owner}: the JSON holds a ${data.type}, not a ${expectedType}`);
  if (data.version !== 1) throw new RangeError(`${owner}: unsupported ${data.type} version ${String(data.version)}`);
  return data;
}

/** A string array field of a tokenizer JSON object. */
export function stringArrayField(json: TokenizerJSON, field: string, owner: string): string[] {
  const value = json[field];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new TypeError(`${owner}: field "${field}" must be an array of strings`);
  return value as string[];
}

/** The specials a saved tokenizer used must be ours, at the same ids. */
export function checkSpecialTokens(json: TokenizerJSON, owner: string): void {
  const specials = stringArrayField(json, 'specialTokens', owner);
  if (specials.length !== SPECIAL_TOKENS.length || specials.some((t, i) => t !== SPECIAL_TOKENS[i]))
    throw new RangeError(
      `${owner}: special tokens [${specials.join(', ')}] differ from [${SPECIAL_TOKENS.join(', ')}]`,
    );
}

/** Counts items, then keeps those seen at least minFrequency times, the most frequent first (ties by code
 * unit order, so the result does not depend on corpus order), at most maxSize of them. */
export function selectByFrequency(
  counts: Map<string, number>,
  minFrequency: number,
  maxSize: number,
  owner: string,
): string[] {
  assertPositiveInt(owner, 'minFrequency', minFrequency);
  if (!(maxSize === Infinity || (Number.isInteger(maxSize) && maxSize >= 0)))
    throw new RangeError(`${owner}: maxSize must be a non-negative integer, got ${maxSize}`);
  return [...counts.entries()]
    .filter(([token, n]) => n >= minFrequency && !SPECIAL_TOKENS.includes(token))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, maxSize)
    .map(([token]) => token);
}

/** Lowercases character by character (no context rules such as the final sigma), as Hugging Face's Lowercase
 * normalizer does. */
export function lowercaseChars(s: string): string {
  let out = '';
  for (const c of s) out += c.toLowerCase();
  return out;
}

export function checkCorpus(corpus: unknown, owner: string): asserts corpus is Iterable<string> {
  if (
    corpus === null ||
    typeof corpus !== 'object' ||
    typeof (corpus as Iterable<string>)[Symbol.iterator] !== 'function'
  )
    throw new TypeError(`${owner}: corpus must be an iterable of strings`);
}
