// ModelWorker: checkpoints of each task served from a worker thread. Generation gives the tokens the main
// thread gets alone (greedy and seeded sampling, one worker or two at once), streams match it chunk by chunk,
// stop strings cut the text, aborts and early exits free the request, a full queue refuses, a worker that dies
// fails its requests, bad options are refused naming the option. Runs dist/serve/worker_main.js: build first.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { classProbabilities, labelsOf } from '../../src/cli/classify';
import { loadModel, tokenizerOf } from '../../src/cli/common';
import { tokenizersOf } from '../../src/cli/g2p';
import type { Tokenizer } from '../../src/data/tokenizers';
import { greedy, sample } from '../../src/generation';
import type { EncoderClassifier, GPT, Seq2SeqTransformer } from '../../src/models';
import { AbortError, ModelWorker, QueueFullError } from '../../src';
import type { GenerateResult, StreamChunk } from '../../src';
import { predictG2P } from '../../src/tasks/g2p';
import { assertBuilt, randomLM, trainClassifier, trainG2P, trainLM } from './fixtures';

let root: string;
let lmDir: string;
let longDir: string;
/** The lm checkpoint loaded on the main thread, for reference outputs. */
let gpt: GPT;
let tokenizer: Tokenizer;
let disposeReference: () => void;
const workers: ModelWorker[] = [];

beforeAll(async () => {
  assertBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-serve-'));
  lmDir = await trainLM(root);
  longDir = randomLM(root, 'long');
  const { model, checkpoint } = loadModel(lmDir, 'GPT');
  gpt = model as GPT;
  tokenizer = tokenizerOf(checkpoint);
  disposeReference = () => {
    model.dispose();
    checkpoint.dispose();
  };
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  disposeReference?.();
  fs.rmSync(root, { recursive: true, force: true });
});

async function load(dir: string, options = {}): Promise<ModelWorker> {
  const worker = await ModelWorker.load(dir, options);
  workers.push(worker);
  return worker;
}

/** What greedy() or sample() on the main thread gives for a prompt, as ModelWorker reports it. */
function reference(prompt: string, maxTokens: number, sampling?: object): { tokens: number[]; text: string } {
  const ids = tokenizer.encode(prompt);
  const options = { maxLength: maxTokens, eosId: tokenizer.eosId };
  const result = sampling === undefined ? greedy(gpt, [ids], options) : sample(gpt, [ids], { ...options, ...sampling });
  return { tokens: result.sequences[0], text: tokenizer.decode(result.sequences[0]) };
}

async function collect(stream: AsyncIterator<StreamChunk, GenerateResult | undefined>) {
  const chunks: StreamChunk[] = [];
  for (;;) {
    const next = await stream.next();
    if (next.done) return { chunks, result: next.value };
    chunks.push(next.value);
  }
}

