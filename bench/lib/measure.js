'use strict';
// Timing: calibrated repeats (each long enough for the clock), ours and the peer's interleaved per repeat so
// that machine noise hits both alike.

// Limits are the best of many short measurements: on a shared machine a short window is more likely to find
// the cores free than a long one, and a neighbour only ever lowers a measurement.
const SETTINGS = {
  full: {
    repeats: 7,
    warmupMs: 100,
    repeatMs: 50,
    limitAttempts: 16,
    fmaSeconds: 0.03,
    bandwidthBytes: 64 << 20,
    bandwidthRepeats: 3,
  },
  quick: {
    repeats: 5,
    warmupMs: 20,
    repeatMs: 10,
    limitAttempts: 8,
    fmaSeconds: 0.02,
    bandwidthBytes: 64 << 20,
    bandwidthRepeats: 2,
  },
};

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Milliseconds per call of `iters` back-to-back calls. */
function timeCalls(run, iters) {
  const start = nowMs();
  for (let i = 0; i < iters; i++) run();
  return (nowMs() - start) / iters;
}

/** Runs `run` for at least warmupMs (and at least once); returns how many calls make one repeat. */
function calibrate(run, settings) {
  let calls = 0;
  let perCall = Infinity;
  const start = nowMs();
  do {
    perCall = Math.min(perCall, timeCalls(run, 1));
    calls++;
  } while (nowMs() - start < settings.warmupMs && calls < 1000);
  return itersFor(perCall, settings);
}

function itersFor(perCallMs, settings) {
  return Math.max(1, Math.ceil(settings.repeatMs / Math.max(perCallMs, 1e-6)));
}

/** The peer's counterpart of calibrate: warms each candidate setting, times one repeat of each, and keeps the
 * fastest (freeing the others). A candidate whose warm-up call is already far slower than the best repeat so far
 * is dropped without further calls, so slow settings of long rows cost one call. */
async function calibratePeer(handles, settings) {
  let best = null;
  for (const handle of handles) {
    let perCall = await handle.time(1);
    if (best !== null && perCall > 4 * best.perCall) continue;
    const start = nowMs();
    do perCall = Math.min(perCall, await handle.time(1));
    while (nowMs() - start < settings.warmupMs);
    const iters = itersFor(perCall, settings);
    const repeatMs = iters === 1 ? perCall : await handle.time(iters);
    if (best === null || repeatMs < best.perCall) best = { handle, iters, perCall: repeatMs };
  }
  for (const handle of handles) if (handle !== best.handle) await handle.free();
  return best;
}

/** Idle time after a multi-threaded peer call: OpenBLAS workers spin about 2^28 cycles (~0.1 s) and OpenMP ones
 * spin too before they sleep, which would steal cores from our next repeat. */
const PEER_SETTLE_MS = 150;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function summarize(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { medianMs: median, minMs: sorted[0], maxMs: sorted[sorted.length - 1] };
}

/** Throughput of `work` (flops, bytes or tokens) done in `ms`: GFLOP/s and GB/s in 1e9 per second, MB/s in 1e6. */
function throughput(work, unit, ms) {
  const perSecond = work / (ms / 1000);
  if (unit === 'tokens/s') return perSecond;
  return unit === 'MB/s' ? perSecond / 1e6 : perSecond / 1e9;
}

module.exports = { SETTINGS, PEER_SETTLE_MS, calibrate, calibratePeer, sleep, summarize, throughput, timeCalls };
