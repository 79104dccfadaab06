// ModelWorker: a checkpoint served from a worker thread, so that the thread that calls it (a server's event
// loop) never runs a kernel for it. Requests are checked here, posted to the worker, and answered by promises
// and async iterators; see worker_main.ts for the other side.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { assertKnownKeys, assertPositiveInt, assertSeed } from '../checks';
import { FromWorker, fromWireError, ToWorker, WireGenerateOptions, WorkerInit } from './protocol';
import type {
  GenerateOptions,
  GenerateResult,
  ModelInfo,
  ModelWorkerOptions,
  PredictOutput,
  StreamChunk,
  WorkerStats,
} from './types';

const DEFAULT_MAX_TOKENS = 128;
const DEFAULT_MAX_BATCH = 16;
const DEFAULT_MAX_QUEUE = 64;
/** The addon's limit on the kernel pool's size. */
const MAX_THREADS = 1024;
/** Stop strings a request may give. */
const MAX_STOPS = 16;

/** Thrown (as a rejection) when a request arrives while maxQueue requests are unfinished; an HTTP server
 * answers 429. */
export class QueueFullError extends Error {
  constructor(readonly maxQueue: number) {
    super(`ModelWorker: the queue is full (${maxQueue} unfinished requests, the maxQueue)`);
    this.name = 'QueueFullError';
  }
}

/** A request ended by its AbortSignal, as Node's own APIs reject then: name 'AbortError', code 'ABORT_ERR',
 * the signal's reason as the cause. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** The chunks of one generated text, token by token; for-await over it, or call next() and find the
 * GenerateResult (finishReason, token counts) as the value of the last result, the one with done: true
 * (undefined when the stream was ended early by return() or its signal). */
export interface GenerateStream extends AsyncIterator<StreamChunk, GenerateResult | undefined> {
  [Symbol.asyncIterator](): GenerateStream;
}

/** Where a request's answer goes. */
interface Handlers {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onChunks?(chunks: StreamChunk[]): void;
}

/** What a request waits for. */
interface Pending extends Handlers {
  /** Counts against maxQueue (generate, stream, predict; not stats). */
  queued: boolean;
  /** The caller has its answer (its signal aborted, or a stream was left): a late answer is dropped. */
  settled: boolean;
  /** Removes the abort listener. */
  detach(): void;
}

/** The compiled worker entry. From dist/ it lies next to this file. Under ts-jest this file runs from src/serve/
 * as TypeScript, and a Worker needs JavaScript, so the tests run dist/serve/worker_main.js: build it first
 * (`npm run build:ts`; `npm test` does). */
function workerScript(): string {
  const candidates = [
    path.join(__dirname, 'worker_main.js'),
    path.join(__dirname, '..', '..', 'dist', 'serve', 'worker_main.js'),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined)
    throw new Error(`ModelWorker: the worker script ${candidates[0]} is missing (build it with npm run build:ts)`);
  return found;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkWorkerOptions(options: unknown): { threads?: number; maxBatch: number; maxQueue: number } {
  const op = 'ModelWorker.load';
  if (!isObject(options)) throw new TypeError(`${op}: options must be an object`);
  assertKnownKeys(op, options, ['threads', 'maxBatch', 'maxQueue']);
  const { threads, maxBatch = DEFAULT_MAX_BATCH, maxQueue = DEFAULT_MAX_QUEUE } = options as ModelWorkerOptions;
  if (threads !== undefined) {
    assertPositiveInt(op, 'threads', threads);
    if (threads > MAX_THREADS) throw new RangeError(`${op}: threads must be at most ${MAX_THREADS}, got ${threads}`);
  }
  assertPositiveInt(op, 'maxBatch', maxBatch);
  assertPositiveInt(op, 'maxQueue', maxQueue);
  return { threads, maxBatch, maxQueue };
}

function checkGenerateOptions(
  op: string,
  prompt: unknown,
  options: unknown,
): { wire: WireGenerateOptions; signal: AbortSignal | undefined } {
  if (typeof prompt !== 'string') throw new TypeError(`${op}: prompt must be a string, got ${typeof prompt}`);
  if (!isObject(options)) throw new TypeError(`${op}: options must be an object`);
  assertKnownKeys(op, options, ['maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'fitContext', 'signal']);
  const o = options as GenerateOptions;
  const maxTokens = o.maxTokens ?? DEFAULT_MAX_TOKENS;
  assertPositiveInt(op, 'maxTokens', maxTokens);
  const temperature = o.temperature ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0)
    throw new RangeError(`${op}: temperature must be a finite number >= 0, got ${String(temperature)}`);
  if (o.topK !== undefined) assertPositiveInt(op, 'topK', o.topK, { allowZero: true });
  if (o.topP !== undefined && (typeof o.topP !== 'number' || !(o.topP > 0 && o.topP <= 1)))
    throw new RangeError(`${op}: topP must be a number in (0, 1], got ${String(o.topP)}`);
  if (o.seed !== undefined) assertSeed(op, o.seed);
  const stop = o.stop ?? [];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0))
    throw new TypeError(`${op}: stop must be an array of non-empty strings`);
  if (stop.length > MAX_STOPS)
    throw new RangeError(`${op}: stop holds ${stop.length} strings, more than the ${MAX_STOPS} allowed`);
  const fitContext = o.fitContext ?? false;
  if (typeof fitContext !== 'boolean') throw new TypeError(`${op}: fitContext must be a boolean`);
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`${op}: signal must be an AbortSignal`);
  const wire: WireGenerateOptions = { maxTokens, temperature, stop: [...stop], fitContext };
  if (o.topK !== undefined) wire.topK = o.topK;
  if (o.topP !== undefined) wire.topP = o.topP;
  if (o.seed !== undefined) wire.seed = o.seed;
  return { wire, signal };
}

