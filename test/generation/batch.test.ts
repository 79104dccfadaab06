// Continuous batching: sequences that join a running batch at different steps, at different lengths, get
// exactly the tokens they get decoded alone (greedy and seeded sampling), and finished or cancelled sequences
// free their caches.
import { ContinuousBatcher, greedy, GPT, memory, sample } from '../../src';

const V = 48;

function model(): GPT {
  return new GPT({ vocabSize: V, contextLength: 64, dModel: 32, nhead: 4, numLayers: 2, dropout: 0, seed: 7 });
}

function prompt(length: number, seed: number): number[] {
  return Array.from({ length }, (_, i) => (seed * 31 + i * 17) % V);
}

/** Runs the batcher to the end, adding request i before step joinAt[i]; returns each request's tokens. */
function runBatched(
  gpt: GPT,
  requests: Array<{ prompt: number[]; joinAt: number; options: object }>,
  maxBatch = 16,
): number[][] {
  const batcher = new ContinuousBatcher(gpt, { maxBatch });
  const tokens: number[][] = requests.map(() => []);
  const done = new Set<number>();
  for (let step = 0; done.size < requests.length; step++) {
    requests.forEach((r, i) => {
      if (r.joinAt === step) batcher.add(i, r.prompt, r.options);
    });
    for (const t of batcher.step()) {
      if (t.token !== null) tokens[t.id].push(t.token);
      if (t.finish !== null) done.add(t.id);
    }
    expect(step).toBeLessThan(200);
  }
  expect(batcher.size).toBe(0);
  batcher.dispose();
  return tokens;
}

test('greedy: requests joining at different steps get the tokens they get alone', () => {
  const gpt = model();
  const requests = [3, 9, 1, 14, 6, 2, 11, 5].map((length, i) => ({
    prompt: prompt(length, i + 1),
    joinAt: [0, 0, 2, 3, 3, 7, 10, 10][i],
    options: { maxTokens: 6 + ((i * 5) % 13) },
  }));
  const batched = runBatched(gpt, requests);
  requests.forEach((r, i) => {
    const alone = greedy(gpt, [r.prompt], { maxLength: (r.options as { maxTokens: number }).maxTokens, eosId: null });
    expect(batched[i]).toEqual(alone.sequences[0]);
  });
  gpt.dispose();
});

test('seeded sampling matches sample() per request, and maxBatch makes late requests wait', () => {
  const gpt = model();
  const requests = [4, 8, 2, 12, 5].map((length, i) => ({
    prompt: prompt(length, 10 + i),
    joinAt: i,
    options: { maxTokens: 10, temperature: 0.8, topK: 20, topP: 0.9, seed: 100 + i },
  }));
  const batched = runBatched(gpt, requests, 2);
  requests.forEach((r, i) => {
    const alone = sample(gpt, [r.prompt], { maxLength: 10, temperature: 0.8, topK: 20, topP: 0.9, seed: 100 + i });
    expect(batched[i]).toEqual(alone.sequences[0]);
  });
  gpt.dispose();
});

test('an end token finishes with stop, the context bounds maxTokens, cancel frees the cache', () => {
  const gpt = model();
  const before = memory().undisposedStorages;
  const batcher = new ContinuousBatcher(gpt, { maxBatch: 4 });
  const first = greedy(gpt, [prompt(5, 3)], { maxLength: 1 }).sequences[0][0];
  batcher.add(1, prompt(5, 3), { eosId: first });
  batcher.add(2, prompt(60, 4), { maxTokens: 100 });
  batcher.add(3, prompt(4, 5), { maxTokens: 50 });
  const firstStep = batcher.step();
  expect(firstStep.find((t) => t.id === 1)).toEqual({ id: 1, token: null, finish: 'stop' });
  let steps = 1;
  let lengthFinish: number | null = null;
  while (lengthFinish === null) {
    const out = batcher.step();
    steps++;
    if (out.find((t) => t.id === 2)?.finish === 'length') lengthFinish = steps;
  }
  expect(lengthFinish).toBe(64 - 60 + 1);
  batcher.cancel(3);
  expect(batcher.size).toBe(0);
  expect(batcher.step()).toEqual([]);
  batcher.dispose();
  expect(memory().undisposedStorages).toBe(before);
  gpt.dispose();
});

test('bad requests are refused with the reason', () => {
  const gpt = model();
  const batcher = new ContinuousBatcher(gpt);
  expect(() => batcher.add(1, [], {})).toThrow(/prompt must hold token ids/);
  expect(() => batcher.add(1, [V], {})).toThrow(/not a token id/);
  expect(() => batcher.add(1, prompt(65, 1), {})).toThrow(/exceeds contextLength 64/);
  expect(() => batcher.add(1, [1], { maxTokens: 0 })).toThrow(/maxTokens must be a positive integer/);
  expect(() => batcher.add(1, [1], { temperature: -1 })).toThrow(/temperature/);
  batcher.add(1, [1], {});
  expect(() => batcher.add(1, [2], {})).toThrow(/already running/);
  batcher.dispose();
  gpt.dispose();
});
