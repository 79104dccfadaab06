// A small validator for JSON request bodies: each route declares its fields with a check each, the fields of
// the API it imitates that this server does not implement, and which fields are required. Every problem in a
// body is reported at once, each naming its field, so a client fixes its request in one go.

/** Checks one field's value: returns what is wrong with it ('must be ...'), or null when it is fine. */
export type Check = (value: unknown) => string | null;

/** Says what a value of an unimplemented field would ask for ('n > 1'), or null when the value asks for the
 * behaviour this server has anyway (n = 1, echo = false, a penalty of 0...). */
export type Unsupported = (value: unknown) => string | null;

export interface ObjectSchema {
  fields: Record<string, Check>;
  required?: readonly string[];
  unsupported?: Record<string, Unsupported>;
}

export interface Problem {
  /** The field at fault (null: the body as a whole). */
  param: string | null;
  message: string;
}

/** A value as shown in a message: JSON, cut short. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value === 'number' ? 'the number' : typeof value === 'boolean' ? 'the boolean' : 'the string'} ${show(value)}`;
}

function range(min: number | undefined, max: number | undefined, exclusiveMin = false): string {
  if (min !== undefined && max !== undefined) return ` in ${exclusiveMin ? '(' : '['}${min}, ${max}]`;
  if (min !== undefined) return ` ${exclusiveMin ? '>' : '>='} ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

export function string(options: { minLength?: number; maxLength?: number } = {}): Check {
  return (value) => {
    if (typeof value !== 'string') return `must be a string, got ${kind(value)}`;
    if (options.minLength !== undefined && value.length < options.minLength)
      return options.minLength === 1 ? 'must not be empty' : `must hold at least ${options.minLength} characters`;
    if (options.maxLength !== undefined && value.length > options.maxLength)
      return `must hold at most ${options.maxLength} characters, got ${value.length}`;
    return null;
  };
}

export function integer(options: { min?: number; max?: number } = {}): Check {
  return (value) => {
    const expected = `an integer${range(options.min, options.max)}`;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `must be ${expected}, got ${kind(value)}`;
    if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max))
      return `must be ${expected}, got ${value}`;
    return null;
  };
}

export function number(options: { min?: number; max?: number; exclusiveMin?: boolean } = {}): Check {
  return (value) => {
    const expected = `a number${range(options.min, options.max, options.exclusiveMin)}`;
    if (typeof value !== 'number' || !Number.isFinite(value)) return `must be ${expected}, got ${kind(value)}`;
    const low =
      options.min !== undefined && (value < options.min || (options.exclusiveMin === true && value === options.min));
    if (low || (options.max !== undefined && value > options.max)) return `must be ${expected}, got ${value}`;
    return null;
  };
}

export function boolean(): Check {
  return (value) => (typeof value === 'boolean' ? null : `must be true or false, got ${kind(value)}`);
}

/** An array of values that each pass `item`, with a bounded length. */
export function array(item: Check, options: { minItems?: number; maxItems?: number } = {}): Check {
  return (value) => {
    if (!Array.isArray(value)) return `must be an array, got ${kind(value)}`;
    if (options.minItems !== undefined && value.length < options.minItems)
      return options.minItems === 1 ? 'must not be empty' : `must hold at least ${options.minItems} items`;
    if (options.maxItems !== undefined && value.length > options.maxItems)
      return `must hold at most ${options.maxItems} item${options.maxItems === 1 ? '' : 's'}, got ${value.length}`;
    for (let i = 0; i < value.length; i++) {
      const problem = item(value[i]);
      if (problem !== null) return `[${i}] ${problem}`;
    }
    return null;
  };
}

/** A value that passes any of the checks; the message lists what each expects. */
export function anyOf(describe: string, ...checks: Check[]): Check {
  return (value) => {
    const problems = checks.map((c) => c(value));
    if (problems.some((p) => p === null)) return null;
    // One problem that is not about the type says more than the list ('must not be empty').
    const specific = problems.filter((p) => p !== null && !p.startsWith('must be'));
    return specific.length === 1 ? specific[0] : `must be ${describe}, got ${kind(value)}`;
  };
}

/** Checks a parsed JSON body against the schema. null values count as absent (as OpenAI's API reads them). */
export function validate(body: unknown, schema: ObjectSchema): Problem[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return [{ param: null, message: `the body must be a JSON object, got ${kind(body)}` }];
  const record = body as Record<string, unknown>;
  const problems: Problem[] = [];
  const unknown = Object.keys(record).filter(
    (k) => !Object.hasOwn(schema.fields, k) && !Object.hasOwn(schema.unsupported ?? {}, k),
  );
  if (unknown.length > 0) {
    const named = unknown.slice(0, 10).map((k) => `'${k.length > 40 ? `${k.slice(0, 37)}...` : k}'`);
    if (unknown.length > 10) named.push(`and ${unknown.length - 10} more`);
    problems.push({
      param: unknown[0],
      message: `unknown field${unknown.length > 1 ? 's' : ''} ${named.join(', ')} (known: ${Object.keys(schema.fields).join(', ')})`,
    });
  }
  const unimplemented: string[] = [];
  let firstUnimplemented: string | null = null;
  for (const [name, asks] of Object.entries(schema.unsupported ?? {})) {
    if (!Object.hasOwn(record, name) || record[name] === null) continue;
    const what = asks(record[name]);
    if (what !== null) {
      unimplemented.push(what);
      firstUnimplemented ??= name;
    }
  }
  if (unimplemented.length > 0)
    problems.push({
      param: firstUnimplemented,
      message: `not implemented by this server: ${unimplemented.join(', ')}`,
    });
  for (const name of schema.required ?? [])
    if (!Object.hasOwn(record, name) || record[name] === null)
      problems.push({ param: name, message: `'${name}' is required` });
  for (const [name, check] of Object.entries(schema.fields)) {
    if (!Object.hasOwn(record, name) || record[name] === null) continue;
    const problem = check(record[name]);
    if (problem !== null)
      problems.push({ param: name, message: `'${name}'${problem.startsWith('[') ? '' : ' '}${problem}` });
  }
  return problems;
}
