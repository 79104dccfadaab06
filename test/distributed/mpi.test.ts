// Data-parallel training over MPI, in real multi-process jobs: `mpirun -np 2 node test/distributed/scripts/*.js` (compiled
// dist/ code) and `mpirun -np 2 transformer-native train`. They need Open MPI's mpirun and the MPI addon
// (npm run build:mpi); without them they are skipped, unless TN_REQUIRE_MPI=1 (CI sets it) makes that a failure.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mpiAddonPath } from '../../src/distributed/mpi';
import { loadCheckpoint } from '../../src/training/checkpoint';
import { readMetrics } from '../../src/training/trainer';

const repo = path.join(__dirname, '..', '..');
const scripts = path.join(__dirname, 'scripts');
const cli = path.join(repo, 'dist', 'cli', 'index.js');
const hasMpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;
const ready = hasMpirun && fs.existsSync(mpiAddonPath());
if (!ready && process.env.TN_REQUIRE_MPI === '1')
  throw new Error(
    `TN_REQUIRE_MPI=1 but ${hasMpirun ? `the MPI addon is not built (${mpiAddonPath()})` : 'mpirun is missing'}`,
  );
const describeMpi = ready ? describe : describe.skip;

interface Job {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** performance.now() when it ended. */
  endedAt: number;
}

/** The mpirun flags of these tests: root is allowed (CI runs as root), more ranks than cores are too. */
function mpirunArgs(np: number, env: Record<string, string> = {}): string[] {
  const exported = Object.keys(env).flatMap((name) => ['-x', name]);
  return ['--allow-run-as-root', '--oversubscribe', '-np', String(np), ...exported];
}

/** Runs a command to its end (or kills it after limitSeconds); `during` sees the running process. */
function runJob(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; limitSeconds?: number; during?: (pid: number) => void } = {},
): Promise<Job> {
  const started = performance.now();
  const child = spawn(command, args, { cwd: repo, env: { ...process.env, ...options.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const limit = setTimeout(() => child.kill('SIGKILL'), (options.limitSeconds ?? 120) * 1000);
  if (options.during && child.pid !== undefined) options.during(child.pid);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      const endedAt = performance.now();
      resolve({ code, signal, stdout, stderr, seconds: (endedAt - started) / 1000, endedAt });
    });
  });
}

function mpiJob(script: string, env: Record<string, string> = {}, limitSeconds = 120): Promise<Job> {
  return runJob('mpirun', [...mpirunArgs(2, env), process.execPath, path.join(scripts, script)], {
    env,
    limitSeconds,
  });
}

/** The JSON line each rank printed, by rank. */
function rankReports(job: Job): Array<Record<string, unknown>> {
  const reports = job.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return reports.sort((a, b) => (a.rank as number) - (b.rank as number));
}

describeMpi('MPI collectives on 2 ranks', () => {
  test('allReduce (sum, mean, max), packed and async, broadcast, barrier, numbers, and their errors', async () => {
    const job = await mpiJob('collectives.js');
    expect({ code: job.code, stderr: job.stderr }).toMatchObject({ code: 0 });
    const reports = rankReports(job);
    expect(reports.map((r) => r.rank)).toEqual([0, 1]);
    for (const r of reports) expect(r.failures).toEqual([]);
  });

  test('a collective a rank never joins ends the job after the timeout, saying so', async () => {
    const job = await mpiJob('stall.js', { TN_DIST_TIMEOUT: '2' }, 60);
    expect(job.code).not.toBe(0);
    expect(job.seconds).toBeLessThan(30);
    expect(job.stderr).toMatch(
      /transformer-native dist: rank 0 of 2: collective #2 \(allReduce of 1 elements\) timed out after 2 s/,
    );
    expect(job.stdout).not.toMatch(/not reached/);
  });
});

describeMpi('DistributedDataParallel on 2 ranks', () => {
  // The seed model (bench/lib/rows.js) at batch 2 x length 10 per rank, no dropout, 20 AdamW steps.
  test('the seed model trained on 2 ranks equals 1 rank on the same examples; gradients are bit-identical', async () => {
    const job = await mpiJob('equivalence.js', {}, 300);
    expect({ code: job.code, stderr: job.stderr }).toMatchObject({ code: 0 });
    const [rank0, rank1] = rankReports(job);
    // Every all-reduce left the same bits on both ranks (a hash of all gradients, compared after each step).
    expect(rank0.identical).toBe(true);
    expect(rank1.identical).toBe(true);
    // Averaging the two ranks' gradients is exactly what one process accumulating the same two micro-batches
    // computes (halving is exact in floating point): 20 AdamW steps end with the same bits.
    expect(rank0.accumulatedFirstGradDiff).toBe(0);
    expect(rank0.accumulatedParamDiff).toBe(0);
    // One batch of 2B rows sums in another order: the gradients agree to float rounding.
    expect(rank0.singleFirstGradDiff).toBeLessThanOrEqual(1e-5);
    // noSync: two micro-batches accumulated, then averaged, equal one batch of both.
    expect(rank0.noSyncDiff).toBeLessThanOrEqual(1e-5);
    expect(rank1.noSyncDiff).toBe(rank0.noSyncDiff);
    expect(rank0.buckets).toBeGreaterThan(1);
  }, 320_000);
});

