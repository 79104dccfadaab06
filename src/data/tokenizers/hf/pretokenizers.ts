// HF's pre-tokenizers, built from their JSON: each splits a NormalizedText into the words the model encodes
// separately (empty words are dropped, as HF does).
import { BYTE_TO_CHAR, PRETOKENIZE_PATTERN } from '../bpe';
import { charMatches, invertMatches, NormalizedText, regexMatches, SplitBehavior } from './normalized';
import { prepend } from './normalizers';
import { buildPattern } from './patterns';
import {
  arrayAt,
  booleanAt,
  JSONObject,
  optionalStringAt,
  stringAt,
  TokenizerFileError,
  typeOf,
  unsupported,
} from './schema';

export interface PreTokenizer {
  split(text: NormalizedText): NormalizedText[];
  /** Whether split() reads where a text starts in the input, so alignments must be kept even without offsets. */
  readonly needsAlignment?: boolean;
}

const BEHAVIORS: readonly SplitBehavior[] = [
  'Removed',
  'Isolated',
  'MergedWithPrevious',
  'MergedWithNext',
  'Contiguous',
];

function behaviorAt(obj: JSONObject, field: string, fallback?: SplitBehavior): SplitBehavior {
  const value = obj.behavior ?? fallback;
  if (!BEHAVIORS.includes(value as SplitBehavior))
    throw new TokenizerFileError(
      `field "${field}.behavior" must be one of ${BEHAVIORS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  return value as SplitBehavior;
}

/** A pre-tokenizer that splits each text on its own. */
function perText(f: (t: NormalizedText) => NormalizedText[]): PreTokenizer {
  return { split: f };
}

const WHITESPACE = /^\p{White_Space}$/u;
const PUNCTUATION = /^[\p{P}!-/:-@[-`{-~]$/u;
const NUMERIC = /^[\p{Nd}\p{Nl}\p{No}]$/u;
const isWhitespace = (c: string) => WHITESPACE.test(c);
const isPunctuation = (c: string) => PUNCTUATION.test(c);
const isNumeric = (c: string) => NUMERIC.test(c);
// HF's Whitespace pre-tokenizer keeps runs of word characters (Rust regex's \w) and runs of other non-space ones.
const WHITESPACE_WORDS =
  /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu;

export function buildPreTokenizer(json: unknown, field = 'pre_tokenizer'): PreTokenizer | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'ByteLevel':
      return byteLevel(obj, field);
    case 'BertPreTokenizer':
      return perText((t) =>
        t
          .split(charMatches(t.text, isWhitespace), 'Removed')
          .flatMap((w) => w.split(charMatches(w.text, isPunctuation), 'Isolated')),
      );
    case 'Whitespace':
      return perText((t) => t.split(invertMatches(regexMatches(t.text, WHITESPACE_WORDS)), 'Removed'));
    case 'WhitespaceSplit':
      return perText((t) => t.split(charMatches(t.text, isWhitespace), 'Removed'));
    case 'Metaspace':
      return metaspace(obj, field);
    case 'Split': {
      const pattern = buildPattern(obj, field);
      const behavior = behaviorAt(obj, field);
      if (typeof obj.invert !== 'boolean') throw new TokenizerFileError(`field "${field}.invert" must be a boolean`);
      const invert = obj.invert;
      return perText((t) => t.split(invert ? invertMatches(pattern(t.text)) : pattern(t.text), behavior));
    }
    case 'Digits': {
      const individual = booleanAt(obj, 'individual_digits', field, false);
      return perText((t) => t.split(charMatches(t.text, isNumeric), individual ? 'Isolated' : 'Contiguous'));
    }
    case 'Punctuation': {
      const behavior = behaviorAt(obj, field, 'Isolated');
      return perText((t) => t.split(charMatches(t.text, isPunctuation), behavior));
    }
    case 'Sequence': {
      const parts = arrayAt(obj, 'pretokenizers', field).map((p, i) => {
        const built = buildPreTokenizer(p, `${field}.pretokenizers[${i}]`);
        if (built === null) throw new TokenizerFileError(`field "${field}.pretokenizers[${i}]" must be an object`);
        return built;
      });
      return {
        split: (t) => parts.reduce((words, p) => words.flatMap((w) => p.split(w)), [t]),
        needsAlignment: parts.some((p) => p.needsAlignment),
      };
    }
    default:
      throw unsupported('pre_tokenizer', type);
  }
}

const utf8Encoder = new TextEncoder();
const BYTE_CHAR_CACHE_LIMIT = 50_000;

