// The patterns of HF's Split pre-tokenizer and Replace normalizer/decoder: a literal string, or a regular
// expression in Oniguruma's syntax, translated to JavaScript's where the two agree.
import { Match, regexMatches } from './normalized';
import { isObject, JSONObject, TokenizerFileError } from './schema';

/** A function from text to its ranges matching or not matching the pattern. */
export type Pattern = (text: string) => Match[];

// Oniguruma reads these classes by Unicode properties; JavaScript's \d and \w are ASCII only, and its \s
// differs from White_Space on U+0085 and U+FEFF.
const CLASS_ESCAPES: Record<string, [outside: string, inside: string | null]> = {
  s: ['\\p{White_Space}', '\\p{White_Space}'],
  S: ['\\P{White_Space}', '\\P{White_Space}'],
  d: ['\\p{Nd}', '\\p{Nd}'],
  D: ['\\P{Nd}', '\\P{Nd}'],
  w: ['[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]', '\\p{L}\\p{M}\\p{Nd}\\p{Pc}'],
  W: ['[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]', null],
};

/** An Oniguruma pattern as a JavaScript one (flags gmu); constructs JavaScript lacks are errors. Case-insensitive
 * groups "(?i:...)" of plain text (as Llama 3's split has) become groups of [xX] classes. */
export function translateRegex(source: string, field: string): RegExp {
  let out = '';
  let inClass = false;
  const groups: boolean[] = []; // per open group: whether it is case-insensitive
  const fail = (what: string) => new TokenizerFileError(`field "${field}": ${what} is not supported`);
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    const caseless = groups.includes(true);
    if (c === '\\' && i + 1 < source.length) {
      const next = source[i + 1];
      const mapped = CLASS_ESCAPES[next];
      if (caseless && /[A-Za-z0-9]/.test(next)) throw fail(`regex escape \\${next} in a case-insensitive group`);
      if (mapped) {
        const replacement = inClass ? mapped[1] : mapped[0];
        if (replacement === null) throw fail(`\\${next} inside a character class`);
        out += replacement;
      } else if ('hHAzZGRKX'.includes(next)) throw fail(`regex escape \\${next}`);
      else out += c + next;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      if (caseless) throw fail('a character class in a case-insensitive group');
      inClass = true;
    } else if (c === '(' && source.startsWith('(?i:', i)) {
      groups.push(true);
      out += '(?:';
      i += 3;
      continue;
    } else if (c === '(' && source[i + 1] === '?' && /[imx-]/.test(source[i + 2] ?? ''))
      throw fail(`inline regex options "(?${source[i + 2]}"`);
    else if (c === '(') groups.push(false);
    else if (c === ')') groups.pop();
    else if (caseless && c.toLowerCase() !== c.toUpperCase()) {
      if (!/[A-Za-z]/.test(c)) throw fail(`the non-ASCII letter ${JSON.stringify(c)} in a case-insensitive group`);
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
      continue;
    }
    out += c;
  }
  try {
    return new RegExp(out, 'gmu'); // Oniguruma's ^ and $ match at line breaks too
  } catch (error) {
    throw new TokenizerFileError(
      `field "${field}": the regex ${JSON.stringify(source)} is not supported (${(error as Error).message})`,
    );
  }
}

function escapeLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The pattern of a component ({"String": s} or {"Regex": r} under "pattern"). */
export function buildPattern(obj: JSONObject, field: string): Pattern {
  const spec = obj.pattern;
  const f = `${field}.pattern`;
  if (!isObject(spec)) throw new TokenizerFileError(`field "${f}" must be {"String": ...} or {"Regex": ...}`);
  if (typeof spec.String === 'string') {
    const literal = spec.String;
    if (literal.length === 0) throw new TokenizerFileError(`field "${f}.String" must not be empty`);
    const regex = new RegExp(escapeLiteral(literal), 'gu');
    return (text) => regexMatches(text, regex);
  }
  if (typeof spec.Regex === 'string') {
    const regex = translateRegex(spec.Regex, `${f}.Regex`);
    return (text) => regexMatches(text, regex);
  }
  throw new TokenizerFileError(`field "${f}" must be {"String": ...} or {"Regex": ...}`);
}
