#!/usr/bin/env node
'use strict';
// `npm run bench`: native kernels against this machine's limits (FMA peak, memory bandwidth), optionally side by
// side with numpy (on OpenBLAS and on BLIS), PyTorch and, for the inference rows, onnxruntime-node running our
// models exported to ONNX, on our widest path or the one --isa names (the Python peers then capped to it). Prints
// a Markdown table and writes the results as JSON.
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { USAGE, parseArgs, nameFilter } = require('./lib/options');
const { allRows } = require('./lib/rows');
const {
  SETTINGS,
  PEER_SETTLE_MS,
  calibrate,
  calibratePeer,
  sleep,
  summarize,
  throughput,
  timeCalls,
} = require('./lib/measure');
const { PeerPool, findPython } = require('./lib/peer');
const { Affinity } = require('./lib/affinity');
const { markdown, writeFileAtomic } = require('./lib/report');
const { family } = require('./lib/kernels');

const ROOT = path.join(__dirname, '..');

function loadAddon() {
  return require('node-gyp-build')(ROOT);
}

function cpuName(addon) {
  let model = os.cpus()[0]?.model?.trim() || 'unknown CPU';
  let generation = '';
  try {
    // The family/model numbers tell CPU generations apart where the model name is generic (e.g. in VMs).
    const fields = new Map(
      fs
        .readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n\n')[0]
        .split('\n')
        .map((line) => line.split(':').map((part) => part.trim())),
    );
    if (fields.get('model name')) model = fields.get('model name');
    if (fields.get('cpu family')) generation = `family ${fields.get('cpu family')} model ${fields.get('model')}, `;
  } catch {
    // not Linux: os.cpus() already named it
  }
  return `${model} (${generation}${os.cpus().length} cores, kernels: ${addon.getIsa()})`;
}

/** A fixed 256^3 GEMM on one thread (operands in L2): returns the median ms of 9 calls. A core whose caches a
 * neighbour is thrashing runs it slower, though the FMA peak measured there may not move. */
