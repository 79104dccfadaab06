// Device dispatch: every op asks for the kernels of its tensors' device. The CUDA addon (loaded lazily)
// exposes the same functions as the CPU one, so ops are written once.
import { cudaKernels } from './cuda';
import { addon, NativeAddon, NativeStorage } from './native';

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
const pools = new Map<Device, Map<number, NativeStorage[]>>();
const cacheOrder = new Map<NativeStorage, Device>(); // insertion order = age, for eviction
let cachedBytes = 0;
// Storages handed out by allocate() and not yet given back by release(): tensors never disposed, whether or not
// the GC has collected them since. Unlike the native counts this never changes behind a test's back.
let undisposedStorages = 0;
let undisposedBytes = 0;
let cacheLimitBytes = Number(process.env.TN_CACHE_BYTES ?? 512 * 2 ** 20);

function poolOf(device: Device): Map<number, NativeStorage[]> {
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
  cachedBytes -= bytes;
  cacheOrder.delete(reused);
  if (zeroFill && n > 0) k.fill(reused, 0, n, 0);
  return reused;
}

/** Takes back the storage of a disposed tensor: cached for reuse, or freed when the cache is full. */
export function release(device: Device, storage: NativeStorage): void {
  const bytes = storage.byteLength;
  undisposedStorages--;
  undisposedBytes -= bytes;
  if (bytes > cacheLimitBytes) {
    storage.dispose();
    return;
  }
  const pool = poolOf(device);
  const list = pool.get(bytes);
  if (list) list.push(storage);
  else pool.set(bytes, [storage]);
  cacheOrder.set(storage, device);
  cachedBytes += bytes;
  while (cachedBytes > cacheLimitBytes) evictOldest();
}

function evictOldest(): void {
  const oldest = cacheOrder.entries().next();
  if (oldest.done) return;
  const [storage, device] = oldest.value;
  cacheOrder.delete(storage);
  const list = poolOf(device).get(storage.byteLength) as NativeStorage[];
  list.splice(list.indexOf(storage), 1);
  cachedBytes -= storage.byteLength;
  storage.dispose();
}

/** Frees every cached storage (memory of disposed tensors kept for reuse). */
export function emptyCache(): void {
  while (cacheOrder.size > 0) evictOldest();
}

/** Caps the bytes the allocator keeps for reuse (default 512 MiB, or TN_CACHE_BYTES). */
export function setCacheLimit(bytes: number): void {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`setCacheLimit: bytes must be a non-negative number, got ${bytes}`);
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
  return { storages, bytes, cachedStorages: cacheOrder.size, cachedBytes, undisposedStorages, undisposedBytes };
}
