// Command-line options: `--name value`, `--name=value`, boolean `--flag` / `--no-flag`, `--` ends options.
// node:util's parseArgs splits argv into tokens; an option table types and checks their values and renders the
// --help text. Config files (JSON) are checked against the same table, keyed by the camelCase option names.
import { parseArgs as parseArgv } from 'node:util';
import { editDistance } from '../util/edit_distance';

/** An error in how the command was invoked (exit code 2) or in what it was given (exit code 1). No stack
 * trace is shown for these. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  /** The flag without dashes, kebab-case: 'max-steps'. Its config key is the camelCase form (maxSteps). */
  name: string;
  type: OptionType;
  description: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  /** Bounds of numeric options (inclusive), and whether min itself is excluded. */
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  /** The placeholder shown in help ('FILE', 'N'...). */
  placeholder?: string;
  required?: boolean;
  /** Not read from --config files (e.g. --config itself). */
  flagOnly?: boolean;
}

export type OptionValues = Record<string, string | number | boolean | undefined>;

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** ' (did you mean X?)' for the closest candidate within a small edit distance, else ''. */
export function suggestion(input: string, candidates: readonly string[], prefix = ''): string {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(input, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(input.length / 3))
    ? ` (did you mean ${prefix}${best}?)`
    : '';
}

/** Converts and checks one value given for an option: text from the command line, or a JSON value from a config
 * file (which must already have the option's type: 3, not "3"). */
export function coerceValue(
  spec: OptionSpec,
  raw: unknown,
  source: string,
  fromText = true,
): string | number | boolean {
  const fail = (expected: string) =>
    new UserError(`invalid value ${JSON.stringify(raw)} for ${source}: expected ${expected}`, 2);
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (!fromText) throw fail('true or false');
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no') return false;
      throw fail('true or false');
    }
    case 'string': {
      if (typeof raw !== 'string' || raw.length === 0) throw fail('a non-empty string');
      if (spec.choices && !spec.choices.includes(raw)) throw fail(`one of ${spec.choices.join(', ')}`);
      return raw;
    }
    case 'number':
    case 'integer': {
      const value =
        typeof raw === 'number' ? raw : fromText && typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const integer = spec.type === 'integer';
      if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value)))
        throw fail(integer ? 'an integer' : 'a number');
      if (spec.min !== undefined && (value < spec.min || (spec.exclusiveMin === true && value === spec.min)))
        throw fail(`${integer ? 'an integer' : 'a number'} ${spec.exclusiveMin ? '>' : '>='} ${spec.min}`);
      if (spec.max !== undefined && value > spec.max)
        throw fail(`${integer ? 'an integer' : 'a number'} <= ${spec.max}`);
      return value;
    }
  }
}

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  /** Options given on the command line (camelCase), which override config files. */
  explicit: Set<string>;
  help: boolean;
}

type Token = NonNullable<ReturnType<typeof parseArgv>['tokens']>[number];
type OptionToken = Extract<Token, { kind: 'option' }>;

/** An argument that stands for itself though it starts with a dash: a negative number such as '-1' or '-0.5'. */
const NEGATIVE_NUMBER = /^-\d/;

/** node:util's tokens for argv. Options that take a value are declared strings (coerceValue types them).
 * strict is off, so unknown flags, booleans given a value and values that start with a dash (`--lr -1`) come
 * back as tokens, for parseArgs below to judge. node:util would read a negative number standing alone as short
 * options (and '-1e-3' as a group holding '--'): such an argument becomes a positional and parsing restarts
 * after it. */
function tokenize(argv: readonly string[], specs: readonly OptionSpec[]): Token[] {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of specs) options[s.name] = { type: s.type === 'boolean' ? 'boolean' : 'string' };
  options.help = { type: 'boolean', short: 'h' };
  const tokens: Token[] = [];
  for (let start = 0; start < argv.length;) {
    const args = argv.slice(start);
    const parsed = parseArgv({ args, options, strict: false, allowPositionals: true, tokens: true }).tokens;
    const cut = parsed.findIndex((t) => t.kind === 'option' && NEGATIVE_NUMBER.test(args[t.index]));
    for (const t of cut === -1 ? parsed : parsed.slice(0, cut)) tokens.push({ ...t, index: t.index + start });
    if (cut === -1) break;
    const at = start + parsed[cut].index;
    tokens.push({ kind: 'positional', index: at, value: argv[at] });
    start = at + 1;
  }
  return tokens;
}

