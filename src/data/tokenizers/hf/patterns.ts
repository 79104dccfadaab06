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

/** An Oniguruma pattern as a JavaScript one (flags gmu); constructs JavaScript lacks are errors. */
export function translateRegex(source: string, field: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\' && i + 1 < source.length) {
      const next = source[i + 1];
      const mapped = CLASS_ESCAPES[next];
      if (mapped) {
        const replacement = inClass ? mapped[1] : mapped[0];
        if (replacement === null)
          throw new TokenizerFileError(`field "${field}": \\${next} inside a character class is not supported`);
        out += replacement;
      } else if ('hHAzZGR'.includes(next) || next === 'K' || next === 'X')
        throw new TokenizerFileError(`field "${field}": regex escape \\${next} is not supported`);
      else out += c + next;
      i++;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    else if (c === '(' && source[i + 1] === '?' && /[imx-]/.test(source[i + 2] ?? ''))
      throw new TokenizerFileError(`field "${field}": inline regex options "(?${source[i + 2]}" are not supported`);
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
