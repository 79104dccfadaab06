// Tensor: an n-dimensional array in native memory, with PyTorch-like methods and reverse-mode autograd.
// Tensors are always contiguous and row-major; reshape/detach share memory, everything else allocates.
import { allocate, Device, kernels, release } from './backend';
import { GradNode, isGradEnabled } from './autograd';
import { assertSeed, fmtShape } from './checks';
import type { NativeStorage } from './native';
import * as ops from './ops';
import { fillKernel } from './ops/elementwise';
import { randomFillKernel } from './ops/random';

export type DType = 'float32' | 'int32' | 'bool';
export type Shape = readonly number[];

/** Native memory shared by a tensor and its views; freed when the last of them is disposed (or by the GC). */
class SharedStorage {
  private refs = 1;
  constructor(
    readonly native: NativeStorage,
    readonly device: Device,
    readonly bytes: number,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) release(this.device, this.native, this.bytes);
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(op: string, shape: Shape): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers, got ${typeof shape}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new RangeError(`${op}: shape must hold non-negative integers, got ${fmtShape(shape)}`);
  }
  if (numel(shape) > 2 ** 40) throw new RangeError(`${op}: shape ${fmtShape(shape)} has too many elements`);
  return [...shape];
}

// ---- scopes: deterministic disposal ---------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

/** Removes t from every open scope, so it survives them (e.g. parameter gradients, optimizer state). */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
}

/** Runs fn and disposes every tensor created inside it, except those it returns (directly, or inside arrays
 * and plain objects) and those passed to keep(). Returned tensors move to the enclosing scope. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

// ---- random numbers -------------------------------------------------------------------------------------------

let globalSeedState = 0x2545f491;

/** Seeds the generator behind randn/rand/dropout calls made without an explicit seed. */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new RangeError(`manualSeed: seed must be an integer, got ${seed}`);
  globalSeedState = seed >>> 0;
}