/** Each UTF-8 byte of a string as its printable stand-in, with a bounded memo (words repeat a lot in text). */
function byteChars(memo: Map<string, string>, word: string): string {
  let out = memo.get(word);
  if (out === undefined) {
    out = '';
    for (const b of utf8Encoder.encode(word)) out += BYTE_TO_CHAR[b];
    if (memo.size >= BYTE_CHAR_CACHE_LIMIT) memo.clear();
    memo.set(word, out);
  }
  return out;
}

/** Each UTF-8 byte as its printable stand-in, every byte aligned as its character (what HF's transform gives
 * when a character's first byte replaces it and the others are inserted after it). */
function toByteLevel(t: NormalizedText): NormalizedText {
  const text = t.text;
  const oldStarts = t.starts as Int32Array;
  const oldEnds = t.ends as Int32Array;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i) as number;
    size += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (cp > 0xffff) i++;
  }
  const starts = new Int32Array(size);
  const ends = new Int32Array(size);
  let out = '';
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i) as number;
    const [s, e] = [oldStarts[i], oldEnds[i]];
    if (cp < 0x80) {
      out += BYTE_TO_CHAR[cp];
      starts[b] = s;
      ends[b++] = e;
      continue;
    }
    for (const byte of utf8Encoder.encode(String.fromCodePoint(cp))) {
      out += BYTE_TO_CHAR[byte];
      starts[b] = s;
      ends[b++] = e;
    }
    if (cp > 0xffff) i++;
  }
  return new NormalizedText(out, starts, ends, t.originalStart);
}

/** GPT-2's split (optionally after a space put before text not starting with one), then bytes as characters.
 * Without alignments (plain encode) it takes a shorter path: the regex's words, mapped through a memo. */
function byteLevel(obj: JSONObject, field: string): PreTokenizer {
  const addPrefixSpace = booleanAt(obj, 'add_prefix_space', field, true);
  const useRegex = booleanAt(obj, 'use_regex', field, true);
  booleanAt(obj, 'trim_offsets', field, true); // read by the post-processor
  const memo = new Map<string, string>();
  return perText((t) => {
    if (addPrefixSpace && t.length > 0 && !t.text.startsWith(' ')) t = prepend(t, ' ');
    if (t.starts === null) {
      const words = useRegex ? (t.text.match(PRETOKENIZE_PATTERN) ?? []) : t.length > 0 ? [t.text] : [];
      return words.map((w) => new NormalizedText(byteChars(memo, w), null, null, -1));
    }
    const words = useRegex ? t.split(regexMatches(t.text, PRETOKENIZE_PATTERN), 'Isolated') : t.length ? [t] : [];
    return words.map(toByteLevel);
  });
}

export type PrependScheme = 'always' | 'first' | 'never';

/** Metaspace's options, shared by the pre-tokenizer and the decoder. */
export function metaspaceOptions(obj: JSONObject, field: string): { replacement: string; scheme: PrependScheme } {
  const replacement = stringAt(obj, 'replacement', field);
  if ([...replacement].length !== 1) throw new TokenizerFileError(`field "${field}.replacement" must be one character`);
  const scheme = optionalStringAt(obj, 'prepend_scheme', field) ?? 'always';
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never')
    throw new TokenizerFileError(`field "${field}.prepend_scheme" must be "always", "first" or "never"`);
  // Older files say add_prefix_space instead; false must agree with the scheme, as HF checks.
  if (obj.add_prefix_space === false && obj.prepend_scheme !== undefined && scheme !== 'never')
    throw new TokenizerFileError(`field "${field}.add_prefix_space" does not match "prepend_scheme"`);
  return { replacement, scheme: obj.add_prefix_space === false ? 'never' : scheme };
}

/** SentencePiece's convention: spaces become the replacement character (▁), one is put before the text (always,
 * only at the start of the input, or never), and the text is split before each replacement character. */
function metaspace(obj: JSONObject, field: string): PreTokenizer {
  const { replacement, scheme } = metaspaceOptions(obj, field);
  const split = booleanAt(obj, 'split', field, true);
  const isReplacement = (c: string) => c === replacement;
  const pre = (t: NormalizedText) => {
    t = t.replace(
      charMatches(t.text, (c) => c === ' '),
      replacement,
    );
    if (!t.text.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && t.originalStart === 0)))
      t = prepend(t, replacement);
    return split ? t.split(charMatches(t.text, isReplacement), 'MergedWithNext') : t.length ? [t] : [];
  };
  return { split: pre, needsAlignment: scheme === 'first' };
}
