'use strict';
// Continuous batching: aggregate tokens/s of N concurrent greedy streams decoded together by
// ContinuousBatcher against one stream alone, for the bench GPT (the `e2e gpt` rows' model), on --threads
// threads. Every stream generates --tokens tokens from its own 16-token prompt; the two runs alternate
// --repeats times and the best of each is kept.
//   node bench/serve.js [--streams 8] [--tokens 200] [--threads 2] [--repeats 3] [--json path]
const path = require('node:path');
const { parseArgs } = require('node:util');
const { writeFileAtomic } = require('./lib/report');

const GPT_MODEL = { vocabSize: 256, contextLength: 256, dModel: 384, nhead: 6, numLayers: 6, dimFeedforward: 1536 };
const PROMPT = 16;

function positiveInt(values, name) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`bench:serve: --${name} must be a positive integer`);
  return n;
}

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      streams: { type: 'string', default: '8' },
      tokens: { type: 'string', default: '200' },
      threads: { type: 'string', default: '2' },
      repeats: { type: 'string', default: '3' },
      json: { type: 'string' },
    },
  });
  const o = Object.fromEntries(['streams', 'tokens', 'threads', 'repeats'].map((k) => [k, positiveInt(values, k)]));
  if (o.tokens > GPT_MODEL.contextLength - PROMPT + 1)
    throw new RangeError('bench:serve: --tokens exceeds the context');
  return { ...o, json: values.json ?? null };
}

/** Tokens/s of `streams` sequences decoded together, each `tokens` long. */
function tokensPerSecond(pkg, model, streams, tokens) {
  const batcher = new pkg.ContinuousBatcher(model, { maxBatch: streams });
  for (let i = 0; i < streams; i++) {
    const prompt = Array.from({ length: PROMPT }, (_, t) => (i * 31 + t * 7) % GPT_MODEL.vocabSize);
    batcher.add(i, prompt, { maxTokens: tokens });
  }
  const start = process.hrtime.bigint();
  let generated = 0;
  while (batcher.size > 0) generated += batcher.step().filter((t) => t.token !== null).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  batcher.dispose();
  return generated / seconds;
}

function main(argv = process.argv.slice(2)) {
  const o = options(argv);
  const pkg = require(path.join(__dirname, '..', 'dist'));
  const savedThreads = pkg.getNumThreads();
  pkg.setNumThreads(o.threads);
  const model = new pkg.GPT({ ...GPT_MODEL, dropout: 0, seed: 2 });
  let one = 0;
  let many = 0;
  try {
    tokensPerSecond(pkg, model, o.streams, 8); // warm-up: allocator, caches, code paths
    for (let r = 0; r < o.repeats; r++) {
      one = Math.max(one, tokensPerSecond(pkg, model, 1, o.tokens));
      many = Math.max(many, tokensPerSecond(pkg, model, o.streams, o.tokens));
    }
  } finally {
    model.dispose();
    pkg.setNumThreads(savedThreads);
  }
  const report = {
    threads: o.threads,
    tokens: o.tokens,
    streams: o.streams,
    oneStream: one,
    manyStreams: many,
    ratio: many / one,
  };
  console.log(
    `${o.threads} threads, ${o.tokens} tokens per stream: 1 stream ${one.toFixed(0)} tok/s, ` +
      `${o.streams} streams ${many.toFixed(0)} tok/s, ratio ${(many / one).toFixed(2)}x`,
  );
  if (o.json) writeFileAtomic(o.json, JSON.stringify(report, null, 2) + '\n');
  return report;
}

if (require.main === module) main();
module.exports = { main };