function coreProbe(addon) {
  const n = 256;
  const [a, b, c] = [0, 1, 2].map(() => new addon.Storage(n * n * 4));
  const { gemmKernel } = family('gemm');
  const call = { a, b, c, M: n, N: n, K: n };
  const probe = () => {
    const times = [];
    for (let i = 0; i < 11; i++) {
      const start = process.hrtime.bigint();
      gemmKernel(addon, call);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return times.slice(2).sort((x, y) => x - y)[4]; // the first two warm the caches up
  };
  return { probe, dispose: () => [a, b, c].forEach((s) => s.dispose()) };
}

/** Chooses the CPU for the 1-thread rows (affinity.chooseFastest) and pins this process there. */
function pinOneThread(addon, affinity, probe) {
  addon.setNumThreads(1);
  affinity.chooseFastest(probe);
  affinity.pinSelf(1);
}

function measureLimits(addon, threadCounts, settings, affinity, probe, log) {
  const limits = { fmaGflops: {}, bandwidthGBs: {} };
  for (const t of threadCounts) {
    // The 1-thread limits are those of the core the 1-thread rows run on.
    if (t === 1) pinOneThread(addon, affinity, probe);
    else affinity.pinSelf(t);
    let fma = 0;
    let bandwidth = 0;
    const { measureBandwidthGBsKernel, measureFmaGflopsKernel } = family('peak');
    const triad = { threads: t, bytesPerArray: settings.bandwidthBytes, repeats: settings.bandwidthRepeats };
    for (let attempt = 0; attempt < settings.limitAttempts; attempt++) {
      fma = Math.max(fma, measureFmaGflopsKernel(addon, { threads: t, seconds: settings.fmaSeconds }));
      bandwidth = Math.max(bandwidth, measureBandwidthGBsKernel(addon, triad));
    }
    limits.fmaGflops[String(t)] = fma;
    limits.bandwidthGBs[String(t)] = bandwidth;
    log(
      `limits, ${t} thread${t > 1 ? 's' : ''}: FMA ${fma.toFixed(1)} GFLOP/s, bandwidth ${bandwidth.toFixed(1)} GB/s`,
    );
  }
  return limits;
}

/** The peers of one row at one thread count: each peer library's fastest setting (calibratePeer), its timings,
 * or why it has none ('peer unavailable', 'peer failed'). */
async function preparePeers(row, threads, settings, peers, log) {
  const sides = [];
  for (const library of row.peers) {
    const side = { library, best: null, times: [], note: null };
    sides.push(side);
    const prepared = await peers.setupAll(row, library, threads);
    if (prepared.error) {
      side.note = 'peer unavailable';
      log(`${row.name} [${threads}t]: ${library} peer unavailable: ${prepared.error}`);
      continue;
    }
    await calibratePeer(prepared.handles, settings).then(
      (best) => {
        side.best = best;
      },
      (error) => failSide(side, error, row, threads, log),
    );
  }
  return sides;
}

/** A peer that fails mid-row (e.g. runs out of memory) drops out of that row. */
function failSide(side, error, row, threads, log) {
  log(`${row.name} [${threads}t]: ${error.message}`);
  side.note = 'peer failed';
  side.best = null;
}

/** A row's peer figures: `peer` for the fastest peer library measured (the ratio is taken against it), and,
 * where the row has several peer libraries (GEMM: OpenBLAS and BLIS), `peers` with every one's figure or note. */
function peerFigures(row, sides, oursValue) {
  const figures = sides.map((side) => {
    if (side.best === null) return { library: side.library, note: side.note };
    const { handle } = side.best;
    const value = throughput(row.work, row.unit, summarize(side.times).medianMs);
    return { library: side.library, name: handle.label, isa: handle.isa, capped: handle.capped, value };
  });
  const measured = figures.filter((f) => f.value !== undefined);
  const out = {};
  if (measured.length > 0) {
    const fastest = measured.reduce((a, b) => (b.value > a.value ? b : a));
    out.peer = { ...fastest, ratio: oursValue / fastest.value };
  }
  if (row.peers.length > 1 && sides.length > 0)
    out.peers = figures.map((f) => (f.value === undefined ? f : { ...f, ratio: oursValue / f.value }));
  return out;
}

/** Times one row at one thread count (and its peers when given); returns the JSON row and a table note (set
 * when no peer was measured). Ours is measured whatever the peers do. */
async function runRow(addon, pkg, row, threads, settings, limits, peers, affinity, probe, log) {
  if (threads === 1) pinOneThread(addon, affinity, probe);
  else affinity.pinSelf(threads);
  addon.setNumThreads(threads);
  const ours = row.setup(addon, pkg, row.spec);
  let sides = [];
  try {
    const oursIters = calibrate(ours.run, settings);
    if (peers !== null) sides = await preparePeers(row, threads, settings, peers, log);
    // OpenBLAS and OpenMP workers of a multi-threaded peer process spin after each call.
    const spins = (side) => side.best !== null && side.best.handle.processThreads > 1;
    if (sides.some(spins)) await sleep(PEER_SETTLE_MS);
    const oursTimes = [];
    for (let r = 0; r < settings.repeats; r++) {
      oursTimes.push(timeCalls(ours.run, oursIters));
      for (const side of sides) {
        if (side.best === null) continue;
        const spinning = spins(side);
        await side.best.handle.time(side.best.iters).then(
          (ms) => side.times.push(ms),
          (error) => failSide(side, error, row, threads, log),
        );
        if (spinning) await sleep(PEER_SETTLE_MS);
      }
    }
    const stats = summarize(oursTimes);
    const result = {
      name: row.name,
      shape: row.shape,
      threads,
      ...stats,
      value: throughput(row.work, row.unit, stats.medianMs),
      unit: row.unit,
    };
    if (row.limit !== null)
      result.ofLimit = result.value / (row.limit === 'fma' ? limits.fmaGflops : limits.bandwidthGBs)[threads];
    Object.assign(result, peerFigures(row, sides, result.value));
    for (const side of sides) if (side.best !== null) await side.best.handle.free();
    const note = sides.length > 0 && result.peer === undefined ? sides.find((s) => s.note !== null).note : null;
    return { result, note };
  } finally {
    ours.dispose();
  }
}

const CONSOLE = { out: (s) => process.stdout.write(`${s}\n`), log: (s) => process.stderr.write(`${s}\n`) };

/** Puts our kernels on the --isa path (`isa`); without it they keep the path the addon chose at load, the
 * widest this CPU runs unless TN_ISA said otherwise. */
function useIsa(addon, isa, log) {
  const supported = addon.supportedIsas();
  if (isa === null) {
    const widest = supported[supported.length - 1];
    if (addon.getIsa() !== widest)
      log(`ours runs ${addon.getIsa()}, not ${widest}, with the peers uncapped: --isa ${addon.getIsa()} caps them too`);
    return;
  }
  if (!supported.includes(isa)) throw new RangeError(`bench: --isa ${isa}: this CPU runs only ${supported.join(', ')}`);
  addon.setIsa(isa);
}

/** Runs the benchmark for argv (the arguments after the script); returns the results object (null for --help).
 * `tuning` overrides timing settings (tests use it to shorten the limit measurements). */
async function main(argv, io = CONSOLE, tuning = {}) {
  const options = parseArgs(argv, path.join(__dirname, 'results.json'));
  if (options.help) {
    io.out(USAGE);
    return null;
  }
  const addon = loadAddon();
  const savedIsa = addon.getIsa();
  try {
    useIsa(addon, options.isa, io.log);
    return await measure(addon, options, { ...(options.quick ? SETTINGS.quick : SETTINGS.full), ...tuning }, io);
  } finally {
    addon.setIsa(savedIsa);
  }
}

async function measure(addon, options, settings, io) {
  const savedThreads = addon.getNumThreads();
  const matches = nameFilter(options.filter);
  // End-to-end rows take minutes; --quick keeps them only when --filter asks for them.
  const candidates = allRows().filter((row) => !(options.quick && options.filter === null && row.endToEnd));
  const selected = candidates.filter((row) => matches(row.name));
  const runnable = selected.filter((row) => row.setup !== null);
  const pending = selected.filter((row) => row.setup === null);
  if (selected.length === 0) throw new RangeError(`bench: --filter '${options.filter}' matches no row`);

  const affinity = new Affinity();
  if (affinity.describe()) io.log(`affinity${affinity.describe()}`);
  const limitThreads = [...new Set([1, 2, ...options.threads])].sort((a, b) => a - b);
  const core = coreProbe(addon);
  let limits;
  try {
    limits = measureLimits(addon, limitThreads, settings, affinity, core.probe, io.log);
  } finally {
    affinity.restore();
  }
  const python = options.compare ? findPython() : null;
  if (options.compare && python === null) io.log('compare: no python3 found: peer unavailable');
  const peers = options.compare ? new PeerPool(python, affinity, { isa: options.isa, log: io.log }) : null;
  // The compiled package, needed only by end-to-end rows; kernel rows use the addon alone.
  const pkg = runnable.some((row) => row.endToEnd) ? require(path.join(ROOT, 'dist')) : null;

  // isa: the path our kernels ran; isaOption: --isa (null: none, the peers ran uncapped); peers (with --compare):
  // each peer library's caps and the path it reported.
  const results = {
    date: new Date().toISOString(),
    cpu: cpuName(addon),
    isa: addon.getIsa(),
    isaOption: options.isa,
    threads: options.threads,
    limits,
    ...(peers !== null ? { peers: {} } : {}),
    rows: [],
  };
  const peerNotes = new Map();
  try {
    for (const row of runnable) {
      for (const threads of options.threads) {
        const { result, note } = await runRow(
          addon,
          pkg,
          row,
          threads,
          settings,
          limits,
          peers,
          affinity,
          core.probe,
          io.log,
        );
        if (note !== null) peerNotes.set(results.rows.length, note);
        results.rows.push(result);
        const vs = result.peer ? `, ${result.peer.ratio.toFixed(2)}x ${result.peer.name}` : note ? `, ${note}` : '';
        const others = (result.peers ?? [])
          .filter((p) => p.library !== result.peer?.library)
          .map((p) => (p.value === undefined ? `${p.library}: ${p.note}` : `${p.ratio.toFixed(2)}x ${p.name}`));
        const where = threads === 1 && affinity.single !== null ? ` on CPU ${affinity.single}` : '';
        io.log(
          `${row.name} [${threads}t${where}]: ${result.medianMs.toFixed(3)} ms, ${result.value.toFixed(1)} ${row.unit}${vs}` +
            (others.length > 0 ? ` (${others.join('; ')})` : ''),
        );
      }
    }
  } finally {
    affinity.restore();
    core.dispose();
    addon.setNumThreads(savedThreads);
    if (peers !== null) peers.close();
  }
  if (peers !== null) Object.assign(results.peers, peers.libraryReport());
  if (pending.length > 0) io.log(`not measured yet (our side pending): ${pending.map((r) => r.name).join(', ')}`);
  writeFileAtomic(options.json, `${JSON.stringify(results, null, 2)}\n`);
  io.out(markdown(results, { compare: options.compare, peerNotes }));
  return results;
}

module.exports = { main, useIsa };

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exitCode = 1;
  });
}
