// nn.Module: the registry of parameters, buffers and submodules behind every layer, with PyTorch's dotted
// names (so a torch state_dict loads as is), train/eval switching, state dicts and deterministic disposal.
import { noGrad } from '../autograd';
import type { Device } from '../backend';
import { assertSeed, fmtShape } from '../checks';
import { keep, nextSeed, Tensor } from '../tensor';

export type StateDict = Map<string, Tensor> | Record<string, Tensor>;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

const NAME_PATTERN = /^[A-Za-z0-9_]+$/;

export class Module {
  /** Whether the module is in training mode (dropout active); set with train() / eval(). */
  training = true;
  private readonly parameterSlots = new Map<string, Tensor | null>();
  private readonly bufferSlots = new Map<string, Tensor | null>();
  private readonly nonPersistent = new Set<string>();
  private readonly moduleSlots = new Map<string, Module | null>();

  /** The module's computation; subclasses override it with their own signature. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  forward(..._args: any[]): any {
    throw new Error(`${this.constructor.name}: forward() is not implemented`);
  }

  /** Same as forward(...), for those used to calling a module. */
  call(...args: Parameters<this['forward']>): ReturnType<this['forward']> {
    return this.forward(...args) as ReturnType<this['forward']>;
  }

  // ---- registration ----

  private checkName(kind: string, name: string): void {
    if (typeof name !== 'string' || !NAME_PATTERN.test(name))
      throw new TypeError(
        `${this.constructor.name}.register${kind}: name must be a non-empty string of letters, digits and '_', got '${String(name)}'`,
      );
    const taken =
      (kind !== 'Parameter' && this.parameterSlots.has(name)) ||
      (kind !== 'Buffer' && this.bufferSlots.has(name)) ||
      (kind !== 'Module' && this.moduleSlots.has(name));
    if (taken)
      throw new Error(`${this.constructor.name}.register${kind}: '${name}' is already registered as another kind`);
  }

  /** Registers a trainable tensor under name: it is kept (no scope disposes it) and requires grad. A null
   * slot (e.g. an absent bias) is listed nowhere. Returns the tensor. */
  registerParameter<T extends Tensor | null>(name: string, param: T): T {
    this.checkName('Parameter', name);
    if (param !== null) {
      if (!(param instanceof Tensor))
        throw new TypeError(`${this.constructor.name}.registerParameter: '${name}' must be a Tensor or null`);
      if (param.dtype !== 'float32')
        throw new TypeError(
          `${this.constructor.name}.registerParameter: '${name}' must be float32, got ${param.dtype}`,
        );
      if (!param.isLeaf)
        throw new Error(`${this.constructor.name}.registerParameter: '${name}' must be a leaf tensor (use detach())`);
      keep(param);
      param.requiresGrad = true;
    }
    this.parameterSlots.set(name, param);
    return param;
  }

  /** Registers a tensor that is part of the module's state but not trained (e.g. a positional table). It is
   * kept; persistent buffers appear in stateDict(). */
  registerBuffer<T extends Tensor | null>(name: string, buffer: T, options: { persistent?: boolean } = {}): T {
    this.checkName('Buffer', name);
    if (buffer !== null && !(buffer instanceof Tensor))
      throw new TypeError(`${this.constructor.name}.registerBuffer: '${name}' must be a Tensor or null`);
    if (buffer !== null) keep(buffer);
    this.bufferSlots.set(name, buffer);
    if (options.persistent === false) this.nonPersistent.add(name);
    else this.nonPersistent.delete(name);
    return buffer;
  }

  /** Registers a submodule: its parameters appear under `name.`. Returns the module. */
  registerModule<M extends Module | null>(name: string, module: M): M {
    this.checkName('Module', name);
    if (module !== null && !(module instanceof Module))
      throw new TypeError(`${this.constructor.name}.registerModule: '${name}' must be a Module or null`);
    this.moduleSlots.set(name, module);
    return module;
  }

  // ---- traversal ----

