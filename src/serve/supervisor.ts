// A ModelWorker that comes back: when its thread dies (a crash, an out-of-memory kill), the next request loads the
// checkpoint into a new one, as a process manager restarts a crashed server, instead of every later request
// failing until someone restarts the process. Requests in flight on the dead worker fail (their state died with
// it); requests that arrive while the new worker loads wait for it. A worker that dies within a minute of its
// start is replaced only after a pause, 1 s doubling to at most 60 s, during which requests are refused with a
// ModelUnavailableError (HTTP 503 with Retry-After), so a model that crashes at once does not spin the CPU.
import type {
  GenerateOptions,
  GenerateResult,
  ModelInfo,
  ModelWorkerOptions,
  PredictOutput,
  WorkerStats,
} from './types';
import { ModelWorker } from './worker';
import type { GenerateStream } from './worker';

/** Thrown (as a rejection) while the model's worker is down and not yet due to restart; an HTTP server answers 503
 * with Retry-After: retryAfter seconds. */
export class ModelUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfter: number,
  ) {
    super(message);
    this.name = 'ModelUnavailableError';
  }
}

export interface SupervisorOptions {
  /** Starts a worker (default ModelWorker.load). */
  load?: (dir: string, options: ModelWorkerOptions) => Promise<ModelWorker>;
  /** Told of each death and restart (the CLI writes it to stderr). */
  log?: (line: string) => void;
  /** A worker that lived this long is replaced at once (default 60,000 ms). */
  minUptimeMs?: number;
  /** The first pause before replacing a worker that died younger (default 1,000 ms); it doubles with each
   * young death or failed restart, up to maxPauseMs (default 60,000 ms). */
  firstPauseMs?: number;
  maxPauseMs?: number;
}

/** options[name] in milliseconds (a finite number >= 0), or the default when it is not given. */
function duration(options: SupervisorOptions, name: 'minUptimeMs' | 'firstPauseMs' | 'maxPauseMs', fallback: number) {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new RangeError(
      `SupervisedModelWorker.load: ${name} must be a finite number of milliseconds >= 0, got ${String(value)}`,
    );
  return value;
}

export class SupervisedModelWorker {
  /** Workers started after the first. */
  restarts = 0;
  private starting: Promise<ModelWorker> | null = null;
  private startedAt = Date.now();
  private pauseMs = 0;
  /** While a restart is paused: when it may be tried. */
  private notBefore = 0;
  private closed = false;

  private constructor(
    private current: ModelWorker,
    private readonly dir: string,
    private readonly options: ModelWorkerOptions,
    private readonly policy: Required<SupervisorOptions>,
  ) {}

  /** Loads the checkpoint into a first worker; rejects as ModelWorker.load does when it cannot. */
  static async load(
    dir: string,
    options: ModelWorkerOptions = {},
    supervisor: SupervisorOptions = {},
  ): Promise<SupervisedModelWorker> {
    const policy: Required<SupervisorOptions> = {
      load: supervisor.load ?? ((d, o) => ModelWorker.load(d, o)),
      log: supervisor.log ?? (() => {}),
      minUptimeMs: duration(supervisor, 'minUptimeMs', 60_000),
      firstPauseMs: duration(supervisor, 'firstPauseMs', 1_000),
      maxPauseMs: duration(supervisor, 'maxPauseMs', 60_000),
    };
    for (const name of ['load', 'log'] as const)
      if (typeof policy[name] !== 'function')
        throw new TypeError(`SupervisedModelWorker.load: ${name} must be a function`);
    const first = await policy.load(dir, options);
    return new SupervisedModelWorker(first, dir, options, policy);
  }

  async info(): Promise<ModelInfo> {
    return this.current.info();
  }

  async stats(): Promise<WorkerStats> {
    return (await this.worker()).stats();
  }

  async generate(prompt: string, options?: GenerateOptions): Promise<GenerateResult> {
    return (await this.worker()).generate(prompt, options);
  }

  async predict(inputs: string[]): Promise<PredictOutput[]> {
    return (await this.worker()).predict(inputs);
  }

  /** As ModelWorker.stream; the request starts at the first next() (once a live worker is there). */
  stream(prompt: string, options?: GenerateOptions): GenerateStream {
    let inner: Promise<GenerateStream> | null = null;
    const open = () => (inner ??= this.worker().then((w) => w.stream(prompt, options)));
    const stream: GenerateStream = {
      next: async () => (await open()).next(),
      return: async () => {
        if (inner === null) return { value: undefined, done: true };
        const opened = await inner.catch(() => null);
        return opened === null
          ? { value: undefined, done: true }
          : (opened.return?.() ?? { value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => stream,
    };
    return stream;
  }

  async close(): Promise<void> {
    this.closed = true;
    const starting = this.starting;
    await this.current.close();
    if (starting !== null) await (await starting.catch(() => null))?.close();
  }

  /** The live worker: the current one, or a new one once the current one has died. */
  private async worker(): Promise<ModelWorker> {
    if (this.closed) throw new Error('the model is closed');
    const died = this.current.exitReason;
    if (died === null) return this.current;
    if (this.starting === null) this.starting = this.replace(died).finally(() => (this.starting = null));
    return this.starting;
  }

  private async replace(cause: string): Promise<ModelWorker> {
    const { log, minUptimeMs } = this.policy;
    const now = Date.now();
    if (this.notBefore === 0) {
      // Noticed for the first time: a worker that died young waits before its successor starts.
      this.pauseMs = now - this.startedAt >= minUptimeMs ? 0 : this.longerPause();
      this.notBefore = now + this.pauseMs;
      log(`${cause}; restarting it${this.pauseMs > 0 ? ` in ${this.pauseMs / 1000} s` : ''}`);
    }
    if (now < this.notBefore) {
      const wait = Math.ceil((this.notBefore - now) / 1000);
      throw new ModelUnavailableError(`the model's worker died (${cause}); it restarts in ${wait} s`, wait);
    }
    let next: ModelWorker;
    try {
      next = await this.policy.load(this.dir, this.options);
    } catch (error) {
      this.pauseMs = this.longerPause();
      this.notBefore = Date.now() + this.pauseMs;
      const message = `the model's worker could not be restarted: ${(error as Error).message}`;
      log(`${message}; trying again in ${this.pauseMs / 1000} s`);
      throw new ModelUnavailableError(message, Math.ceil(this.pauseMs / 1000));
    }
    if (this.closed) {
      await next.close();
      throw new Error('the model is closed');
    }
    this.current = next;
    this.restarts++;
    this.startedAt = Date.now();
    this.notBefore = 0;
    log(`model worker restarted (restart ${this.restarts})`);
    return next;
  }

  /** The pause after the last one: the first, then twice as long each time, up to the most. */
  private longerPause(): number {
    const { firstPauseMs, maxPauseMs } = this.policy;
    return Math.min(maxPauseMs, Math.max(firstPauseMs, this.pauseMs * 2));
  }
}
