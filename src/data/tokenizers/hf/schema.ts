// Structural checks for Hugging Face tokenizer.json files: every error names the field it is about.

export type JSONObject = Record<string, unknown>;

/** An error in a tokenizer.json file; the message starts with "tokenizer.json: ". */
export class TokenizerFileError extends Error {
  constructor(message: string) {
    super(`tokenizer.json: ${message}`);
    this.name = 'TokenizerFileError';
  }
}

/** A component kind (e.g. "normalizer") whose type this library does not implement. */
export function unsupported(kind: string, type: string, detail = ''): TokenizerFileError {
  return new TokenizerFileError(`${kind} '${type}' is not supported${detail ? ` (${detail})` : ''}`);
}

export function isObject(value: unknown): value is JSONObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function objectAt(value: unknown, field: string): JSONObject {
  if (!isObject(value)) throw new TokenizerFileError(`field "${field}" must be an object, got ${describe(value)}`);
  return value;
}

export function stringAt(obj: JSONObject, key: string, field: string): string {
  const value = obj[key];
  if (typeof value !== 'string')
    throw new TokenizerFileError(`field "${field}.${key}" must be a string, got ${describe(value)}`);
  return value;
}

export function optionalStringAt(obj: JSONObject, key: string, field: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  return stringAt(obj, key, field);
}

export function booleanAt(obj: JSONObject, key: string, field: string, fallback: boolean): boolean {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new TokenizerFileError(`field "${field}.${key}" must be a boolean, got ${describe(value)}`);
  return value;
}

export function idAt(obj: JSONObject, key: string, field: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new TokenizerFileError(`field "${field}.${key}" must be a non-negative integer, got ${describe(value)}`);
  return value;
}

export function arrayAt(obj: JSONObject, key: string, field: string): unknown[] {
  const value = obj[key];
  if (!Array.isArray(value))
    throw new TokenizerFileError(`field "${field}.${key}" must be an array, got ${describe(value)}`);
  return value;
}

/** The "type" of a component object (the field is named in the error). */
export function typeOf(value: unknown, field: string): string {
  return stringAt(objectAt(value, field), 'type', field);
}

/** Options of a component that must keep their default for this library to match HF's behaviour. */
export function requireDefault(obj: JSONObject, key: string, field: string, fallback: unknown, what: string): void {
  const value = obj[key];
  if (value !== undefined && value !== null && value !== fallback)
    throw new TokenizerFileError(`${what}: option "${field}.${key}" = ${JSON.stringify(value)} is not supported`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value)}` : `a ${typeof value}`;
}
