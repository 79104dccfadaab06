// In-place updates of float32 storages straight through the kernels: optimizer steps and gradient clipping
// overwrite parameters, gradients and state where they live, so parameters keep their identity and memory, and
// nothing is recorded for autograd. Operands are same-size contiguous buffers of n elements, viewed as flat
// vectors. Temporaries come from a Workspace that is reused across steps: a step allocates nothing, which keeps
// memory flat (freeing and reallocating multi-megabyte buffers every step fragments the native heap).
import type { BinaryOp, NativeAddon, NativeStorage } from '../native';
import { binaryKernel, unaryKernel } from '../ops/elementwise';

/** Scratch buffers reused from one call to the next; each grows to the largest size asked of it. */
export class Workspace {
  private readonly buffers: Array<NativeStorage | undefined> = [];

  /** Scratch buffer `slot`, holding at least n floats (contents undefined). */
  get(k: NativeAddon, slot: number, n: number): NativeStorage {
    const current = this.buffers[slot];
    if (current !== undefined && !current.disposed && current.byteLength >= n * 4) return current;
    current?.dispose();
    const fresh = new k.Storage(Math.max(1, n) * 4, false);
    this.buffers[slot] = fresh;
    return fresh;
  }

  dispose(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers.length = 0;
  }
}

/** out = a op b over n elements (out may be a or b). */
export function binaryInto(
  k: NativeAddon,
  op: BinaryOp,
  out: NativeStorage,
  a: NativeStorage,
  b: NativeStorage,
  n: number,
): void {
  if (n > 0) binaryKernel(k, { op, a, aOffset: 0, aStrides: [1], b, bOffset: 0, bStrides: [1], out, shape: [n] });
}

/** out = alpha * x (out may be x). */
export function scaleInto(k: NativeAddon, out: NativeStorage, x: NativeStorage, alpha: number, n: number): void {
  if (n > 0) unaryKernel(k, { op: 'scale', x, out, n, param: alpha });
}

/** y += alpha * x, with `scratch` (distinct from x and y) holding alpha * x. */
export function addScaled(
  k: NativeAddon,
  y: NativeStorage,
  x: NativeStorage,
  alpha: number,
  n: number,
  scratch: NativeStorage,
): void {
  if (alpha === 0 || n === 0) return;
  if (alpha === 1) {
    binaryInto(k, 'add', y, y, x, n);
    return;
  }
  scaleInto(k, scratch, x, alpha, n);
  binaryInto(k, 'add', y, y, scratch, n);
}
