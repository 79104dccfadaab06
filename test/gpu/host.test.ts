// Host-side checks of the CUDA backend that run on any machine: lazy loading, the errors without a device,
// and the built addon's exports. (Kernels on a real GPU: kernels.test.ts and tensor.test.ts.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kernels } from '../../src/backend';
import { cuda, cudaAddonPath } from '../../src/cuda';
import { addon } from '../../src/native';
import { randn, zeros } from '../../src/tensor';
import { expectError } from '../helpers';

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

  test('a missing addon file gives the build hint', () => {
    const saved = process.env.TN_CUDA_ADDON;
    process.env.TN_CUDA_ADDON = path.join(root, 'build-cuda', 'no-such-addon.node');
    try {
      jest.isolateModules(() => {
        const fresh = require('../../src/cuda') as typeof import('../../src/cuda');
        expect(fresh.cuda.isAvailable()).toBe(false);
        expect(fresh.cuda.deviceCount()).toBe(0);
        expectError(() => fresh.cudaKernels(), 'Error', /CUDA addon not built: run npm run build:cuda/);
      });
    } finally {
      if (saved === undefined) delete process.env.TN_CUDA_ADDON;
      else process.env.TN_CUDA_ADDON = saved;
    }
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

  (built ? test : test.skip)('the CUDA addon exports every CPU kernel and the device functions', () => {
    const gpu = require(addonFile) as Record<string, unknown>;
    const cpuOnly = [
      'setNumThreads',
      'getNumThreads',
      'setIsa',
      'getIsa',
      'supportedIsas',
      'measureFmaGflops',
      'measureBandwidthGBs',
    ];
    for (const name of Object.keys(addon)) {
      if (cpuOnly.includes(name)) expect(gpu[name]).toBeUndefined();
      else expect(typeof gpu[name]).toBe('function');
    }
    const deviceFunctions = [
      'deviceCount',
      'deviceName',
      'synchronize',
      'syncLaunches',
      'isAvailable',
      'gemmBf16',
      'castToBf16',
      'castFromBf16',
    ];
    for (const name of deviceFunctions) expect(typeof gpu[name]).toBe('function');
    expect(typeof (gpu.deviceCount as () => number)()).toBe('number');
    if (!hasDriver) {
      const Storage = gpu.Storage as new (bytes: number) => unknown;
      expectError(() => new Storage(16), 'Error', /Storage: no CUDA device/);
      expectError(() => (gpu.synchronize as () => void)(), 'Error', /synchronize: no CUDA device/);
    }
  });
});
