// BERT's pieces of HF's format: the WordPiece model (greedy longest match, "##" for word-inner pieces), the
// BertNormalizer, the BertPreTokenizer and the WordPiece decoder.
import { Model } from './bpe-model';
import { PreTokenizer } from './bytelevel';
import { booleanAt, idAt, JSONObject, objectAt, stringAt, TokenizerFileError } from './schema';

export class WordPieceModel implements Model {
  readonly vocab = new Map<string, number>();
  readonly unkToken: string;
  private readonly unkId: number;
  private readonly prefix: string;
  private readonly maxChars: number;

  constructor(json: JSONObject) {
    const field = 'model';
    const vocabJSON = objectAt(json.vocab, 'model.vocab');
    for (const token of Object.keys(vocabJSON)) this.vocab.set(token, idAt(vocabJSON, token, 'model.vocab'));
    this.unkToken = stringAt(json, 'unk_token', field);
    const unkId = this.vocab.get(this.unkToken);
    if (unkId === undefined)
      throw new TokenizerFileError(`field "model.unk_token" names ${JSON.stringify(this.unkToken)}, not in the vocab`);
    this.unkId = unkId;
    this.prefix =
      json.continuing_subword_prefix === undefined ? '##' : stringAt(json, 'continuing_subword_prefix', field);
    this.maxChars = json.max_input_chars_per_word === undefined ? 100 : idAt(json, 'max_input_chars_per_word', field);
  }

  tokenize(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.maxChars) return [this.unkId];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let found: number | undefined;
      let end = chars.length;
      for (; end > start; end--) {
        const piece = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        found = this.vocab.get(piece);
        if (found !== undefined) break;
      }
      if (found === undefined) return [this.unkId];
      out.push(found);
      start = end;
    }
    return out;
  }
}

const CONTROL = /\p{C}/u;
const WHITESPACE = /\p{White_Space}/u;
const NONSPACING_MARK = /\p{Mn}/gu;
const MARK = /\p{M}/gu;

function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Lowercases character by character (no context rules such as the final sigma), as HF does. */
export function lowercaseChars(s: string): string {
  let out = '';
  for (const c of s) out += c.toLowerCase();
  return out;
}

/** BertNormalizer's accent stripping: NFD, then without nonspacing marks. */
function bertStripAccents(s: string): string {
  return s.normalize('NFD').replace(NONSPACING_MARK, '');
}

/** The StripAccents normalizer: drops every combining mark (it does not decompose; files put NFD first). */
export function stripAccents(s: string): string {
  return s.replace(MARK, '');
}

export function bertNormalizer(json: JSONObject, field: string): (s: string) => string {
  const cleanText = booleanAt(json, 'clean_text', field, true);
  const chinese = booleanAt(json, 'handle_chinese_chars', field, true);
  const lowercase = booleanAt(json, 'lowercase', field, true);
  const strip =
    json.strip_accents === null || json.strip_accents === undefined
      ? lowercase
      : booleanAt(json, 'strip_accents', field, false);
  return (text) => {
    let s = '';
    for (const c of text) {
      if (cleanText) {
        if (c === '\t' || c === '\n' || c === '\r') {
          s += ' ';
          continue;
        }
        if (c === '\0' || c === '\ufffd' || CONTROL.test(c)) continue;
        if (WHITESPACE.test(c)) {
          s += ' ';
          continue;
        }
      }
      s += chinese && isChinese(c.codePointAt(0) as number) ? ` ${c} ` : c;
    }
    if (strip) s = bertStripAccents(s);
    return lowercase ? lowercaseChars(s) : s;
  };
}

const PUNCTUATION = /[\p{P}!-/:-@[-`{-~]/u;

/** Splits on whitespace (dropped) and around each punctuation character (kept, alone). */
export class BertPreTokenizer implements PreTokenizer {
  split(text: string): string[] {
    const words: string[] = [];
    let current = '';
    for (const c of text) {
      if (WHITESPACE.test(c)) {
        if (current) words.push(current);
        current = '';
      } else if (PUNCTUATION.test(c)) {
        if (current) words.push(current);
        words.push(c);
        current = '';
      } else current += c;
    }
    if (current) words.push(current);
    return words;
  }
}

/** HF's Whitespace pre-tokenizer: runs of word characters, and runs of other non-space characters. */
export class WhitespacePreTokenizer implements PreTokenizer {
  split(text: string): string[] {
    return (
      text.match(
        /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu,
      ) ?? []
    );
  }
}

/** HF's WhitespaceSplit pre-tokenizer: the runs between whitespace. */
export class WhitespaceSplitPreTokenizer implements PreTokenizer {
  split(text: string): string[] {
    return text.split(/\p{White_Space}+/u).filter((w) => w.length > 0);
  }
}

const CLEANUPS: Array<[string, string]> = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [' do not', " don't"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

/** HF's cleanup of decoded text: no space before punctuation and inside contractions. */
export function cleanup(s: string): string {
  for (const [from, to] of CLEANUPS) s = s.split(from).join(to);
  return s;
}

export function wordPieceDecoder(json: JSONObject, field: string): (tokens: string[]) => string {
  const prefix = json.prefix === undefined ? '##' : stringAt(json, 'prefix', field);
  const clean = booleanAt(json, 'cleanup', field, true);
  return (tokens) =>
    tokens
      .map((token, i) => {
        if (i > 0) token = prefix && token.startsWith(prefix) ? token.slice(prefix.length) : ' ' + token;
        return clean ? cleanup(token) : token;
      })
      .join('');
}
