// CharTokenizer: one token per Unicode code point; characters outside the alphabet become <unk>.
import {
  checkCorpus,
  checkSpecialTokens,
  checkTokenizerJSON,
  DecodeOptions,
  EncodeOptions,
  readTokenizerJSON,
  selectByFrequency,
  SPECIAL_TOKENS,
  stringArrayField,
  Tokenizer,
  TokenizerJSON,
  UNK_ID,
} from './base';
import { wordLevelToHuggingFace, writeHuggingFaceJSON } from './hf/export';

export interface VocabularyOptions {
  /** Keep only tokens seen at least this many times (default 1). */
  minFrequency?: number;
  /** Largest vocabulary, the four special tokens included (default unlimited); the most frequent tokens win. */
  maxSize?: number;
}

export class CharTokenizer extends Tokenizer {
  /** alphabet: the characters (single code points), in id order after the specials. */
  constructor(alphabet: Iterable<string>) {
    const chars = typeof alphabet === 'string' ? Array.from(alphabet) : [...alphabet];
    for (const c of chars) {
      if (typeof c !== 'string' || Array.from(c).length !== 1)
        throw new TypeError(`CharTokenizer: alphabet entries must be single characters, got ${JSON.stringify(c)}`);
    }
    super(chars, 'CharTokenizer');
  }

  /** Builds the alphabet from the characters of a corpus, the most frequent first. */
  static fromCorpus(corpus: Iterable<string>, options: VocabularyOptions = {}): CharTokenizer {
    checkCorpus(corpus, 'CharTokenizer.fromCorpus');
    const counts = new Map<string, number>();
    for (const text of corpus) {
      if (typeof text !== 'string')
        throw new TypeError(`CharTokenizer.fromCorpus: corpus items must be strings, got ${typeof text}`);
      for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const maxSize = options.maxSize ?? Infinity;
    if (maxSize < SPECIAL_TOKENS.length)
      throw new RangeError(
        `CharTokenizer.fromCorpus: maxSize ${maxSize} leaves no room for the ${SPECIAL_TOKENS.length} special tokens`,
      );
    return new CharTokenizer(
      selectByFrequency(counts, options.minFrequency ?? 1, maxSize - SPECIAL_TOKENS.length, 'CharTokenizer.fromCorpus'),
    );
  }

  encode(text: string, options?: EncodeOptions): number[] {
    this.checkText('CharTokenizer.encode', text);
    const ids: number[] = [];
    for (const c of text) ids.push(this.ids.get(c) ?? UNK_ID);
    return this.wrap(ids, options);
  }

  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    return this.tokensOf('CharTokenizer.decode', ids, options)
      .filter((t) => t !== null)
      .join('');
  }

  /** The alphabet in id order (without the special tokens). */
  get alphabet(): string[] {
    return this.vocab.slice(SPECIAL_TOKENS.length);
  }

  toJSON(): TokenizerJSON {
    return { type: 'CharTokenizer', version: 1, specialTokens: [...SPECIAL_TOKENS], alphabet: this.alphabet };
  }

  /** This tokenizer as Hugging Face's tokenizer.json document: a WordLevel model over single characters (a Split
   * on every character) and a Fuse decoder. HF encodes and decodes exactly as this class does, except that it
   * also matches the special tokens' names (e.g. "<unk>") in text. */
  toHuggingFaceJSON(): Record<string, unknown> {
    return wordLevelToHuggingFace(this, { pattern: '[\\s\\S]', lowercase: false, decoder: { type: 'Fuse' } });
  }

  /** Writes toHuggingFaceJSON() to path (a file, or a folder to hold tokenizer.json) atomically. */
  saveHuggingFace(path: string): void {
    writeHuggingFaceJSON(path, this.toHuggingFaceJSON());
  }

  static fromJSON(json: unknown): CharTokenizer {
    const data = checkTokenizerJSON(json, 'CharTokenizer', 'CharTokenizer.fromJSON');
    checkSpecialTokens(data, 'CharTokenizer.fromJSON');
    return new CharTokenizer(stringArrayField(data, 'alphabet', 'CharTokenizer.fromJSON'));
  }

  static load(path: string): CharTokenizer {
    return CharTokenizer.fromJSON(readTokenizerJSON(path, 'CharTokenizer', 'CharTokenizer.load'));
  }
}
