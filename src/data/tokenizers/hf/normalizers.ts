// HF's normalizers, built from their JSON: each rewrites a NormalizedText, keeping alignments as HF does so
// that offsets point into the original text.
import { Edit, NormalizedText } from './normalized';
import { buildPattern } from './patterns';
import { arrayAt, booleanAt, JSONObject, stringAt, typeOf, unsupported } from './schema';

export type Normalizer = (text: NormalizedText) => NormalizedText;

type Form = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';

export function buildNormalizer(json: unknown, field = 'normalizer'): Normalizer | null {
  if (json === null || json === undefined) return null;
  const type = typeOf(json, field);
  const obj = json as JSONObject;
  switch (type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (t) => unicodeNormalize(t, type);
    case 'Lowercase':
      return lowercase;
    case 'StripAccents':
      return (t) => t.mapChars((c) => (MARK.test(c) ? '' : c));
    case 'BertNormalizer':
      return bertNormalizer(obj, field);
    case 'Prepend': {
      const prefix = stringAt(obj, 'prepend', field);
      return (t) => prepend(t, prefix);
    }
    case 'Replace': {
      const pattern = buildPattern(obj, field);
      const content = stringAt(obj, 'content', field);
      return (t) => t.replace(pattern(t.text), content);
    }
    case 'Sequence': {
      const parts = arrayAt(obj, 'normalizers', field).map((n, i) => buildNormalizer(n, `${field}.normalizers[${i}]`));
      return (t) => parts.reduce((s, f) => (f ? f(s) : s), t);
    }
    default:
      throw unsupported('normalizer', type);
  }
}

const MARK = /^\p{M}$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;
const CONTROL = /^\p{C}$/u;
const WHITESPACE = /^\p{White_Space}$/u;

function lowercase(t: NormalizedText): NormalizedText {
  return t.mapChars((c) => c.toLowerCase());
}

/** prefix before the first character (all of it aligned to that character); nothing for empty text. */
export function prepend(t: NormalizedText, prefix: string): NormalizedText {
  if (t.length === 0 || prefix.length === 0) return t;
  const chars = [...prefix];
  const edits: Edit[] = chars.map((c, i) => [c, i === 0 ? 0 : 1]);
  const rest = [...t.text];
  edits.push([rest[0], 1]);
  for (let i = 1; i < rest.length; i++) edits.push([rest[i], 0]);
  return t.transform(edits);
}

/** NFC/NFD/NFKC/NFKD with HF's alignments: decomposed characters share the alignment of the character they
 * came from, and a composed character takes that of its first part. */
function unicodeNormalize(t: NormalizedText, form: Form): NormalizedText {
  const normalized = t.text.normalize(form);
  if (normalized === t.text) return t;
  if (t.starts === null) return new NormalizedText(normalized, null, null, t.originalStart);
  const decomposition = form === 'NFC' || form === 'NFD' ? 'NFD' : 'NFKD';
  const decomposed = decomposeEdits(t.text, decomposition);
  return t.transform(form === decomposition ? decomposed : composeEdits(decomposed, normalized));
}

/** The decomposition of text as edits: each character's first part replaces it, the rest are inserted; then the
 * canonical reordering of marks (which moves the edits with their characters). */
function decomposeEdits(text: string, form: 'NFD' | 'NFKD'): Edit[] {
  const edits: Edit[] = [];
  for (const c of text) {
    let first = true;
    for (const d of c.normalize(form)) {
      edits.push([d, first ? 0 : 1]);
      first = false;
    }
  }
  const ordered = [...text.normalize(form)];
  // Reordering only permutes runs of marks: match each final character to the first unused edit of it.
  const out: Edit[] = [];
  const used = new Uint8Array(edits.length);
  let from = 0;
  for (const c of ordered) {
    while (from < edits.length && used[from]) from++;
    let k = from;
    while (k < edits.length && (used[k] || edits[k][0] !== c)) k++;
    if (k === edits.length) k = from; // not expected: whole-text and per-character forms agree on the parts
    used[k] = 1;
    out.push([c, edits[k][1]]);
  }
  return out;
}

/** Canonical composition of decomposed edits into the characters of composed: a composed character replaces
 * the old characters its parts replaced (taking the first one's alignment), or is inserted if none did. */
function composeEdits(decomposed: Edit[], composed: string): Edit[] {
  const used = new Uint8Array(decomposed.length);
  let head = 0; // decomposed edits before head are all used
  const firstUnused = () => {
    while (head < decomposed.length && used[head]) head++;
    return head;
  };
  // The first unused edit of character part at or after `from` (parts of one character lie close together).
  const find = (part: string, from: number) => {
    let k = from;
    while (k < decomposed.length && (used[k] || decomposed[k][0] !== part)) k++;
    return k < decomposed.length ? k : firstUnused();
  };
  const consumed = (change: number) => (change <= 0 ? 1 - change : 0);
  const out: Edit[] = [];
  for (const c of composed) {
    const start = firstUnused();
    const parts = [...c.normalize('NFD')];
    // A single part, or one that composes to a different character: it takes the next edit.
    const whole = parts.length > 1 && decomposed[start]?.[0] === parts[0];
    let total = 0;
    for (const part of whole ? parts : [parts[0]]) {
      const k = whole ? find(part, start) : start;
      used[k] = 1;
      total += consumed(decomposed[k][1]);
    }
    out.push([c, total === 0 ? 1 : 1 - total]);
  }
  return out;
}

function isChinese(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BERT's normalizer: drop control characters and turn whitespace into spaces, space out CJK ideographs, strip
 * accents (NFD, then no nonspacing marks), lowercase; each step optional, in HF's order. */
function bertNormalizer(json: JSONObject, field: string): Normalizer {
  const cleanText = booleanAt(json, 'clean_text', field, true);
  const chinese = booleanAt(json, 'handle_chinese_chars', field, true);
  const lower = booleanAt(json, 'lowercase', field, true);
  const strip =
    json.strip_accents === null || json.strip_accents === undefined
      ? lower
      : booleanAt(json, 'strip_accents', field, false);
  return (t) => {
    if (cleanText) {
      t = t.mapChars((c) => (c === '\0' || c === '\ufffd' || (!'\t\n\r'.includes(c) && CONTROL.test(c)) ? '' : c));
      t = t.mapChars((c) => ('\t\n\r'.includes(c) || WHITESPACE.test(c) ? ' ' : c));
    }
    if (chinese) t = t.mapChars((c) => (isChinese(c.codePointAt(0) as number) ? ` ${c} ` : c));
    if (strip) t = unicodeNormalize(t, 'NFD').mapChars((c) => (NONSPACING_MARK.test(c) ? '' : c));
    return lower ? lowercase(t) : t;
  };
}
