// The elementwise family: the typed calls of its kernels (binary ops with broadcasting, unary ops and their
// backward, masked fill, fill, casts, comparisons with a scalar) and the element-wise ops with their gradients.
import { fmtShape } from '../checks';
import type { CudaAddon } from '../cuda';
import type { BinaryOp, CompareOp, NativeAddon, NativeStorage, UnaryOp } from '../native';
import { DType, Tensor } from '../tensor';
import { assertFloat, assertTensor, broadcastShapes, broadcastStrides, kernelShape, kernelsFor, record } from './util';
import { sumTo } from './reduce';

/** out (contiguous, `shape`, at most 8 dims) = a op b, with a and b read through element strides from their
 * offsets (a stride of 0 broadcasts). out may alias a or b where their strides are contiguous. */
export interface BinaryCall {
  op: BinaryOp;
  a: NativeStorage;
  aOffset: number;
  aStrides: number[];
  b: NativeStorage;
  bOffset: number;
  bStrides: number[];
  out: NativeStorage;
  shape: number[];
}

export function binaryKernel(k: NativeAddon, c: BinaryCall): void {
  k.binary(c.op, c.a, c.aOffset, c.aStrides, c.b, c.bOffset, c.bStrides, c.out, c.shape);
}

/** out[i] = f(x[i]) for n contiguous elements. param: the factor of 'scale', the addend of 'addScalar', the
 * exponent of 'powScalar' (ignored by the others). 'gelu' is the erf form, 'geluTanh' the tanh one. */
export interface UnaryCall {
  op: UnaryOp;
  x: NativeStorage;
  out: NativeStorage;
  n: number;
  param?: number;
}

export function unaryKernel(k: NativeAddon, c: UnaryCall): void {
  k.unary(c.op, c.x, c.out, c.n, c.param ?? 0);
}

/** dx[i] = dy[i] * f'(x[i]); y = f(x) too, for the ops whose derivative is cheaper from it. Overwrites dx. */
export interface UnaryBackwardCall {
  op: UnaryOp;
  x: NativeStorage;
  y: NativeStorage;
  dy: NativeStorage;
  dx: NativeStorage;
  n: number;
  param?: number;
}

export function unaryBackwardKernel(k: NativeAddon, c: UnaryBackwardCall): void {
  k.unaryBackward(c.op, c.x, c.y, c.dy, c.dx, c.n, c.param ?? 0);
}

/** dst[offset .. offset + n) = value (float32; infinities allowed). */
export interface FillCall {
  dst: NativeStorage;
  offset?: number;
  n: number;
  value: number;
}

export function fillKernel(k: NativeAddon, c: FillCall): void {
  k.fill(c.dst, c.offset ?? 0, c.n, c.value);
}

/** out (contiguous, `shape`) = value where the int32 mask (read through strides from maskOffset, 0 broadcasts)
 * is nonzero, else x (contiguous). With x = dy and value 0 it is its own backward. */
export interface MaskedFillCall {
  x: NativeStorage;
  mask: NativeStorage;
  maskOffset?: number;
  maskStrides: number[];
  out: NativeStorage;
  shape: number[];
  value: number;
}

export function maskedFillKernel(k: NativeAddon, c: MaskedFillCall): void {
  k.maskedFill(c.x, c.mask, c.maskOffset ?? 0, c.maskStrides, c.out, c.shape, c.value);
}

/** Converts n elements: int32 -> float32 when toFloat, else float32 -> int32 (truncating; NaN gives 0). */
export interface CastCall {
  src: NativeStorage;
  dst: NativeStorage;
  n: number;
  toFloat: boolean;
}

export function castKernel(k: NativeAddon, c: CastCall): void {
  k.cast(c.src, c.dst, c.n, c.toFloat);
}

/** dst[i] = 1 where src[i] op value holds, else 0, for n elements: int32 out (a bool tensor's storage) from int32
 * (srcIsInt) or float32 src, compared exactly (NaN equals nothing). dst may be src. */
export interface CompareScalarCall {
  op: CompareOp;
  src: NativeStorage;
  dst: NativeStorage;
  n: number;
  srcIsInt: boolean;
  value: number;
}

export function compareScalarKernel(k: NativeAddon, c: CompareScalarCall): void {
  k.compareScalar(c.op, c.src, c.dst, c.n, c.srcIsInt, c.value);
}

/** The CUDA addon's casts between float32 and bfloat16 (two per 4-byte element of the bfloat16 side):
 * float32 -> bfloat16 rounds to nearest even when toBf16, else bfloat16 -> float32 widens. */
export function castBf16Kernel(
  k: CudaAddon,
  c: { src: NativeStorage; dst: NativeStorage; n: number; toBf16: boolean },
): void {
  if (c.toBf16) k.castToBf16(c.src, c.dst, c.n);
  else k.castFromBf16(c.src, c.dst, c.n);
}

