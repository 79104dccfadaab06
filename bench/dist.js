'use strict';
// Data-parallel training of the seed model (bench/lib/rows.js) at one global batch: 2 processes x 1 thread
// (`mpirun -np 2`, DistributedDataParallel, half the batch each) against 1 process x 2 threads. Prints tokens/s of
// both, the share of each gradient bucket's all-reduce that ran while the backward was still computing, and, on
// paper, the step time at 8 and 64 machines from the measured compute time and the ring all-reduce volume.
// Needs the MPI addon (npm run build:mpi) and dist/ (npm run build:ts).
//   npm run bench:dist -- [--steps N] [--batch B] [--bucket-mb M]
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const argv = process.argv.slice(2);
function option(name, fallback) {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}
const STEPS = option('steps', 6);
const WARMUP = 1;

// ---- one process of a run ------------------------------------------------------------------------------------

function worker() {
  const tn = require(path.join(__dirname, '..', 'dist'));
  const { SEED_MODEL, seedModelOptions } = require('./lib/rows');
  const { dist, nn } = tn;
  const s = { ...SEED_MODEL, batch: option('batch', SEED_MODEL.batch) };
  const { rank, worldSize } = dist.init();
  tn.setNumThreads(option('threads', 1));
  const rows = s.batch / worldSize;
  const model = new tn.Seq2SeqTransformer(seedModelOptions(s));
  const ddp = new nn.DistributedDataParallel(model, { bucketMB: option('bucket-mb', 25) });
  const optimizer = new tn.optim.AdamW(model.parameters(), { lr: s.lr });
  let state = 12345 + rank;
  const ids = (n, vocab) =>
    Int32Array.from({ length: n }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return 1 + (state % (vocab - 1));
    });
  const src = tn.tensor(ids(rows * s.srcLength, s.srcVocab), { shape: [rows, s.srcLength] });
  const tgtIn = tn.tensor(ids(rows * s.tgtLength, s.tgtVocab), { shape: [rows, s.tgtLength] });
  const tgtOut = tn.tensor(ids(rows * s.tgtLength, s.tgtVocab), { shape: [rows, s.tgtLength] });
  const stepSeconds = [];
  const backwardSeconds = [];
  const buckets = [];
  for (let step = 0; step < WARMUP + STEPS; step++) {
    dist.barrier(); // the ranks start each step together, so the waits below are communication, not skew
    const start = dist.now();
    tn.tidy(() => {
      const logits = ddp.forward(src, tgtIn, { srcKeyPaddingMask: null, tgtKeyPaddingMask: null });
      tn.F.crossEntropy(logits.reshape(-1, s.tgtVocab), tgtOut.reshape(-1)).backward();
    });
    const backwardEnd = dist.now();
    ddp.finishGradientSync();
    optimizer.step();
    optimizer.zeroGrad();
    if (step < WARMUP) continue;
    stepSeconds.push(dist.now() - start);
    backwardSeconds.push(backwardEnd - start);
    const timing = ddp.lastSyncTiming();
    if (timing !== null)
      timing.buckets.forEach((b, i) => {
        const seconds = b.ended - b.started;
        const hidden = Math.max(0, Math.min(b.ended, timing.backwardEnd) - b.started);
        buckets[i] ??= { bytes: b.bytes, seconds: 0, hidden: 0 };
        buckets[i].seconds += seconds / STEPS;
        buckets[i].hidden += hidden / STEPS;
      });
  }
  const result = {
    rank,
    worldSize,
    threads: tn.getNumThreads(),
    rowsPerRank: rows,
    parameters: model.numParameters(),
    gradientBytes: 4 * model.numParameters(),
    stepSeconds: median(stepSeconds),
    backwardSeconds: median(backwardSeconds),
    tokensPerSecond: (s.batch * s.tgtLength) / median(stepSeconds),
    buckets,
  };
  if (rank === 0) console.log(JSON.stringify(result));
  dist.finalize();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// ---- the runs and the report ---------------------------------------------------------------------------------

function run(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

function main() {
  const self = [__filename, '--worker', '--steps', String(STEPS)];
  for (const name of ['batch', 'bucket-mb'])
    if (argv.includes(`--${name}`)) self.push(`--${name}`, String(option(name)));
  const mpirun = ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath];
  const two = run('mpirun', [...mpirun, ...self, '--threads', '1']);
  const one = run(process.execPath, [...self, '--threads', '2']);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const out = (line) => process.stdout.write(`${line}\n`);
  out(
    `seed model (${two.parameters.toLocaleString('en-US')} parameters), global batch ${two.rowsPerRank * 2}, ${STEPS} steps after ${WARMUP} warm-up, ${cpu}`,
  );
  out(
    `2 ranks x 1 thread : ${two.tokensPerSecond.toFixed(0)} tokens/s (step ${(two.stepSeconds * 1000).toFixed(0)} ms, backward ${(two.backwardSeconds * 1000).toFixed(0)} ms)`,
  );
  out(
    `1 rank  x 2 threads: ${one.tokensPerSecond.toFixed(0)} tokens/s (step ${(one.stepSeconds * 1000).toFixed(0)} ms)`,
  );
  out('all-reduce per bucket (rank 0; queued when its last gradient was accumulated, in reverse parameter order):');
  let total = 0;
  let hidden = 0;
  two.buckets.forEach((b, i) => {
    total += b.seconds;
    hidden += b.hidden;
    out(
      `  bucket ${i}: ${(b.bytes / 2 ** 20).toFixed(1)} MiB, ${(b.seconds * 1000).toFixed(1)} ms, ${((100 * b.hidden) / b.seconds).toFixed(0)}% behind the backward`,
    );
  });
  out(`  all buckets: ${(total * 1000).toFixed(1)} ms, ${((100 * hidden) / total).toFixed(0)}% hidden`);
  // On paper: each rank's compute is the measured 1-thread step at the same rows per rank, less its communication;
  // the ring all-reduce sends and receives 2(N-1)/N of the gradient bytes per rank.
  const compute = two.stepSeconds - (total - hidden);
  out(
    `on paper (compute ${(compute * 1000).toFixed(0)} ms per step and rank, gradients ${(two.gradientBytes / 1e6).toFixed(1)} MB, ring all-reduce, no overlap / measured overlap share):`,
  );
  for (const machines of [8, 64])
    for (const gbits of [10, 100]) {
      const seconds = (((2 * (machines - 1)) / machines) * two.gradientBytes) / ((gbits * 1e9) / 8);
      const exposed = seconds * (1 - hidden / total);
      const efficiency = (c) => (100 * compute) / (compute + c);
      out(
        `  ${machines} machines at ${gbits} Gbit/s: all-reduce ${(seconds * 1000).toFixed(1)} ms; efficiency ${efficiency(seconds).toFixed(0)}% / ${efficiency(exposed).toFixed(0)}%`,
      );
    }
}

if (argv.includes('--worker')) worker();
else main();
