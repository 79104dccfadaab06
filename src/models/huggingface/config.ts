// Reading Hugging Face's config.json: typed accessors that name the file and the key in their errors, and the
// checks for options this library does not implement (an error naming the option, never a silently different
// model).

export type HFConfig = Record<string, unknown>;

export class ConfigReader {
  constructor(
    readonly op: string,
    readonly config: HFConfig,
  ) {}

  private fail(key: string, what: string): never {
    throw new RangeError(`${this.op}: config.json: ${key} must be ${what}, got ${JSON.stringify(this.config[key])}`);
  }

  /** A positive integer (or `fallback` when the key is absent or null). */
  int(key: string, fallback?: number): number {
    const v = this.config[key] ?? fallback;
    if (v === undefined) throw new RangeError(`${this.op}: config.json has no ${key}`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) this.fail(key, 'a positive integer');
    return v as number;
  }

  /** A token id: a non-negative integer, or null when absent. */
  tokenId(key: string): number | null {
    const v = this.config[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(key, 'a token id');
    return v as number;
  }

  /** A probability in [0, 1). */
  rate(key: string, fallback: number): number {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) this.fail(key, 'a number in [0, 1)');
    return v as number;
  }

  positive(key: string, fallback: number): number {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(key, 'a positive number');
    return v as number;
  }

  flag(key: string, fallback: boolean): boolean {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v as boolean;
  }

  /** One of `allowed` (keys of the map), mapped to its value. */
  choice<T>(key: string, allowed: Record<string, T>, fallback: string): T {
    const v = this.config[key] ?? fallback;
    if (typeof v !== 'string' || !Object.prototype.hasOwnProperty.call(allowed, v))
      throw new RangeError(
        `${this.op}: config.json: ${key} ${JSON.stringify(v)} is not supported (supported: ${Object.keys(allowed).join(', ')})`,
      );
    return allowed[v];
  }

  /** Options this library does not implement must hold their default (absent counts as the default). */
  requireDefault(key: string, value: unknown): void {
    const v = this.config[key];
    if (v !== undefined && v !== null && v !== value)
      throw new RangeError(
        `${this.op}: config.json: ${key} = ${JSON.stringify(v)} is not supported (only ${JSON.stringify(value)})`,
      );
  }

  /** The model class the file was saved from (architectures[0], or supported[0] when absent), one of
   * `supported`. */
  architecture(family: string, supported: readonly string[]): string {
    const a = this.config.architectures ?? [supported[0]];
    if (!Array.isArray(a) || a.length !== 1 || typeof a[0] !== 'string')
      this.fail('architectures', 'an array of one class name');
    const name = (a as string[])[0];
    if (!supported.includes(name))
      throw new RangeError(
        `${this.op}: architecture '${name}' is not supported for ${family} (supported: ${supported.join(', ')})`,
      );
    return name;
  }
}
