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
// 1 GiB: a GPT training step of the benchmark's size (B 8, T 256, d 384) returns about 560 MiB to the cache and
// takes it again in the next step; under a 512 MiB limit every step gave memory back to the system and faulted
// 27 MiB of it in again (~7,000 page faults a step, against ~230 with the whole step cached).
const DEFAULT_CACHE_LIMIT_BYTES = 2 ** 30;
let cacheLimitBytes = cacheLimitFromEnvironment();

function cacheLimitFromEnvironment(): number {
  const text = process.env.TN_CACHE_BYTES;
  if (text === undefined || text.trim() === '') return DEFAULT_CACHE_LIMIT_BYTES;
  const bytes = Number(text);
  if (Number.isFinite(bytes) && bytes >= 0) return bytes;
  process.emitWarning(
    `TN_CACHE_BYTES must be a non-negative number of bytes, got '${text}'; using the default ${DEFAULT_CACHE_LIMIT_BYTES}`,
  );
  return DEFAULT_CACHE_LIMIT_BYTES;
}

function poolOf(device: Device): Map<number, Cached[]> {
  let pool = pools.get(device);
  if (!pool) {
    pool = new Map();
    pools.set(device, pool);
  }
  return pool;
}

/** Whether an error thrown by a Storage constructor says the memory ran out (both addons say "cannot allocate"). */
export function isOutOfMemory(e: unknown): boolean {
  // Not `instanceof Error`: errors from the addon may come from another realm (a vm context, jest's sandbox).
  return typeof e === 'object' && e !== null && /cannot allocate/.test(String((e as { message?: unknown }).message));
}

/** A new storage; when the device is out of memory, the storages cached for reuse on it are freed first and the
 * allocation is tried once more, so memory parked in the cache never makes an allocation fail. */
function newStorage(device: Device, k: NativeAddon, bytes: number, zeroFill: boolean): NativeStorage {
  try {
    return new k.Storage(bytes, zeroFill);
  } catch (e) {
    if (!isOutOfMemory(e) || !hasCached(device)) throw e;
    emptyCache(device);
    return new k.Storage(bytes, zeroFill);
  }
}

/** Native memory for n 4-byte elements: zeroed when zeroFill, otherwise with unspecified contents. */
export function allocate(device: Device, n: number, zeroFill: boolean): NativeStorage {
  const k = kernels(device);
  const bytes = n * 4;
  const reused = poolOf(device).get(bytes)?.pop();
  // Counted once the storage exists: a failed allocation leaves the counts as they were.
  const storage = reused === undefined ? newStorage(device, k, bytes, zeroFill) : reused.storage;
  undisposedStorages++;
  undisposedBytes += bytes;
  if (reused === undefined) return storage;
  cachedStorages--;
  cachedBytes -= bytes;
  if (zeroFill && n > 0) fillKernel(k, { dst: storage, n, value: 0 });
  return storage;
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

function hasCached(device: Device): boolean {
  for (const stack of poolOf(device).values()) if (stack.length > 0) return true;
  return false;
}

/** Frees the oldest cached storage (of `device`'s pool, or of any pool). */
function evictOldest(device?: Device): void {
  let oldest: Cached[] | null = null;
  let oldestBytes = 0;
  for (const [poolDevice, pool] of pools) {
    if (device !== undefined && poolDevice !== device) continue;
    for (const [bytes, stack] of pool)
      if (stack.length > 0 && (oldest === null || stack[0].returned < oldest[0].returned)) {
        oldest = stack;
        oldestBytes = bytes;
      }
  }
  if (oldest === null) return;
  (oldest.shift() as Cached).storage.dispose();
  cachedStorages--;
  cachedBytes -= oldestBytes;
}

/** Frees every cached storage (memory of disposed tensors kept for reuse), or only those of `device`. */
export function emptyCache(device?: Device): void {
  if (device === undefined) while (cachedStorages > 0) evictOldest();
  else while (hasCached(device)) evictOldest(device);
}

/** The most bytes the allocator keeps for reuse (see setCacheLimit). */
export function getCacheLimit(): number {
  return cacheLimitBytes;
}

/** Caps the bytes the allocator keeps for reuse (default 1 GiB, or TN_CACHE_BYTES). */
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
