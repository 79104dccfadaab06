// The gemm family: the typed call of the GEMM kernel, and the ops built on it, matmul (PyTorch's broadcasting
// rules for batch dims) and linear.
import { fmtShape } from '../checks';
import type { CudaAddon } from '../cuda';
import type { NativeAddon, NativeStorage } from '../native';
import { Tensor } from '../tensor';
import { fillKernel } from './elementwise';
import { reduceKernel, sumTo } from './reduce';
import { assertFloat, broadcastShapes, kernelsFor, record } from './util';

/** One GEMM call: for i in [0, batch), C_i = alpha * op(A_i) op(B_i) + beta * C_i (+ bias broadcast over rows),
 * row-major. op(A_i) is M x K: A_i is stored M x K, or K x M when transA; op(B_i) is K x N: B_i is stored
 * K x N, or N x K when transB; C_i is M x N. X_i starts at xOffset + i * strideX; the strides default to
 * contiguous batches and 0 broadcasts one matrix to every batch. beta = 0 never reads C. */
export interface GemmCall {
  a: NativeStorage;
  b: NativeStorage;
  c: NativeStorage;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** N floats from biasOffset, added to every row of C. */
  bias?: NativeStorage | null;
  biasOffset?: number;
  alpha?: number;
  beta?: number;
}

/** The gemm kernel; every float32 GEMM in the library goes through here. */
export function gemmKernel(k: NativeAddon, c: GemmCall): void {
  callGemm(k.gemm, c);
}

/** The CUDA addon's GEMM on bfloat16 a and b (two per 4-byte element; offsets and strides count bfloat16
 * values), float32 c and bias, FP32 accumulation on tensor cores. */
export function gemmBf16Kernel(k: CudaAddon, c: GemmCall): void {
  callGemm(k.gemmBf16, c);
}

function callGemm(binding: NativeAddon['gemm'], c: GemmCall): void {
  const { M, N, K } = c;
  binding(
    c.a,
    c.aOffset ?? 0,
    c.b,
    c.bOffset ?? 0,
    c.c,
    c.cOffset ?? 0,
    c.bias ?? null,
    c.biasOffset ?? 0,
    c.transA ?? false,
    c.transB ?? false,
    M,
    N,
    K,
    c.batch ?? 1,
    c.strideA ?? M * K,
    c.strideB ?? K * N,
    c.strideC ?? M * N,
    c.alpha ?? 1,
    c.beta ?? 0,
  );
}

interface GemmOperand {
  t: Tensor;
  trans: boolean;
  stride: number; // elements between consecutive batch matrices (0 = shared by every batch)
}

/** C[batch] (+)= op(A) op(B) with C freshly allocated, or accumulated into when beta = 1. */
function gemmInto(
  op: string,
  c: Tensor,
  a: GemmOperand,
  b: GemmOperand,
  M: number,
  N: number,
  K: number,
  batch: number,
  beta: number,
  bias: Tensor | null = null,
): void {
  if (c.size === 0) return;
  gemmKernel(kernelsFor(op, a.t, b.t, c), {
    a: a.t.storage,
    b: b.t.storage,
    c: c.storage,
    M,
    N,
    K,
    transA: a.trans,
    transB: b.trans,
    batch,
    strideA: a.stride,
    strideB: b.stride,
    bias: bias ? bias.storage : null,
    beta,
  });
}

