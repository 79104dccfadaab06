// A tokenizer read from Hugging Face's tokenizer.json: added tokens split the text first, then the normalizer,
// pre-tokenizer and model run on the rest, and the post-processor adds the special tokens.
import { writeFileAtomic } from '../../../io/atomic';
import { DecodeOptions, EncodeOptions, Tokenizer, TokenizerJSON } from '../base';
import { AddedToken, AddedTokenMatcher, parseAddedTokens } from './added';
import { BPEModel, Model } from './bpe-model';
import { buildDecoder, Decoder } from './decoders';
import { NormalizedText } from './normalized';
import { buildNormalizer, Normalizer } from './normalizers';
import { buildPreTokenizer, PreTokenizer } from './pretokenizers';
import { buildPostProcessor, Encoding, PostProcessor } from './processors';
import { UnigramModel } from './unigram';
import { WordLevelModel } from './wordlevel';
import { WordPieceModel } from './wordpiece';
import { isObject, JSONObject, objectAt, TokenizerFileError, typeOf, unsupported } from './schema';

/** Whether a parsed JSON document looks like HF's tokenizer.json rather than this library's own format. */
export function isHuggingFaceJSON(json: unknown): json is JSONObject {
  return isObject(json) && isObject(json.model) && typeof json.type !== 'string';
}

function buildModel(json: unknown): Model {
  const type = typeOf(json, 'model');
  switch (type) {
    case 'BPE':
      return new BPEModel(json as JSONObject);
    case 'WordPiece':
      return new WordPieceModel(json as JSONObject);
    case 'Unigram':
      return new UnigramModel(json as JSONObject);
    case 'WordLevel':
      return new WordLevelModel(json as JSONObject);
    default:
      throw unsupported('model', type);
  }
}

const BOS_NAMES = ['<s>', '<bos>', '[CLS]', '<|endoftext|>', '<|begin_of_text|>'];
const EOS_NAMES = ['</s>', '<eos>', '[SEP]', '<|endoftext|>', '<|end_of_text|>'];
const PAD_NAMES = ['<pad>', '[PAD]'];
const UNK_NAMES = ['<unk>', '[UNK]'];

export interface EncodePairOptions extends EncodeOptions {
  /** A second sequence, encoded after the first (the post-processor's pair template joins them). */
  pair?: string;
}

/** The ids of a text and where each token came from in it. */
export interface EncodingWithOffsets {
  ids: number[];
  /** [start, end) of each token in its input text, in UTF-16 code units (so text.slice(start, end) is the
   * token's source); [0, 0] for special tokens the post-processor adds. With a pair, the second sequence's
   * offsets are into the pair text. HF's Python and Rust report code points: they differ above U+FFFF. */
  offsets: Array<[number, number]>;
}

export class HuggingFaceTokenizer extends Tokenizer {
  private readonly source: JSONObject;
  private readonly model: Model;
  private readonly normalizer: Normalizer | null;
  private readonly preTokenizer: PreTokenizer | null;
  private readonly postProcessor: PostProcessor | null;
  private readonly decoder: Decoder | null;
  private readonly rawMatcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher;
  private readonly specialIds: Set<number>;
  private readonly alwaysAligned: boolean;

