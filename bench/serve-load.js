'use strict';
// Load test of `transformer-native serve` on localhost: the bench GPT (vocab 256, d 384, 6 layers, 6 heads,
// ff 1536, context 256) with random weights is saved as a checkpoint, served by the built program in a child
// process, and driven by autocannon for --duration seconds at each connection count: non-streamed completions
// of --max-tokens greedy tokens, prompts varying request by request. Alongside, one client of our own sends
// streamed requests one after another and times the first token of each (TTFT) and the gaps between tokens.
// Tokens/s comes from the server's own counter (/metrics) over the run; peak RSS is the server process's
// high-water mark (VmHWM). Only 127.0.0.1 is contacted; every loop ends with its run.
//   node bench/serve-load.js [--duration S] [--connections 8,32] [--max-tokens N] [--threads N] [--json path]
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { writeFileAtomic } = require('./lib/report');

const ROOT = path.join(__dirname, '..');
const USAGE =
  'usage: node bench/serve-load.js [--duration S] [--connections 8,32] [--max-tokens N] [--threads N] [--json path]';
const MODEL = { vocabSize: 256, contextLength: 256, dModel: 384, nhead: 6, numLayers: 6, dimFeedforward: 1536 };

function parseArgs(argv) {
  const options = {
    duration: 30,
    connections: [8, 32],
    maxTokens: 32,
    threads: os.availableParallelism?.() ?? os.cpus().length,
    json: path.join(__dirname, 'serve-load.json'),
  };
  const positive = (flag, value) => {
    if (!/^\d+$/.test(value ?? '') || Number(value) < 1)
      throw new RangeError(`serve-load: ${flag} expects a positive integer, got '${value}'\n${USAGE}`);
    return Number(value);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    switch (flag) {
      case '--duration':
        options.duration = Math.min(positive(flag, value), 600);
        break;
      case '--connections':
        options.connections = (value ?? '').split(',').map((c) => Math.min(positive(flag, c), 256));
        break;
      case '--max-tokens':
        options.maxTokens = Math.min(positive(flag, value), 200);
        break;
      case '--threads':
        options.threads = positive(flag, value);
        break;
      case '--json':
        if (value === undefined) throw new TypeError(`serve-load: --json needs a path\n${USAGE}`);
        options.json = value;
        break;
      default:
        throw new TypeError(`serve-load: unknown option '${flag}'\n${USAGE}`);
    }
    i++;
  }
  return options;
}

/** The bench GPT with random weights, and a character tokenizer of 252 characters + 4 specials = 256 ids. */
function saveCheckpoint(dir) {
  const pkg = require(path.join(ROOT, 'dist'));
  pkg.manualSeed(0);
  const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i));
  const latin = Array.from({ length: 157 }, (_, i) => String.fromCodePoint(0xa1 + i));
  const tokenizer = new pkg.CharTokenizer([...ascii, ...latin]);
  const model = new pkg.GPT({ ...MODEL, vocabSize: tokenizer.vocabSize, dropout: 0 });
  try {
    // The special tokens' rows of the (tied) embedding are zeroed so that greedy decoding never draws the end
    // token: every request generates its max_tokens.
    const state = model.stateDict();
    const embedding = state.get('token_embedding.weight');
    const values = Float32Array.from(embedding.dataSync());
    values.fill(0, 0, 4 * embedding.shape[1]);
    const zeroed = pkg.tensor(values, { shape: [...embedding.shape] });
    for (const t of state.values()) t.dispose();
    model.loadStateDict(new Map([['token_embedding.weight', zeroed]]), { strict: false });
    zeroed.dispose();
    pkg.saveCheckpoint(dir, { model, tokenizers: tokenizer, config: model.config, metadata: { task: 'lm' } });
    return { parameters: model.numParameters(), vocabSize: tokenizer.vocabSize };
  } finally {
    model.dispose();
  }
}

/** Starts `transformer-native serve` on a free port; resolves with the child and its URL. */
function startServer(checkpoint, threads) {
  const program = path.join(ROOT, 'dist', 'cli', 'index.js');
  const args = [program, 'serve', '--checkpoint', checkpoint, '--port', '0', '--threads', String(threads)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s: ${stderr}`)), 60_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], stderr: () => stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with code ${code}: ${stderr}`));
    });
  });
}

