// HF's normalizers, pre-tokenizers, decoders and post-processors, built from their JSON; a type this library
// does not implement is an error naming it.
import { byteLevelDecode, ByteLevelPreTokenizer, PreTokenizer } from './bytelevel';
import {
  arrayAt,
  idAt,
  isObject,
  JSONObject,
  objectAt,
  stringAt,
  TokenizerFileError,
  typeOf,
  unsupported,
} from './schema';
import {
  bertNormalizer,
  BertPreTokenizer,
  lowercaseChars,
  stripAccents,
  WhitespacePreTokenizer,
  WhitespaceSplitPreTokenizer,
  wordPieceDecoder,
} from './wordpiece';

export type Normalizer = (text: string) => string;

export function buildNormalizer(json: unknown, field = 'normalizer'): Normalizer | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(type);
    case 'Lowercase':
      return lowercaseChars;
    case 'StripAccents':
      return stripAccents;
    case 'BertNormalizer':
      return bertNormalizer(obj, field);
    case 'Sequence': {
      const parts = arrayAt(obj, 'normalizers', field).map((n, i) => buildNormalizer(n, `${field}.normalizers[${i}]`));
      return (s) => parts.reduce((t, f) => (f ? f(t) : t), s);
    }
    default:
      throw unsupported('normalizer', type);
  }
}

class SequencePreTokenizer implements PreTokenizer {
  constructor(private readonly parts: PreTokenizer[]) {}

  split(text: string): string[] {
    let words = [text];
    for (const p of this.parts) words = words.flatMap((w) => p.split(w));
    return words;
  }
}

export function buildPreTokenizer(json: unknown, field = 'pre_tokenizer'): PreTokenizer | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'ByteLevel':
      return new ByteLevelPreTokenizer(obj, field);
    case 'BertPreTokenizer':
      return new BertPreTokenizer();
    case 'Whitespace':
      return new WhitespacePreTokenizer();
    case 'WhitespaceSplit':
      return new WhitespaceSplitPreTokenizer();
    case 'Sequence':
      return new SequencePreTokenizer(
        arrayAt(obj, 'pretokenizers', field).map((p, i) => {
          const built = buildPreTokenizer(p, `${field}.pretokenizers[${i}]`);
          if (built === null) throw new TokenizerFileError(`field "${field}.pretokenizers[${i}]" must be an object`);
          return built;
        }),
      );
    default:
      throw unsupported('pre_tokenizer', type);
  }
}

/** Token strings to text. */
export type Decoder = (tokens: string[]) => string;

export function buildDecoder(json: unknown, field = 'decoder'): Decoder | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  switch (type) {
    case 'ByteLevel':
      return byteLevelDecode;
    case 'WordPiece':
      return wordPieceDecoder(json as JSONObject, field);
    default:
      throw unsupported('decoder', type);
  }
}

/** Adds the special tokens around one sequence or a pair (b null for a single sequence). */
export type PostProcessor = (a: number[], b: number[] | null) => number[];

function tokenIdPair(obj: JSONObject, key: string, field: string): number {
  const value = obj[key];
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string')
    throw new TokenizerFileError(`field "${field}.${key}" must be a pair [token, id]`);
  return idAt({ id: value[1] }, 'id', `${field}.${key}[1]`);
}

export function buildPostProcessor(json: unknown, field = 'post_processor'): PostProcessor | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'ByteLevel':
      return null; // offsets only
    case 'RobertaProcessing':
    case 'BertProcessing': {
      const cls = tokenIdPair(obj, 'cls', field);
      const sep = tokenIdPair(obj, 'sep', field);
      const double = type === 'RobertaProcessing';
      // HF reads a RobertaProcessing without these fields as a BertProcessing (one separator between the
      // pair); files HF writes always carry them, so require them rather than guess.
      if (double)
        for (const key of ['trim_offsets', 'add_prefix_space'])
          if (typeof obj[key] !== 'boolean') throw new TokenizerFileError(`field "${field}.${key}" must be a boolean`);
      return (a, b) => (b === null ? [cls, ...a, sep] : [cls, ...a, sep, ...(double ? [sep] : []), ...b, sep]);
    }
    case 'TemplateProcessing': {
      const specials = objectAt(obj.special_tokens ?? {}, `${field}.special_tokens`);
      const idsOf = new Map<string, number[]>();
      for (const name of Object.keys(specials)) {
        const f = `${field}.special_tokens.${name}`;
        const ids = arrayAt(objectAt(specials[name], f), 'ids', f);
        idsOf.set(
          name,
          ids.map((id, i) => idAt({ id }, 'id', `${f}.ids[${i}]`)),
        );
      }
      const single = template(obj, 'single', field, idsOf);
      const pair = template(obj, 'pair', field, idsOf);
      return (a, b) =>
        (b === null ? single : pair).flatMap((piece) => (piece === 'A' ? a : piece === 'B' ? (b ?? []) : piece));
    }
    default:
      throw unsupported('post_processor', type);
  }
}

/** A template as a list of 'A', 'B' or the ids of a special token. */
function template(
  obj: JSONObject,
  key: string,
  field: string,
  idsOf: Map<string, number[]>,
): Array<'A' | 'B' | number[]> {
  return arrayAt(obj, key, field).map((item, i) => {
    const f = `${field}.${key}[${i}]`;
    if (!isObject(item)) throw new TokenizerFileError(`field "${f}" must be an object`);
    if (isObject(item.Sequence)) {
      const id = stringAt(item.Sequence, 'id', `${f}.Sequence`);
      if (id !== 'A' && id !== 'B') throw new TokenizerFileError(`field "${f}.Sequence.id" must be "A" or "B"`);
      return id;
    }
    if (isObject(item.SpecialToken)) {
      const name = stringAt(item.SpecialToken, 'id', `${f}.SpecialToken`);
      const ids = idsOf.get(name);
      if (ids === undefined)
        throw new TokenizerFileError(
          `field "${f}.SpecialToken.id" names ${JSON.stringify(name)}, not in special_tokens`,
        );
      return ids;
    }
    throw new TokenizerFileError(`field "${f}" must hold a Sequence or a SpecialToken`);
  });
}