  /** Direct submodules with their names. */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    for (const [name, m] of this.moduleSlots) if (m !== null) out.push([name, m]);
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every module below it (each once), with dotted names ('' for this one). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string) => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [childName, child] of m.namedChildren())
        visit(child, name === '' ? childName : `${name}.${childName}`);
    };
    visit(this, prefix);
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  private namedTensors(
    kind: 'parameters' | 'buffers',
    dedupe: boolean,
    persistentOnly: boolean,
  ): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      const slots = kind === 'parameters' ? m.parameterSlots : m.bufferSlots;
      for (const [name, t] of slots) {
        if (t === null || (persistentOnly && kind === 'buffers' && m.nonPersistent.has(name))) continue;
        if (dedupe) {
          if (seen.has(t)) continue; // a tied weight is listed once, under its first name
          seen.add(t);
        }
        out.push([prefix === '' ? name : `${prefix}.${name}`, t]);
      }
    }
    return out;
  }

  /** Every parameter (shared ones once) with its dotted PyTorch name, e.g. 'layers.0.self_attn.in_proj_weight'. */
  namedParameters(): Array<[string, Tensor]> {
    return this.namedTensors('parameters', true, false);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): Array<[string, Tensor]> {
    return this.namedTensors('buffers', true, false);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Number of parameter elements (trainable ones only with onlyTrainable). */
  numParameters(options: { onlyTrainable?: boolean } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!options.onlyTrainable || p.requiresGrad) n += p.size;
    return n;
  }

  /** Calls fn on every module (children first, then this one, as PyTorch's apply). Returns this. */
  apply(fn: (m: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  // ---- modes and gradients ----

  /** Sets training mode on this module and every submodule. Returns this. */
  train(mode = true): this {
    if (typeof mode !== 'boolean')
      throw new TypeError(`${this.constructor.name}.train: mode must be a boolean, got ${typeof mode}`);
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Turns gradient recording on or off for every parameter (freezing). Returns this. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's set_to_none behaviour). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Moves every parameter, buffer and gradient to `device` in place, as PyTorch's module.to(device): the
   * tensor objects stay the same, so build the optimizer before or after. All copies are made before any tensor
   * changes, so a failure (no CUDA device, out of memory) leaves the module as it was. Returns this. */
  to(device: Device): this {
    if (device !== 'cpu' && device !== 'cuda')
      throw new TypeError(`${this.constructor.name}.to: device must be 'cpu' or 'cuda', got ${JSON.stringify(device)}`);
    const tensors = new Set<Tensor>();
    for (const [, p] of this.namedTensors('parameters', true, false)) {
      tensors.add(p);
      if (p.grad) tensors.add(p.grad);
    }
    for (const [, b] of this.namedTensors('buffers', true, false)) tensors.add(b);
    const moving = [...tensors].filter((t) => t.device !== device);
    const copies: Tensor[] = [];
    try {
      noGrad(() => {
        for (const t of moving) copies.push(t.to(device));
      });
    } catch (e) {
      for (const c of copies) c.dispose();
      throw e;
    }
    moving.forEach((t, i) => t.adoptStorage_(copies[i]));
    return this;
  }

  /** to('cuda'). */
  cuda(): this {
    return this.to('cuda');
  }

  /** to('cpu'). */
  cpu(): this {
    return this.to('cpu');
  }

  // ---- state ----

  /** Parameters and persistent buffers by dotted name, as detached tensors sharing the module's memory
   * (disposing them does not free the module's tensors). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      const at = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [name, p] of m.parameterSlots) if (p !== null) out.set(at(name), p.detach());
      for (const [name, b] of m.bufferSlots)
        if (b !== null && !m.nonPersistent.has(name)) out.set(at(name), b.detach());
    }
    return out;
  }

  /** Copies values into the existing parameters and persistent buffers (names and shapes as stateDict()).
   * Checks everything before copying anything: shape or dtype mismatches always throw; missing and unexpected
   * keys throw when strict (the default) and are reported otherwise. */
  loadStateDict(stateDict: StateDict, options: { strict?: boolean } = {}): LoadStateDictResult {
    const op = `${this.constructor.name}.loadStateDict`;
    if (stateDict === null || typeof stateDict !== 'object')
      throw new TypeError(
        `${op}: expected a Map or an object of name -> Tensor, got ${stateDict === null ? 'null' : typeof stateDict}`,
      );
    const strict = options.strict ?? true;
    const source = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
    const targets = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      const at = (name: string) => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [name, p] of m.parameterSlots) if (p !== null) targets.set(at(name), p);
      for (const [name, b] of m.bufferSlots) if (b !== null && !m.nonPersistent.has(name)) targets.set(at(name), b);
    }
    const missingKeys = [...targets.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !targets.has(k));
    const mismatches: string[] = [];
    for (const [key, target] of targets) {
      const value = source.get(key);
      if (value === undefined) continue;
      if (!(value instanceof Tensor)) {
        mismatches.push(`'${key}' is not a Tensor (got ${value === null ? 'null' : typeof value})`);
        continue;
      }
      if (value.isDisposed) mismatches.push(`'${key}' was disposed`);
      else if (value.shape.length !== target.shape.length || value.shape.some((d, i) => d !== target.shape[i]))
        mismatches.push(
          `size mismatch for '${key}': got ${fmtShape(value.shape)}, the module has ${fmtShape(target.shape)}`,
        );
      else if (value.dtype !== target.dtype)
        mismatches.push(`dtype mismatch for '${key}': got ${value.dtype}, the module has ${target.dtype}`);
    }
    const problems = [...mismatches];
    if (strict && missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.map((k) => `'${k}'`).join(', ')}`);
    if (strict && unexpectedKeys.length > 0)
      problems.push(`unexpected keys: ${unexpectedKeys.map((k) => `'${k}'`).join(', ')}`);
    if (problems.length > 0) throw new Error(`${op}: cannot load the state dict:\n  ${problems.join('\n  ')}`);
    for (const [key, target] of targets) {
      const value = source.get(key);
      if (value !== undefined) target.copy_(value);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer of this module and its submodules (gradients included). */
  dispose(): void {
    for (const m of this.modules()) {
      for (const p of m.parameterSlots.values()) {
        if (p === null) continue;
        p.zeroGrad();
        p.dispose();
      }
      for (const b of m.bufferSlots.values()) b?.dispose();
    }
  }

  toString(): string {
    const lines = this.namedChildren().map(([name, m]) => `  (${name}): ${m.toString().replace(/\n/g, '\n  ')}`);
    return lines.length === 0 ? `${this.constructor.name}()` : `${this.constructor.name}(\n${lines.join('\n')}\n)`;
  }
}

/** Seeds for the tensors a module initialises: a stream derived from an explicit seed (reproducible on its
 * own), else the global generator (manualSeed). */
export function seedStream(op: string, seed?: number): () => number {
  if (seed === undefined) return nextSeed;
  assertSeed(op, seed);
  let state = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x27d4eb2d)) >>> 0;
  const step = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return () => (step() & 0x1fffff) * 2 ** 32 + step();
}
