// Tokenizers: characters, words and byte-level BPE behind one interface.
import * as fs from 'fs';
import * as path from 'path';
import { checkTokenizerJSON, Tokenizer } from './base';
import { ByteLevelBPETokenizer } from './bpe';
import { CharTokenizer } from './char';
import { HuggingFaceTokenizer, isHuggingFaceJSON } from './hf/tokenizer';
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
export { HuggingFaceTokenizer } from './hf/tokenizer';
export type { EncodePairOptions, EncodingWithOffsets } from './hf/tokenizer';
export { TokenizerFileError } from './hf/schema';

/** Rebuilds whichever tokenizer a toJSON() object (or a Hugging Face tokenizer.json document) describes. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  if (isHuggingFaceJSON(json)) return HuggingFaceTokenizer.fromHuggingFaceJSON(json);
  const data = checkTokenizerJSON(json, null, 'tokenizerFromJSON');
  switch (data.type) {
    case 'CharTokenizer':
      return CharTokenizer.fromJSON(data);
    case 'WordTokenizer':
      return WordTokenizer.fromJSON(data);
    case 'ByteLevelBPETokenizer':
      return ByteLevelBPETokenizer.fromJSON(data);
    case 'HuggingFaceTokenizer':
      return HuggingFaceTokenizer.fromHuggingFaceJSON(data.tokenizer);
    default:
      throw new TypeError(`tokenizerFromJSON: unknown tokenizer type '${data.type}'`);
  }
}

/** Loads whichever tokenizer a save() file holds, or Hugging Face's tokenizer.json (the file, or a folder
 * holding one). */
export function loadTokenizer(file: string): Tokenizer {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError(`loadTokenizer: path must be a non-empty string, got ${typeof file}`);
  let json: unknown;
  try {
    if (fs.statSync(file).isDirectory()) file = path.join(file, 'tokenizer.json');
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`loadTokenizer: cannot read a tokenizer from ${file}: ${(error as Error).message}`);
  }
  return tokenizerFromJSON(json);
}