/**
 * A checkpoint served from a `node:worker_threads` Worker: generation (lm) and prediction (g2p, classify) that
 * never block the calling thread's event loop.
 *
 * ```ts
 * const worker = await ModelWorker.load('runs/lm', { threads: 2 });
 * const { text } = await worker.generate('Once upon', { maxTokens: 50 });
 * for await (const { text } of worker.stream('Once upon', { temperature: 0.8, seed: 1 })) process.stdout.write(text);
 * await worker.close();
 * ```
 *
 * - lm requests are decoded together: a request joins the running batch at the next decoding step (at most
 *   maxBatch rows; more wait for a row) and leaves it when it finishes, and its tokens are those it would get
 *   decoded alone (greedy(), or sample() with the same seed).
 * - Text comes from the checkpoint's tokenizer, decoding the whole sequence, so a character split over several
 *   byte-level tokens arrives whole; a stream chunk may hold no text (its token ends inside a character, or may
 *   begin a stop string: such text waits until it is settled). A stop string ends the text before it
 *   (finishReason 'stop', and `tokens` holds the tokens whose text starts before it), as does the tokenizer's
 *   end token; maxTokens or the end of the model's context give 'length'.
 * - `signal`: aborting ends the request within one decoding step and frees its cache. generate() rejects with
 *   an AbortError, and a stream throws it from next(), as Node's own APIs do (e.g. events.on, stream
 *   iterators); leaving a for-await loop early (return()) also cancels the request. An aborted signal rejects
 *   at once.
 * - More than maxQueue unfinished requests: the new one rejects with a QueueFullError. Errors thrown in the
 *   worker reject with their message; if the worker dies (exits, runs out of memory), every unfinished request
 *   rejects with "model worker exited ...", and ModelWorker.load() can start a new one.
 * - Threads: the addon has one kernel thread pool per process. A kernel called while another thread's kernel
 *   holds the pool runs on its calling thread alone, so several ModelWorkers (and the main thread) can run
 *   models at once, each getting the results it gets alone (a kernel's result does not depend on the threads
 *   that computed it); they do not use the pool's threads at the same moment. `threads` sets the pool's size for the whole process
 *   (setNumThreads), the last load() that gives it wins.
 * - An idle ModelWorker does not keep the process alive; one with unfinished requests does.
 */
