// The byte-level pieces of HF's format: the ByteLevel pre-tokenizer (GPT-2's split, then each UTF-8 byte as a
// printable character) and the ByteLevel decoder (back from those characters to bytes, then lossy UTF-8).
import { BYTE_TO_CHAR, CHAR_TO_BYTE, PRETOKENIZE_PATTERN } from '../bpe';
import { booleanAt, JSONObject } from './schema';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** Each UTF-8 byte of s as its printable stand-in character. */
export function toByteChars(s: string): string {
  let out = '';
  for (const b of utf8Encoder.encode(s)) out += BYTE_TO_CHAR[b];
  return out;
}

export interface PreTokenizer {
  /** Splits one segment of text into the words the model encodes separately. */
  split(text: string): string[];
}

export class ByteLevelPreTokenizer implements PreTokenizer {
  readonly addPrefixSpace: boolean;
  readonly useRegex: boolean;

  constructor(json: JSONObject, field: string) {
    this.addPrefixSpace = booleanAt(json, 'add_prefix_space', field, true);
    this.useRegex = booleanAt(json, 'use_regex', field, true);
    booleanAt(json, 'trim_offsets', field, true); // offsets only
  }

  split(text: string): string[] {
    if (this.addPrefixSpace && !text.startsWith(' ')) text = ' ' + text;
    const words = this.useRegex ? (text.match(PRETOKENIZE_PATTERN) ?? []) : text.length > 0 ? [text] : [];
    return words.map(toByteChars);
  }
}

/** Tokens back to text: byte stand-ins become bytes (a token with any other character keeps its own UTF-8
 * bytes), and the bytes are read as UTF-8 with U+FFFD for invalid sequences. */
export function byteLevelDecode(tokens: string[]): string {
  const bytes: number[] = [];
  for (const token of tokens) {
    const start = bytes.length;
    let mapped = true;
    for (const c of token) {
      const b = CHAR_TO_BYTE.get(c);
      if (b === undefined) {
        mapped = false;
        break;
      }
      bytes.push(b);
    }
    if (!mapped) {
      bytes.length = start;
      for (const b of utf8Encoder.encode(token)) bytes.push(b);
    }
  }
  return utf8Decoder.decode(Uint8Array.from(bytes));
}
