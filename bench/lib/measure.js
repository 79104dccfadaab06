'use strict';
// Timing: calibrated repeats (each long enough for the clock), ours and the peer's interleaved per repeat so
// that machine noise hits both alike.

const SETTINGS = {
  full: { repeats: 7, warmupMs: 100, repeatMs: 50, fmaSeconds: 0.5, bandwidthBytes: 64 << 20, bandwidthRepeats: 10 },
  quick: { repeats: 5, warmupMs: 30, repeatMs: 15, fmaSeconds: 0.2, bandwidthBytes: 64 << 20, bandwidthRepeats: 5 },
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
 * fastest (freeing the others). */
async function calibratePeer(handles, settings) {
  let best = null;
  for (const handle of handles) {
    let perCall = await handle.time(1);
    const start = nowMs();
    while (nowMs() - start < settings.warmupMs) perCall = Math.min(perCall, await handle.time(1));
    const iters = itersFor(perCall, settings);
    const repeatMs = await handle.time(iters);
    if (best === null || repeatMs < best.repeatMs) best = { handle, iters, repeatMs };
  }
  for (const handle of handles) if (handle !== best.handle) await handle.free();
  return best;
}

function summarize(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { medianMs: median, minMs: sorted[0], maxMs: sorted[sorted.length - 1] };
}

/** Throughput of `work` (flops, bytes or tokens) done in `ms`: GFLOP/s and GB/s in 1e9 per second. */
function throughput(work, unit, ms) {
  const perSecond = work / (ms / 1000);
  return unit === 'tokens/s' ? perSecond : perSecond / 1e9;
}

module.exports = { SETTINGS, calibrate, calibratePeer, summarize, throughput, timeCalls };