export class ModelWorker {
  private readonly requests = new Map<number, Pending>();
  private nextId = 1;
  /** Set once the worker cannot answer any more: closed, or exited. */
  private ended: Error | null = null;
  /** How the thread ended on its own ('model worker exited with code N: ...'); null while it runs or once closed. */
  private exited: string | null = null;
  /** The last uncaught error of the worker, for the exit message. */
  private crash: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly modelInfo: ModelInfo,
  ) {
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error: Error) => {
      this.crash = error;
    });
    worker.on('exit', (code: number) => this.onExit(code));
    worker.unref();
  }

  /** Starts a worker thread that loads the checkpoint (a checkpoint folder or a training --out folder, as the
   * CLI's --checkpoint takes) and resolves once it is ready; rejects with the loader's message when it cannot. */
  static async load(checkpointDir: string, options: ModelWorkerOptions = {}): Promise<ModelWorker> {
    if (typeof checkpointDir !== 'string' || checkpointDir.length === 0)
      throw new TypeError('ModelWorker.load: checkpointDir must be a non-empty string');
    const { threads, maxBatch, maxQueue } = checkWorkerOptions(options);
    const init: WorkerInit = { checkpoint: checkpointDir, threads: threads ?? null, maxBatch, maxQueue };
    const worker = new Worker(workerScript(), { workerData: init });
    return new Promise<ModelWorker>((resolve, reject) => {
      let crash: Error | null = null;
      const onError = (error: Error) => {
        crash = error;
      };
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready') {
          cleanup();
          resolve(new ModelWorker(worker, message.info));
        } else if (message.type === 'loadError') {
          cleanup();
          void worker.terminate();
          reject(fromWireError(message.error));
        }
      };
      const onExit = (code: number) => {
        cleanup();
        reject(
          new Error(
            `model worker exited with code ${code} while loading ${checkpointDir}${crash === null ? '' : `: ${crash.message}`}`,
          ),
        );
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  /** How the worker thread ended on its own (it exited or crashed), or null while it runs and after close(). */
  get exitReason(): string | null {
    return this.exited;
  }

  /** The task and model served, and the options the worker runs with. */
  async info(): Promise<ModelInfo> {
    return structuredClone(this.modelInfo);
  }

  /** Requests, sequences and tensors the worker holds now. */
  async stats(): Promise<WorkerStats> {
    const reply = (await this.request({ type: 'stats', id: 0 }, false)) as Omit<WorkerStats, 'requests'>;
    return { requests: this.unfinished(), ...reply };
  }

  /** Generates a continuation of prompt (lm checkpoints). */
  async generate(prompt: string, options: GenerateOptions = {}): Promise<GenerateResult> {
    const { wire, signal } = checkGenerateOptions('ModelWorker.generate', prompt, options);
    const message: ToWorker = { type: 'generate', id: 0, prompt, options: wire, stream: false };
    return (await this.request(message, true, signal)) as GenerateResult;
  }

  /** The continuation of prompt as it is generated (lm checkpoints): one chunk per token. Errors, a full queue
   * included, are thrown by next(); the request starts at once, before the first next(). */
  stream(prompt: string, options: GenerateOptions = {}): GenerateStream {
    const chunks: StreamChunk[] = [];
    let failure: Error | null = null;
    let finished = false;
    let result: GenerateResult | undefined;
    // next() calls waiting for an answer (several, if the caller does not wait for one before the next).
    const waiting: Array<() => void> = [];
    const notify = () => {
      for (const wake of waiting.splice(0)) wake();
    };
    let id = 0;
    try {
      const { wire, signal } = checkGenerateOptions('ModelWorker.stream', prompt, options);
      const message: ToWorker = { type: 'generate', id: 0, prompt, options: wire, stream: true };
      // Called as the answers come, so an abort ends the stream before the chunks already received.
      this.submit(message, true, signal, {
        onChunks: (c) => {
          chunks.push(...c);
          notify();
        },
        resolve: (value) => {
          result = value as GenerateResult;
          finished = true;
          notify();
        },
        reject: (error) => {
          failure = error;
          chunks.length = 0;
          notify();
        },
      });
      id = message.id;
    } catch (error) {
      failure = error as Error;
    }
    const stream: GenerateStream = {
      next: async () => {
        for (;;) {
          if (chunks.length > 0) return { value: chunks.shift() as StreamChunk, done: false };
          if (failure !== null) {
            const error = failure;
            failure = null;
            finished = true;
            result = undefined;
            throw error;
          }
          if (finished) return { value: result, done: true };
          await new Promise<void>((resolve) => waiting.push(resolve));
        }
      },
      return: async () => {
        if (!finished) {
          finished = true;
          this.cancel(id);
        }
        chunks.length = 0;
        failure = null;
        result = undefined;
        notify();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => stream,
    };
    return stream;
  }

  /** g2p: the phonemes of each word, space-separated; classify: each text's label and class probabilities. */
  async predict(inputs: string[]): Promise<PredictOutput[]> {
    if (!Array.isArray(inputs) || inputs.some((x) => typeof x !== 'string'))
      throw new TypeError('ModelWorker.predict: inputs must be an array of strings');
    return (await this.request({ type: 'predict', id: 0, inputs: [...inputs] }, true)) as PredictOutput[];
  }

  /** Ends the worker thread; unfinished requests reject with a 'closed' error. */
  async close(): Promise<void> {
    this.exited = null;
    if (this.ended === null) {
      this.ended = new Error('ModelWorker is closed');
      this.failAll(new Error('ModelWorker was closed before the request finished'));
    }
    await this.worker.terminate();
  }

  private unfinished(): number {
    let n = 0;
    for (const p of this.requests.values()) if (p.queued) n++;
    return n;
  }

  /** Posts a request and returns the promise of its answer. */
  private request(message: ToWorker, queued: boolean, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => this.submit(message, queued, signal, { resolve, reject }));
  }

  /** Gives the request its id and posts it, or refuses it at once (worker ended, signal aborted, queue full);
   * the handlers get its answer. */
  private submit(message: ToWorker, queued: boolean, signal: AbortSignal | undefined, handlers: Handlers): void {
    if (this.ended !== null) return handlers.reject(this.ended);
    if (signal?.aborted) return handlers.reject(new AbortError(undefined, { cause: signal.reason }));
    if (queued && this.unfinished() >= this.modelInfo.maxQueue)
      return handlers.reject(new QueueFullError(this.modelInfo.maxQueue));
    const id = this.nextId++;
    message.id = id;
    const onAbort = () => {
      if (pending.settled) return;
      pending.settled = true;
      handlers.reject(new AbortError(undefined, { cause: signal?.reason }));
      this.post({ type: 'cancel', id });
    };
    const pending: Pending = {
      ...handlers,
      queued,
      settled: false,
      detach: () => signal?.removeEventListener('abort', onAbort),
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.requests.set(id, pending);
    this.worker.ref();
    this.post(message);
  }

  /** Cancels a request whose caller has left (a stream's return()); the worker confirms with 'cancelled'. */
  private cancel(id: number): void {
    const pending = this.requests.get(id);
    if (pending === undefined || pending.settled) return;
    pending.settled = true;
    this.post({ type: 'cancel', id });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  /** Forgets a request and gives its caller the answer, unless the caller already has one. */
  private settle(id: number, answer: (p: Pending) => void): void {
    const pending = this.requests.get(id);
    if (pending === undefined) return;
    this.requests.delete(id);
    pending.detach();
    if (!pending.settled) answer(pending);
    if (this.requests.size === 0) this.worker.unref();
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'step':
        for (const event of message.events) {
          const pending = this.requests.get(event.id);
          if (event.chunks !== undefined && pending !== undefined && !pending.settled) pending.onChunks?.(event.chunks);
          const result = event.result;
          if (result !== undefined) this.settle(event.id, (p) => p.resolve(result));
        }
        break;
      case 'predicted':
        this.settle(message.id, (p) => p.resolve(message.outputs));
        break;
      case 'stats': {
        const { sequences, batchSize, storages } = message;
        this.settle(message.id, (p) => p.resolve({ sequences, batchSize, storages }));
        break;
      }
      case 'error':
        this.settle(message.id, (p) => p.reject(fromWireError(message.error)));
        break;
      case 'cancelled':
        this.settle(message.id, (p) => p.reject(new AbortError()));
        break;
    }
  }

  private onExit(code: number): void {
    if (this.ended !== null) return; // closed
    this.exited = `model worker exited with code ${code}${this.crash === null ? '' : `: ${this.crash.message}`}`;
    this.ended = new Error(`${this.exited}; load the checkpoint again to go on`);
    this.failAll(this.ended);
  }

  private failAll(error: Error): void {
    for (const id of [...this.requests.keys()]) this.settle(id, (p) => p.reject(error));
  }
}
