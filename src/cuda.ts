// The CUDA backend, loaded lazily: importing the package never touches it, so machines without a GPU (or
// without the CUDA addon built) work as before. The addon is build-cuda/Release/transformer_native_cuda.node
// (`npm run build:cuda`), or the file named by TN_CUDA_ADDON. It exports the same kernels as the CPU addon,
// over storages in GPU memory, plus the device functions below.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeAddon, NativeStorage } from './native';

/** The CPU addon's exports that the CUDA addon does not have, each with the reason: none is a kernel over
 * storages, so every kernel family has a CUDA twin. test/gpu/host.test.ts fails on any undeclared difference. */
export const CPU_ONLY_BINDINGS = {
  setNumThreads: 'sizes the CPU thread pool',
  getNumThreads: 'reads the CPU thread pool size',
  setIsa: 'picks a CPU kernel path (AVX2, AVX-512)',
  getIsa: 'names the CPU kernel path',
  supportedIsas: 'lists the CPU kernel paths',
  measureFmaGflops: 'the peak family measures the CPU',
  measureBandwidthGBs: 'the peak family measures host memory',
} as const;

/** The CUDA addon's exports that the CPU addon does not have: device queries and BF16 GEMM with its casts. */
export const CUDA_ONLY_BINDINGS = {
  deviceCount: 'CUDA devices the runtime sees',
  deviceName: 'the name of a device',
  synchronize: 'waits for the queued kernels',
  syncLaunches: 'whether launches wait for their kernels (TN_CUDA_SYNC)',
  isAvailable: 'whether a device is present',
  gemmBf16: 'GEMM over bfloat16 operands',
  castToBf16: 'float32 to bfloat16',
  castFromBf16: 'bfloat16 to float32',
  ncclUniqueIdBytes: 'the size of an NCCL unique id',
  ncclUniqueId: 'a new NCCL unique id (rank 0)',
  ncclInit: 'joins an NCCL communicator (libnccl.so.2 loaded at run time)',
  ncclAllReduce: 'NCCL all-reduce on the stream',
  ncclBroadcast: 'NCCL broadcast on the stream',
  ncclFinalize: 'leaves the NCCL communicator',
} as const;

type CpuOnly = keyof typeof CPU_ONLY_BINDINGS;

/** The CUDA addon: the CPU addon's kernels (minus threads, ISA and CPU benchmarks) plus device functions. */
export interface CudaAddon extends Omit<NativeAddon, CpuOnly> {
  /** CUDA devices the runtime sees (0 without a driver or device). */
  deviceCount(): number;
  deviceName(device?: number): string;
  /** Waits for every queued kernel (launches are asynchronous; reading data back waits too). */
  synchronize(): void;
  /** Whether each kernel launch waits for its kernel, so that a fault is reported under the op that launched it:
   * set by TN_CUDA_SYNC=1 or CUDA_LAUNCH_BLOCKING=1 in the environment when the addon loads (slow; for debugging). */
  syncLaunches(): boolean;
  isAvailable(): boolean;
  /** gemm with a and b holding bfloat16 (two per 4-byte element; offsets and strides count bfloat16 values),
   * c and bias float32, FP32 accumulation on tensor cores. */
  gemmBf16: NativeAddon['gemm'];
  /** n float32 values rounded to bfloat16 (round to nearest even) into dst, which holds ceil(n / 2) elements. */
  castToBf16(src: NativeStorage, dst: NativeStorage, n: number): void;
  /** n bfloat16 values widened to float32. */
  castFromBf16(src: NativeStorage, dst: NativeStorage, n: number): void;
  /** Bytes of an NCCL unique id (128). */
  ncclUniqueIdBytes(): number;
  /** A new unique id (rank 0 makes it, the others receive it); loads libnccl.so.2 on first use. */
  ncclUniqueId(): Uint8Array;
  /** Joins the communicator of `id` as `rank` of `worldSize`, on `device`. */
  ncclInit(id: Uint8Array, worldSize: number, rank: number, device: number): void;
  /** In-place all-reduce of n float32 values, queued on the stream (kernels after it see the result). */
  ncclAllReduce(storage: NativeStorage, n: number, op: 'sum' | 'mean' | 'max'): void;
  /** In-place broadcast of n float32 values from rank `root`, queued on the stream. */
  ncclBroadcast(storage: NativeStorage, n: number, root: number): void;
  ncclFinalize(): void;
}

