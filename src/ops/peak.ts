// The peak family: the machine limits the benchmark compares kernels with, measured by the CPU addon itself.
import type { NativeAddon } from '../native';

// The CUDA addon has no peak family (src/cuda.ts, CPU_ONLY_BINDINGS): a clear error instead of "not a function".
function cpuOnly<K extends 'measureFmaGflops' | 'measureBandwidthGBs'>(k: NativeAddon, name: K): NativeAddon[K] {
  if (typeof k[name] !== 'function')
    throw new Error(`${name} is not supported on CUDA: the peak family measures the CPU`);
  return k[name];
}

/** GFLOP/s of a loop of independent FMAs on `threads` threads for about `seconds`: the compute peak. */
export function measureFmaGflopsKernel(k: NativeAddon, c: { threads: number; seconds: number }): number {
  return cpuOnly(k, 'measureFmaGflops')(c.threads, c.seconds);
}

/** GB/s of a triad (a = b + s * c) over arrays of bytesPerArray on `threads` threads, best of `repeats`. */
export function measureBandwidthGBsKernel(
  k: NativeAddon,
  c: { threads: number; bytesPerArray: number; repeats: number },
): number {
  return cpuOnly(k, 'measureBandwidthGBs')(c.threads, c.bytesPerArray, c.repeats);
}
