// Argument checks and message helpers shared by every layer. Each check names the op (or class) and the
// argument and shows the bad value. This module imports nothing, so any module can use it.

/** A shape as messages write it: `[2, 3, 4]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export interface IntCheckOptions {
  /** Accept 0 as well (a count or an index that may be zero). */
  allowZero?: boolean;
}

/** Throws a RangeError `op: name must be a positive integer, got value` unless value is an integer >= 1
 * (>= 0 with allowZero, and then the message says non-negative). */
export function assertPositiveInt(
  op: string,
  name: string,
  value: unknown,
  options: IntCheckOptions = {},
): asserts value is number {
  const allowZero = options.allowZero ?? false;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1))
    throw new RangeError(
      `${op}: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`,
    );
}

/** Throws a RangeError `op: seed must be an integer in [0, 2^53), got value` unless value is a seed the random
 * generators take (a non-negative integer that a double holds exactly). */
export function assertSeed(op: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= 2 ** 53)
    throw new RangeError(`${op}: seed must be an integer in [0, 2^53), got ${String(value)}`);
}

export interface KnownKeysOptions {
  /** What a key is called in the message: 'option' (the default), 'config key'... */
  what?: string;
  /** The error thrown: TypeError by default. */
  errorType?: new (message: string) => Error;
}

/** Rejects the keys of a user's options object that are not in `known` (a misspelt option would otherwise be
 * ignored): `op: unknown option 'x' (known: a, b)`, naming every unknown key. */
export function assertKnownKeys(
  op: string,
  options: object,
  known: readonly string[],
  how: KnownKeysOptions = {},
): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const what = `${how.what ?? 'option'}${unknown.length > 1 ? 's' : ''}`;
  const ErrorType = how.errorType ?? TypeError;
  throw new ErrorType(`${op}: unknown ${what} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`);
}
