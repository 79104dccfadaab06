// The peak family: the machine limits the benchmark compares kernels with, measured by the CPU addon itself.
import type { NativeAddon } from '../native';

/** GFLOP/s of a loop of independent FMAs on `threads` threads for about `seconds`: the compute peak. */
export function measureFmaGflopsKernel(k: NativeAddon, c: { threads: number; seconds: number }): number {
  return k.measureFmaGflops(c.threads, c.seconds);
}

/** GB/s of a triad (a = b + s * c) over arrays of bytesPerArray on `threads` threads, best of `repeats`. */
export function measureBandwidthGBsKernel(
  k: NativeAddon,
  c: { threads: number; bytesPerArray: number; repeats: number },
): number {
  return k.measureBandwidthGBs(c.threads, c.bytesPerArray, c.repeats);
}
