// SupervisedModelWorker: a worker thread that dies is replaced by the next request, after a pause that doubles
// while workers die young or fail to load; meanwhile requests get ModelUnavailableError, which the HTTP server
// answers with 503 and Retry-After. Runs dist/serve/worker_main.js: build first.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { InferenceServer } from '../../src/serve/http';
import { ModelUnavailableError, SupervisedModelWorker } from '../../src/serve/supervisor';
import type { SupervisorOptions } from '../../src/serve/supervisor';
import { ModelWorker } from '../../src/serve/worker';
import { assertBuilt, randomLM } from './fixtures';
import { post, request } from './http-helpers';

let root: string;
let lmDir: string;
const opened: SupervisedModelWorker[] = [];

beforeAll(() => {
  assertBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-supervisor-'));
  lmDir = randomLM(root, 'lm', { contextLength: 64 });
});
afterAll(async () => {
  await Promise.all(opened.map((m) => m.close()));
  fs.rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function supervised(options: SupervisorOptions = {}): Promise<{ model: SupervisedModelWorker; log: string[] }> {
  const log: string[] = [];
  const model = await SupervisedModelWorker.load(
    lmDir,
    { threads: 1 },
    { log: (line) => log.push(line), firstPauseMs: 300, maxPauseMs: 1000, minUptimeMs: 30_000, ...options },
  );
  opened.push(model);
  return { model, log };
}

/** Ends the thread of the model's current worker, as a crash would. */
async function kill(model: SupervisedModelWorker): Promise<void> {
  const current = (model as unknown as { current: ModelWorker }).current;
  await (current as unknown as { worker: Worker }).worker.terminate();
}

test('a worker that dies young is replaced after a pause that doubles; one that lived long at once', async () => {
  const { model, log } = await supervised();
  const before = await model.generate('the', { maxTokens: 3 });
  const pending = model.generate('the', { maxTokens: 60 });
  await kill(model);
  await expect(pending).rejects.toThrow(/model worker exited with code 1/); // its state died with the thread
  // It lived less than minUptimeMs: the first pause (300 ms), requests refused meanwhile.
  const refused = await model.generate('the').catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(ModelUnavailableError);
  expect(refused).toMatchObject({ name: 'ModelUnavailableError', retryAfter: 1 });
  expect(String(refused)).toMatch(/the model's worker died \(model worker exited with code 1\); it restarts in 1 s/);
  expect(log).toEqual(['model worker exited with code 1; restarting it in 0.3 s']);
  await sleep(350);
  // Requests that arrive together share one new worker, which answers as the first did.
  const again = await Promise.all([model.generate('the', { maxTokens: 3 }), model.stats()]);
  expect(again[0]).toEqual(before);
  expect(model.restarts).toBe(1);
  expect(log[1]).toBe('model worker restarted (restart 1)');
  // Dead young again: the pause doubles.
  await kill(model);
  await expect(model.predict(['x'])).rejects.toMatchObject({ name: 'ModelUnavailableError' });
  expect(log[2]).toBe('model worker exited with code 1; restarting it in 0.6 s');
  await sleep(650);
  expect(await model.generate('the', { maxTokens: 3 })).toEqual(before);
  expect(model.restarts).toBe(2);

  const patient = await supervised({ minUptimeMs: 0 });
  await kill(patient.model);
  expect(await patient.model.generate('the', { maxTokens: 3 })).toEqual(before); // no pause
  expect(patient.log).toEqual(['model worker exited with code 1; restarting it', 'model worker restarted (restart 1)']);
});

test('a stream opened after a death runs on the new worker; a failed restart waits and is tried again', async () => {
  let failNext = false;
  const { model, log } = await supervised({
    minUptimeMs: 0,
    load: async (dir, options) => {
      if (failNext) {
        failNext = false;
        throw new Error('checkpoint not found');
      }
      return ModelWorker.load(dir, options);
    },
  });
  await kill(model);
  const chunks: string[] = [];
  for await (const chunk of model.stream('the', { maxTokens: 4 })) chunks.push(chunk.text);
  expect(chunks).toHaveLength(4);
  expect(chunks.join('')).toBe((await model.generate('the', { maxTokens: 4 })).text);

  failNext = true;
  await kill(model);
  await expect(model.generate('the')).rejects.toMatchObject({
    name: 'ModelUnavailableError',
    message: "the model's worker could not be restarted: checkpoint not found",
    retryAfter: 1,
  });
  expect(log.slice(-1)).toEqual([
    "the model's worker could not be restarted: checkpoint not found; trying again in 0.3 s",
  ]);
  await expect(model.generate('the')).rejects.toMatchObject({ name: 'ModelUnavailableError' });
  await sleep(350);
  expect((await model.generate('the', { maxTokens: 2 })).tokens).toHaveLength(2);
  expect(model.restarts).toBe(2);
  await model.close();
  await expect(model.generate('the')).rejects.toThrow(/the model is closed/);
});

test('bad supervisor options are refused, naming the option', async () => {
  await expect(SupervisedModelWorker.load(lmDir, {}, { firstPauseMs: -1 })).rejects.toThrow(
    /firstPauseMs must be a finite number of milliseconds >= 0, got -1/,
  );
  await expect(SupervisedModelWorker.load(lmDir, {}, { maxPauseMs: NaN })).rejects.toThrow(/maxPauseMs/);
  await expect(
    SupervisedModelWorker.load(lmDir, {}, { log: 'stderr' as unknown as (line: string) => void }),
  ).rejects.toThrow(/log must be a function/);
});

test('over HTTP: 503 with Retry-After while the worker is down, then answers again', async () => {
  const { model } = await supervised();
  const server = await InferenceServer.start(model, { host: '127.0.0.1', port: 0 });
  try {
    const url = server.url;
    const body = { prompt: 'the', max_tokens: 3 };
    const ok = await post(`${url}/v1/completions`, body);
    expect(ok.status).toBe(200);
    await kill(model);
    const down = await post(`${url}/v1/completions`, body);
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.json.error).toMatchObject({ type: 'service_unavailable', code: 'model_unavailable' });
    expect((await request(`${url}/health`)).status).toBe(503);
    await sleep(350);
    expect((await request(`${url}/health`)).status).toBe(200); // the health check itself brings the worker back
    const back = await post(`${url}/v1/completions`, body);
    expect(back.status).toBe(200);
    expect(back.json.choices[0].text).toBe(ok.json.choices[0].text);
  } finally {
    await server.close(1000);
  }
});