function binaryRaw(op: BinaryOp, name: string, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = Tensor.empty(shape, 'float32', a.device);
  if (out.size === 0) return out;
  const ks = kernelShape(shape);
  binaryKernel(kernelsFor(name, a, b), {
    op,
    a: a.storage,
    aOffset: 0,
    aStrides: broadcastStrides(kernelShape(a.shape), ks),
    b: b.storage,
    bOffset: 0,
    bStrides: broadcastStrides(kernelShape(b.shape), ks),
    out: out.storage,
    shape: ks,
  });
  return out;
}

function unaryRaw(op: UnaryOp, x: Tensor, param = 0): Tensor {
  const out = Tensor.empty(x.shape, 'float32', x.device);
  if (out.size > 0) unaryKernel(kernelsFor(op, x), { op, x: x.storage, out: out.storage, n: x.size, param });
  return out;
}

/** dy * f'(x) through the unary-backward kernel. */
function unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor, param = 0): Tensor {
  const dx = Tensor.empty(x.shape, 'float32', x.device);
  if (dx.size > 0)
    unaryBackwardKernel(kernelsFor(op, x, dy), {
      op,
      x: x.storage,
      y: y.storage,
      dy: dy.storage,
      dx: dx.storage,
      n: x.size,
      param,
    });
  return dx;
}

function scalarTensor(value: number, like: Tensor): Tensor {
  const t = Tensor.empty([], 'float32', like.device);
  fillKernel(kernelsFor('scalar', like), { dst: t.storage, n: 1, value });
  return t;
}

function checkNumber(op: string, v: number): void {
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(`${op}: the scalar operand must be a number, got ${v}`);
}

function unaryOp(op: UnaryOp, name: string, x: Tensor, param = 0): Tensor {
  assertFloat(name, 'input', x);
  const y = unaryRaw(op, x, param);
  return record(y, name, [x], (g) => [unaryGrad(op, x, y, g, param)]);
}

// ---- binary ----

