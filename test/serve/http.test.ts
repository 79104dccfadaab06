// The HTTP server against real models in ModelWorkers, on 127.0.0.1 at an ephemeral port: every route, every
// class of bad input, the official openai client, cancellation by a client that goes away, 429 from a full
// queue, and a thousand random malformed requests after which a good request is still answered.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { InferenceServer } from '../../src/serve/http';
import { ModelWorker } from '../../src/serve/worker';
import { assertBuilt, trainClassifier, trainG2P, trainLM } from './fixtures';
import { rng } from '../helpers';
import { events, openStream, post, raw, Reply, request, sample, saveSlowLM, waitFor } from './http-helpers';

let root: string;
const open: Array<{ server: InferenceServer; worker: ModelWorker }> = [];

async function serve(
  dir: string,
  options: { maxBatch?: number; maxQueue?: number } = {},
): Promise<{ server: InferenceServer; worker: ModelWorker; url: string }> {
  const worker = await ModelWorker.load(dir, {
    threads: 1,
    maxBatch: options.maxBatch ?? 4,
    maxQueue: options.maxQueue ?? 16,
  });
  const server = await InferenceServer.start(worker, { host: '127.0.0.1', port: 0 });
  open.push({ server, worker });
  return { server, worker, url: server.url };
}

beforeAll(() => {
  assertBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-serve-http-'));
});
afterAll(async () => {
  for (const { server, worker } of open) {
    await server.close(1000);
    await worker.close();
  }
  fs.rmSync(root, { recursive: true, force: true });
});

/** A 4xx answer in the error shape, whose message matches. */
function expectError(reply: Reply, status: number, message: RegExp, type = 'invalid_request_error'): void {
  expect({ status: reply.status, body: reply.json }).toMatchObject({ status, body: { error: { type } } });
  expect(reply.json.error.message).toMatch(message);
  expect(reply.headers['content-type']).toBe('application/json');
}