/** The spec a long-option token names and the text of its value; `--no-NAME` is NAME=false for a boolean. */
function optionValue(
  token: OptionToken,
  byName: ReadonlyMap<string, OptionSpec>,
  command: string,
): { spec: OptionSpec; raw: string } {
  let spec = byName.get(token.name);
  let raw = token.value;
  const negated = token.name.startsWith('no-') ? byName.get(token.name.slice(3)) : undefined;
  if (spec === undefined && negated?.type === 'boolean' && raw === undefined) {
    spec = negated;
    raw = 'false';
  }
  if (spec === undefined)
    throw new UserError(
      `unknown option '--${token.name}' for '${command}'${suggestion(token.name, [...byName.keys()], '--')}`,
      2,
    );
  if (raw === undefined && spec.type === 'boolean') raw = 'true';
  // A value taken from the next argument may not be another flag: `--out --lr 3` lacks the value of --out.
  const isFlag = raw !== undefined && !token.inlineValue && raw.startsWith('--') && raw.length > 2;
  if (raw === undefined || isFlag) throw new UserError(`option '--${spec.name}' needs a value`, 2);
  return { spec, raw };
}

/** Parses argv against the option table. Throws UserError (exit code 2) on unknown flags and bad values. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: OptionValues = {};
  const explicit = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (const token of tokenize(argv, specs)) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    // Short options: only -h. argv holds the whole argument, which names an unknown group such as '-hx'.
    if (!token.rawName.startsWith('--') && argv[token.index] !== '-h')
      throw new UserError(`unknown option '${argv[token.index]}' for '${command}'`, 2);
    if (token.name === 'help') {
      if (token.value !== undefined) throw new UserError("option '--help' takes no value", 2);
      help = true;
      continue;
    }
    const { spec, raw } = optionValue(token, byName, command);
    values[camelCase(spec.name)] = coerceValue(spec, raw, `--${spec.name}`);
    explicit.add(camelCase(spec.name));
  }
  return { values, positionals, explicit, help };
}

/** The values of every `--NAME` in argv, in order, found before the full parse (--task picks the option table
 * that parse needs). The other flags are not known here and are taken for booleans; arguments after `--` are
 * not flags. Throws when one has no value. */
export function findOptionValues(argv: readonly string[], name: string): string[] {
  const spec: OptionSpec = { name, type: 'string', description: '' };
  const byName = new Map([[name, spec]]);
  return tokenize(argv, [spec])
    .filter((t): t is OptionToken => t.kind === 'option' && t.name === name)
    .map((t) => optionValue(t, byName, '').raw);
}

/** Merges defaults < config file < command line, checks config keys and required options. */
export function resolveOptions(
  specs: readonly OptionSpec[],
  parsed: ParsedArgs,
  config: Record<string, unknown> | null,
  configFile = 'config',
): OptionValues {
  const byKey = new Map(specs.filter((s) => !s.flagOnly).map((s) => [camelCase(s.name), s]));
  const out: OptionValues = {};
  for (const s of specs) if (s.default !== undefined) out[camelCase(s.name)] = s.default;
  if (config !== null) {
    for (const [key, value] of Object.entries(config)) {
      const spec = byKey.get(key);
      if (spec === undefined)
        throw new UserError(`unknown key '${key}' in ${configFile}${suggestion(key, [...byKey.keys()])}`, 2);
      out[key] = coerceValue(spec, value, `'${key}' in ${configFile}`, false);
    }
  }
  for (const key of parsed.explicit) out[key] = parsed.values[key];
  for (const s of specs)
    if (s.required && out[camelCase(s.name)] === undefined)
      throw new UserError(`missing required option --${s.name}`, 2);
  return out;
}

/** The options section of a help text. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const placeholder =
      s.type === 'boolean'
        ? ''
        : ` ${s.placeholder ?? (s.choices ? s.choices.join('|') : s.type === 'integer' || s.type === 'number' ? 'N' : 'VALUE')}`;
    const flag = `--${s.name}${placeholder}`;
    const notes: string[] = [];
    if (s.required) notes.push('required');
    if (s.default !== undefined) notes.push(`default: ${String(s.default)}`);
    return [flag, `${s.description}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.min(32, Math.max(...rows.map(([flag]) => flag.length)) + 2);
  return rows
    .map(([flag, text]) => `  ${flag.padEnd(width)}${flag.length >= width ? `\n  ${' '.repeat(width)}` : ''}${text}`)
    .join('\n');
}
