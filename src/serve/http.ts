// The HTTP server of `transformer-native serve`: node:http, a fixed table of routes, JSON bodies of at most
// 1 MiB, OpenAI-shaped errors, Prometheus metrics and a graceful shutdown. The model runs elsewhere (a
// ModelWorker's thread): the handlers here only check requests, hand them over and write the answers, so the
// event loop stays free for every other connection.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { completions } from './completions';
import { HttpError } from './errors';
import { ServeMetrics } from './metrics';
import { predict } from './predict';
import { health, metricsText, models } from './status';
import type { GenerateOptions, GenerateResult, ModelInfo, PredictOutput, StreamChunk } from './types';

/** What the server needs of a model: ModelWorker's methods (a test may pass a stand-in). */
export interface ServeModel {
  info(): ModelInfo | Promise<ModelInfo>;
  generate(prompt: string, options?: GenerateOptions): Promise<GenerateResult>;
  /** The chunks of the text; the last result (done: true) may carry the GenerateResult. */
  stream(prompt: string, options?: GenerateOptions): AsyncIterable<StreamChunk, GenerateResult | undefined | void>;
  predict(inputs: string[]): Promise<PredictOutput[]>;
  /** The live load (ModelWorker.stats): requests unfinished, rows of the last decoding step. Without it the
   * server counts its own requests. */
  stats?(): Promise<{ requests: number; batchSize: number }>;
}

export interface ServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port (see InferenceServer.port). */
  port?: number;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** Seconds a client is told to wait after a 429 (default 1). */
  retryAfter?: number;
  /** Model name reported by /v1/models and echoed when a request names none (default: the checkpoint folder's
   * name). */
  modelName?: string;
}

/** Everything a route handler gets. */
export interface RequestContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  server: InferenceServer;
  info: ModelInfo;
  /** Aborted when the client goes away before its answer is complete, or when shutdown's grace period ends. */
  signal: AbortSignal;
  /** The body parsed as JSON (400 when it is not JSON, 413 when it is too large). */
  body(): Promise<unknown>;
  /** performance.now() when the request arrived. */
  started: number;
}

type Handler = (context: RequestContext) => Promise<void>;

interface Route {
  path: string;
  methods: Record<string, Handler>;
}

const ROUTES: Route[] = [
  { path: '/health', methods: { GET: health } },
  { path: '/metrics', methods: { GET: metricsText } },
  { path: '/v1/models', methods: { GET: models } },
  { path: '/v1/completions', methods: { POST: completions } },
  { path: '/v1/predict', methods: { POST: predict } },
];
const BY_PATH = new Map(ROUTES.map((r) => [r.path, r]));

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Writes a JSON answer (unless the connection is gone). */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
}

