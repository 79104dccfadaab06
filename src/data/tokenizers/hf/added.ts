// HF's added tokens: strings matched in the text before the model runs (the longest at the leftmost position
// wins), optionally only as whole words and absorbing whitespace on their left or right.
import { booleanAt, idAt, JSONObject, objectAt, stringAt, TokenizerFileError } from './schema';

export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A range [start, end) of the text: plain text for the pipeline (id -1) or an added token (the range it matched,
 * without the whitespace lstrip/rstrip absorbed). */
export interface Segment {
  start: number;
  end: number;
  id: number;
}

export function parseAddedTokens(json: unknown): AddedToken[] {
  if (json === undefined || json === null) return [];
  if (!Array.isArray(json)) throw new TokenizerFileError('field "added_tokens" must be an array');
  return json.map((item, i) => {
    const f = `added_tokens[${i}]`;
    const obj: JSONObject = objectAt(item, f);
    const content = stringAt(obj, 'content', f);
    if (content.length === 0) throw new TokenizerFileError(`field "${f}.content" must not be empty`);
    const special = booleanAt(obj, 'special', f, false);
    return {
      id: idAt(obj, 'id', f),
      content,
      singleWord: booleanAt(obj, 'single_word', f, false),
      lstrip: booleanAt(obj, 'lstrip', f, false),
      rstrip: booleanAt(obj, 'rstrip', f, false),
      normalized: booleanAt(obj, 'normalized', f, !special),
      special,
    };
  });
}

const WHITESPACE = /\p{White_Space}/u;
const WORD_CHAR = /[\p{Alphabetic}\p{Nd}\p{Nl}\p{No}_]/u;

/** Splits texts on a set of added tokens. */
export class AddedTokenMatcher {
  private readonly pattern: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;

  constructor(tokens: AddedToken[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.pattern =
      contents.length === 0
        ? null
        : new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'gu');
  }

  /** Splits text into plain ranges and added tokens (empty plain ranges are dropped). */
  split(text: string): Segment[] {
    if (this.pattern === null || text.length === 0)
      return text.length > 0 ? [{ start: 0, end: text.length, id: -1 }] : [];
    const out: Segment[] = [];
    let done = 0; // text before this index is already in out
    this.pattern.lastIndex = 0;
    for (let m = this.pattern.exec(text); m !== null; m = this.pattern.exec(text)) {
      const token = this.byContent.get(m[0]) as AddedToken;
      let start = m.index;
      let end = start + m[0].length;
      if (token.singleWord) {
        const prevChar = lastChar(text.slice(Math.max(0, start - 2), start));
        const after = firstChar(text, end);
        if ((prevChar && WORD_CHAR.test(prevChar)) || (after && WORD_CHAR.test(after))) {
          this.pattern.lastIndex = start + 1;
          continue;
        }
      }
      if (token.lstrip)
        for (let c = lastChar(text.slice(done, start)); c && WHITESPACE.test(c); c = lastChar(text.slice(done, start)))
          start -= c.length;
      if (token.rstrip)
        for (let c = firstChar(text, end); c && WHITESPACE.test(c); c = firstChar(text, end)) end += c.length;
      if (start > done) out.push({ start: done, end: start, id: -1 });
      // The whitespace it absorbed is dropped, and not part of its offsets.
      out.push({ start: m.index, end: m.index + m[0].length, id: token.id });
      done = end;
      this.pattern.lastIndex = end;
    }
    if (done < text.length) out.push({ start: done, end: text.length, id: -1 });
    return out;
  }
}

function firstChar(s: string, at: number): string {
  return at < s.length ? String.fromCodePoint(s.codePointAt(at) as number) : '';
}

function lastChar(s: string): string {
  const chars = Array.from(s.slice(-2));
  return chars[chars.length - 1] ?? '';
}