describeMpi('mpirun -np 2 transformer-native train', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-mpi-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  function trainArgs(out: string, maxSteps: number): string[] {
    const data = path.join(root, 'data.txt');
    if (!fs.existsSync(data)) fs.writeFileSync(data, 'the cat sat on the mat. the dog slept on the rug. '.repeat(200));
    return [
      cli,
      'train',
      '--task',
      'lm',
      '--data',
      data,
      '--out',
      out,
      '--max-steps',
      String(maxSteps),
      '--block-size',
      '16',
      '--d-model',
      '16',
      '--nhead',
      '2',
      '--num-layers',
      '1',
      '--batch-size',
      '4',
      '--warmup-steps',
      '3',
      '--log-every',
      '2',
      '--progress',
      'log',
      '--seed',
      '7',
      '--checkpoint-every',
      '5',
      '--keep-last',
      '100',
    ];
  }

  test('--max-minutes stops every rank at the same step (with gradient accumulation)', async () => {
    const out = path.join(root, 'deadline');
    // A deadline each rank reaches on its own clock: the ranks agree on the step to stop at.
    const job = await runJob('mpirun', [
      ...mpirunArgs(2),
      process.execPath,
      ...trainArgs(out, 100_000),
      '--max-minutes',
      '0.01',
      '--grad-accum',
      '2',
      '--dist-timeout',
      '20',
    ]);
    expect({ code: job.code, stderr: job.stderr }).toMatchObject({ code: 0 });
    expect(job.stdout).toMatch(/^stopped at step \d+:/);
  }, 120_000);

  /** The pid of rank `rank` among the children of mpirun (its environment names the rank). */
  function rankPid(mpirunPid: number, rank: number): number | null {
    const children = spawnSync('pgrep', ['-P', String(mpirunPid)], { encoding: 'utf8' }).stdout.split('\n');
    for (const pid of children.filter((p) => p.trim() !== '').map(Number)) {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return pid;
    }
    return null;
  }

  test('writes from rank 0 only; a rank killed mid-training ends the job naming it; resume on 2, 1, then 2 ranks', async () => {
    const out = path.join(root, 'run');
    const checkpoints = path.join(out, 'checkpoints');
    let killedAt = 0;
    const job = await runJob('mpirun', [...mpirunArgs(2), process.execPath, ...trainArgs(out, 100_000)], {
      limitSeconds: 120,
      during: (mpirunPid) => {
        // SIGKILL rank 1 once two checkpoints exist.
        const poll = setInterval(() => {
          const steps = fs.existsSync(checkpoints) ? fs.readdirSync(checkpoints) : [];
          if (steps.filter((d) => d.startsWith('step-')).length < 2) return;
          const pid = rankPid(mpirunPid, 1);
          if (pid === null) return;
          clearInterval(poll);
          killedAt = performance.now();
          process.kill(pid, 'SIGKILL');
        }, 20);
      },
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(job.code).not.toBe(0);
    // The surviving rank is stopped within seconds, with a message naming the lost rank.
    expect((job.endedAt - killedAt) / 1000).toBeLessThan(20);
    expect(job.stderr).toMatch(/rank 0 of 2.*lost rank 1 \(pid \d+ on /);
    // Only rank 0 printed progress and wrote metrics: one record per logged step.
    expect(job.stderr.match(/on 2 processes/g)).toHaveLength(1);
    const steps = readMetrics(path.join(out, 'metrics.jsonl')).map((r) => r.step);
    expect(steps.length).toBeGreaterThan(2);
    expect(new Set(steps).size).toBe(steps.length);

    // Every checkpoint written is whole (written atomically), and the newest is where training resumes.
    const saved = fs.readdirSync(checkpoints).filter((d) => d.startsWith('step-'));
    for (const dir of saved) loadCheckpoint(path.join(checkpoints, dir)).dispose();
    const lastStep = Math.max(...saved.map((d) => Number(d.slice(5))));

    // Resumed on 2 ranks, then on another number (one process, no launcher), then on 2 again from what one wrote.
    const resume = async (ranks: number, maxSteps: number) => {
      const args = [...trainArgs(out, maxSteps), '--resume', 'auto'];
      const job =
        ranks === 1
          ? await runJob(process.execPath, args)
          : await runJob('mpirun', [...mpirunArgs(ranks), process.execPath, ...args]);
      expect(job.stderr).toMatch(/resuming from .*step-/);
      expect({ code: job.code, stderr: job.stderr }).toMatchObject({ code: 0 });
      expect(job.stdout).toMatch(new RegExp(`^done at step ${maxSteps}:`));
    };
    await resume(2, lastStep + 4);
    await resume(1, lastStep + 8);
    await resume(2, lastStep + 12);
    const checkpoint = loadCheckpoint(path.join(checkpoints, `step-${String(lastStep + 12).padStart(8, '0')}`));
    expect(checkpoint.trainer?.step).toBe(lastStep + 12);
    expect(checkpoint.dataLoaderState?.worldSize).toBe(2);
    checkpoint.dispose();
  }, 300_000);
});

describe('dist without the MPI addon', () => {
  test('init under a launcher says how to build the addon', () => {
    const script = `const { dist } = require(${JSON.stringify(path.join(repo, 'dist'))});
      try { dist.init({ backend: 'mpi' }); } catch (e) { console.log(e.message); process.exit(3); }`;
    const result = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2', TN_MPI_ADDON: '/nonexistent.node' },
    });
    expect(result.status).toBe(3);
    expect(result.stdout).toMatch(
      /the MPI addon is not built .*apt-get install openmpi-bin libopenmpi-dev.*npm run build:mpi/,
    );
  });
});
