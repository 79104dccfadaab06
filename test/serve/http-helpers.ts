// Helpers of the HTTP server tests: a slow language model (random weights, long context) for cancellation,
// 429 and shutdown tests, plain HTTP requests over node:http, server-sent events and Prometheus text.
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { CharTokenizer } from '../../src/data/tokenizers';
import { GPT } from '../../src/models';
import { manualSeed, tensor } from '../../src/tensor';
import { saveCheckpoint } from '../../src/training/checkpoint';

/** A GPT with random weights and a context of 1024 tokens, so that a long request takes a while. The rows of
 * the four special tokens are zeroed, so greedy decoding never draws the end token and a request runs to
 * max_tokens. */
export function saveSlowLM(root: string, options: { dModel?: number; numLayers?: number } = {}): string {
  manualSeed(7);
  const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i));
  const tokenizer = new CharTokenizer(ascii);
  const model = new GPT({
    vocabSize: tokenizer.vocabSize,
    contextLength: 1024,
    dModel: options.dModel ?? 256,
    nhead: 4,
    numLayers: options.numLayers ?? 4,
    dropout: 0,
  });
  try {
    const state = model.stateDict();
    const embedding = state.get('token_embedding.weight');
    if (embedding === undefined) throw new Error('the GPT has no token_embedding.weight');
    const values = Float32Array.from(embedding.dataSync());
    const [, width] = embedding.shape;
    values.fill(0, 0, 4 * width);
    const zeroed = tensor(values, { shape: [...embedding.shape] });
    for (const t of state.values()) t.dispose(); // views: the model keeps its memory
    model.loadStateDict(new Map([['token_embedding.weight', zeroed]]), { strict: false });
    zeroed.dispose();
    const dir = path.join(root, 'slow-lm');
    saveCheckpoint(dir, { model, tokenizers: tokenizer, config: model.config, metadata: { task: 'lm' } });
    return dir;
  } finally {
    model.dispose();
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP request; the body is sent as given (a string is not encoded as JSON). */
export function request(
  url: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        headers: { ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...options.headers },
        agent: options.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`no answer from ${url} in 60 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs a JSON value. */
export function post(url: string, body: unknown, agent?: http.Agent): Promise<Reply> {
  return request(url, { body: JSON.stringify(body), agent });
}

/** The `data:` payloads of a server-sent event stream. */
export function events(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      expect(e.startsWith('data: ')).toBe(true);
      return e.slice('data: '.length);
    });
}

/** Sends raw bytes on a new connection and resolves with everything the server answered. */
export function raw(url: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('close', () => resolve(text));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(text) : reject(e)));
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer in 30 s')));
  });
}

/** Opens a streamed completion and resolves once `count` events arrived, with the request and its response
 * (to read more, or to destroy). */
export function openStream(
  url: string,
  body: Record<string, unknown>,
  count = 1,
): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; received: () => string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      let text = '';
      let resolved = false;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (!resolved && text.split('\n\n').length - 1 >= count) {
          resolved = true;
          resolve({ req, res, received: () => text });
        }
      });
      res.on('error', () => undefined);
    });
    req.end(JSON.stringify({ ...body, stream: true }));
  });
}

/** The value of a sample in Prometheus text: `name{labels} value`, labels written in the server's order. */
export function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}} `}`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls until check() is true; fails after timeoutMs. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
