// The crossentropy family: the typed calls of its kernels and PyTorch's F.cross_entropy with its gradient.
import { fmtShape } from '../checks';
import type { NativeAddon, NativeStorage } from '../native';
import { Tensor } from '../tensor';
import { copyStridedKernel, permute } from './copy';
import { binaryKernel, castKernel, compareScalarKernel, fillKernel } from './elementwise';
import { reduceKernel } from './reduce';
import { assertFloat, assertIndex, kernelsFor, record } from './util';

/** Per-row loss of logits [N, C] against int32 targets [N]: with smoothing e,
 * loss = (1 - e) * (-log p[target]) + e / C * sum_c(-log p[c]); rows whose target is ignoreIndex get 0.
 * Targets outside [0, C) other than ignoreIndex throw a RangeError naming the row and value. Writes losses [N]
 * and lse [N] (each row's log-sum-exp, for the backward). */
export interface CrossEntropyForwardCall {
  logits: NativeStorage;
  targets: NativeStorage;
  losses: NativeStorage;
  lse: NativeStorage;
  N: number;
  C: number;
  ignoreIndex: number;
  labelSmoothing: number;
}

export function crossEntropyForwardKernel(k: NativeAddon, c: CrossEntropyForwardCall): void {
  k.crossEntropyForward(c.logits, c.targets, c.losses, c.lse, c.N, c.C, c.ignoreIndex, c.labelSmoothing);
}

/** dlogits [N, C] = dlosses[n] * d(loss_n)/d(logits_n); ignored rows get 0. Overwrites dlogits. */
export interface CrossEntropyBackwardCall {
  logits: NativeStorage;
  targets: NativeStorage;
  lse: NativeStorage;
  dlosses: NativeStorage;
  dlogits: NativeStorage;
  N: number;
  C: number;
  ignoreIndex: number;
  labelSmoothing: number;
}

export function crossEntropyBackwardKernel(k: NativeAddon, c: CrossEntropyBackwardCall): void {
  k.crossEntropyBackward(c.logits, c.targets, c.lse, c.dlosses, c.dlogits, c.N, c.C, c.ignoreIndex, c.labelSmoothing);
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/** PyTorch's F.cross_entropy from logits [N, C] (or [N, C, d1, ...], or [C]) and int32 class targets. */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  assertFloat(op, 'input', logits);
  assertIndex(op, 'target', targets);
  const ignoreIndex = options.ignoreIndex ?? -100;
  const smoothing = options.labelSmoothing ?? 0;
  const reduction = options.reduction ?? 'mean';
  if (!Number.isInteger(ignoreIndex)) throw new RangeError(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (!(smoothing >= 0 && smoothing <= 1))
    throw new RangeError(`${op}: labelSmoothing must be in [0, 1], got ${smoothing}`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  if (logits.ndim === 0) throw new RangeError(`${op}: input must have a class dim`);
  // Class dim is 1 (or 0 for an unbatched [C] input); move it last so rows are contiguous.
  const classDim = logits.ndim === 1 ? 0 : 1;
  const C = logits.shape[classDim];
  const expectedTarget = logits.shape.filter((_, i) => i !== classDim);
  if (targets.ndim !== expectedTarget.length || targets.shape.some((d, i) => d !== expectedTarget[i]))
    throw new RangeError(
      `${op}: target shape ${fmtShape(targets.shape)} does not match input ${fmtShape(logits.shape)} (expected ${fmtShape(expectedTarget)})`,
    );
  const rows = logits.ndim > 2 ? permute(logits, [0, ...logits.shape.slice(2).map((_, i) => i + 2), 1]) : logits;
  const N = targets.size;
  const k = kernelsFor(op, logits, targets);
  const losses = Tensor.empty(targets.shape, 'float32', logits.device);
  const lse = Tensor.empty([N], 'float32', logits.device);
  if (N > 0)
    crossEntropyForwardKernel(k, {
      logits: rows.storage,
      targets: targets.storage,
      losses: losses.storage,
      lse: lse.storage,
      N,
      C,
      ignoreIndex,
      labelSmoothing: smoothing,
    });
  const gradRows = (dlosses: Tensor): Tensor => {
    const dRows = Tensor.empty(rows.shape, 'float32', rows.device);
    if (N > 0)
      crossEntropyBackwardKernel(kernelsFor(op, dlosses), {
        logits: rows.storage,
        targets: targets.storage,
        lse: lse.storage,
        dlosses: dlosses.storage,
        dlogits: dRows.storage,
        N,
        C,
        ignoreIndex,
        labelSmoothing: smoothing,
      });
    return dRows; // for [N, C, d...] inputs, the permute's own node routes this back
  };
  let out: Tensor;
  // 'mean' divides by the number of rows whose target is not ignoreIndex, counted where the targets live: reading
  // them back would make every step wait for the device.
  const count = reduction === 'mean' ? countedRows(k, targets, ignoreIndex) : null;
  if (reduction === 'none') out = losses;
  else {
    out = Tensor.empty([], 'float32', logits.device);
    if (N > 0) reduceKernel(k, { op: 'sum', x: losses.storage, out: out.storage, outer: 1, dim: N, inner: 1 });
    else fillKernel(k, { dst: out.storage, n: 1, value: 0 });
    if (count !== null) divideBy(k, out, out, count, [1]); // 0 counted rows: NaN, as PyTorch
  }
  const recorded = record(out, op, [rows], (g) => {
    if (reduction === 'none') return [gradRows(g)];
    const dlosses = Tensor.empty([N], 'float32', g.device);
    const kk = kernelsFor(op, g);
    if (N > 0 && count !== null) divideBy(kk, dlosses, g, count, [N]);
    else if (N > 0)
      copyStridedKernel(kk, {
        src: g.storage,
        srcOffset: 0,
        srcStrides: [0],
        dst: dlosses.storage,
        dstOffset: 0,
        dstStrides: [1],
        shape: [N],
      });
    return [gradRows(dlosses)];
  });
  if (reduction !== 'none' && recorded !== losses) losses.dispose();
  if (recorded.gradFn === null) {
    lse.dispose();
    count?.dispose();
  }
  return recorded;
}

/** A float32 scalar on the targets' device: how many targets are not ignoreIndex (compare, widen, sum). */
function countedRows(k: NativeAddon, targets: Tensor, ignoreIndex: number): Tensor {
  const N = targets.size;
  const count = Tensor.empty([], 'float32', targets.device);
  if (N === 0) {
    fillKernel(k, { dst: count.storage, n: 1, value: 0 });
    return count;
  }
  const flags = Tensor.empty([N], 'bool', targets.device);
  const weights = Tensor.empty([N], 'float32', targets.device);
  compareScalarKernel(k, {
    op: 'ne',
    src: targets.storage,
    dst: flags.storage,
    n: N,
    srcIsInt: true,
    value: ignoreIndex,
  });
  castKernel(k, { src: flags.storage, dst: weights.storage, n: N, toFloat: true });
  reduceKernel(k, { op: 'sum', x: weights.storage, out: count.storage, outer: 1, dim: N, inner: 1 });
  flags.dispose();
  weights.dispose();
  return count;
}

/** dst (contiguous, `shape`) = src / count, src and count scalars broadcast over shape; dst may be src. */
function divideBy(k: NativeAddon, dst: Tensor, src: Tensor, count: Tensor, shape: number[]): void {
  binaryKernel(k, {
    op: 'div',
    a: src.storage,
    aOffset: 0,
    aStrides: [0],
    b: count.storage,
    bOffset: 0,
    bStrides: [0],
    out: dst.storage,
    shape,
  });
}
