// The thread pool under every kernel: thousands of parallel calls in a row, with the workers caught spinning
// (calls back to back) and asleep (pauses between calls), and with more threads than cores or
// TN_WAIT_POLICY=passive (no spinning). A lost wake-up would block the process forever inside a native call,
// which no jest timeout can interrupt, so each run happens in a child process with a time limit.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

// Multiplies a 130 x 130 matrix by the identity (every product is split over the pool: 2 * 130^3 flops is past
// the threshold), so each result must equal A exactly; prints the number of products that did not.
const script = `
const addon = require('node-gyp-build')(${JSON.stringify(root)});
const [threads, backToBack, paused, pauseMs] = process.argv.slice(1).map(Number);
addon.setNumThreads(threads);
const n = 130;
const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const eye = new Float32Array(n * n);
for (let i = 0; i < n; i++) eye[i * n + i] = 1;
const A = new addon.Storage(4 * n * n), I = new addon.Storage(4 * n * n), C = new addon.Storage(4 * n * n);
A.write(a, 0);
I.write(eye, 0);
let wrong = 0;
const check = () => {
  addon.gemm(A, 0, I, 0, C, 0, null, 0, false, false, n, n, n, 1, 0, 0, 0, 1, 0);
  const c = C.readFloat32(0, n * n);
  for (let i = 0; i < n * n; i++) if (c[i] !== a[i]) { wrong++; break; }
};
for (let r = 0; r < backToBack; r++) check();
for (let r = 0; r < paused; r++) {
  const until = process.hrtime.bigint() + BigInt(Math.round(pauseMs * 1e6));
  while (process.hrtime.bigint() < until);
  check();
}
console.log(String(wrong));
`;

function run(
  threads: number,
  backToBack: number,
  paused: number,
  pauseMs: number,
  env: Record<string, string> = {},
): string {
  return execFileSync(
    process.execPath,
    ['-e', script, String(threads), String(backToBack), String(paused), String(pauseMs)],
    {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    },
  ).trim();
}

describe('thread pool', () => {
  test('2 threads: back-to-back calls (workers spinning) and paused calls (workers asleep) all complete', () => {
    // Pauses of 1 ms outlast the workers' spin, so each of those calls wakes sleeping threads.
    expect(run(2, 3000, 300, 1)).toBe('0');
  });

  test('more threads than cores, or TN_WAIT_POLICY=passive (no spinning): calls complete and are right', () => {
    expect(run(os.cpus().length + 1, 500, 50, 1)).toBe('0');
    expect(run(2, 500, 50, 1, { TN_WAIT_POLICY: 'passive' })).toBe('0');
  });
});
