'use strict';
// Event-loop delay of the main thread while a few streams generate text: through a ModelWorker (the model in
// a worker thread; the main thread only receives tokens) and, for comparison, with generateStream() on the
// main thread itself. The model is the bench GPT (vocab 256, d 384, 6 layers, 6 heads, ff 1536, context 256)
// with random weights, saved as a checkpoint; decoding is greedy, and every stream gets all its tokens (the
// end token's embedding row is zeroed, so its logit, 0, stays below the largest of the others).
//   node bench/serve-latency.js [--streams N] [--tokens N] [--threads N] [--json path]
// Needs dist/ (npm run build:ts).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { writeFileAtomic } = require('./lib/report');

const USAGE = 'usage: node bench/serve-latency.js [--streams N] [--tokens N] [--threads N] [--json path]';
const GPT = { vocabSize: 256, dModel: 384, numLayers: 6, nhead: 6, dimFeedforward: 1536, contextLength: 256 };
const PROMPT_LENGTH = 16;

function parseArgs(argv) {
  const options = { streams: 4, tokens: 200, threads: os.availableParallelism?.() ?? os.cpus().length, json: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const key = { '--streams': 'streams', '--tokens': 'tokens', '--threads': 'threads', '--json': 'json' }[flag];
    if (key === undefined) throw new TypeError(`serve-latency: unknown option '${flag}'\n${USAGE}`);
    if (value === undefined) throw new TypeError(`serve-latency: ${flag} needs a value\n${USAGE}`);
    if (key === 'json') options.json = value;
    else if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new RangeError(`serve-latency: ${flag} expects a positive integer, got '${value}'\n${USAGE}`);
    else options[key] = Number(value);
  }
  if (PROMPT_LENGTH + options.tokens > GPT.contextLength + 1)
    throw new RangeError(`serve-latency: --tokens must be at most ${GPT.contextLength + 1 - PROMPT_LENGTH}`);
  return options;
}

/** 252 printable characters: with the 4 special tokens, a vocabulary of 256. */
function alphabet() {
  return Array.from({ length: GPT.vocabSize - 4 }, (_, i) => String.fromCodePoint(0x21 + i + (i >= 0x5e ? 0x22 : 0)));
}

/** Saves the random-weight bench GPT with a character tokenizer; returns the folder. */
function makeCheckpoint(pkg, dir) {
  const tokenizer = new pkg.CharTokenizer(alphabet());
  const model = new pkg.GPT({ ...GPT, dropout: 0, seed: 2 });
  const embedding = model.tokenEmbedding.weight;
  pkg.noGrad(() => {
    const rows = embedding.toArray();
    rows[tokenizer.eosId].fill(0);
    const fresh = pkg.tensor(rows);
    embedding.copy_(fresh);
    fresh.dispose();
  });
  pkg.saveCheckpoint(dir, { model, tokenizers: tokenizer, config: model.config, metadata: { task: 'lm' } });
  return { model, tokenizer };
}

/** The prompt of stream i: PROMPT_LENGTH characters of the alphabet. */
function promptOf(i) {
  const chars = alphabet();
  return Array.from({ length: PROMPT_LENGTH }, (_, t) => chars[(i * 37 + t * 11) % chars.length]).join('');
}

/** Runs fn (which starts the streams and resolves with the token counts) under the event-loop monitor. */
async function measure(label, fn) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const started = performance.now();
  histogram.enable();
  const counts = await fn();
  histogram.disable();
  const seconds = (performance.now() - started) / 1000;
  const ms = (ns) => ns / 1e6;
  const tokens = counts.reduce((a, b) => a + b, 0);
  return {
    label,
    seconds,
    tokens,
    tokensPerStream: counts,
    tokensPerSecond: tokens / seconds,
    delayMs: {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    },
  };
}

async function viaWorker(pkg, dir, options) {
  const worker = await pkg.ModelWorker.load(dir, { threads: options.threads });
  try {
    // One short request first, so the measurement does not include the worker's first-call warm-up.
    await worker.generate(promptOf(0), { maxTokens: 2 });
    return await measure('ModelWorker', () =>
      Promise.all(
        Array.from({ length: options.streams }, async (_, i) => {
          let n = 0;
          for await (const _chunk of worker.stream(promptOf(i), { maxTokens: options.tokens })) n++;
          return n;
        }),
      ),
    );
  } finally {
    await worker.close();
  }
}

async function onMainThread(pkg, model, tokenizer, options) {
  pkg.setNumThreads(options.threads);
  pkg.greedy(model, [tokenizer.encode(promptOf(0))], { maxLength: 2 });
  return measure('main thread (generateStream)', () =>
    Promise.all(
      Array.from({ length: options.streams }, async (_, i) => {
        let n = 0;
        const ids = tokenizer.encode(promptOf(i));
        for await (const _token of pkg.generateStream(model, [ids], {
          maxLength: options.tokens,
          eosId: tokenizer.eosId,
        }))
          n++;
        return n;
      }),
    ),
  );
}

function line(r) {
  const d = r.delayMs;
  return (
    `${r.label}: event-loop delay p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(2)} ms; ` +
    `${r.tokens} tokens in ${r.seconds.toFixed(2)} s (${r.tokensPerSecond.toFixed(0)} tokens/s)`
  );
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const pkg = require('..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-serve-latency-'));
  try {
    const { model, tokenizer } = makeCheckpoint(pkg, path.join(dir, 'gpt'));
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `${options.streams} streams x ${options.tokens} tokens, bench GPT (random weights), greedy, ${options.threads} threads; ${cpu}, ${os.cpus().length} CPUs`,
    );
    // The floor: the monitor's 1 ms sampling interval is part of every figure.
    const idle = await measure('idle', () => new Promise((resolve) => setTimeout(() => resolve([]), 1000)));
    console.log(line(idle).replace(/; 0 tokens.*/, ''));
    const results = [];
    results.push(await viaWorker(pkg, path.join(dir, 'gpt'), options));
    console.log(line(results[0]));
    results.push(await onMainThread(pkg, model, tokenizer, options));
    console.log(line(results[1]));
    for (const r of results)
      if (r.tokensPerStream.some((n) => n !== options.tokens))
        console.log(`warning: ${r.label} streams got ${r.tokensPerStream.join(', ')} tokens`);
    model.dispose();
    if (options.json !== null)
      writeFileAtomic(
        options.json,
        `${JSON.stringify({ date: new Date().toISOString(), cpu, options, idle, results }, null, 2)}\n`,
      );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
