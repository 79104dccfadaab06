// Device dispatch: every op asks for the kernels of its tensors' device. The CUDA addon (loaded lazily)
// exposes the same functions as the CPU one, so ops are written once.
import { cudaKernels } from './cuda';
import { addon, NativeAddon, NativeStorage } from './native';
import { fillKernel } from './ops/elementwise';

export type Device = 'cpu' | 'cuda';

export function kernels(device: Device): NativeAddon {
  if (device === 'cpu') return addon;
  if (device === 'cuda') return cudaKernels();
  throw new Error(`kernels: unknown device '${String(device)}' (expected 'cpu' or 'cuda')`);
}

// A caching allocator: storages of disposed tensors are kept by exact size and handed out again. Training
// steps allocate the same shapes every step, so after the first step almost nothing reaches malloc, and no
// new N-API wrapper objects pile up (Node finalizes those only when the event loop turns, which a
// synchronous training loop never lets it do).
// Each device's pool maps a byte size to a stack of cached storages, each stamped with the time it came back; a
// stack's bottom entry is its oldest, so eviction (rare: only past the cache limit) compares stack bottoms. No
// per-storage map: every op allocates and every disposed tensor comes back, and a Map keyed by storage cost
// a fifth of a small op's time.
interface Cached {
  storage: NativeStorage;
  returned: number;
}
const pools = new Map<Device, Map<number, Cached[]>>();
let clock = 0;
let cachedStorages = 0;
let cachedBytes = 0;
// Storages handed out by allocate() and not yet given back by release(): tensors never disposed, whether or not
// the GC has collected them since. Unlike the native counts this never changes behind a test's back.
let undisposedStorages = 0;
let undisposedBytes = 0;
let cacheLimitBytes = Number(process.env.TN_CACHE_BYTES ?? 512 * 2 ** 20);

function poolOf(device: Device): Map<number, Cached[]> {
  let pool = pools.get(device);
  if (!pool) {
    pool = new Map();
    pools.set(device, pool);
  }
  return pool;
}

/** Native memory for n 4-byte elements: zeroed when zeroFill, otherwise with unspecified contents. */
export function allocate(device: Device, n: number, zeroFill: boolean): NativeStorage {
  const k = kernels(device);
  const bytes = n * 4;
  undisposedStorages++;
  undisposedBytes += bytes;
  const reused = poolOf(device).get(bytes)?.pop();
  if (reused === undefined) return new k.Storage(bytes, zeroFill);
  cachedStorages--;
  cachedBytes -= bytes;
  if (zeroFill && n > 0) fillKernel(k, { dst: reused.storage, n, value: 0 });
  return reused.storage;
}

/** Takes back the storage (of `bytes`) of a disposed tensor: cached for reuse, or freed when the cache is full. */
export function release(device: Device, storage: NativeStorage, bytes: number): void {
  undisposedStorages--;
  undisposedBytes -= bytes;
  if (bytes > cacheLimitBytes) {
    storage.dispose();
    return;
  }
  const pool = poolOf(device);
  const entry = { storage, returned: clock++ };
  const stack = pool.get(bytes);
  if (stack) stack.push(entry);
  else pool.set(bytes, [entry]);
  cachedStorages++;
  cachedBytes += bytes;
  while (cachedBytes > cacheLimitBytes) evictOldest();
}

function evictOldest(): void {
  let oldest: Cached[] | null = null;
  let oldestBytes = 0;
  for (const pool of pools.values())
    for (const [bytes, stack] of pool)
      if (stack.length > 0 && (oldest === null || stack[0].returned < oldest[0].returned)) {
        oldest = stack;
        oldestBytes = bytes;
      }
  if (oldest === null) return;
  (oldest.shift() as Cached).storage.dispose();
  cachedStorages--;
  cachedBytes -= oldestBytes;
}

/** Frees every cached storage (memory of disposed tensors kept for reuse). */
export function emptyCache(): void {
  while (cachedStorages > 0) evictOldest();
}

/** Caps the bytes the allocator keeps for reuse (default 512 MiB, or TN_CACHE_BYTES). */
export function setCacheLimit(bytes: number): void {
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`setCacheLimit: bytes must be a non-negative number, got ${bytes}`);
  cacheLimitBytes = bytes;
  while (cachedBytes > cacheLimitBytes) evictOldest();
}

/** Sets the number of threads the CPU kernels use (defaults to TN_NUM_THREADS or the core count). */
export function setNumThreads(n: number): void {
  addon.setNumThreads(n);
}

export function getNumThreads(): number {
  return addon.getNumThreads();
}

export interface MemoryInfo {
  /** Native storages alive now and their bytes (tensors not yet freed + the allocator's cache). */
  storages: number;
  bytes: number;
  /** The part kept by the caching allocator for reuse. */
  cachedStorages: number;
  cachedBytes: number;
  /** Tensor storages created and not disposed (including any the GC has freed since): the leak check. */
  undisposedStorages: number;
  undisposedBytes: number;
}

/** Native memory now, like tf.memory(). */
export function memory(): MemoryInfo {
  const { storages, bytes } = addon.memoryStats();
  return { storages, bytes, cachedStorages, cachedBytes, undisposedStorages, undisposedBytes };
}