export class InferenceServer {
  readonly http: http.Server;
  readonly metrics: ServeMetrics;
  readonly modelName: string;
  readonly bodyLimit: number;
  readonly retryAfter: number;
  /** Unix seconds when the server started (the model's `created` in /v1/models). */
  readonly createdAt = Math.floor(Date.now() / 1000);
  private readonly inFlight = new Set<InFlight>();
  /** Requests handed to the model and not finished (the queue depth when the model does not report it). */
  private modelRequests = 0;
  private draining = false;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly model: ServeModel,
    readonly info: ModelInfo,
    options: ServerOptions,
  ) {
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.retryAfter = options.retryAfter ?? 1;
    this.modelName = options.modelName ?? defaultModelName(info);
    // A model that cannot report (its thread is gone) shows as idle here; /health tells that it is gone.
    this.metrics = new ServeMetrics(() => this.load().catch(() => ({ queueDepth: 0, batchSize: 0 })));
    this.http = http.createServer((req, res) => this.handle(req, res));
    // Requests node's parser refuses (a bad request line or header, headers too large) get a JSON 400 or 431.
    this.http.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const large = error.code === 'HPE_HEADER_OVERFLOW';
      const status = large ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify(
        new HttpError(
          status,
          large ? 'the request headers are too large' : `malformed request: ${error.code ?? error.message}`,
        ).body(),
      );
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    // Slow or stalled clients must not hold a connection forever; an answer itself may stream for minutes.
    this.http.headersTimeout = 30_000;
    this.http.requestTimeout = 60_000;
    this.http.keepAliveTimeout = 5_000;
  }

  /** Starts a server for a loaded model; resolves once it listens. */
  static async start(model: ServeModel, options: ServerOptions = {}): Promise<InferenceServer> {
    const server = new InferenceServer(model, await model.info(), options);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
        server.http.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The address it listens on. */
  get address(): AddressInfo {
    return this.http.address() as AddressInfo;
  }

  get port(): number {
    return this.address.port;
  }

  /** http://host:port, with IPv6 hosts in brackets. */
  get url(): string {
    const { address, family, port } = this.address;
    return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  }

  /** Requests being answered now. */
  get activeRequests(): number {
    return this.inFlight.size;
  }

  /** The queue depth and batch size for /metrics and /health. */
  async load(): Promise<{ queueDepth: number; batchSize: number }> {
    if (typeof this.model.stats === 'function') {
      const stats = await this.model.stats();
      return { queueDepth: stats.requests, batchSize: stats.batchSize };
    }
    return {
      queueDepth: this.modelRequests,
      batchSize: this.info.task === 'lm' ? Math.min(this.modelRequests, this.info.maxBatch) : 0,
    };
  }

  /** Runs a call to the model, counted in the queue depth while it is pending. */
  async call<T>(work: () => Promise<T>): Promise<T> {
    this.modelRequests++;
    try {
      return await work();
    } finally {
      this.modelRequests--;
    }
  }

  /** Counts a streamed call to the model until release() is called. */
  enter(): () => void {
    this.modelRequests++;
    let released = false;
    return () => {
      if (!released) this.modelRequests--;
      released = true;
    };
  }

  /** Stops accepting requests, lets those in flight finish for up to graceMs, aborts the rest, and closes
   * every connection. Resolves when the server is closed; calling it again returns the same promise. */
  close(graceMs = 30_000): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const settled = () => Promise.all([...this.inFlight].map((r) => r.done)).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
      timer.unref?.();
    });
    const timedOut = await Promise.race([settled().then(() => false), expired]);
    clearTimeout(timer);
    if (timedOut) {
      for (const r of this.inFlight)
        r.controller.abort(new HttpError(503, 'the server is shutting down', 'service_unavailable'));
      // Aborted requests end within a decoding step; a second's wait lets them answer 503 or close.
      await Promise.race([settled(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
    this.http.closeAllConnections();
    await closed;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    const controller = new AbortController();
    const path = (req.url ?? '/').split('?', 1)[0];
    const route = BY_PATH.get(path);
    const routeLabel = route?.path ?? 'unmatched';
    // A response closed before it ended: the client went away, so its sequence is cancelled.
    res.once('close', () => {
      if (res.writableFinished) return;
      controller.abort(new Error('the client disconnected'));
      // Counted as nginx does a request whose client closed the connection first.
      this.metrics.requests.inc({ route: routeLabel, method: methodLabel(req.method), status: '499' });
    });
    res.once('finish', () => {
      this.metrics.requests.inc({ route: routeLabel, method: methodLabel(req.method), status: String(res.statusCode) });
      this.metrics.requestDuration.observe({ route: routeLabel }, (performance.now() - started) / 1000);
    });
    req.on('error', () => controller.abort(new Error('the request failed')));
    let finish!: () => void;
    const entry: InFlight = { controller, done: new Promise<void>((resolve) => (finish = resolve)) };
    this.inFlight.add(entry);
    const run = async () => {
      if (this.draining) {
        res.setHeader('Connection', 'close');
        throw new HttpError(503, 'the server is shutting down', 'service_unavailable');
      }
      if (route === undefined)
        throw new HttpError(
          404,
          `no route ${show(path)}; routes: ${ROUTES.map((r) => r.path).join(', ')}`,
          'not_found_error',
        );
      const method = req.method ?? 'GET';
      const handler = route.methods[method] ?? (method === 'HEAD' ? route.methods.GET : undefined);
      if (handler === undefined) {
        const allowed = Object.keys(route.methods);
        throw new HttpError(
          405,
          `${route.path} takes ${allowed.join(', ')}, not ${method}`,
          'invalid_request_error',
          null,
          {
            Allow: allowed.includes('GET') ? [...allowed, 'HEAD'].join(', ') : allowed.join(', '),
          },
        );
      }
      let body: Promise<unknown> | null = null;
      await handler({
        req,
        res,
        server: this,
        info: this.info,
        signal: controller.signal,
        body: () => (body ??= readJsonBody(req, res, this.bodyLimit)),
        started,
      });
    };
    run()
      .catch((error: unknown) => this.fail(res, error))
      .finally(() => {
        // A body the handler never read is drained so that the connection can serve the next request.
        if (!req.complete && !req.destroyed) req.resume();
        this.inFlight.delete(entry);
        finish();
      });
  }

  /** Answers an error: its status, or 500 for an unexpected one. Once a stream has begun, the connection is
   * closed instead. */
  fail(res: http.ServerResponse, error: unknown): void {
    const e =
      error instanceof HttpError
        ? error
        : new HttpError(500, `internal error: ${(error as Error)?.message ?? String(error)}`, 'server_error');
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    if (e.status === 413) res.setHeader('Connection', 'close');
    sendJson(res, e.status, e.body(), e.headers);
  }

  /** A request id in OpenAI's form. */
  static id(prefix: string): string {
    return `${prefix}-${randomUUID().replace(/-/g, '')}`;
  }
}

function methodLabel(method: string | undefined): string {
  return ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].includes(method ?? '')
    ? (method as string)
    : 'other';
}

function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

function defaultModelName(info: ModelInfo): string {
  const parts = info.checkpoint.split(/[\\/]+/).filter((p) => p.length > 0);
  // A training folder's best/ or checkpoints/step-N: the run's folder names the model better.
  while (parts.length > 1 && /^(best|checkpoints|step[-_]?\d+)$/.test(parts[parts.length - 1])) parts.pop();
  return parts.at(-1) ?? info.task;
}

/** Reads a request body of at most `limit` bytes and parses it as JSON. */
function readJsonBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number): Promise<unknown> {
  const tooLarge = () =>
    new HttpError(413, `the request body exceeds the limit of ${limit} bytes`, 'invalid_request_error');
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    res.setHeader('Connection', 'close');
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        res.setHeader('Connection', 'close');
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks, size).toString('utf8');
      if (text.trim().length === 0) {
        reject(new HttpError(400, 'the request needs a JSON body', 'invalid_request_error'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error'));
      }
    });
    req.once('error', (e) => {
      if (!failed) reject(new HttpError(400, `the request failed: ${e.message}`, 'invalid_request_error'));
      failed = true;
    });
    req.once('close', () => {
      if (!req.complete && !failed) {
        failed = true;
        reject(new HttpError(400, 'the request ended before its body', 'invalid_request_error'));
      }
    });
  });
}