describe('a language model', () => {
  let url: string;
  let worker: ModelWorker;
  beforeAll(async () => {
    ({ url, worker } = await serve(await trainLM(root)));
  });

  test('GET /health and /v1/models', async () => {
    const health = await request(`${url}/health`);
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({
      status: 'ok',
      task: 'lm',
      model: { name: 'lm', type: 'GPT', contextLength: 32, vocabSize: expect.any(Number) },
      maxBatch: 4,
      maxQueue: 16,
      queueDepth: 0,
      batchSize: 0,
    });
    expect(health.json.model.parameters).toBeGreaterThan(1000);
    const models = await request(`${url}/v1/models`);
    expect(models.json).toMatchObject({ object: 'list', data: [{ id: 'lm', object: 'model' }] });
  });

  test('POST /v1/completions answers what the worker generates, in the OpenAI shape', async () => {
    const body = { model: 'anything', prompt: 'the cat', max_tokens: 6, temperature: 0 };
    const reply = await post(`${url}/v1/completions`, body);
    expect(reply.status).toBe(200);
    const direct = await worker.generate('the cat', { maxTokens: 6, temperature: 0 });
    expect(reply.json).toMatchObject({
      object: 'text_completion',
      model: 'anything',
      choices: [{ text: direct.text, index: 0, finish_reason: direct.finishReason }],
      usage: {
        prompt_tokens: direct.promptTokens,
        completion_tokens: direct.tokens.length,
        total_tokens: direct.promptTokens + direct.tokens.length,
      },
    });
    expect(reply.json.id).toMatch(/^cmpl-[0-9a-f]{32}$/);
    expect(Math.abs(reply.json.created - Date.now() / 1000)).toBeLessThan(60);
    // A prompt given as an array of one string, no model: the server's name for it is echoed.
    const array = await post(`${url}/v1/completions`, { ...body, model: undefined, prompt: ['the cat'] });
    expect(array.json).toMatchObject({ model: 'lm', choices: [{ text: direct.text }] });
    // Sampling with a seed repeats; the OpenAI defaults that ask for nothing more are accepted.
    const seeded = {
      prompt: 'the dog',
      max_tokens: 8,
      temperature: 0.9,
      top_p: 0.9,
      top_k: 20,
      seed: 42,
      n: 1,
      best_of: 1,
      echo: false,
      presence_penalty: 0,
      frequency_penalty: 0,
      logit_bias: {},
      logprobs: null,
      suffix: null,
      user: 'someone',
    };
    const a = await post(`${url}/v1/completions`, seeded);
    const b = await post(`${url}/v1/completions`, seeded);
    expect(a.status).toBe(200);
    expect(a.json.choices[0].text).toBe(b.json.choices[0].text);
  });

  test('stop strings end the text before them with finish_reason stop', async () => {
    const free = await post(`${url}/v1/completions`, { prompt: 'the cat', max_tokens: 20, temperature: 0 });
    const text: string = free.json.choices[0].text;
    const stop = text.slice(4, 6);
    const cut = text.indexOf(stop);
    const stopped = await post(`${url}/v1/completions`, { prompt: 'the cat', max_tokens: 20, temperature: 0, stop });
    expect(stopped.json.choices[0]).toMatchObject({ text: text.slice(0, cut), finish_reason: 'stop' });
    const list = await post(`${url}/v1/completions`, {
      prompt: 'the cat',
      max_tokens: 20,
      temperature: 0,
      stop: ['\u0000never', stop],
    });
    expect(list.json.choices[0].text).toBe(text.slice(0, cut));
  });

  test('stream: true sends one event per token, the finish reason last, then [DONE]', async () => {
    const body = { prompt: 'the cat', max_tokens: 8, temperature: 0 };
    const whole = await post(`${url}/v1/completions`, body);
    const reply = await post(`${url}/v1/completions`, {
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
    const data = events(reply.text);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const usage = chunks.pop();
    expect(usage).toMatchObject({ choices: [], usage: whole.json.usage });
    const last = chunks.pop();
    expect(last.choices[0]).toMatchObject({ text: '', finish_reason: whole.json.choices[0].finish_reason });
    expect(chunks).toHaveLength(whole.json.usage.completion_tokens);
    for (const c of chunks) {
      expect(c).toMatchObject({ id: last.id, object: 'text_completion', model: 'lm' });
      expect(c.choices[0].finish_reason).toBeNull();
    }
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(whole.json.choices[0].text);
  });

  test('the openai client, streaming and not', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    const body = { model: 'tiny', prompt: 'the dog', max_tokens: 7, temperature: 0 };
    const whole = await client.completions.create(body);
    const direct = await worker.generate('the dog', { maxTokens: 7, temperature: 0 });
    expect(whole.choices[0].text).toBe(direct.text);
    expect(whole.model).toBe('tiny');
    expect(whole.usage?.completion_tokens).toBe(direct.tokens.length);
    const stream = await client.completions.create({ ...body, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(direct.text);
    expect(finish).toBe(direct.finishReason);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['lm']);
    await expect(client.completions.create({ ...body, n: 3 })).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/'n' other than 1/),
    });
  });

  test('bad requests get a 4xx with { error: { message, type } } and never crash the server', async () => {
    const completions = `${url}/v1/completions`;
    const send = (body: string) => request(completions, { body });
    expectError(await send('{"prompt": "a", '), 400, /the body is not valid JSON/);
    expectError(await send(''), 400, /needs a JSON body/);
    expectError(await send('[1, 2]'), 400, /must be a JSON object, got an array/);
    expectError(await send('"text"'), 400, /must be a JSON object, got the string "text"/);
    expectError(await post(completions, {}), 400, /'prompt' is required/);
    expectError(await post(completions, { prompt: 5 }), 400, /'prompt' must be a string or an array of one string/);
    expectError(await post(completions, { prompt: '' }), 400, /'prompt' must not be empty/);
    expectError(await post(completions, { prompt: ['a', 'b'] }), 400, /'prompt' must hold at most 1 item/);
    expectError(await post(completions, { prompt: 'a', max_tokens: '4' }), 400, /'max_tokens' must be an integer/);
    expectError(await post(completions, { prompt: 'a', max_tokens: 2.5 }), 400, /'max_tokens' must be an integer/);
    expectError(
      await post(completions, { prompt: 'a', max_tokens: -3 }),
      400,
      /'max_tokens' must be an integer in \[1, 32\], got -3/,
    );
    expectError(await post(completions, { prompt: 'a', max_tokens: 0 }), 400, /'max_tokens'/);
    expectError(await post(completions, { prompt: 'a', max_tokens: 1e12 }), 400, /'max_tokens' .* got 1000000000000/);
    expectError(await post(completions, { prompt: 'a', max_tokens: 1e300 }), 400, /'max_tokens' must be an integer/);
    expectError(
      await post(completions, { prompt: 'a', temperature: 'hot' }),
      400,
      /'temperature' must be a number in \[0, 2\]/,
    );
    expectError(await post(completions, { prompt: 'a', temperature: -1 }), 400, /'temperature'/);
    expectError(await post(completions, { prompt: 'a', top_p: 0 }), 400, /'top_p' must be a number in \(0, 1\]/);
    expectError(await post(completions, { prompt: 'a', top_k: -1 }), 400, /'top_k'/);
    expectError(await post(completions, { prompt: 'a', seed: -1 }), 400, /'seed'/);
    expectError(await post(completions, { prompt: 'a', stream: 'yes' }), 400, /'stream' must be true or false/);
    expectError(await post(completions, { prompt: 'a', stop: [1] }), 400, /'stop'\[0\] must be a string/);
    expectError(await post(completions, { prompt: 'a', stop: ['a', 'b', 'c', 'd', 'e'] }), 400, /'stop'/);
    expectError(
      await post(completions, { prompt: 'a', stream_options: { include_usage: true } }),
      400,
      /needs 'stream': true/,
    );
    // Unknown fields, and OpenAI's fields this server does not implement, are named.
    const unknown = await post(completions, { prompt: 'a', temprature: 0.5, foo: 1 });
    expectError(unknown, 400, /unknown fields 'temprature', 'foo'/);
    expect(unknown.json.error.param).toBe('temprature');
    expectError(
      await post(completions, {
        prompt: 'a',
        n: 2,
        best_of: 3,
        logprobs: 2,
        suffix: 'x',
        echo: true,
        presence_penalty: 0.5,
        frequency_penalty: -1,
        logit_bias: { '5': 100 },
      }),
      400,
      /not implemented by this server: 'n' other than 1, 'best_of' other than 1, 'echo', 'suffix', 'logprobs', 'presence_penalty' other than 0, 'frequency_penalty' other than 0, 'logit_bias'/,
    );
    // A prompt longer than the context (32 tokens): the worker's check, answered 400.
    expectError(
      await post(completions, { prompt: 'the cat sat on the mat. '.repeat(20) }),
      400,
      /context of 32 tokens/,
    );
    // Prompt plus max_tokens past the context: refused as OpenAI does, not cut short with 'length'.
    expectError(
      await post(completions, { prompt: 'the cat', max_tokens: 32 }),
      400,
      /context is 32 tokens, but \d+ were requested \(\d+ in the prompt, 32 for the completion\)/,
    );
    // Bodies over 1 MiB: by their declared length and when sent in chunks without one.
    const big = JSON.stringify({ prompt: 'x'.repeat(1024 * 1024) });
    expectError(await send(big), 413, /exceeds the limit of 1048576 bytes/);
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(completions, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) }),
        );
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(64 * 1024));
      req.end();
    });
    expectError(chunked, 413, /exceeds the limit/);
    // Wrong method and path; the route for another kind of model.
    const wrongMethod = await request(completions);
    expectError(wrongMethod, 405, /\/v1\/completions takes POST, not GET/);
    expect(wrongMethod.headers.allow).toBe('POST');
    expectError(await request(`${url}/health`, { method: 'DELETE' }), 405, /takes GET/);
    expectError(await request(`${url}/v2/completions`), 404, /no route "\/v2\/completions"/, 'not_found_error');
    expectError(
      await post(`${url}/v1/predict`, { inputs: ['a'] }),
      404,
      /use POST \/v1\/completions/,
      'not_found_error',
    );
    // Garbage that is not HTTP.
    expect(await raw(url, 'HELLO\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"type":"invalid_request_error"/,
    );
    // The server still answers.
    expect((await post(completions, { prompt: 'the', max_tokens: 2 })).status).toBe(200);
  });

  test('GET /metrics: requests by route and status, tokens, queue, batch, TTFT and time per token', async () => {
    await post(`${url}/v1/completions`, { prompt: 'the', max_tokens: 3, temperature: 0, stream: true });
    const reply = await request(`${url}/metrics`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = reply.text;
    const p = 'transformer_native_';
    expect(
      sample(text, `${p}http_requests_total`, 'route="/v1/completions",method="POST",status="200"'),
    ).toBeGreaterThan(5);
    expect(
      sample(text, `${p}http_requests_total`, 'route="/v1/completions",method="POST",status="400"'),
    ).toBeGreaterThan(5);
    expect(sample(text, `${p}http_requests_total`, 'route="unmatched",method="GET",status="404"')).toBe(1);
    expect(sample(text, `${p}generated_tokens_total`)).toBeGreaterThan(20);
    expect(sample(text, `${p}prompt_tokens_total`)).toBeGreaterThan(0);
    expect(sample(text, `${p}queue_depth`)).toBe(0);
    expect(sample(text, `${p}batch_size`)).toBe(0);
    expect(sample(text, `${p}time_to_first_token_seconds_count`)).toBeGreaterThanOrEqual(2);
    expect(sample(text, `${p}time_per_output_token_seconds_count`)).toBeGreaterThan(0);
    expect(sample(text, `${p}process_resident_memory_bytes`)).toBeGreaterThan(1e6);
  });

  test('1,000 random malformed requests get 4xx answers, then a good request is answered', async () => {
    const next = rng(2024);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const bad: unknown[] = [-1, 0, 1e12, 1.5, '7', true, [], {}, [1, 2], 'x'.repeat(300), { prompt: 'a' }, -1e308];
    const fields = ['prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'stream', 'n', 'echo'];
    /** A request that is wrong in one of several ways; each way is refused whatever the random parts. */
    const malformed = (i: number): Promise<Reply | string> => {
      const kind = i % 10;
      const completions = `${url}/v1/completions`;
      switch (kind) {
        case 0: // a path that does not exist
          return request(
            `${url}/${encodeURIComponent(String.fromCharCode(...Array.from({ length: 1 + Math.floor(next() * 20) }, () => 33 + Math.floor(next() * 90))))}x`,
            {
              agent,
            },
          );
        case 1: // a method a route does not take
          return request(pick([completions, `${url}/v1/predict`, `${url}/health`, `${url}/metrics`]), {
            method: pick(['PUT', 'DELETE', 'PATCH']),
            agent,
          });
        case 2: // random bytes
          return request(completions, {
            body: Buffer.from(Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256))),
            agent,
          });
        case 3: // JSON cut short
          return request(completions, {
            body: JSON.stringify({ prompt: 'the cat', max_tokens: 4 }).slice(0, 1 + Math.floor(next() * 30)),
            agent,
          });
        case 4: // a field of the wrong type or out of range
        case 5: {
          const field = pick(fields);
          let value = pick(bad);
          // Values that would be right for the field are replaced by ones that are not.
          if (field === 'prompt' && typeof value === 'string') value = 7;
          if (field === 'prompt' && Array.isArray(value) && value.length === 0) value = [3];
          if (field === 'stop' && typeof value === 'string') value = [1];
          if (field === 'stop' && Array.isArray(value)) value = [1];
          if ((field === 'temperature' || field === 'top_p') && value === 0) value = -1;
          if (field === 'temperature' && value === 1.5) value = 3;
          if (field === 'stream' && value === true) value = 'yes';
          if (field === 'top_p' && value === 1e12) value = 2;
          if ((field === 'top_k' || field === 'seed') && (value === 0 || value === 1e12)) value = -5;
          if (field === 'echo' && value === 0) value = true;
          if (field === 'n' && value === 0) value = 2;
          return post(completions, { prompt: 'the', max_tokens: 2, [field]: value }, agent);
        }
        case 6: // an unknown field
          return post(completions, { prompt: 'the', [`f${Math.floor(next() * 1e6)}`]: next() }, agent);
        case 7: // JSON that is not an object, deeply nested
          return request(completions, { body: `${'['.repeat(1 + Math.floor(next() * 5000))}`, agent });
        case 8: // a body declared larger than the limit
          return request(completions, { body: '{}', headers: { 'Content-Length': '2000000' }, agent }).catch(
            () => 'reset',
          );
        default: // not HTTP at all
          return raw(
            url,
            Buffer.from(Array.from({ length: 1 + Math.floor(next() * 100) }, () => 32 + Math.floor(next() * 95))),
          );
      }
    };
    const statuses = new Map<string, number>();
    let index = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (index < 1000) {
          const i = index++;
          const reply = await malformed(i);
          const status =
            typeof reply === 'string' ? (reply.match(/^HTTP\/1\.1 (\d+)/)?.[1] ?? 'closed') : String(reply.status);
          if (typeof reply !== 'string' && !(reply.status >= 400 && reply.status < 500))
            throw new Error(`request ${i} (kind ${i % 10}) got ${reply.status}: ${reply.text.slice(0, 200)}`);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    agent.destroy();
    expect(Date.now() - started).toBeLessThan(60_000);
    expect([...statuses.keys()].every((s) => /^4\d\d$/.test(s) || s === 'closed' || s === 'reset')).toBe(true);
    expect(statuses.get('400')).toBeGreaterThan(500);
    const good = await post(`${url}/v1/completions`, { prompt: 'the cat', max_tokens: 6, temperature: 0 });
    const direct = await worker.generate('the cat', { maxTokens: 6, temperature: 0 });
    expect(good.json.choices[0].text).toBe(direct.text);
    expect((await worker.stats()).requests).toBe(0);
  });
});