export function add(a: Tensor, b: Tensor | number): Tensor {
  assertFloat('add', 'input', a);
  if (typeof b === 'number') {
    checkNumber('add', b);
    return record(unaryRaw('addScalar', a, b), 'add', [a], (g) => [g]);
  }
  assertFloat('add', 'other', b);
  const out = binaryRaw('add', 'add', a, b);
  return record(out, 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  assertFloat('sub', 'input', a);
  if (typeof b === 'number') {
    checkNumber('sub', b);
    return record(unaryRaw('addScalar', a, -b), 'sub', [a], (g) => [g]);
  }
  assertFloat('sub', 'other', b);
  const out = binaryRaw('sub', 'sub', a, b);
  return record(out, 'sub', [a, b], (g) => [sumTo(g, a.shape), b.requiresGrad ? neg(sumTo(g, b.shape)) : null]);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  assertFloat('mul', 'input', a);
  if (typeof b === 'number') {
    checkNumber('mul', b);
    return record(unaryRaw('scale', a, b), 'mul', [a], (g) => [unaryRaw('scale', g, b)]);
  }
  assertFloat('mul', 'other', b);
  const out = binaryRaw('mul', 'mul', a, b);
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(binaryRaw('mul', 'mul', g, b), a.shape) : null,
    b.requiresGrad ? sumTo(binaryRaw('mul', 'mul', g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  assertFloat('div', 'input', a);
  if (typeof b === 'number') {
    checkNumber('div', b);
    return record(unaryRaw('scale', a, 1 / b), 'div', [a], (g) => [unaryRaw('scale', g, 1 / b)]);
  }
  assertFloat('div', 'other', b);
  const out = binaryRaw('div', 'div', a, b);
  return record(out, 'div', [a, b], (g) => {
    const ga = binaryRaw('div', 'div', g, b);
    // d(a/b)/db = -(a/b)/b, so gb = -ga * out ... summed to b's shape.
    const gb = b.requiresGrad ? sumTo(unaryRaw('neg', binaryRaw('mul', 'div', ga, out)), b.shape) : null;
    return [a.requiresGrad ? sumTo(ga, a.shape) : null, gb];
  });
}

export function pow(a: Tensor, exponent: Tensor | number): Tensor {
  assertFloat('pow', 'input', a);
  if (typeof exponent === 'number') {
    checkNumber('pow', exponent);
    return unaryOp('powScalar', 'pow', a, exponent);
  }
  assertFloat('pow', 'exponent', exponent);
  const b = exponent;
  const out = binaryRaw('pow', 'pow', a, b);
  return record(out, 'pow', [a, b], (g) => {
    // da = g * b * a^(b-1) = g * b * out / a; db = g * out * log(a)
    const ga = a.requiresGrad
      ? sumTo(
          binaryRaw(
            'mul',
            'pow',
            g,
            binaryRaw('mul', 'pow', b, binaryRaw('pow', 'pow', a, unaryRaw('addScalar', b, -1))),
          ),
          a.shape,
        )
      : null;
    const gb = b.requiresGrad
      ? sumTo(binaryRaw('mul', 'pow', g, binaryRaw('mul', 'pow', out, unaryRaw('log', a))), b.shape)
      : null;
    return [ga, gb];
  });
}

/** Element-wise maximum; the gradient goes to the larger input (to b on ties). */
export function maximum(a: Tensor, b: Tensor | number): Tensor {
  return extremum('maximum', a, b);
}

/** Element-wise minimum; the gradient goes to the smaller input (to b on ties). */
export function minimum(a: Tensor, b: Tensor | number): Tensor {
  return extremum('minimum', a, b);
}

function extremum(op: 'maximum' | 'minimum', a: Tensor, other: Tensor | number): Tensor {
  assertFloat(op, 'input', a);
  if (typeof other === 'number') checkNumber(op, other);
  else assertFloat(op, 'other', other);
  const b = typeof other === 'number' ? scalarTensor(other, a) : other;
  const out = binaryRaw(op, op, a, b);
  return record(out, op, [a, typeof other === 'number' ? null : b], (g) => {
    // relu'(a - b) is 1 exactly where a wins the maximum (b - a for the minimum), 0 on ties.
    const margin = op === 'maximum' ? binaryRaw('sub', op, a, b) : binaryRaw('sub', op, b, a);
    const ga = unaryGrad('relu', margin, margin, g);
    const gb = binaryRaw('sub', op, g, ga);
    return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
  });
}

// ---- unary ----

export const neg = (x: Tensor): Tensor => unaryOp('neg', 'neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', 'exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', 'log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', 'sqrt', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', 'tanh', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', 'relu', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', 'sigmoid', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', 'abs', x);

/** GELU: the exact erf form by default, PyTorch's tanh approximation with { approximate: 'tanh' }. */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const approximate = options.approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh')
    throw new RangeError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  return unaryOp(approximate === 'tanh' ? 'geluTanh' : 'gelu', 'gelu', x);
}

// ---- dtype and copies ----

/** A copy converted to dtype. float32 -> int32 truncates; anything -> bool maps nonzero to 1. */
export function cast(x: Tensor, dtype: DType): Tensor {
  assertTensor('cast', 'input', x);
  if (dtype === x.dtype) return clone(x);
  const k = kernelsFor('cast', x);
  if (dtype === 'float32') {
    const out = Tensor.empty(x.shape, 'float32', x.device);
    if (out.size > 0) castKernel(k, { src: x.storage, dst: out.storage, n: x.size, toFloat: true });
    return out;
  }
  if (dtype === 'int32') {
    const out = Tensor.empty(x.shape, 'int32', x.device);
    if (out.size === 0) return out;
    if (x.dtype === 'float32') castKernel(k, { src: x.storage, dst: out.storage, n: x.size, toFloat: false });
    else out.storage.copyFrom(x.storage, 0, 0, x.size);
    return out;
  }
  if (dtype === 'bool') return compareScalar(x, 'ne', 0);
  throw new TypeError(`cast: unknown dtype '${String(dtype)}'`);
}

/** A bool tensor on x's device: 1 where x op value holds (x float32, int32 or bool), computed where x lives. */
export function compareScalar(x: Tensor, op: CompareOp, value: number): Tensor {
  assertTensor('compareScalar', 'input', x);
  if (op !== 'eq' && op !== 'ne') throw new RangeError(`compareScalar: op must be 'eq' or 'ne', got '${String(op)}'`);
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new TypeError(`compareScalar: value must be a finite number, got ${String(value)}`);
  const out = Tensor.empty(x.shape, 'bool', x.device);
  if (out.size > 0)
    compareScalarKernel(kernelsFor('compareScalar', x), {
      op,
      src: x.storage,
      dst: out.storage,
      n: x.size,
      srcIsInt: x.dtype !== 'float32',
      value,
    });
  return out;
}

/** A copy that records a gradient (the identity). */
export function clone(x: Tensor): Tensor {
  assertTensor('clone', 'input', x);
  const out = Tensor.empty(x.shape, x.dtype, x.device);
  if (out.size > 0) out.storage.copyFrom(x.storage, 0, 0, x.size);
  return x.dtype === 'float32' ? record(out, 'clone', [x], (g) => [g]) : out;
}

/** Where mask (bool or int32, broadcast to x) is nonzero, value; elsewhere x. The gradient flows where the
 * mask is zero. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  assertFloat('maskedFill', 'input', x);
  assertTensor('maskedFill', 'mask', mask);
  if (mask.dtype === 'float32') throw new TypeError('maskedFill: mask must be bool or int32, got float32');
  if (typeof value !== 'number') throw new TypeError(`maskedFill: value must be a number, got ${typeof value}`);
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (shape.length !== x.shape.length || shape.some((d, i) => d !== x.shape[i]))
    throw new RangeError(
      `maskedFill: mask ${fmtShape(mask.shape)} does not broadcast to the input ${fmtShape(x.shape)}`,
    );
  const ks = kernelShape(shape);
  const maskStrides = broadcastStrides(kernelShape(mask.shape), ks);
  const apply = (src: Tensor, fillValue: number): Tensor => {
    const out = Tensor.empty(src.shape, 'float32', src.device);
    if (out.size > 0)
      maskedFillKernel(kernelsFor('maskedFill', src, mask), {
        x: src.storage,
        mask: mask.storage,
        maskStrides,
        out: out.storage,
        shape: ks,
        value: fillValue,
      });
    return out;
  };
  return record(apply(x, value), 'maskedFill', [x], (g) => [apply(g, 0)]);
}