/** Polls stats() until the worker holds no sequence; returns its stats then. */
async function drained(worker: ModelWorker) {
  for (let i = 0; i < 200; i++) {
    const stats = await worker.stats();
    if (stats.sequences === 0 && stats.requests === 0) return stats;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the worker still holds sequences');
}

const PROMPTS = ['the cat', 'the dog sat on', 'café, na', 'x', '日本'];

describe('lm', () => {
  let worker: ModelWorker;
  beforeAll(async () => {
    worker = await load(lmDir, { maxBatch: 4 });
  });

  test('load takes a training folder; info describes the model', async () => {
    const info = await worker.info();
    expect(info).toEqual({
      task: 'lm',
      checkpoint: path.join(lmDir, 'best'),
      model: { type: 'GPT', parameters: gpt.numParameters(), contextLength: 32, vocabSize: tokenizer.vocabSize },
      threads: expect.any(Number),
      maxBatch: 4,
      maxQueue: 64,
    });
    // Idle, the worker holds the model's weights and nothing else (the checkpoint's own copy is gone).
    expect(await worker.stats()).toEqual({
      requests: 0,
      sequences: 0,
      batchSize: 0,
      storages: gpt.parameters().length,
    });
  });

  test('concurrent requests get the tokens greedy() gives each alone on the main thread', async () => {
    const results = await Promise.all(PROMPTS.map((p, i) => worker.generate(p, { maxTokens: 5 + 4 * i })));
    results.forEach((r, i) => {
      const alone = reference(PROMPTS[i], 5 + 4 * i);
      expect(r.tokens).toEqual(alone.tokens);
      expect(r.text).toBe(alone.text);
      expect(r.promptTokens).toBe(tokenizer.encode(PROMPTS[i]).length);
      expect(r.finishReason).toBe(r.tokens.length === 5 + 4 * i ? 'length' : 'stop');
    });
    // maxTokens defaults to 128, which the context (32) cuts: prompt + new tokens fill it, plus the last one.
    expect(await worker.stats()).toMatchObject({ sequences: 0, storages: gpt.parameters().length });
    const long = await worker.generate('the cat');
    const room = 32 - tokenizer.encode('the cat').length + 1;
    if (long.finishReason === 'length') expect(long.tokens).toHaveLength(room);
    expect(long.tokens).toEqual(reference('the cat', room).tokens);
  });

  test('a stream gives the same tokens, chunk by chunk, and the result last', async () => {
    const whole = await worker.generate('café, na', { maxTokens: 20 });
    const { chunks, result } = await collect(worker.stream('café, na', { maxTokens: 20 }));
    expect(chunks.map((c) => c.token)).toEqual(whole.tokens);
    expect(chunks.map((c) => c.text).join('')).toBe(whole.text);
    expect(result).toEqual(whole);
    const seen: string[] = [];
    for await (const chunk of worker.stream('the dog', { maxTokens: 3 })) seen.push(chunk.text);
    expect(seen.join('')).toBe(reference('the dog', 3).text);
  });

  test('seeded sampling is reproducible and matches sample() on the main thread', async () => {
    const options = { maxTokens: 20, temperature: 0.9, topK: 50, topP: 0.95, seed: 42 };
    const [a, b] = await Promise.all([worker.generate('the', options), worker.generate('the', options)]);
    expect(a).toEqual(b);
    expect(a.tokens).toEqual(reference('the', 20, { temperature: 0.9, topK: 50, topP: 0.95, seed: 42 }).tokens);
    const streamed = await collect(worker.stream('the', options));
    expect(streamed.result).toEqual(a);
    const other = await worker.generate('the', { ...options, seed: 43 });
    expect(other.tokens).toEqual(reference('the', 20, { temperature: 0.9, topK: 50, topP: 0.95, seed: 43 }).tokens);
  });

  test('a stop string ends the text before it, in generate and in stream', async () => {
    const options = { maxTokens: 24, temperature: 1, seed: 7 };
    const free = await worker.generate('the', options);
    expect(free.text.length).toBeGreaterThan(8);
    const stop = free.text.slice(5, 7);
    const cut = free.text.indexOf(stop);
    const stopped = await worker.generate('the', { ...options, stop: ['never seen', stop] });
    expect(stopped.text).toBe(free.text.slice(0, cut));
    expect(stopped.finishReason).toBe('stop');
    expect(free.tokens.slice(0, stopped.tokens.length)).toEqual(stopped.tokens);
    expect(tokenizer.decode(stopped.tokens).startsWith(stopped.text)).toBe(true);
    const { chunks, result } = await collect(worker.stream('the', { ...options, stop: [stop] }));
    expect(chunks.map((c) => c.text).join('')).toBe(stopped.text);
    expect(result).toEqual(stopped);
  });

  test('prompts that do not fit and other tasks’ calls are refused with the reason', async () => {
    await expect(worker.generate('the cat sat on the mat. '.repeat(8))).rejects.toThrow(
      /the prompt has \d+ tokens, more than the model's context of 32 tokens/,
    );
    await expect(worker.generate('')).rejects.toThrow(/the prompt encodes to no tokens/);
    await expect(worker.predict(['a'])).rejects.toThrow(/predict\(\) serves g2p and classify models/);
    // The worker goes on serving.
    expect((await worker.generate('the', { maxTokens: 2 })).tokens).toEqual(reference('the', 2).tokens);
  });

  test('bad options are refused on the calling thread, naming the option', async () => {
    const cases: Array<[object, RegExp]> = [
      [{ maxTokens: 0 }, /^ModelWorker.(generate|stream): maxTokens must be a positive integer, got 0$/],
      [{ maxTokens: 2.5 }, /maxTokens must be a positive integer/],
      [{ temperature: -1 }, /temperature must be a finite number >= 0, got -1/],
      [{ temperature: 'hot' }, /temperature must be a finite number/],
      [{ topK: 1.5 }, /topK must be a non-negative integer, got 1.5/],
      [{ topP: 0 }, /topP must be a number in \(0, 1\], got 0/],
      [{ seed: -1 }, /seed must be an integer in \[0, 2\^53\)/],
      [{ stop: 'x' }, /stop must be an array of non-empty strings/],
      [{ stop: [''] }, /stop must be an array of non-empty strings/],
      [{ signal: {} }, /signal must be an AbortSignal/],
      [{ max_tokens: 3 }, /unknown option 'max_tokens'/],
    ];
    for (const [options, message] of cases) {
      await expect(worker.generate('the', options)).rejects.toThrow(message);
      await expect(worker.stream('the', options).next()).rejects.toThrow(message);
    }
    await expect(worker.generate(3 as unknown as string)).rejects.toThrow(/prompt must be a string, got number/);
    await expect(worker.predict('a' as unknown as string[])).rejects.toThrow(/inputs must be an array of strings/);
    for (const [options, message] of [
      [{ threads: 0 }, /ModelWorker.load: threads must be a positive integer, got 0/],
      [{ threads: 5000 }, /threads must be at most 1024/],
      [{ maxBatch: 'x' }, /maxBatch must be a positive integer, got x/],
      [{ maxQueue: -1 }, /maxQueue must be a positive integer/],
      [{ queue: 1 }, /unknown option 'queue'/],
    ] as Array<[object, RegExp]>)
      await expect(ModelWorker.load(lmDir, options)).rejects.toThrow(message);
  });
});

describe('load errors', () => {
  test('a missing folder or a bad checkpoint rejects with the loader’s message', async () => {
    const missing = path.join(root, 'nothing-here');
    await expect(ModelWorker.load(missing)).rejects.toThrow(`checkpoint not found: ${missing}`);
    const bad = path.join(root, 'bad');
    fs.cpSync(path.join(lmDir, 'best'), bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'model.safetensors'), 'not safetensors');
    await expect(ModelWorker.load(bad)).rejects.toThrow(/safetensors/i);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    await expect(ModelWorker.load(empty)).rejects.toThrow(
      `${empty} is neither a checkpoint nor a training folder with checkpoints`,
    );
  });
});

