// Helpers for the GPU tests: run the same raw kernel call on the CPU addon and the CUDA addon with the same
// inputs, and compare what comes back.
import { cuda, cudaAddon, CudaAddon } from '../../src/cuda';
import { addon, NativeStorage } from '../../src/native';

export const hasCuda = cuda.isAvailable();

/** Marks the describe blocks of GPU tests, so that the run can count them (test/gpu/reporter.js). */
export const GPU_TAG = (require('./reporter') as { GPU_TAG: string }).GPU_TAG;

/** What describeGpu does: run the tests (a device is usable), skip them, or, under TN_REQUIRE_GPU=1 without a
 * usable device, fail with the reason (a GPU run must not pass by skipping). */
export function gpuTestMode(env: NodeJS.ProcessEnv, available: boolean): 'run' | 'skip' | 'fail' {
  if (available) return 'run';
  return env.TN_REQUIRE_GPU === '1' ? 'fail' : 'skip';
}

/** `describe` for GPU tests: run (named with GPU_TAG) where a CUDA device is usable, else skipped; under
 * TN_REQUIRE_GPU=1 a missing device or an addon that fails to load is instead one failing test carrying
 * cuda.loadError(). */
export function describeGpu(name: string, fn: () => void): void {
  const mode = gpuTestMode(process.env, hasCuda);
  if (mode === 'run') describe(`${GPU_TAG} ${name}`, fn);
  else if (mode === 'skip') describe.skip(name, fn);
  else
    describe(name, () => {
      test('needs a usable CUDA device (TN_REQUIRE_GPU=1)', () => {
        const why = cuda.loadError() ?? new Error('cuda.isAvailable() is false');
        throw new Error(`TN_REQUIRE_GPU=1 but CUDA is not usable: ${why.message}`);
      });
    });
}

/** The kernel functions both addons share. */
export type Kernels = Omit<
  CudaAddon,
  'deviceCount' | 'deviceName' | 'synchronize' | 'isAvailable' | 'gemmBf16' | 'castToBf16' | 'castFromBf16'
>;

export function gpu(): CudaAddon {
  return cudaAddon();
}

/** An output buffer of n elements, read back as float32 (default) or int32. */
export interface Out {
  n: number;
  int?: boolean;
  /** initial contents (for kernels that read their output, e.g. gemm with beta != 0) */
  init?: Float32Array;
}

type Data = Float32Array | Int32Array;

function storageOn(k: Kernels, data: Data | null, n: number): NativeStorage {
  const s = new k.Storage(Math.max(1, n) * 4, true);
  if (data && data.length > 0) s.write(data, 0);
  return s;
}

/** Calls `call` once with the CPU addon and once with the CUDA addon, each time on fresh storages holding
 * `inputs` followed by the `outputs`; returns every output as read back from each device. */
export function onBoth(
  inputs: Data[],
  outputs: Out[],
  call: (k: Kernels, s: NativeStorage[]) => void,
): { cpu: Data[]; gpu: Data[] } {
  const run = (k: Kernels): Data[] => {
    const storages = [
      ...inputs.map((d) => storageOn(k, d, d.length)),
      ...outputs.map((o) => storageOn(k, o.init ?? null, o.n)),
    ];
    try {
      call(k, storages);
      return outputs.map((o, i) => {
        const s = storages[inputs.length + i];
        return o.int ? s.readInt32(0, o.n) : s.readFloat32(0, o.n);
      });
    } finally {
      for (const s of storages) s.dispose();
    }
  };
  return { cpu: run(addon as unknown as Kernels), gpu: run(gpu()) };
}

/** max |a - b| / max |b| (with a floor): error relative to the largest reference value, NaN as the worst. */
export function normError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
  }
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const err = Math.abs(a - e) / scale;
    if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : err;
  }
  return worst;
}

/** Expects every output of onBoth to agree within tol (normError). For sums, pass as floor the magnitude of the
 * summed terms (count x typical size): a sum that happens to land near 0 keeps the rounding of its terms. */
export function expectClose(result: { cpu: Data[]; gpu: Data[] }, tol: number, floor = 1e-6): void {
  result.cpu.forEach((c, i) => {
    const err = normError(result.gpu[i], c, floor);
    if (!(err <= tol)) throw new Error(`output ${i}: GPU differs from CPU by ${err} (tolerance ${tol})`);
  });
}

/** Expects every output to be bit-identical on both devices. */
export function expectEqual(result: { cpu: Data[]; gpu: Data[] }): void {
  result.cpu.forEach((c, i) => {
    const g = result.gpu[i];
    expect(g.length).toBe(c.length);
    for (let j = 0; j < c.length; j++) {
      if (!Object.is(g[j], c[j]) && !(Number.isNaN(g[j]) && Number.isNaN(c[j])))
        throw new Error(`output ${i}[${j}]: GPU ${g[j]} != CPU ${c[j]}`);
    }
  });
}

/** Random int32 values in [lo, hi). */
export function randomInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  let s = seed >>> 0;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + Math.floor((s / 4294967296) * (hi - lo));
  }
  return out;
}
