// Tokenizers: characters, words and byte-level BPE behind one interface.
import { checkTokenizerJSON, readTokenizerJSON, Tokenizer } from './base';
import { ByteLevelBPETokenizer } from './bpe';
import { CharTokenizer } from './char';
import { WordTokenizer } from './word';

export {
  Tokenizer,
  PAD_TOKEN,
  BOS_TOKEN,
  EOS_TOKEN,
  UNK_TOKEN,
  SPECIAL_TOKENS,
  PAD_ID,
  BOS_ID,
  EOS_ID,
  UNK_ID,
} from './base';
export type { EncodeOptions, DecodeOptions, TokenizerJSON } from './base';
export { CharTokenizer } from './char';
export type { VocabularyOptions } from './char';
export { WordTokenizer } from './word';
export type { WordTokenizerOptions } from './word';
export { ByteLevelBPETokenizer, pretokenize } from './bpe';
export type { BPETrainOptions } from './bpe';

/** Rebuilds whichever tokenizer a toJSON() object describes. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const data = checkTokenizerJSON(json, null, 'tokenizerFromJSON');
  switch (data.type) {
    case 'CharTokenizer':
      return CharTokenizer.fromJSON(data);
    case 'WordTokenizer':
      return WordTokenizer.fromJSON(data);
    case 'ByteLevelBPETokenizer':
      return ByteLevelBPETokenizer.fromJSON(data);
    default:
      throw new TypeError(`tokenizerFromJSON: unknown tokenizer type '${data.type}'`);
  }
}

/** Loads whichever tokenizer a save() file holds. */
export function loadTokenizer(path: string): Tokenizer {
  return tokenizerFromJSON(readTokenizerJSON(path, null, 'loadTokenizer'));
}
