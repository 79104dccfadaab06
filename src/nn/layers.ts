// The basic layers, with PyTorch's parameter names, shapes and initialisation.
import { assertPositiveInt, fmtShape } from '../checks';
import * as F from '../functional';
import { normal, ones, Tensor, uniform, zeros } from '../tensor';
import { Module, seedStream } from './module';

export function checkProbability(op: string, p: number): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new RangeError(`${op}: dropout probability must be in [0, 1], got ${p}`);
}

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's kaiming_uniform_(a=sqrt(5)) for Linear weights, and its bias init. */
export function fanInUniform(shape: number[], fanIn: number, seed: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(shape, -bound, bound, { seed });
}

/** PyTorch's xavier_uniform_ for a 2-D [fanOut, fanIn] weight. */
export function xavierUniform(shape: [number, number], seed: number): Tensor {
  const bound = Math.sqrt(6 / (shape[0] + shape[1]));
  return uniform(shape, -bound, bound, { seed });
}

export interface LinearOptions {
  bias?: boolean;
  seed?: number;
}

/** y = x W^T + b. Parameters `weight` [out, in] and `bias` [out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    assertPositiveInt('Linear', 'inFeatures', inFeatures, { allowZero: true });
    assertPositiveInt('Linear', 'outFeatures', outFeatures, { allowZero: true });
    const seeds = seedStream('Linear', options.seed);
    this.weight = this.registerParameter('weight', fanInUniform([outFeatures, inFeatures], inFeatures, seeds()));
    this.bias = this.registerParameter(
      'bias',
      (options.bias ?? true) ? fanInUniform([outFeatures], inFeatures, seeds()) : null,
    );
  }

  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  override toString(): string {
    return `Linear(inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null})`;
  }
}

export interface EmbeddingOptions {
  paddingIdx?: number | null;
  seed?: number;
}

/** A lookup table `weight` [num, dim], N(0, 1) at init; the paddingIdx row starts at zero and gets no gradient. */
export class Embedding extends Module {
  readonly weight: Tensor;
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    assertPositiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    assertPositiveInt('Embedding', 'embeddingDim', embeddingDim);
    let paddingIdx = options.paddingIdx ?? null;
    if (paddingIdx !== null) {
      if (!Number.isInteger(paddingIdx) || paddingIdx >= numEmbeddings || paddingIdx < -numEmbeddings)
        throw new RangeError(
          `Embedding: paddingIdx must be within [-${numEmbeddings}, ${numEmbeddings}), got ${paddingIdx}`,
        );
      if (paddingIdx < 0) paddingIdx += numEmbeddings;
    }
    this.paddingIdx = paddingIdx;
    const weight = normal([numEmbeddings, embeddingDim], 0, 1, { seed: seedStream('Embedding', options.seed)() });
    if (paddingIdx !== null) weight.storage.write(new Float32Array(embeddingDim), paddingIdx * embeddingDim);
    this.weight = this.registerParameter('weight', weight);
  }

  /** ids: int32 of any shape -> [...ids.shape, embeddingDim]. */
  override forward(ids: Tensor): Tensor {
    return F.embedding(ids, this.weight, { paddingIdx: this.paddingIdx });
  }

  override toString(): string {
    return `Embedding(${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''})`;
  }
}

export interface LayerNormOptions {
  eps?: number;
  elementwiseAffine?: boolean;
  bias?: boolean;
}

/** Normalises over the trailing normalizedShape dims; `weight` ones and `bias` zeros when elementwiseAffine. */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(normalizedShape: number | number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0) throw new RangeError('LayerNorm: normalizedShape must not be empty');
    for (const d of this.normalizedShape) assertPositiveInt('LayerNorm', 'normalizedShape', d);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps > 0) || !Number.isFinite(this.eps))
      throw new RangeError(`LayerNorm: eps must be a positive number, got ${this.eps}`);
    const affine = options.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones(this.normalizedShape) : null);
    this.bias = this.registerParameter('bias', affine && (options.bias ?? true) ? zeros(this.normalizedShape) : null);
  }

  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override toString(): string {
    return `LayerNorm(${fmtShape(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.weight !== null})`;
  }
}

/** Zeroes elements with probability p (scaling the rest by 1/(1-p)) in training mode; identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    checkProbability('Dropout', p);
  }

  override forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }

  override toString(): string {
    return `Dropout(p=${this.p})`;
  }
}

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

/** GELU, exact (erf) by default, or the tanh approximation. */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';

  constructor(options: { approximate?: 'none' | 'tanh' } = {}) {
    super();
    this.approximate = options.approximate ?? 'none';
    if (this.approximate !== 'none' && this.approximate !== 'tanh')
      throw new RangeError(`GELU: approximate must be 'none' or 'tanh', got '${String(this.approximate)}'`);
  }

  override forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}

function checkModules(op: string, modules: unknown[]): Module[] {
  modules.forEach((m, i) => {
    if (!(m instanceof Module))
      throw new TypeError(`${op}: item ${i} is not a Module (got ${m === null ? 'null' : typeof m})`);
  });
  return modules as Module[];
}

/** Modules applied one after another; registered as '0', '1', ... */
export class Sequential extends Module {
  private readonly items: Module[];

  constructor(...modules: Module[]) {
    super();
    this.items = checkModules('Sequential', modules);
    this.items.forEach((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at index i (negative counts from the end). */
  get(i: number): Module {
    return moduleAt('Sequential', this.items, i);
  }

  override forward(input: Tensor): Tensor {
    let x = input;
    for (const m of this.items) x = m.forward(x) as Tensor;
    return x;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.items[Symbol.iterator]();
  }
}

function moduleAt<M extends Module>(op: string, items: M[], i: number): M {
  if (!Number.isInteger(i) || i >= items.length || i < -items.length)
    throw new RangeError(`${op}: index ${i} is out of range for ${items.length} modules`);
  return items[i < 0 ? i + items.length : i];
}

/** A list of submodules registered as '0', '1', ...; it has no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: M[] = []) {
    super();
    if (!Array.isArray(modules)) throw new TypeError('ModuleList: expected an array of modules');
    for (const m of checkModules('ModuleList', modules)) this.append(m as M);
  }

  get length(): number {
    return this.items.length;
  }

  get(i: number): M {
    return moduleAt('ModuleList', this.items, i);
  }

  append(module: M): this {
    checkModules('ModuleList.append', [module]);
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