/** Matrix product with PyTorch's rules: 1-D operands are promoted (and the added dim removed), batch dims
 * broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertFloat('matmul', 'input', a);
  assertFloat('matmul', 'other', b);
  if (a.ndim === 0 || b.ndim === 0) throw new RangeError('matmul: both arguments need at least one dimension');
  if (a.ndim === 1 && b.ndim === 1) {
    if (a.shape[0] !== b.shape[0]) throw new RangeError(`matmul: vectors of sizes ${a.shape[0]} and ${b.shape[0]}`);
    return matmul(a.reshape(1, -1), b.reshape(-1, 1)).reshape([]);
  }
  if (a.ndim === 1) {
    const out = matmul(a.reshape(1, -1), b);
    return out.reshape([...out.shape.slice(0, -2), out.shape[out.ndim - 1]]);
  }
  if (b.ndim === 1) {
    const out = matmul(a, b.reshape(-1, 1));
    return out.reshape(out.shape.slice(0, -1));
  }
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2)
    throw new RangeError(
      `matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${K} != ${K2})`,
    );
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul', batchA, batchB);
  const batch = batchShape.reduce((p, d) => p * d, 1);
  const sizeA = batchA.reduce((p, d) => p * d, 1);
  const sizeB = batchB.reduce((p, d) => p * d, 1);
  // The kernel broadcasts a whole operand (stride 0) but not part of its batch dims: materialise that case.
  const fullA = sizeA === batch || sizeA === 1 ? a : a.expand([...batchShape, M, K]);
  const fullB = sizeB === batch || sizeB === 1 ? b : b.expand([...batchShape, K, N]);
  const A: GemmOperand = { t: fullA, trans: false, stride: fullA.size === M * K ? 0 : M * K };
  const B: GemmOperand = { t: fullB, trans: false, stride: fullB.size === K * N ? 0 : K * N };
  // A batch of one A against a shared B is a single tall GEMM; likewise handle 2-D @ 2-D.
  const out = Tensor.empty([...batchShape, M, N], 'float32', a.device);
  if (B.stride === 0 && A.stride !== 0) gemmInto('matmul', out, { ...A, stride: 0 }, B, batch * M, N, K, 1, 0);
  else gemmInto('matmul', out, A, B, M, N, K, batch, 0);
  return record(out, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      // dA = dC B^T, per batch; summed over the batches where A was broadcast.
      const full = Tensor.empty([...batchShape, M, K], 'float32', a.device);
      if (B.stride === 0)
        gemmInto('matmul', full, { t: g, trans: false, stride: 0 }, { ...B, trans: true }, batch * M, K, N, 1, 0);
      else gemmInto('matmul', full, { t: g, trans: false, stride: M * N }, { ...B, trans: true }, M, K, N, batch, 0);
      ga = sumTo(full, a.shape);
    }
    if (b.requiresGrad) {
      if (B.stride === 0 && A.stride !== 0) {
        // B shared across the batch: dB = A_all^T dC_all as one GEMM over the stacked rows.
        gb = Tensor.empty([K, N], 'float32', b.device);
        gemmInto(
          'matmul',
          gb,
          { t: fullA, trans: true, stride: 0 },
          { t: g, trans: false, stride: 0 },
          K,
          N,
          batch * M,
          1,
          0,
        );
        gb = b.ndim === 2 ? gb : gb.reshape([...b.shape]);
      } else {
        const full = Tensor.empty([...batchShape, K, N], 'float32', b.device);
        gemmInto('matmul', full, { ...A, trans: true }, { t: g, trans: false, stride: M * N }, K, N, M, batch, 0);
        gb = sumTo(full, b.shape);
      }
    }
    return [ga, gb];
  });
}

/** y = x W^T + b for x [..., in], weight [out, in], bias [out] (PyTorch's F.linear). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  assertFloat('linear', 'input', x);
  assertFloat('linear', 'weight', weight);
  if (bias != null) assertFloat('linear', 'bias', bias);
  if (weight.ndim !== 2) throw new RangeError(`linear: weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  const [outF, inF] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inF)
    throw new RangeError(
      `linear: input ${fmtShape(x.shape)} does not end in in_features = ${inF} (weight ${fmtShape(weight.shape)})`,
    );
  if (bias != null && (bias.ndim !== 1 || bias.shape[0] !== outF))
    throw new RangeError(`linear: bias must have shape [${outF}], got ${fmtShape(bias.shape)}`);
  const rows = x.size / inF;
  const out = Tensor.empty([...x.shape.slice(0, -1), outF], 'float32', x.device);
  gemmInto(
    'linear',
    out,
    { t: x, trans: false, stride: 0 },
    { t: weight, trans: true, stride: 0 },
    rows,
    outF,
    inF,
    1,
    0,
    bias ?? null,
  );
  return record(out, 'linear', [x, weight, bias ?? null], (g) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    let gbias: Tensor | null = null;
    if (x.requiresGrad) {
      gx = Tensor.empty(x.shape, 'float32', x.device);
      gemmInto(
        'linear',
        gx,
        { t: g, trans: false, stride: 0 },
        { t: weight, trans: false, stride: 0 },
        rows,
        inF,
        outF,
        1,
        0,
      );
    }
    if (weight.requiresGrad) {
      gw = Tensor.empty(weight.shape, 'float32', weight.device);
      gemmInto(
        'linear',
        gw,
        { t: g, trans: true, stride: 0 },
        { t: x, trans: false, stride: 0 },
        outF,
        inF,
        rows,
        1,
        0,
      );
    }
    if (bias != null && bias.requiresGrad) {
      gbias = Tensor.empty([outF], 'float32', bias.device);
      const k = kernelsFor('linear', g);
      if (rows === 0) fillKernel(k, { dst: gbias.storage, n: outF, value: 0 });
      else reduceKernel(k, { op: 'sum', x: g.storage, out: gbias.storage, outer: 1, dim: rows, inner: outF });
    }
    return [gx, gw, gbias];
  });
}