  private constructor(
    json: JSONObject,
    parts: {
      vocab: string[];
      model: Model;
      added: AddedToken[];
      layout: { padId: number; bosId: number; eosId: number; unkId: number };
    },
  ) {
    super(parts.vocab, 'HuggingFaceTokenizer', parts.layout);
    this.source = json;
    this.model = parts.model;
    this.normalizer = buildNormalizer(json.normalizer);
    this.preTokenizer = buildPreTokenizer(json.pre_tokenizer);
    this.postProcessor = buildPostProcessor(json.post_processor);
    this.decoder = buildDecoder(json.decoder);
    // With no normalizer both kinds match the same text; with one, HF matches normalized tokens after it.
    this.alwaysAligned = this.preTokenizer?.needsAlignment ?? false;
    const normalizedFirst = this.normalizer === null;
    this.rawMatcher = new AddedTokenMatcher(parts.added.filter((t) => normalizedFirst || !t.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(normalizedFirst ? [] : parts.added.filter((t) => t.normalized));
    this.specialIds = new Set(parts.added.filter((t) => t.special).map((t) => t.id));
  }

  /** Builds a tokenizer from a parsed tokenizer.json, checking its structure. */
  static fromHuggingFaceJSON(json: unknown): HuggingFaceTokenizer {
    const root = objectAt(json, '(root)');
    for (const key of ['truncation', 'padding'] as const)
      if (root[key] !== undefined && root[key] !== null)
        throw new TokenizerFileError(`"${key}" settings are not supported (set the field to null)`);
    const model = buildModel(root.model);
    const added = parseAddedTokens(root.added_tokens);

    const byId: Array<string | undefined> = [];
    for (const [token, id] of model.vocab) {
      if (byId[id] !== undefined) throw new TokenizerFileError(`field "model.vocab": id ${id} is given to two tokens`);
      byId[id] = token;
    }
    for (const t of added) {
      const existing = byId[t.id];
      if (existing !== undefined && existing !== t.content)
        throw new TokenizerFileError(
          `added token ${JSON.stringify(t.content)} has id ${t.id}, which the vocab gives to ${JSON.stringify(existing)}`,
        );
      const other = model.vocab.get(t.content);
      if (other !== undefined && other !== t.id)
        throw new TokenizerFileError(
          `added token ${JSON.stringify(t.content)} has id ${t.id}, the vocab says ${other}`,
        );
      byId[t.id] = t.content;
    }
    const vocab: string[] = [];
    for (let id = 0; id < byId.length; id++) {
      const token = byId[id];
      if (token === undefined) throw new TokenizerFileError(`field "model.vocab": no token has id ${id}`);
      vocab.push(token);
    }
    const idOfToken = new Map(vocab.map((t, i) => [t, i]));
    const find = (names: string[]) => {
      for (const name of names) {
        const id = idOfToken.get(name);
        if (id !== undefined) return id;
      }
      return -1;
    };
    const unk = model.unkToken === null ? find(UNK_NAMES) : (idOfToken.get(model.unkToken) as number);
    const layout = { padId: find(PAD_NAMES), bosId: find(BOS_NAMES), eosId: find(EOS_NAMES), unkId: unk };
    return new HuggingFaceTokenizer(root, { vocab, model, added, layout });
  }

  override isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The ids of text; with addSpecialTokens the post-processor's special tokens (e.g. [CLS] ... [SEP]) too. */
  encode(text: string, options?: EncodePairOptions): number[] {
    return this.run('HuggingFaceTokenizer.encode', text, options, false).ids;
  }

  /** encode() with each token's offsets in the input (see EncodingWithOffsets). */
  encodeWithOffsets(text: string, options?: EncodePairOptions): EncodingWithOffsets {
    const { ids, offsets } = this.run('HuggingFaceTokenizer.encodeWithOffsets', text, options, true);
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < ids.length; i++) pairs.push([(offsets as number[])[2 * i], (offsets as number[])[2 * i + 1]]);
    return { ids, offsets: pairs };
  }

  private run(op: string, text: string, options: EncodePairOptions | undefined, tracked: boolean): Encoding {
    this.checkText(op, text);
    const pairText = options?.pair;
    if (pairText !== undefined) this.checkText(op, pairText);
    const a = this.encodeSequence(text, tracked);
    const b = pairText === undefined ? null : this.encodeSequence(pairText, tracked);
    const post = this.postProcessor;
    if (post?.trimOffsets) {
      const tokenOf = (id: number) => this.vocab[id];
      post.trimOffsets(a, tokenOf, text);
      if (b !== null) post.trimOffsets(b, tokenOf, pairText as string);
    }
    if (options?.addSpecialTokens && post?.addSpecial) return post.addSpecial(a, b);
    if (b === null) return a;
    return { ids: [...a.ids, ...b.ids], offsets: a.offsets && b.offsets ? [...a.offsets, ...b.offsets] : null };
  }

  /** Added tokens matched in the raw text, then the normalizer, added tokens matched in the normalized text, the
   * pre-tokenizer and the model on each word. */
  private encodeSequence(text: string, tracked: boolean): Encoding {
    const ids: number[] = [];
    const offsets: number[] | null = tracked ? [] : null;
    const aligned = tracked || this.alwaysAligned;
    const spans: number[] | undefined = tracked ? [] : undefined;
    for (const raw of this.rawMatcher.split(text)) {
      if (raw.id >= 0) {
        ids.push(raw.id);
        offsets?.push(raw.start, raw.end);
        continue;
      }
      let piece = NormalizedText.of(text.slice(raw.start, raw.end), raw.start, aligned);
      if (this.normalizer !== null) piece = this.normalizer(piece);
      for (const seg of this.normalizedMatcher.split(piece.text)) {
        if (seg.id >= 0) {
          ids.push(seg.id);
          offsets?.push(...piece.originalRange(seg.start, seg.end));
          continue;
        }
        const part = seg.start === 0 && seg.end === piece.length ? piece : piece.slice(seg.start, seg.end);
        const words = this.preTokenizer === null ? (part.length > 0 ? [part] : []) : this.preTokenizer.split(part);
        for (const word of words) {
          if (spans !== undefined) spans.length = 0;
          for (const id of this.model.tokenize(word.text, spans)) ids.push(id);
          if (spans !== undefined && offsets !== null)
            for (let k = 0; k < spans.length; k += 2) word.pushOriginalRange(offsets, spans[k], spans[k + 1]);
        }
      }
    }
    return { ids, offsets };
  }

  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    const tokens = this.tokensOf('HuggingFaceTokenizer.decode', ids, options).filter((t): t is string => t !== null);
    return this.decoder === null ? tokens.join(' ') : this.decoder(tokens);
  }

  /** This library's JSON form, wrapping the tokenizer.json document. */
  toJSON(): TokenizerJSON {
    return { type: 'HuggingFaceTokenizer', version: 1, tokenizer: this.source };
  }

  /** Writes the tokenizer.json document (HF's format) to path atomically. */
  override save(path: string): void {
    writeFileAtomic(path, JSON.stringify(this.source));
  }
}
