// Writes this library's tokenizers as Hugging Face's tokenizer.json: the same vocabulary (and merges), a split
// that HF performs the same way, the four specials as special added tokens, and <bos> ... <eos> as the template
// HF adds when asked for special tokens.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../../io/atomic';
import type { Tokenizer } from '../base';
import { BOS_TOKEN, EOS_TOKEN, SPECIAL_TOKENS, UNK_TOKEN } from '../base';

export interface MergeSource {
  readonly merges: ReadonlyArray<readonly [string, string]>;
}

/** The parts every exported file shares: the four specials as special added tokens, <bos> A <eos> (and B <eos>
 * for a pair) as the post-processor, no truncation or padding. */
function frame(tokenizer: Tokenizer): Record<string, unknown> {
  const special = (name: string) => ({ id: name, ids: [tokenizer.tokenToId(name) as number], tokens: [name] });
  const piece = (p: string, typeId: number) =>
    p === 'A' || p === 'B' ? { Sequence: { id: p, type_id: typeId } } : { SpecialToken: { id: p, type_id: typeId } };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: tokenizer.tokenToId(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [BOS_TOKEN, 'A', EOS_TOKEN].map((p) => piece(p, 0)),
      pair: [BOS_TOKEN, 'A', EOS_TOKEN].map((p) => piece(p, 0)).concat(['B', EOS_TOKEN].map((p) => piece(p, 1))),
      special_tokens: { [BOS_TOKEN]: special(BOS_TOKEN), [EOS_TOKEN]: special(EOS_TOKEN) },
    },
    decoder: null,
  };
}

/** token -> id for the whole vocabulary. */
function vocabOf(tokenizer: Tokenizer): Record<string, number> {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < tokenizer.vocabSize; id++) vocab[tokenizer.idToToken(id) as string] = id;
  return vocab;
}

export function byteLevelBPEToHuggingFace(tokenizer: Tokenizer & MergeSource): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    ...frame(tokenizer),
    pre_tokenizer: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabOf(tokenizer),
      // Byte-level tokens never hold a space, so "a b" strings (read by every HF version) are exact.
      merges: tokenizer.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** A tokenizer that looks each piece up whole (WordTokenizer, CharTokenizer) as HF's WordLevel model: the split
 * is a Split pre-tokenizer keeping each match of `pattern` (an Oniguruma regex) and dropping the rest. */
export function wordLevelToHuggingFace(
  tokenizer: Tokenizer,
  parts: { pattern: string; lowercase: boolean; decoder: Record<string, unknown> | null },
): Record<string, unknown> {
  return {
    ...frame(tokenizer),
    normalizer: parts.lowercase ? { type: 'Lowercase' } : null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: parts.pattern }, behavior: 'Removed', invert: true },
    decoder: parts.decoder,
    model: { type: 'WordLevel', vocab: vocabOf(tokenizer), unk_token: UNK_TOKEN },
  };
}

/** Writes json as path, or as path/tokenizer.json when path is a folder. */
export function writeHuggingFaceJSON(file: string, json: Record<string, unknown>): void {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError(`saveHuggingFace: path must be a non-empty string, got ${typeof file}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'tokenizer.json');
  writeFileAtomic(file, JSON.stringify(json));
}