/** Peak resident set of a process so far, in MiB (Linux VmHWM). */
function peakRssMiB(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function counter(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

/** A prompt of 16 to 64 printable characters that differs request by request. */
function prompt(i) {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'while', 'dogs', 'ran', 'far', 'away', 'today'];
  const parts = [];
  for (let k = 0, n = 4 + (i % 9); k < n; k++) parts.push(words[(i * 7 + k * 5) % words.length]);
  return `${i % 1000} ${parts.join(' ')}`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Streamed requests one after another until `until`: the time to the first token of each, the gaps. */
function probeStreams(url, maxTokens, until) {
  const ttft = [];
  const gaps = [];
  let failures = 0;
  const one = (i) =>
    new Promise((resolve) => {
      const body = JSON.stringify({ prompt: prompt(100000 + i), max_tokens: maxTokens, temperature: 0, stream: true });
      const started = performance.now();
      let last = null;
      const req = http.request(
        `${url}/v1/completions`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          if (res.statusCode !== 200) failures++;
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (d) => {
            buffer += d;
            let end;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const event = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              if (!event.startsWith('data: {') || event.includes('"finish_reason":"')) continue;
              const now = performance.now();
              if (last === null) ttft.push(now - started);
              else gaps.push(now - last);
              last = now;
            }
          });
          res.on('end', resolve);
          res.on('error', resolve);
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end(body);
    });
  return (async () => {
    for (let i = 0; performance.now() < until; i++) await one(i);
    return { ttft, gaps, failures };
  })();
}

async function run(url, pid, connections, options) {
  const tokensBefore = await counter(url, 'transformer_native_generated_tokens_total');
  let i = 0;
  const started = performance.now();
  const probe = probeStreams(url, options.maxTokens, started + options.duration * 1000);
  const result = await autocannon({
    url: `${url}/v1/completions`,
    connections,
    duration: options.duration,
    timeout: 120,
    requests: [
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({ prompt: prompt(i++), max_tokens: options.maxTokens, temperature: 0 }),
        }),
      },
    ],
  });
  const streams = await probe;
  const seconds = (performance.now() - started) / 1000;
  const tokens = (await counter(url, 'transformer_native_generated_tokens_total')) - tokensBefore;
  const ttft = streams.ttft.sort((a, b) => a - b);
  const gaps = streams.gaps.sort((a, b) => a - b);
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  return {
    connections,
    seconds: Number(seconds.toFixed(1)),
    requests: result.requests.total,
    requestsPerSecond: Number((result.requests.total / options.duration).toFixed(2)),
    tokensPerSecond: Number((tokens / seconds).toFixed(1)),
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    statuses,
    errors: result.errors + result.timeouts,
    non2xxOther429: result.non2xx - (statuses['429'] ?? 0),
    streamProbe: {
      requests: ttft.length,
      failures: streams.failures,
      ttftMs: { p50: round(percentile(ttft, 50)), p99: round(percentile(ttft, 99)), max: round(ttft.at(-1)) },
      interTokenMs: { p50: round(percentile(gaps, 50)), p99: round(percentile(gaps, 99)) },
    },
    peakRssMiB: peakRssMiB(pid),
  };
}

function round(x) {
  return x === null || x === undefined ? null : Number(x.toFixed(1));
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-serve-load-'));
  let server = null;
  try {
    const model = saveCheckpoint(path.join(dir, 'gpt'));
    server = await startServer(path.join(dir, 'gpt'), options.threads);
    const { url, child } = server;
    process.stderr.write(
      `serve-load: bench GPT (${model.parameters.toLocaleString('en-US')} parameters) at ${url}, ` +
        `${options.threads} threads, ${options.maxTokens} tokens a request\n`,
    );
    // Warm-up: a few requests so that the first measured ones do not pay for first calls.
    for (let k = 0; k < 3; k++)
      await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: prompt(k), max_tokens: options.maxTokens, temperature: 0 }),
      });
    const runs = [];
    for (const connections of options.connections) {
      process.stderr.write(`serve-load: ${connections} connections for ${options.duration} s...\n`);
      const r = await run(url, child.pid, connections, options);
      runs.push(r);
      process.stderr.write(`${JSON.stringify(r)}\n`);
    }
    const report = {
      date: new Date().toISOString(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      model: { ...MODEL, parameters: model.parameters },
      threads: options.threads,
      maxTokens: options.maxTokens,
      duration: options.duration,
      runs,
      peakRssMiB: peakRssMiB(child.pid),
    };
    writeFileAtomic(options.json, `${JSON.stringify(report, null, 2)}\n`);
    const table = [
      '| connections | req/s | tokens/s | p50 ms | p99 ms | TTFT p50 / p99 ms | 429 | errors | peak RSS MiB |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...runs.map(
        (r) =>
          `| ${r.connections} | ${r.requestsPerSecond} | ${r.tokensPerSecond} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ` +
          `${r.streamProbe.ttftMs.p50} / ${r.streamProbe.ttftMs.p99} | ${r.statuses['429'] ?? 0} | ` +
          `${r.errors + r.non2xxOther429 + r.streamProbe.failures} | ${r.peakRssMiB?.toFixed(0)} |`,
      ),
    ];
    process.stdout.write(`${table.join('\n')}\n\nresults: ${options.json}\n`);
  } finally {
    if (server !== null) {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => server.child.once('exit', resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`serve-load: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
});
