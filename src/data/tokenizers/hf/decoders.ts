// HF's decoders, built from their JSON. Each maps a list of token strings to a new list (HF's decode_chain), so
// that a Sequence can chain them; the text is the final list joined.
import { byteLevelDecode } from './bytelevel';
import { buildPattern } from './patterns';
import { metaspaceOptions } from './pretokenizers';
import { arrayAt, idAt, JSONObject, stringAt, TokenizerFileError, typeOf, unsupported } from './schema';
import { wordPieceDecoder } from './wordpiece';

export type DecodeStep = (tokens: string[]) => string[];

/** Token strings to text. */
export type Decoder = (tokens: string[]) => string;

export function buildDecoder(json: unknown, field = 'decoder'): Decoder | null {
  const step = buildDecodeStep(json, field);
  return step === null ? null : (tokens) => step(tokens).join('');
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a leading U+FEFF, as Rust does
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

function buildDecodeStep(json: unknown, field: string): DecodeStep | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'ByteLevel':
      return (tokens) => [byteLevelDecode(tokens)];
    case 'WordPiece':
      return wordPieceDecoder(obj, field);
    case 'Metaspace': {
      const { replacement, scheme } = metaspaceOptions(obj, field);
      return (tokens) =>
        tokens.map((token, i) => token.split(replacement).join(i === 0 && scheme !== 'never' ? '' : ' '));
    }
    case 'Replace': {
      const pattern = buildPattern(obj, field);
      const content = stringAt(obj, 'content', field);
      return (tokens) =>
        tokens.map((token) =>
          pattern(token)
            .map(([s, e, isMatch]) => (isMatch ? content : token.slice(s, e)))
            .join(''),
        );
    }
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = stringAt(obj, 'content', field);
      if ([...content].length !== 1) throw new TokenizerFileError(`field "${field}.content" must be one character`);
      const start = idAt(obj, 'start', field);
      const stop = idAt(obj, 'stop', field);
      return (tokens) => tokens.map((token) => strip(token, content, start, stop));
    }
    case 'Sequence': {
      const steps = arrayAt(obj, 'decoders', field).map((d, i) => {
        const step = buildDecodeStep(d, `${field}.decoders[${i}]`);
        if (step === null) throw new TokenizerFileError(`field "${field}.decoders[${i}]" must be an object`);
        return step;
      });
      return (tokens) => steps.reduce((t, step) => step(t), tokens);
    }
    default:
      throw unsupported('decoder', type);
  }
}

/** Runs of <0xNN> tokens become the text their bytes spell, or one U+FFFD per byte when not valid UTF-8. */
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out.push(utf8Decoder.decode(Uint8Array.from(bytes)));
    } catch {
      for (let i = 0; i < bytes.length; i++) out.push('\ufffd');
    }
    bytes = [];
  };
  for (const token of tokens) {
    const m = BYTE_TOKEN.exec(token);
    if (m) bytes.push(parseInt(m[1], 16));
    else {
      flush();
      out.push(token);
    }
  }
  flush();
  return out;
}

/** Up to `start` leading and `stop` trailing copies of content removed from a token. */
function strip(token: string, content: string, start: number, stop: number): string {
  const chars = [...token];
  let from = 0;
  while (from < Math.min(start, chars.length) && chars[from] === content) from++;
  let to = chars.length;
  for (let i = 0; i < stop && to > from && chars[to - 1] === content; i++) to--;
  return chars.slice(from, to).join('');
}
