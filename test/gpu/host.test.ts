// Host-side checks of the CUDA backend that run on any machine: lazy loading, the errors without a device,
// and the built addon's exports. (Kernels on a real GPU: kernels.test.ts and tensor.test.ts.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernels } from '../../src/backend';
import { cuda, cudaAddonPath, CPU_ONLY_BINDINGS, CUDA_ONLY_BINDINGS } from '../../src/cuda';
import { addon, NativeAddon } from '../../src/native';
import { measureBandwidthGBsKernel, measureFmaGflopsKernel } from '../../src/ops/peak';
import { randn, zeros } from '../../src/tensor';
import { expectError } from '../helpers';
import { GPU_TAG, gpuTestMode } from './twins';

const { gpuSummary } = require('./reporter') as {
  gpuSummary: (results: unknown, env: NodeJS.ProcessEnv) => { line: string; error: Error | null };
};

const root = path.join(__dirname, '..', '..');
const addonFile = path.join(root, 'build-cuda', 'Release', 'transformer_native_cuda.node');
// Whether `npm run build:cuda` has been run in this tree: `npm test` does not run it, so the tests take either state
// (test/run-all.sh builds it wherever nvcc is and checks that the file is there).
const built = fs.existsSync(addonFile);
const hasDriver = fs.existsSync('/proc/driver/nvidia/version') || fs.existsSync('/dev/nvidiactl');

