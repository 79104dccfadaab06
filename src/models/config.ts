// Checks shared by the model configs: every field is validated up front so that a typo or a bad value in a
// JSON config fails with the model's name and the offending value, not deep inside a layer.
import { assertPositiveInt, assertSeed, KnownKeysOptions } from '../checks';

export function checkConfigObject(op: string, config: unknown): Record<string, unknown> {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new TypeError(
      `${op}: config must be an object, got ${config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config}`,
    );
  return config as Record<string, unknown>;
}

/** How assertKnownKeys reports keys a model config does not know: `GPT: unknown config key 'x' (known: ...)`. */
export const CONFIG_KEY: KnownKeysOptions = { what: 'config key', errorType: RangeError };

export function positiveInt(op: string, name: string, value: unknown, fallback?: number): number {
  const v = value ?? fallback;
  if (v === undefined) throw new RangeError(`${op}: ${name} is required`);
  assertPositiveInt(op, name, v);
  return v;
}

export function nonNegativeInt(op: string, name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  assertPositiveInt(op, name, v, { allowZero: true });
  return v;
}

export function positiveNumber(op: string, name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
    throw new RangeError(`${op}: ${name} must be a positive number, got ${String(v)}`);
  return v;
}

export function dropoutRate(op: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v >= 0 && v < 1))
    throw new RangeError(`${op}: dropout must be a number in [0, 1), got ${String(v)}`);
  return v;
}

export function flag(op: string, name: string, value: unknown, fallback: boolean): boolean {
  const v = value ?? fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: ${name} must be a boolean, got ${typeof v}`);
  return v;
}

export function choice<T extends string>(
  op: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = value ?? fallback;
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw new RangeError(
      `${op}: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${typeof v === 'string' ? `'${v}'` : String(v)}`,
    );
  return v as T;
}

export function optionalSeed(op: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  assertSeed(op, value);
  return value;
}

export function checkDivisible(op: string, dModel: number, nhead: number): void {
  if (dModel % nhead !== 0) throw new RangeError(`${op}: dModel ${dModel} is not divisible by nhead ${nhead}`);
}
