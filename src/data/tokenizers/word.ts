// WordTokenizer: words and single punctuation marks as tokens; words outside the vocabulary become <unk>.
import {
  checkCorpus,
  checkSpecialTokens,
  checkTokenizerJSON,
  DecodeOptions,
  EncodeOptions,
  lowercaseChars,
  readTokenizerJSON,
  selectByFrequency,
  SPECIAL_TOKENS,
  stringArrayField,
  Tokenizer,
  TokenizerJSON,
  UNK_ID,
} from './base';
import type { VocabularyOptions } from './char';
import { wordLevelToHuggingFace, writeHuggingFaceJSON } from './hf/export';

// A word is a run of letters, digits, marks and underscores, with inner apostrophes kept ("don't");
// any other non-space character is a token by itself. The source is valid in both JavaScript and Oniguruma
// (Hugging Face's regex engine), so saveHuggingFace writes it as it is.
const WORD_PATTERN_SOURCE =
  "[\\p{L}\\p{N}\\p{M}_]+(?:['\u2019][\\p{L}\\p{N}\\p{M}_]+)*|[^\\p{White_Space}\\p{L}\\p{N}\\p{M}_]";
const WORD_PATTERN = new RegExp(WORD_PATTERN_SOURCE, 'gu');
// decode() glues these to the previous token and the opening ones to the next, as written text does.
const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{']);

export interface WordTokenizerOptions {
  /** Lower-case text before splitting (default false). */
  lowercase?: boolean;
}

export class WordTokenizer extends Tokenizer {
  readonly lowercase: boolean;

  /** vocabulary: the word tokens, in id order after the specials. */
  constructor(vocabulary: Iterable<string>, options: WordTokenizerOptions = {}) {
    super(vocabulary, 'WordTokenizer');
    this.lowercase = options.lowercase ?? false;
  }

  /** Builds the vocabulary from a corpus, the most frequent words first. */
  static fromCorpus(corpus: Iterable<string>, options: VocabularyOptions & WordTokenizerOptions = {}): WordTokenizer {
    checkCorpus(corpus, 'WordTokenizer.fromCorpus');
    const maxSize = options.maxSize ?? Infinity;
    if (maxSize < SPECIAL_TOKENS.length)
      throw new RangeError(
        `WordTokenizer.fromCorpus: maxSize ${maxSize} leaves no room for the ${SPECIAL_TOKENS.length} special tokens`,
      );
    const splitter = new WordTokenizer([], options);
    const counts = new Map<string, number>();
    for (const text of corpus) {
      if (typeof text !== 'string')
        throw new TypeError(`WordTokenizer.fromCorpus: corpus items must be strings, got ${typeof text}`);
      for (const w of splitter.split(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const words = selectByFrequency(
      counts,
      options.minFrequency ?? 1,
      maxSize - SPECIAL_TOKENS.length,
      'WordTokenizer.fromCorpus',
    );
    return new WordTokenizer(words, options);
  }

  /** The word and punctuation tokens of text, before vocabulary lookup. */
  split(text: string): string[] {
    this.checkText('WordTokenizer.split', text);
    // Character by character, as HF's Lowercase normalizer does (no final-sigma rule).
    return (this.lowercase ? lowercaseChars(text) : text).match(WORD_PATTERN) ?? [];
  }

  encode(text: string, options?: EncodeOptions): number[] {
    this.checkText('WordTokenizer.encode', text);
    return this.wrap(
      this.split(text).map((w) => this.ids.get(w) ?? UNK_ID),
      options,
    );
  }

  /** Joins the tokens with single spaces, except around punctuation that is written attached. Spacing of the
   * original text is not recorded, so this is the readable form, not always the exact input. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    let text = '';
    let previous: string | null = null;
    for (const token of this.tokensOf('WordTokenizer.decode', ids, options)) {
      if (token === null) continue;
      if (previous !== null && !NO_SPACE_BEFORE.has(token) && !NO_SPACE_AFTER.has(previous)) text += ' ';
      text += token;
      previous = token;
    }
    return text;
  }

  /** The word tokens in id order (without the special tokens). */
  get words(): string[] {
    return this.vocab.slice(SPECIAL_TOKENS.length);
  }

  toJSON(): TokenizerJSON {
    return {
      type: 'WordTokenizer',
      version: 1,
      specialTokens: [...SPECIAL_TOKENS],
      lowercase: this.lowercase,
      words: this.words,
    };
  }

  /** This tokenizer as Hugging Face's tokenizer.json document: a WordLevel model behind the same split (and
   * Lowercase). HF encodes exactly as this class does, except that it also matches the special tokens' names
   * (e.g. "<unk>") in text; HF decodes by joining the tokens with spaces (no punctuation gluing). */
  toHuggingFaceJSON(): Record<string, unknown> {
    return wordLevelToHuggingFace(this, { pattern: WORD_PATTERN_SOURCE, lowercase: this.lowercase, decoder: null });
  }

  /** Writes toHuggingFaceJSON() to path (a file, or a folder to hold tokenizer.json) atomically. */
  saveHuggingFace(path: string): void {
    writeHuggingFaceJSON(path, this.toHuggingFaceJSON());
  }

  static fromJSON(json: unknown): WordTokenizer {
    const data = checkTokenizerJSON(json, 'WordTokenizer', 'WordTokenizer.fromJSON');
    checkSpecialTokens(data, 'WordTokenizer.fromJSON');
    if (typeof data.lowercase !== 'boolean')
      throw new TypeError('WordTokenizer.fromJSON: field "lowercase" must be a boolean');
    return new WordTokenizer(stringArrayField(data, 'words', 'WordTokenizer.fromJSON'), { lowercase: data.lowercase });
  }

  static load(path: string): WordTokenizer {
    return WordTokenizer.fromJSON(readTokenizerJSON(path, 'WordTokenizer', 'WordTokenizer.load'));
  }
}