describe('CUDA backend without a GPU', () => {
  test('the package imports and runs on the CPU whatever the CUDA state', () => {
    const pkg = require('../../src/index') as typeof import('../../src/index');
    const t = pkg.ones([2, 2]);
    expect(Array.from(t.dataSync())).toEqual([1, 1, 1, 1]);
    t.dispose();
  });

  test('isAvailable and deviceCount agree and never throw', () => {
    expect(typeof cuda.isAvailable()).toBe('boolean');
    expect(cuda.isAvailable()).toBe(cuda.deviceCount() > 0);
    expect(cuda.addonPath()).toBe(cudaAddonPath());
    const stats = cuda.memoryStats();
    expect(stats.storages).toBeGreaterThanOrEqual(0);
    expect(stats.bytes).toBeGreaterThanOrEqual(0);
  });

  (hasDriver ? test.skip : test)('without a driver nothing is available and every GPU entry point says why', () => {
    expect(cuda.isAvailable()).toBe(false);
    expect(cuda.deviceCount()).toBe(0);
    const why = built ? /no CUDA device/ : /CUDA addon not built: run npm run build:cuda/;
    expectError(() => kernels('cuda'), 'Error', why);
    expectError(() => zeros([2], { device: 'cuda' }), 'Error', why);
    expectError(() => randn([2], { device: 'cuda' }), 'Error', why);
    const t = randn([3]);
    expectError(() => t.to('cuda'), 'Error', why);
    expectError(() => t.cuda(), 'Error', why);
    expectError(() => cuda.synchronize(), 'Error', why);
    expectError(() => cuda.deviceName(), 'Error', why);
    t.dispose();
  });

  test('an unknown device is refused', () => {
    expectError(() => kernels('tpu' as 'cpu'), 'Error', /unknown device 'tpu'/);
  });

  (built ? test : test.skip)('TN_CUDA_SYNC=1 or CUDA_LAUNCH_BLOCKING=1 makes every launch wait for its kernel', () => {
    // The flag is read once per process, so each setting gets a fresh node.
    const syncIn = (env: Record<string, string>): string => {
      const run = spawnSync(
        process.execPath,
        ['-e', `process.stdout.write(String(require(${JSON.stringify(addonFile)}).syncLaunches()))`],
        { encoding: 'utf8', env: { ...process.env, TN_CUDA_SYNC: '', CUDA_LAUNCH_BLOCKING: '', ...env } },
      );
      expect(run.stderr).toBe('');
      return run.stdout;
    };
    expect(syncIn({})).toBe('false');
    expect(syncIn({ TN_CUDA_SYNC: '1' })).toBe('true');
    expect(syncIn({ CUDA_LAUNCH_BLOCKING: '1' })).toBe('true');
    expect(syncIn({ TN_CUDA_SYNC: '0' })).toBe('false');
  });

  (built ? test : test.skip)('the two addons export the same names but for the declared differences', () => {
    const gpu = require(addonFile) as Record<string, unknown>;
    const cpuNames = Object.keys(addon).sort();
    const gpuNames = Object.keys(gpu).sort();
    // Every difference is declared in src/cuda.ts, with its reason; a new kernel without a CUDA twin (or a
    // declared difference that no longer is one) fails here.
    expect(cpuNames.filter((name) => !gpuNames.includes(name))).toEqual(Object.keys(CPU_ONLY_BINDINGS).sort());
    expect(gpuNames.filter((name) => !cpuNames.includes(name))).toEqual(Object.keys(CUDA_ONLY_BINDINGS).sort());
    for (const name of gpuNames) expect(typeof gpu[name]).toBe('function');
    expect(typeof (gpu.deviceCount as () => number)()).toBe('number');
    if (!hasDriver) {
      const Storage = gpu.Storage as new (bytes: number) => unknown;
      expectError(() => new Storage(16), 'Error', /Storage: no CUDA device/);
      expectError(() => (gpu.synchronize as () => void)(), 'Error', /synchronize: no CUDA device/);
    }
  });

  test('the CPU-only peak family says it is not supported on CUDA', () => {
    const cudaLike = {} as NativeAddon; // what kernels('cuda') has of the peak family: nothing
    expectError(
      () => measureFmaGflopsKernel(cudaLike, { threads: 1, seconds: 0.01 }),
      'Error',
      /measureFmaGflops is not supported on CUDA: the peak family measures the CPU/,
    );
    expectError(
      () => measureBandwidthGBsKernel(cudaLike, { threads: 1, bytesPerArray: 64, repeats: 1 }),
      'Error',
      /measureBandwidthGBs is not supported on CUDA/,
    );
  });

  (built ? test : test.skip)('the shipped CUDA addon leaves no tn:: symbol undefined', () => {
    const run = spawnSync('bash', [path.join(root, 'test', 'check-cuda-symbols.sh'), addonFile], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // Nor does it report device memory to V8 as host memory.
    const nm = spawnSync('nm', ['-D', '--undefined-only', addonFile], { encoding: 'utf8' });
    expect(nm.status).toBe(0);
    expect(nm.stdout).not.toMatch(/napi_adjust_external_memory/);
  });
});

describe('cuda.loadError()', () => {
  test('is null exactly when CUDA is available, and never throws', () => {
    const why = cuda.loadError();
    expect(why === null).toBe(cuda.isAvailable());
    if (why !== null) expect(why.message).toMatch(/CUDA addon not built|failed to load|no CUDA device/);
    if (built && !hasDriver) expect(why?.message).toMatch(/^no CUDA device/);
  });

  test('names a missing addon file, and a file that fails to load with the loader message', () => {
    const saved = process.env.TN_CUDA_ADDON;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-cuda-'));
    const broken = path.join(dir, 'broken.node');
    fs.writeFileSync(broken, 'not a shared object');
    try {
      for (const [file, why] of [
        [path.join(dir, 'missing.node'), /^CUDA addon not built: run npm run build:cuda/],
        [broken, /^CUDA addon at .*broken\.node failed to load: .*(invalid ELF header|too short)/],
      ] as const) {
        process.env.TN_CUDA_ADDON = file;
        jest.isolateModules(() => {
          const fresh = require('../../src/cuda') as typeof import('../../src/cuda');
          expect(fresh.cuda.isAvailable()).toBe(false);
          expect(fresh.cuda.loadError()?.message).toMatch(why);
          expectError(() => fresh.cudaKernels(), 'Error', why);
        });
      }
    } finally {
      if (saved === undefined) delete process.env.TN_CUDA_ADDON;
      else process.env.TN_CUDA_ADDON = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('strict GPU runs (TN_REQUIRE_GPU=1)', () => {
  test('describeGpu runs, skips, or fails with the reason', () => {
    expect(gpuTestMode({}, true)).toBe('run');
    expect(gpuTestMode({ TN_REQUIRE_GPU: '1' }, true)).toBe('run');
    expect(gpuTestMode({}, false)).toBe('skip');
    expect(gpuTestMode({ TN_REQUIRE_GPU: '0' }, false)).toBe('skip');
    expect(gpuTestMode({ TN_REQUIRE_GPU: '1' }, false)).toBe('fail');
  });

  test('the reporter counts the tests under describeGpu and fails a strict run where none ran', () => {
    const file = (tests: Array<[string[], string]>) => ({
      testFilePath: '/x/test/gpu/kernels.test.ts',
      testResults: tests.map(([ancestorTitles, status]) => ({ ancestorTitles, status })),
    });
    const results = {
      testResults: [
        file([
          [[`${GPU_TAG} CUDA gemm`], 'passed'],
          [[`${GPU_TAG} CUDA gemm`, 'inner'], 'failed'],
          [['CUDA backend without a GPU'], 'passed'],
          [[`${GPU_TAG} CUDA softmax`], 'pending'],
        ]),
      ],
    };
    expect(gpuSummary(results, {})).toEqual({ line: 'GPU tests: 2 ran (1 passed, 1 failed)', error: null });
    expect(gpuSummary(results, { TN_REQUIRE_GPU: '1' }).error).toBeNull();
    const none = { testResults: [file([[['CUDA backend without a GPU'], 'passed']])] };
    expect(gpuSummary(none, {}).error).toBeNull();
    expect(gpuSummary(none, { TN_REQUIRE_GPU: '1' }).error?.message).toBe(
      'GPU tests: 0 ran (0 passed, 0 failed), TN_REQUIRE_GPU=1: no GPU test ran, so this GPU run fails',
    );
  });

  test('a GPU test file run strictly without a usable addon fails with the load error', () => {
    // A fresh jest on one GPU test file, pointed at an addon that does not exist: deterministic on any machine.
    const run = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', 'test/gpu/tensor.test.ts'],
      {
        cwd: root,
        encoding: 'utf8',
        env: {
          ...process.env,
          TN_REQUIRE_GPU: '1',
          TN_CUDA_ADDON: path.join(root, 'build-cuda', 'no-such-addon.node'),
        },
        timeout: 110_000,
      },
    );
    const output = run.stdout + run.stderr;
    expect(run.status).toBe(1);
    expect(output).toMatch(/TN_REQUIRE_GPU=1 but CUDA is not usable: CUDA addon not built: run npm run build:cuda/);
    expect(output).toMatch(/GPU tests: 0 ran \(0 passed, 0 failed\), TN_REQUIRE_GPU=1: no GPU test ran/);
  });
});