describe('aborts, queue, death and close', () => {
  let worker: ModelWorker;
  let baseline: number;
  beforeAll(async () => {
    worker = await load(longDir, { maxQueue: 3 });
    baseline = (await worker.stats()).storages;
  });

  test('the long model runs to its length limit when nothing stops it', async () => {
    const r = await worker.generate('the', { maxTokens: 40 });
    expect(r).toMatchObject({ finishReason: 'length' });
    expect(r.tokens).toHaveLength(40);
  });

  test('aborting a stream mid-way throws AbortError and frees the sequence', async () => {
    const controller = new AbortController();
    const stream = worker.stream('the', { maxTokens: 500, signal: controller.signal });
    let received = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) {
          expect(typeof chunk.text).toBe('string');
          if (++received === 3) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(received).toBe(3);
    const stats = await drained(worker);
    expect(stats.storages).toBe(baseline);
  });

  test('aborting generate rejects with AbortError; an aborted signal rejects at once', async () => {
    const controller = new AbortController();
    const pending = worker.generate('the', { maxTokens: 500, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client left')), 20);
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toEqual(new Error('client left'));
    expect((await drained(worker)).storages).toBe(baseline);
    const aborted = AbortSignal.abort();
    await expect(worker.generate('the', { signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(worker.stream('the', { signal: aborted }).next()).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('leaving a stream early cancels its request', async () => {
    let n = 0;
    for await (const chunk of worker.stream('the', { maxTokens: 500 })) {
      expect(chunk.token).toEqual(expect.any(Number));
      if (++n === 2) break;
    }
    expect((await drained(worker)).storages).toBe(baseline);
  });

  test('more than maxQueue unfinished requests: QueueFullError at once', async () => {
    const controller = new AbortController();
    const running = [1, 2, 3].map(() =>
      worker.generate('the', { maxTokens: 500, signal: controller.signal }).catch((e: Error) => e.name),
    );
    const refused = await worker.generate('the').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueFullError);
    expect(refused).toMatchObject({ name: 'QueueFullError', maxQueue: 3 });
    await expect(worker.stream('the').next()).rejects.toBeInstanceOf(QueueFullError);
    expect(await worker.stats()).toMatchObject({ requests: 3, sequences: 3 });
    controller.abort();
    expect(await Promise.all(running)).toEqual(['AbortError', 'AbortError', 'AbortError']);
    await drained(worker);
    expect((await worker.generate('the', { maxTokens: 2 })).tokens).toHaveLength(2);
  });

  test('a worker that dies fails every pending request; load works again', async () => {
    const dying = await load(longDir);
    const pending = [dying.generate('the', { maxTokens: 500 }), dying.stream('the', { maxTokens: 500 }).next()];
    await (dying as unknown as { worker: Worker }).worker.terminate();
    for (const p of pending) await expect(p).rejects.toThrow(/model worker exited with code 1/);
    await expect(dying.generate('the')).rejects.toThrow(/model worker exited/);
    // An uncaught error inside the worker (here from a malformed message) ends it the same way, with its message.
    const crashing = await load(longDir);
    const lost = crashing.generate('the', { maxTokens: 500 });
    (crashing as unknown as { worker: Worker }).worker.postMessage(null);
    await expect(lost).rejects.toThrow(/model worker exited with code 1: Cannot read properties of null/);
    const again = await load(longDir);
    expect((await again.generate('the', { maxTokens: 3 })).tokens).toHaveLength(3);
  });

  test('close() rejects unfinished requests and refuses new ones', async () => {
    const closing = await load(longDir);
    const pending = closing.generate('the', { maxTokens: 500 }).catch((e: Error) => e.message);
    await closing.close();
    expect(await pending).toBe('ModelWorker was closed before the request finished');
    await expect(closing.generate('the')).rejects.toThrow('ModelWorker is closed');
    await expect(closing.stats()).rejects.toThrow('ModelWorker is closed');
  });
});

test('two workers decoding at once give the tokens the main thread gets alone', async () => {
  // Wide enough that a decoding step's products run on the kernel pool, so the workers contend for it.
  const dir = randomLM(root, 'wide', { contextLength: 64, dModel: 256 });
  const { model, checkpoint } = loadModel(dir, 'GPT');
  const charTokenizer = tokenizerOf(checkpoint);
  const prompts = [...PROMPTS, ...PROMPTS.map((p) => `${p} the`)];
  const alone = prompts.map(
    (p) => greedy(model as GPT, [charTokenizer.encode(p)], { maxLength: 30, eosId: charTokenizer.eosId }).sequences[0],
  );
  model.dispose();
  checkpoint.dispose();
  const [a, b] = await Promise.all([load(dir, { threads: 2 }), load(dir, { threads: 2 })]);
  // One request at a time per worker: single-row steps, the ones that use the pool.
  const run = async (worker: ModelWorker, order: number[]) => {
    const tokens: number[][] = [];
    for (const i of order) tokens[i] = (await worker.generate(prompts[i], { maxTokens: 30 })).tokens;
    return tokens;
  };
  const order = prompts.map((_, i) => i);
  const [fromA, fromB] = await Promise.all([run(a, order), run(b, [...order].reverse())]);
  expect(fromA).toEqual(alone);
  expect(fromB).toEqual(alone);
  // And all at once in each, batched.
  const batched = await Promise.all(prompts.flatMap((p) => [a, b].map((w) => w.generate(p, { maxTokens: 30 }))));
  expect(batched.map((r) => r.tokens)).toEqual(alone.flatMap((t) => [t, t]));
  expect((await a.info()).threads).toBe(2);
});

test('g2p: predict gives the phonemes beam search gives on the main thread', async () => {
  const dir = await trainG2P(root);
  const worker = await load(dir);
  expect(await worker.info()).toMatchObject({ task: 'g2p', model: { type: 'Seq2SeqTransformer' } });
  const words = ['hello', 'world', 'Cat', ''];
  const outputs = await worker.predict(words);
  const { model, checkpoint } = loadModel(dir, 'Seq2SeqTransformer');
  const expected = predictG2P(model as Seq2SeqTransformer, tokenizersOf(checkpoint), words, { beamSize: 5 });
  expect(outputs).toEqual(expected.map((p) => p.join(' ')));
  model.dispose();
  checkpoint.dispose();
  expect(await worker.predict([])).toEqual([]);
  await expect(worker.generate('hello')).rejects.toThrow(/generate\(\) and stream\(\) serve lm models/);
});

test('classify: predict gives each text its label and class probabilities', async () => {
  const dir = await trainClassifier(root);
  const worker = await load(dir);
  const info = await worker.info();
  expect(info).toMatchObject({ task: 'classify', model: { type: 'EncoderClassifier', labels: ['ab', 'xyz'] } });
  const texts = ['ababab', 'xyzxyz', 'ab'];
  const outputs = await worker.predict(texts);
  const { model, checkpoint } = loadModel(dir, 'EncoderClassifier');
  const labels = labelsOf(checkpoint.metadata, checkpoint.dir);
  const probabilities = classProbabilities(model as EncoderClassifier, tokenizerOf(checkpoint), texts, 64);
  expect(outputs).toEqual(
    probabilities.map((p) => ({
      label: labels[p.indexOf(Math.max(...p))],
      probabilities: { ab: p[0], xyz: p[1] },
    })),
  );
  expect(outputs.map((o) => (o as { label: string }).label)).toEqual(['ab', 'xyz', 'ab']);
  model.dispose();
  checkpoint.dispose();
  await expect(worker.stream('ab').next()).rejects.toThrow(/serve lm models; this checkpoint's task is classify/);
});