describe('a slow language model', () => {
  let dir: string;
  let fullMs: number;
  let url: string;
  let worker: ModelWorker;
  beforeAll(async () => {
    dir = saveSlowLM(root);
    ({ url, worker } = await serve(dir));
    const started = performance.now();
    const whole = await post(`${url}/v1/completions`, { prompt: 'abc', max_tokens: 400, temperature: 0 });
    fullMs = performance.now() - started;
    expect(whole.json.usage.completion_tokens).toBe(400);
  });

  const idle = async () => {
    const stats = await worker.stats();
    return stats.requests === 0 && stats.sequences === 0;
  };

  test('a client that disconnects mid-stream cancels its sequence', async () => {
    const started = performance.now();
    const { req, received } = await openStream(url, { prompt: 'abc', max_tokens: 400, temperature: 0 }, 3);
    expect(events(received()).length).toBeGreaterThanOrEqual(3);
    req.destroy();
    await waitFor(idle);
    // Cancelled well before the 400 tokens would have taken.
    expect(performance.now() - started).toBeLessThan(fullMs / 2);
    const health = await request(`${url}/health`);
    expect(health.json).toMatchObject({ queueDepth: 0, batchSize: 0 });
    const metrics = await request(`${url}/metrics`);
    expect(sample(metrics.text, 'transformer_native_queue_depth')).toBe(0);
    expect(
      sample(
        metrics.text,
        'transformer_native_http_requests_total',
        'route="/v1/completions",method="POST",status="499"',
      ),
    ).toBe(1);
  });

  test('a client that disconnects before a whole answer cancels its sequence', async () => {
    const req = http.request(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    req.on('error', () => undefined);
    const started = performance.now();
    req.end(JSON.stringify({ prompt: 'abc', max_tokens: 400, temperature: 0 }));
    await waitFor(async () => (await worker.stats()).sequences === 1);
    req.destroy();
    await waitFor(idle);
    expect(performance.now() - started).toBeLessThan(fullMs / 2);
  });

  test('a full queue answers 429 with Retry-After', async () => {
    const small = await serve(dir, { maxQueue: 1 });
    const first = await openStream(small.url, { prompt: 'abc', max_tokens: 400, temperature: 0 });
    const refused = await post(`${small.url}/v1/completions`, { prompt: 'abc', max_tokens: 5 });
    expectError(refused, 429, /queue is full/, 'rate_limit_error');
    expect(refused.headers['retry-after']).toBe('1');
    const refusedStream = await post(`${small.url}/v1/completions`, { prompt: 'abc', max_tokens: 5, stream: true });
    expectError(refusedStream, 429, /queue is full/, 'rate_limit_error');
    const client = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(client.completions.create({ model: 'm', prompt: 'abc', max_tokens: 5 })).rejects.toMatchObject({
      status: 429,
    });
    first.req.destroy();
    await waitFor(async () => (await small.worker.stats()).requests === 0);
    expect((await post(`${small.url}/v1/completions`, { prompt: 'abc', max_tokens: 5 })).status).toBe(200);
    const metrics = await request(`${small.url}/metrics`);
    expect(
      sample(
        metrics.text,
        'transformer_native_http_requests_total',
        'route="/v1/completions",method="POST",status="429"',
      ),
    ).toBe(3);
  });

  test('close() lets a request in flight finish and refuses new connections', async () => {
    const own = await serve(dir);
    const stream = await openStream(own.url, { prompt: 'abc', max_tokens: 100, temperature: 0 });
    const ended = new Promise<void>((resolve) => stream.res.on('end', () => resolve()));
    const closed = own.server.close(30_000);
    await expect(request(`${own.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await ended;
    await closed;
    const data = events(stream.received());
    expect(data.at(-1)).toBe('[DONE]');
    expect(data).toHaveLength(100 + 2);
  });

  test('close() aborts what is still running when the grace period ends', async () => {
    const own = await serve(dir);
    const stream = await openStream(own.url, { prompt: 'abc', max_tokens: 1000, temperature: 0 });
    const ended = new Promise<void>((resolve) => stream.res.on('close', () => resolve()));
    const started = performance.now();
    await own.server.close(100);
    await ended;
    expect(performance.now() - started).toBeLessThan(5000);
    const data = events(stream.received());
    expect(JSON.parse(data.at(-1) as string)).toMatchObject({ error: { type: 'service_unavailable' } });
    await waitFor(async () => (await own.worker.stats()).requests === 0);
  });
});

describe('prediction models', () => {
  test('classify: POST /v1/predict', async () => {
    const { url, worker } = await serve(await trainClassifier(root));
    const health = await request(`${url}/health`);
    expect(health.json).toMatchObject({ status: 'ok', task: 'classify', model: { labels: ['ab', 'xyz'] } });
    const reply = await post(`${url}/v1/predict`, { inputs: ['abab', 'xyzxyz'] });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ outputs: await worker.predict(['abab', 'xyzxyz']) });
    expect(reply.json.outputs[0]).toMatchObject({
      label: expect.any(String),
      probabilities: { ab: expect.any(Number) },
    });
    expectError(await post(`${url}/v1/predict`, {}), 400, /'inputs' is required/);
    expectError(await post(`${url}/v1/predict`, { inputs: 'abab' }), 400, /'inputs' must be an array/);
    expectError(await post(`${url}/v1/predict`, { inputs: [] }), 400, /'inputs' must not be empty/);
    expectError(await post(`${url}/v1/predict`, { inputs: ['a', 3] }), 400, /'inputs'\[1\] must be a string/);
    expectError(await post(`${url}/v1/predict`, { inputs: ['a'], top: 1 }), 400, /unknown field 'top'/);
    expectError(await post(`${url}/v1/completions`, { prompt: 'a' }), 404, /use POST \/v1\/predict/, 'not_found_error');
  });

  test('g2p: POST /v1/predict', async () => {
    const { url, worker } = await serve(await trainG2P(root));
    const reply = await post(`${url}/v1/predict`, { inputs: ['hello', 'world'] });
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ outputs: await worker.predict(['hello', 'world']) });
    expect(typeof reply.json.outputs[0]).toBe('string');
    expect((await request(`${url}/health`)).json).toMatchObject({ task: 'g2p', model: { type: 'Seq2SeqTransformer' } });
  });
});
