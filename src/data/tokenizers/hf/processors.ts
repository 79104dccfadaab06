// HF's post-processors, built from their JSON: they add the special tokens around one sequence or a pair, and
// (ByteLevel, RobertaProcessing) trim the spaces that byte-level tokens carry off their offsets.
import { CHAR_TO_BYTE } from '../bpe';
import {
  booleanAt,
  idAt,
  isObject,
  JSONObject,
  objectAt,
  stringAt,
  TokenizerFileError,
  typeOf,
  unsupported,
  arrayAt,
} from './schema';

/** Ids and, when asked for, their offsets as flattened [start, end) pairs. */
export interface Encoding {
  ids: number[];
  offsets: number[] | null;
}

export interface PostProcessor {
  /** Adds the special tokens (null: the processor adds none). */
  addSpecial: ((a: Encoding, b: Encoding | null) => Encoding) | null;
  /** Trims offsets in place, given each id's token string and the input text (null: leaves them). */
  trimOffsets: ((encoding: Encoding, tokenOf: (id: number) => string, text: string) => void) | null;
}

const SPACE_CHAR = [...CHAR_TO_BYTE].find(([, b]) => b === 0x20)?.[0] as string;
const WHITESPACE = /^\p{White_Space}$/u;

/** pos moved by n characters (code points) of text, forward or back (HF counts offsets in characters). */
function moveChars(text: string, pos: number, n: number): number {
  for (let k = 0; k < Math.abs(n); k++) {
    if (n > 0) pos += (text.codePointAt(pos) ?? 0) > 0xffff ? 2 : 1;
    else
      pos -=
        pos >= 2 && (text.charCodeAt(pos - 1) & 0xfc00) === 0xdc00 && (text.charCodeAt(pos - 2) & 0xfc00) === 0xd800
          ? 2
          : 1;
  }
  return pos;
}

/** HF's process_offsets: a token's leading and trailing spaces (as byte-level characters) are not part of its
 * offsets, except the one space added before the first token. */
function byteLevelTrim(addPrefixSpace: boolean) {
  return (encoding: Encoding, tokenOf: (id: number) => string, text: string) => {
    const offsets = encoding.offsets;
    if (offsets === null) return;
    encoding.ids.forEach((id, i) => {
      const chars = [...tokenOf(id)];
      const isSpace = (c: string) => c === SPACE_CHAR || WHITESPACE.test(c);
      let leading = 0;
      while (leading < chars.length && isSpace(chars[leading])) leading++;
      let trailing = 0;
      while (trailing < chars.length && isSpace(chars[chars.length - 1 - trailing])) trailing++;
      if (leading > 0) {
        if ((i === 0 || offsets[2 * i] === 0) && addPrefixSpace && leading === 1) leading = 0;
        offsets[2 * i] = Math.min(moveChars(text, offsets[2 * i], leading), offsets[2 * i + 1]);
      }
      // HF trims the end only when it is at least `trailing` characters into the text.
      const back = trailing > 0 ? moveChars(text, offsets[2 * i + 1], -trailing) : -1;
      if (back >= 0) offsets[2 * i + 1] = Math.max(back, offsets[2 * i]);
    });
  };
}

function join(parts: Array<Encoding | number[]>, tracked: boolean): Encoding {
  const ids: number[] = [];
  const offsets: number[] | null = tracked ? [] : null;
  for (const part of parts) {
    if (Array.isArray(part)) {
      for (const id of part) {
        ids.push(id);
        offsets?.push(0, 0);
      }
    } else {
      for (const id of part.ids) ids.push(id);
      if (offsets !== null && part.offsets !== null) for (const x of part.offsets) offsets.push(x);
    }
  }
  return { ids, offsets };
}
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
    case 'ByteLevel': {
      const trim = booleanAt(obj, 'trim_offsets', field, true);
      return {
        addSpecial: null,
        trimOffsets: trim ? byteLevelTrim(booleanAt(obj, 'add_prefix_space', field, true)) : null,
      };
    }
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
      const trim = double && obj.trim_offsets === true ? byteLevelTrim(obj.add_prefix_space === true) : null;
      return {
        addSpecial: (a, b) => {
          const tracked = a.offsets !== null;
          if (b === null) return join([[cls], a, [sep]], tracked);
          return join([[cls], a, double ? [sep, sep] : [sep], b, [sep]], tracked);
        },
        trimOffsets: trim,
      };
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
      return {
        addSpecial: (a, b) =>
          join(
            (b === null ? single : pair).map((piece) => (piece === 'A' ? a : piece === 'B' ? (b ?? []) : piece)),
            a.offsets !== null,
          ),
        trimOffsets: null,
      };
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
