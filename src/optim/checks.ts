// Option checks shared by the optimizers and schedulers: each names the class, the option set and the value.

export function checkNumber(
  owner: string,
  where: string,
  name: string,
  value: unknown,
  min: number,
  max = Infinity,
  maxInclusive = true,
): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new TypeError(`${owner}: ${where}: ${name} must be a finite number, got ${String(value)}`);
  if (value < min || value > max || (!maxInclusive && value === max))
    throw new RangeError(
      `${owner}: ${where}: ${name} must be in [${min}, ${max}${maxInclusive ? ']' : ')'}, got ${value}`,
    );
  return value;
}

export function checkInteger(owner: string, where: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new TypeError(`${owner}: ${where}: ${name} must be an integer, got ${String(value)}`);
  if (value < min) throw new RangeError(`${owner}: ${where}: ${name} must be >= ${min}, got ${value}`);
  return value;
}

export function checkBoolean(owner: string, where: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${owner}: ${where}: ${name} must be a boolean, got ${String(value)}`);
  return value;
}