/** The next seed (an integer below 2^53) of the global generator: splitmix-style steps of a 32-bit state. */
export function nextSeed(): number {
  const step = () => {
    globalSeedState = (globalSeedState + 0x9e3779b9) >>> 0;
    let z = globalSeedState;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (step() & 0x1fffff) * 2 ** 32 + step();
}

/** Current state of the global generator, for checkpoints. */
export function getRngState(): number {
  return globalSeedState;
}

/** Restores a state returned by getRngState(), so a resumed run draws the same numbers. */
export function setRngState(state: number): void {
  if (!Number.isInteger(state) || state < 0 || state >= 2 ** 32)
    throw new RangeError(`setRngState: state must be an integer in [0, 2^32), got ${state}`);
  globalSeedState = state;
}

// ---- the Tensor ---------------------------------------------------------------------------------------------

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  device?: Device;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** The gradient accumulated by backward() for a leaf that requires grad. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor (null for leaves and tensors made without grad). */
  gradFn: GradNode | null = null;
  private _requiresGrad = false;
  private storageRef: SharedStorage | null;
  private gradHooks: Array<(t: Tensor) => void> | null = null;
  private _device: Device;

  /** Internal: wraps native memory. Users create tensors with tensor(), zeros(), randn()... */
  constructor(storage: NativeStorage | SharedStorage, shape: Shape, dtype: DType, device: Device) {
    this.storageRef =
      storage instanceof SharedStorage ? storage : new SharedStorage(storage, device, storage.byteLength);
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this._device = device;
    track(this);
  }

  /** Allocates a tensor; zeroFill false leaves the memory uninitialised (the caller overwrites it). */
  static empty(shape: Shape, dtype: DType = 'float32', device: Device = 'cpu', zeroFill = false): Tensor {
    const n = numel(shape);
    return new Tensor(new SharedStorage(allocate(device, n, zeroFill), device, n * 4), shape, dtype, device);
  }

  /** Where the data lives: 'cpu' or 'cuda'. Fixed for a tensor, except when a Module moves its parameters. */
  get device(): Device {
    return this._device;
  }

  get size(): number {
    return numel(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.storageRef === null;
  }

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(value: boolean) {
    if (value && this.dtype !== 'float32')
      throw new TypeError(`requiresGrad: only float32 tensors can require gradients, this one is ${this.dtype}`);
    if (!value && this.gradFn) throw new Error('requiresGrad: cannot turn off gradients of a non-leaf; use detach()');
    this._requiresGrad = value;
  }
  /** PyTorch-style chaining: t.requiresGrad_() marks a leaf as requiring gradients and returns it. */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** The native memory (throws if the tensor was disposed). */
  get storage(): NativeStorage {
    if (this.storageRef === null) throw new Error(`Tensor of shape ${fmtShape(this.shape)} was used after dispose()`);
    return this.storageRef.native;
  }

  /** Frees the native memory now (views sharing it keep it alive until they are disposed too). */
  dispose(): void {
    if (this.storageRef === null) return;
    this.storageRef.release();
    this.storageRef = null;
    this.gradFn = null;
  }

  /** `using t = randn([2, 2])` disposes t at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Internal: a new tensor sharing this one's memory, with another shape of the same size. */
  shareWith(shape: Shape): Tensor {
    const ref = this.storageRef;
    if (ref === null) throw new Error(`Tensor of shape ${fmtShape(this.shape)} was used after dispose()`);
    return new Tensor(ref.retain(), shape, this.dtype, this.device);
  }

  /** Internal (Module.to): this tensor takes over the memory and device of `other`, a copy of the same shape and
   * dtype, which is left disposed; this tensor's old memory is released. The object, and so every reference to
   * it (optimizers, tied weights), stays the same. */
  adoptStorage_(other: Tensor): this {
    if (other.dtype !== this.dtype || other.size !== this.size)
      throw new RangeError(
        `adoptStorage_: ${other.dtype} ${fmtShape(other.shape)} does not match ${this.dtype} ${fmtShape(this.shape)}`,
      );
    const taken = other.storageRef;
    if (taken === null) throw new Error('adoptStorage_: the source tensor was disposed');
    other.storageRef = null;
    this.storageRef?.release();
    this.storageRef = taken;
    this._device = other._device;
    return this;
  }

  /** Internal: keeps this tensor's memory allocated, even through dispose(), until the returned function is called
   * (once or more): a collective works on it in place on the communication thread meanwhile. */
  pinStorage(): () => void {
    const ref = this.storageRef;
    if (ref === null) throw new Error(`Tensor of shape ${fmtShape(this.shape)} was used after dispose()`);
    ref.retain();
    let pinned = true;
    return () => {
      if (pinned) ref.release();
      pinned = false;
    };
  }

  /** Calls hook(this) each time a backward() has accumulated all of its contributions into this leaf's .grad
   * (PyTorch's register_post_accumulate_grad_hook): DistributedDataParallel starts reducing gradients there.
   * Returns a handle whose remove() unregisters the hook. */
  registerPostAccumulateGradHook(hook: (t: Tensor) => void): { remove(): void } {
    if (typeof hook !== 'function') throw new TypeError('registerPostAccumulateGradHook: hook must be a function');
    if (!this.isLeaf || !this.requiresGrad)
      throw new Error('registerPostAccumulateGradHook: only a leaf that requires grad accumulates a .grad');
    (this.gradHooks ??= []).push(hook);
    return {
      remove: () => {
        const hooks = this.gradHooks ?? [];
        const at = hooks.indexOf(hook);
        if (at >= 0) hooks.splice(at, 1);
      },
    };
  }

  /** Internal (backward): runs the hooks of registerPostAccumulateGradHook. */
  runGradHooks(): void {
    if (this.gradHooks !== null) for (const hook of [...this.gradHooks]) hook(this);
  }

  /** Internal: records that this tensor was produced by node (when gradients are being recorded). */
  setGradFn(node: GradNode): this {
    this.gradFn = node;
    this._requiresGrad = true;
    return this;
  }

  // ---- reading data ----

  /** A copy of the data as a typed array (Float32Array for float32, Int32Array for int32 and bool). */
  dataSync(): Float32Array | Int32Array {
    const n = this.size;
    return this.dtype === 'float32' ? this.storage.readFloat32(0, n) : this.storage.readInt32(0, n);
  }

  /** A copy of the data as nested JS arrays (booleans for bool tensors, a plain number for a scalar). */
  toArray(): unknown {
    const flat = this.dataSync();
    const values: Array<number | boolean> = this.dtype === 'bool' ? Array.from(flat, (v) => v !== 0) : Array.from(flat);
    if (this.shape.length === 0) return values[0];
    const build = (dim: number, offset: number): unknown[] => {
      const n = this.shape[dim];
      if (dim === this.shape.length - 1) return values.slice(offset, offset + n);
      const stride = numel(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new RangeError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return this.dataSync()[0];
  }

  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd ----

  /** Back-propagates from this tensor; grad defaults to 1 for a one-element tensor. */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    ops.backward(this, grad, options.retainGraph ?? false);
  }

  /** A tensor sharing this one's memory but cut from the graph. */
  detach(): Tensor {
    return this.shareWith(this.shape);
  }

  /** Overwrites this tensor's data with src's (same shape and dtype), outside autograd: for optimizer updates
   * and loading weights. Views sharing the memory see the change. */
  copy_(src: Tensor): this {
    if (!(src instanceof Tensor)) throw new TypeError('copy_: source must be a Tensor');
    if (src.dtype !== this.dtype || src.size !== this.size || src.shape.some((d, i) => d !== this.shape[i]))
      throw new RangeError(
        `copy_: source ${src.dtype} ${fmtShape(src.shape)} does not match ${this.dtype} ${fmtShape(this.shape)}`,
      );
    if (this.size > 0) this.storage.copyFrom(src.storage, 0, 0, this.size);
    return this;
  }

  /** Drops the accumulated gradient. */
  zeroGrad(): void {
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  // ---- conversions ----

  /** A copy on another device ('cpu' or 'cuda'; gradients flow back to this device), or a copy converted to
   * another dtype (bool: nonzero -> 1). */
  to(target: DType | Device): Tensor {
    if (target !== 'cpu' && target !== 'cuda') return ops.cast(this, target);
    const source = this.device;
    const src = this.storage; // throws when disposed, before anything is allocated
    const out = Tensor.empty(this.shape, this.dtype, target);
    const n = this.size;
    if (n > 0) {
      if (source === target) out.storage.copyFrom(src, 0, 0, n);
      else out.storage.write(this.dtype === 'float32' ? src.readFloat32(0, n) : src.readInt32(0, n), 0);
    }
    if (needsGrad(this)) out.setGradFn(new GradNode('to', [this], (g) => [g.to(source)]));
    return out;
  }
  /** A copy on the GPU: to('cuda'). */
  cuda(): Tensor {
    return this.to('cuda');
  }
  /** A copy in host memory: to('cpu'). */
  cpu(): Tensor {
    return this.to('cpu');
  }
  float(): Tensor {
    return ops.cast(this, 'float32');
  }
  int(): Tensor {
    return ops.cast(this, 'int32');
  }
  clone(): Tensor {
    return ops.clone(this);
  }

  // ---- element-wise ----
  add(other: Tensor | number): Tensor {
    return ops.add(this, other);
  }
  sub(other: Tensor | number): Tensor {
    return ops.sub(this, other);
  }
  mul(other: Tensor | number): Tensor {
    return ops.mul(this, other);
  }
  div(other: Tensor | number): Tensor {
    return ops.div(this, other);
  }
  pow(exponent: Tensor | number): Tensor {
    return ops.pow(this, exponent);
  }
  maximum(other: Tensor | number): Tensor {
    return ops.maximum(this, other);
  }
  minimum(other: Tensor | number): Tensor {
    return ops.minimum(this, other);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  gelu(options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
    return ops.gelu(this, options);
  }

  // ---- reductions ----
  sum(dim?: number | number[], keepdim = false): Tensor {
    return ops.sum(this, dim, keepdim);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, dim, keepdim);
  }
  max(dim?: number, keepdim = false): Tensor {
    return ops.max(this, dim, keepdim);
  }
  min(dim?: number, keepdim = false): Tensor {
    return ops.min(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return ops.argmax(this, dim, keepdim);
  }
  softmax(dim: number): Tensor {
    return ops.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return ops.logSoftmax(this, dim);
  }

  // ---- linear algebra and shapes ----
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
  reshape(...shape: number[] | [number[]]): Tensor {
    return ops.reshape(this, flattenShapeArgs(shape));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return ops.reshape(this, flattenShapeArgs(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  squeeze(dim?: number): Tensor {
    return ops.squeeze(this, dim);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose(this, dim0, dim1);
  }
  get T(): Tensor {
    if (this.ndim !== 2) throw new RangeError(`T: needs a 2-D tensor, got shape ${fmtShape(this.shape)}`);
    return ops.transpose(this, 0, 1);
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return ops.permute(this, flattenShapeArgs(dims));
  }
  /** All tensors are stored contiguously, so this returns the tensor itself (as PyTorch does when contiguous). */
  contiguous(): Tensor {
    return this;
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return ops.expand(this, flattenShapeArgs(shape));
  }
  slice(dim: number, start: number, end?: number): Tensor {
    return ops.slice(this, dim, start, end);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return ops.maskedFill(this, mask, value);
  }
}

function flattenShapeArgs(args: number[] | [number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as number[])] : (args as number[]);
}

// ---- creation ---------------------------------------------------------------------------------------------

type NestedNumbers = number | boolean | NestedNumbers[];

function inferShape(data: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function flattenData(data: NestedNumbers, shape: number[], out: number[], dim = 0): void {
  if (dim === shape.length) {
    if (Array.isArray(data)) throw new RangeError(`tensor: ragged nested array (expected a number at depth ${dim})`);
    if (typeof data !== 'number' && typeof data !== 'boolean')
      throw new TypeError(`tensor: data must hold numbers or booleans, got ${typeof data}`);
    out.push(Number(data));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim])
    throw new RangeError(`tensor: ragged nested array: expected length ${shape[dim]} at depth ${dim}`);
  for (const v of data) flattenData(v, shape, out, dim + 1);
}

function firstLeaf(data: NestedNumbers): unknown {
  let cur: unknown = data;
  while (Array.isArray(cur) && cur.length > 0) cur = cur[0];
  return cur;
}

/** Makes a tensor from nested arrays, a typed array or a number. dtype defaults to int32 for an Int32Array,
 * bool for booleans, float32 otherwise; shape defaults to the nesting (a typed array is 1-D). */
export function tensor(
  data: NestedNumbers | Float32Array | Int32Array | number[],
  options: TensorOptions & { shape?: Shape } = {},
): Tensor {
  let values: ArrayLike<number>;
  let inferred: number[];
  let defaultType: DType = 'float32';
  if (data instanceof Float32Array || data instanceof Int32Array) {
    values = data;
    inferred = [data.length];
    if (data instanceof Int32Array) defaultType = 'int32';
  } else if (ArrayBuffer.isView(data)) {
    throw new TypeError('tensor: typed arrays other than Float32Array and Int32Array are not supported');
  } else {
    inferred = inferShape(data as NestedNumbers);
    const flat: number[] = [];
    flattenData(data as NestedNumbers, inferred, flat);
    values = flat;
    if (typeof firstLeaf(data as NestedNumbers) === 'boolean') defaultType = 'bool';
  }
  const shape = options.shape ? checkShape('tensor', options.shape) : inferred;
  if (numel(shape) !== values.length)
    throw new RangeError(`tensor: shape ${fmtShape(shape)} needs ${numel(shape)} values, got ${values.length}`);
  const dtype = options.dtype ?? defaultType;
  checkDType('tensor', dtype);
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]) && dtype !== 'float32') throw new RangeError(`tensor: NaN in ${dtype} data at ${i}`);
  }
  const typed =
    dtype === 'float32'
      ? values instanceof Float32Array
        ? values
        : Float32Array.from(values)
      : dtype === 'bool'
        ? Int32Array.from(values, (v) => (v !== 0 ? 1 : 0))
        : values instanceof Int32Array
          ? values
          : Int32Array.from(values, (v) => Math.trunc(v));
  const t = Tensor.empty(shape, dtype, options.device ?? 'cpu');
  if (typed.length > 0) t.storage.write(typed, 0);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkDType(op: string, dtype: DType): void {
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool')
    throw new TypeError(`${op}: dtype must be 'float32', 'int32' or 'bool', got '${String(dtype)}'`);
}

/** A tensor of `shape` filled with value. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const dtype = options.dtype ?? 'float32';
  checkDType('full', dtype);
  const t = Tensor.empty(s, dtype, options.device ?? 'cpu', value === 0);
  if (value !== 0) {
    if (dtype === 'float32') fillKernel(kernels(t.device), { dst: t.storage, n: t.size, value });
    else t.storage.write(new Int32Array(t.size).fill(dtype === 'bool' ? 1 : Math.trunc(value)), 0);
  }
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, device: t.device });
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device });
}

export interface RandomOptions {
  seed?: number;
  requiresGrad?: boolean;
  device?: Device;
}

function randomTensor(
  op: string,
  shape: Shape,
  dist: 'uniform' | 'normal',
  a: number,
  b: number,
  options: RandomOptions,
): Tensor {
  const s = checkShape(op, shape);
  const seed = options.seed ?? nextSeed();
  assertSeed(op, seed);
  const t = Tensor.empty(s, 'float32', options.device ?? 'cpu');
  randomFillKernel(kernels(t.device), { dst: t.storage, n: t.size, dist, seed, a, b });
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Standard normal samples. */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  return randomTensor('randn', shape, 'normal', 0, 1, options);
}

/** Uniform samples in [0, 1). */
export function rand(shape: Shape, options: RandomOptions = {}): Tensor {
  return randomTensor('rand', shape, 'uniform', 0, 1, options);
}

/** Uniform samples in [low, high). */
export function uniform(shape: Shape, low: number, high: number, options: RandomOptions = {}): Tensor {
  return randomTensor('uniform', shape, 'uniform', low, high, options);
}

/** Normal samples with the given mean and standard deviation. */
export function normal(shape: Shape, mean: number, std: number, options: RandomOptions = {}): Tensor {
  return randomTensor('normal', shape, 'normal', mean, std, options);
}

/** [start, end) in steps of step, like torch.arange; arange(n) counts from 0. dtype defaults to int32 when
 * every argument is an integer. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  for (const [name, v] of [
    ['start', start],
    ['end', end],
    ['step', step],
  ] as const)
    if (!Number.isFinite(v)) throw new RangeError(`arange: ${name} must be finite, got ${v}`);
  if (step === 0) throw new RangeError('arange: step must be nonzero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allIntegers = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = options.dtype ?? (allIntegers ? 'int32' : 'float32');
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return tensor(values, { ...options, dtype, shape: [n] });
}

/** Whether an op on these inputs should record a graph node. */
export function needsGrad(...inputs: Array<Tensor | null | undefined>): boolean {
  if (!isGradEnabled()) return false;
  return inputs.some((t) => t != null && t.requiresGrad);
}
