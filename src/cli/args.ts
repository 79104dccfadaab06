// A small command-line parser: `--name value`, `--name=value`, boolean `--flag` / `--no-flag`, `--` ends options.
// Values are typed and checked by an option table, which also renders the --help text. Config files (JSON) are
// checked against the same table, keyed by the camelCase option names.

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

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
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
  return best !== null && bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? ` (did you mean ${prefix}${best}?)` : '';
}

/** Converts and checks one value given for an option: text from the command line, or a JSON value from a config
 * file (which must already have the option's type: 3, not "3"). */
export function coerceValue(spec: OptionSpec, raw: unknown, source: string, fromText = true): string | number | boolean {
  const fail = (expected: string) => new UserError(`invalid value ${JSON.stringify(raw)} for ${source}: expected ${expected}`, 2);
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
      const value = typeof raw === 'number' ? raw : fromText && typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const integer = spec.type === 'integer';
      if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) throw fail(integer ? 'an integer' : 'a number');
      if (spec.min !== undefined && (value < spec.min || (spec.exclusiveMin === true && value === spec.min)))
        throw fail(`${integer ? 'an integer' : 'a number'} ${spec.exclusiveMin ? '>' : '>='} ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) throw fail(`${integer ? 'an integer' : 'a number'} <= ${spec.max}`);
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

/** Parses argv against the option table. Throws UserError (exit code 2) on unknown flags and bad values. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values: OptionValues = {};
  const explicit = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UserError(`unknown option '${arg}' for '${command}'`, 2);
    const eq = arg.indexOf('=');
    let name = arg.slice(2, eq === -1 ? undefined : eq);
    let inline: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);
    if (spec === undefined && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean' && inline === undefined) {
      spec = byName.get(name.slice(3)) as OptionSpec;
      name = spec.name;
      inline = 'false';
    }
    if (spec === undefined)
      throw new UserError(`unknown option '--${name}' for '${command}'${suggestion(name, [...byName.keys()], '--')}`, 2);
    let raw: string;
    if (inline !== undefined) raw = inline;
    else if (spec.type === 'boolean') raw = 'true';
    else {
      if (i + 1 >= argv.length || (argv[i + 1].startsWith('--') && argv[i + 1].length > 2))
        throw new UserError(`option '--${name}' needs a value`, 2);
      raw = argv[++i];
    }
    values[camelCase(spec.name)] = coerceValue(spec, raw, `--${spec.name}`);
    explicit.add(camelCase(spec.name));
  }
  return { values, positionals, explicit, help };
}

/** Merges defaults < config file < command line, checks config keys and required options. */
export function resolveOptions(specs: readonly OptionSpec[], parsed: ParsedArgs, config: Record<string, unknown> | null, configFile = 'config'): OptionValues {
  const byKey = new Map(specs.filter((s) => !s.flagOnly).map((s) => [camelCase(s.name), s]));
  const out: OptionValues = {};
  for (const s of specs) if (s.default !== undefined) out[camelCase(s.name)] = s.default;
  if (config !== null) {
    for (const [key, value] of Object.entries(config)) {
      const spec = byKey.get(key);
      if (spec === undefined) throw new UserError(`unknown key '${key}' in ${configFile}${suggestion(key, [...byKey.keys()])}`, 2);
      out[key] = coerceValue(spec, value, `'${key}' in ${configFile}`, false);
    }
  }
  for (const key of parsed.explicit) out[key] = parsed.values[key];
  for (const s of specs)
    if (s.required && out[camelCase(s.name)] === undefined) throw new UserError(`missing required option --${s.name}`, 2);
  return out;
}

/** The options section of a help text. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const placeholder = s.type === 'boolean' ? '' : ` ${s.placeholder ?? (s.choices ? s.choices.join('|') : s.type === 'integer' || s.type === 'number' ? 'N' : 'VALUE')}`;
    const flag = `--${s.name}${placeholder}`;
    const notes: string[] = [];
    if (s.required) notes.push('required');
    if (s.default !== undefined) notes.push(`default: ${String(s.default)}`);
    return [flag, `${s.description}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.min(32, Math.max(...rows.map(([flag]) => flag.length)) + 2);
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${flag.length >= width ? `\n  ${' '.repeat(width)}` : ''}${text}`).join('\n');
}