/** Where the CUDA addon is looked for. */
export function cudaAddonPath(): string {
  const built = path.join(__dirname, '..', 'build-cuda', 'Release', 'transformer_native_cuda.node');
  return process.env.TN_CUDA_ADDON ?? built;
}

const NO_DEVICE = 'no CUDA device: the CUDA addon is built but the CUDA runtime finds no GPU (or no driver)';

let loaded: CudaAddon | null = null;
let loadFailure: Error | null = null;
let deviceSeen = false; // devices do not disappear: once one is seen, later calls skip the query

/** The addon itself, loaded on first call; throws when the file is missing or cannot be loaded. */
function loadAddon(): CudaAddon {
  if (loaded) return loaded;
  if (loadFailure) throw loadFailure;
  const file = cudaAddonPath();
  if (!fs.existsSync(file)) {
    loadFailure = new Error(`CUDA addon not built: run npm run build:cuda (no ${file})`);
    throw loadFailure;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as CudaAddon;
  } catch (e) {
    loadFailure = new Error(`CUDA addon at ${file} failed to load: ${(e as Error).message}`);
    throw loadFailure;
  }
  return loaded;
}

// A stand-in for the CUDA kernels (tests only): see setCudaKernelsForTesting.
let standIn: NativeAddon | null = null;

/** For tests: kernels('cuda') serves `k` instead of the CUDA addon (e.g. the CPU kernels behind storages that
 * count their reads back to the host, or whose allocations fail), until called again with null. */
export function setCudaKernelsForTesting(k: NativeAddon | null): void {
  standIn = k;
}

/** The CUDA kernels, for kernels('cuda'): throws a clear error when there is no usable CUDA device. */
export function cudaKernels(): NativeAddon {
  if (standIn) return standIn;
  const addon = loadAddon();
  if (deviceSeen) return addon as unknown as NativeAddon;
  if (addon.deviceCount() === 0) throw new Error(NO_DEVICE);
  deviceSeen = true;
  return addon as unknown as NativeAddon;
}

/** The CUDA addon with its device functions (bfloat16 GEMM, synchronize...), or a clear error. */
export function cudaAddon(): CudaAddon {
  cudaKernels();
  return loadAddon();
}

/** Why tensors cannot live on 'cuda', or null when they can: the addon is not built, fails to load (the loader's
 * message), or finds no device. Never throws; isAvailable() is false exactly when this is an error. */
export function loadError(): Error | null {
  try {
    if (loadAddon().deviceCount() > 0) return null;
    return new Error(NO_DEVICE);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Whether tensors can live on 'cuda': the addon is built and loads, and a device is present. */
export function isAvailable(): boolean {
  try {
    return loadAddon().deviceCount() > 0;
  } catch {
    return false;
  }
}

/** CUDA devices usable now (0 when the addon is missing or there is no driver or device). */
export function deviceCount(): number {
  try {
    return loadAddon().deviceCount();
  } catch {
    return 0;
  }
}

/** The name of a CUDA device, e.g. 'NVIDIA H200'. */
export function deviceName(device = 0): string {
  return cudaAddon().deviceName(device);
}

/** Waits until every kernel queued on the GPU has finished (for timing; reading data back waits anyway). */
export function synchronize(): void {
  cudaAddon().synchronize();
}

/** GPU memory held by storages alive now (live tensors and the allocator's cache); zeros before the addon loads. */
export function memoryStats(): { storages: number; bytes: number } {
  return loaded ? loaded.memoryStats() : { storages: 0, bytes: 0 };
}

/** Whether CUDA launches wait for their kernels (TN_CUDA_SYNC=1 or CUDA_LAUNCH_BLOCKING=1); false without the addon. */
export function syncLaunches(): boolean {
  try {
    return loadAddon().syncLaunches();
  } catch {
    return false;
  }
}

/** `cuda.isAvailable()`, `cuda.deviceCount()`... in the style of torch.cuda. */
export const cuda = {
  isAvailable,
  loadError,
  deviceCount,
  deviceName,
  synchronize,
  syncLaunches,
  memoryStats,
  addonPath: cudaAddonPath,
};
