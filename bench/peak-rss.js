'use strict';
// Peak memory of training, ours against PyTorch's: each side runs in a fresh process that loads its library,
// builds the seed model (the `e2e seed train step` row) and takes --steps training steps on one thread. The
// figure is the process's own peak resident set (getrusage), so it counts the runtime and the library as well as
// the weights, the optimizer state and the activations.
//   node bench/peak-rss.js [--steps N] [--json path]
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { findPython, peerEnv } = require('./lib/peer');
const { writeFileAtomic } = require('./lib/report');
const { allRows } = require('./lib/rows');

const ROOT = path.join(__dirname, '..');
const ROW = 'e2e seed train step';
const USAGE = 'usage: node bench/peak-rss.js [--steps N] [--json path]';

function parseArgs(argv) {
  const options = { steps: 20, json: null, side: null };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--steps':
        if (!/^\d+$/.test(value ?? '') || Number(value) < 1)
          throw new RangeError(`peak-rss: --steps expects a positive integer, got '${value}'\n${USAGE}`);
        options.steps = Number(value);
        i++;
        break;
      case '--json':
        if (value === undefined) throw new TypeError(`peak-rss: --json needs a path\n${USAGE}`);
        options.json = value;
        i++;
        break;
      case '--side': // internal: the child process that trains with our library
        options.side = value;
        i++;
        break;
      default:
        throw new TypeError(`peak-rss: unknown option '${argv[i]}'\n${USAGE}`);
    }
  }
  return options;
}

function seedRow() {
  return allRows().find((row) => row.name === ROW);
}

/** Child side: train with our library and print the peak RSS in KiB. */
function trainOurs(steps) {
  const pkg = require(path.join(ROOT, 'dist'));
  const row = seedRow();
  const run = row.setup(require('node-gyp-build')(ROOT), pkg, row.spec);
  for (let i = 0; i < steps; i++) run.run();
  run.dispose();
  process.stdout.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}

function oursPeak(steps) {
  const child = spawnSync(process.execPath, [__filename, '--side', 'ours', '--steps', String(steps)], {
    encoding: 'utf8',
    env: { ...process.env, TN_NUM_THREADS: '1' },
  });
  if (child.status !== 0)
    throw new Error(`peak-rss: our training process failed: ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()).maxRssKiB;
}

/** PyTorch's side through the bench peer (bench/peers/peer.py): the same model, steps and thread count. */
async function torchPeak(steps) {
  const python = findPython();
  if (python === null) return { error: 'no python3 found' };
  const child = spawn(python, [path.join(__dirname, 'peers', 'peer.py'), 'torch'], {
    env: peerEnv('torch', 1),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const request = async (message) => {
    child.stdin.write(`${JSON.stringify(message)}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error(`the torch peer exited: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    const reply = JSON.parse(value);
    if (!reply.ok) throw new Error(reply.error);
    return reply;
  };
  try {
    const { name } = await request({ op: 'hello' });
    await request({ op: 'setup', id: 1, spec: seedRow().spec, threads: 1 });
    await request({ op: 'time', id: 1, iters: steps });
    const { maxRssKiB } = await request({ op: 'maxrss' });
    return { name, maxRssKiB };
  } catch (error) {
    return { error: error.message };
  } finally {
    child.stdin.end();
  }
}

async function main(argv, out = (s) => process.stdout.write(`${s}\n`)) {
  const options = parseArgs(argv);
  if (options.side === 'ours') return trainOurs(options.steps);
  if (options.side !== null) throw new TypeError(`peak-rss: unknown side '${options.side}'`);
  const mib = (kib) => kib / 1024;
  const ours = mib(oursPeak(options.steps));
  const torch = await torchPeak(options.steps);
  const result = { date: new Date().toISOString(), steps: options.steps, threads: 1, oursMiB: ours };
  out(`peak RSS, seed model, ${options.steps} training steps on 1 thread: ours ${ours.toFixed(0)} MiB`);
  if (torch.error) out(`peer unavailable: ${torch.error}`);
  else {
    result.peer = { name: torch.name, MiB: mib(torch.maxRssKiB), ratio: mib(torch.maxRssKiB) / ours };
    out(`${torch.name}: ${result.peer.MiB.toFixed(0)} MiB; theirs / ours = ${result.peer.ratio.toFixed(2)}x`);
  }
  if (options.json !== null) writeFileAtomic(options.json, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

module.exports = { main, parseArgs };

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  });
}
