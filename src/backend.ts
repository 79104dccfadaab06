// Device dispatch: every op asks for the kernels of its tensors' device. The CUDA addon (loaded lazily)
// exposes the same functions as the CPU one, so ops are written once.
import { addon, NativeAddon, NativeStorage } from './native';

export type Device = 'cpu' | 'cuda';

export function kernels(device: Device): NativeAddon {
  if (device === 'cpu') return addon;
  throw new Error(`device '${device}' is not available in this build: no CUDA backend is loaded`);
}

/** Allocates uninitialised (zeroFill = false) or zeroed native memory for n 4-byte elements. */
export function allocate(device: Device, n: number, zeroFill: boolean): NativeStorage {
  const k = kernels(device);
  return new k.Storage(n * 4, zeroFill);
}

/** Sets the number of threads the CPU kernels use (defaults to TN_NUM_THREADS or the core count). */
export function setNumThreads(n: number): void {
  addon.setNumThreads(n);
}

export function getNumThreads(): number {
  return addon.getNumThreads();
}
