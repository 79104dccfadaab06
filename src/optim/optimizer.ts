// The optimizer base: parameter groups with per-group options (PyTorch's param_groups), lazily created
// per-parameter state kept outside tidy() scopes, in-place updates under noGrad, and a state dict of plain
// numbers and tensors that a checkpoint can store as safetensors + JSON.
import { enableGrad, noGrad } from '../autograd';
import { fmtShape } from '../checks';
import { keep, Tensor } from '../tensor';
import { Workspace } from './inplace';

/** Per-parameter optimizer state: tensors shaped like the parameter, and counters. */
export type ParamState = Record<string, Tensor | number>;

/** A parameter group: the parameters and the options that apply to them (mutable, e.g. `group.lr = 1e-4`). */
export type ParamGroup<O> = O & { params: Tensor[] } & Record<string, unknown>;

/** A group as passed to a constructor: any option left out takes the optimizer's default. */
export type ParamGroupInput<O> = Partial<O> & { params: Iterable<Tensor> } & Record<string, unknown>;

/** Parameters as passed to a constructor: tensors, or groups of tensors with their own options. */
export type ParamsInput<O> = Iterable<Tensor> | Iterable<ParamGroupInput<O>>;

/** The serialisable state: `state` by parameter index (counting across groups in order), and each group's
 * options with its parameters replaced by their indices. Tensors are the optimizer's own (not copies): save
 * them, do not dispose them. */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

/** How a state entry is checked when a state dict is loaded. */
export type StateSchema = Record<string, { kind: 'tensor' | 'count'; required: boolean }>;

function snakeToCamel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export abstract class Optimizer<O extends { lr: number }> {
  /** The options every group starts from. */
  readonly defaults: Readonly<O>;
  readonly paramGroups: Array<ParamGroup<O>> = [];
  protected readonly state = new Map<Tensor, ParamState>();
  /** Temporaries of the updates, reused from step to step. */
  protected readonly workspace = new Workspace();

  protected constructor(
    /** The class name, used in error messages. */
    protected readonly name: string,
    params: ParamsInput<O>,
    defaults: O,
    private readonly stateSchema: StateSchema,
  ) {
    this.checkOptions(defaults as unknown as Record<string, unknown>, 'options');
    this.defaults = Object.freeze({ ...defaults });
    if (
      params === null ||
      typeof params !== 'object' ||
      typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function'
    )
      throw new TypeError(
        `${name}: params must be an array of Tensors or of parameter groups, got ${params === null ? 'null' : typeof params}`,
      );
    const items = [...(params as Iterable<unknown>)];
    if (items.length === 0) throw new RangeError(`${name}: got an empty parameter list`);
    if (items.every((p) => p instanceof Tensor))
      this.addParamGroup({ params: items as Tensor[] } as unknown as ParamGroupInput<O>);
    else if (items.every((g) => !(g instanceof Tensor) && g !== null && typeof g === 'object'))
      for (const g of items) this.addParamGroup(g as ParamGroupInput<O>);
    else
      throw new TypeError(
        `${name}: params must be all Tensors or all parameter groups { params, ...options }, not a mix`,
      );
  }

  /** Validates one option set; `where` says which ('options', 'param group 1'...). Throws on bad values. */
  protected abstract checkOptions(options: Record<string, unknown>, where: string): void;

  /** Updates one parameter from its gradient, in place, under noGrad. Scratch memory comes from the workspace. */
  protected abstract updateParam(param: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<O>): void;

  /** Adds a group of parameters with its own options (defaults fill the rest), like add_param_group. */
  addParamGroup(group: ParamGroupInput<O>): void {
    const where = `param group ${this.paramGroups.length}`;
    if (group === null || typeof group !== 'object' || Array.isArray(group))
      throw new TypeError(`${this.name}: ${where} must be an object { params, ...options }`);
    const rawParams = group.params as unknown;
    if (rawParams instanceof Tensor)
      throw new TypeError(
        `${this.name}: ${where}: params must be an array of Tensors, got a single Tensor (wrap it in [ ])`,
      );
    if (
      rawParams === null ||
      typeof rawParams !== 'object' ||
      typeof (rawParams as Iterable<unknown>)[Symbol.iterator] !== 'function'
    )
      throw new TypeError(`${this.name}: ${where}: params must be an array of Tensors`);
    const params = [...(rawParams as Iterable<unknown>)];
    if (params.length === 0) throw new RangeError(`${this.name}: ${where} has no parameters`);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor))
        throw new TypeError(
          `${this.name}: ${where}: params[${i}] must be a Tensor, got ${p === null ? 'null' : typeof p}`,
        );
      if (p.isDisposed) throw new Error(`${this.name}: ${where}: params[${i}] was disposed`);
      if (p.dtype !== 'float32')
        throw new TypeError(`${this.name}: ${where}: params[${i}] must be float32, got ${p.dtype}`);
      if (!p.isLeaf)
        throw new Error(`${this.name}: ${where}: params[${i}] is not a leaf tensor (it has a gradFn); optimize leaves`);
      if (seen.has(p))
        throw new Error(`${this.name}: ${where}: params[${i}] appears more than once (in this or another group)`);
      seen.add(p);
    });
    for (const key of Object.keys(group)) {
      if (key in this.defaults || key === 'params') continue;
      const camel = snakeToCamel(key);
      if (camel !== key && camel in this.defaults)
        throw new TypeError(`${this.name}: ${where}: unknown option '${key}' (did you mean '${camel}'?)`);
    }
    const merged = { ...this.defaults, ...group, params: params as Tensor[] } as ParamGroup<O>;
    this.checkOptions(merged, where);
    this.paramGroups.push(merged);
  }

  /** Applies one update to every parameter that has a gradient. With a closure (which re-evaluates the model and
   * returns the loss, like PyTorch's), calls it first, with gradients recorded, and returns its result. Every
   * gradient is checked before any parameter changes. */
  step<T>(closure?: () => T): T | undefined {
    const result = closure === undefined ? undefined : enableGrad(closure);
    const updates: Array<[Tensor, Tensor, ParamGroup<O>]> = [];
    this.paramGroups.forEach((group, g) => {
      const where = `param group ${g}`;
      this.checkOptions(group, where);
      group.params.forEach((param, i) => {
        const grad = param.grad;
        if (grad === null) return;
        if (param.isDisposed) throw new Error(`${this.name}.step: ${where}: parameter ${i} was disposed`);
        if (grad.isDisposed)
          throw new Error(`${this.name}.step: ${where}: the gradient of parameter ${i} was disposed`);
        if (grad.dtype !== 'float32' || grad.size !== param.size || grad.shape.some((d, j) => d !== param.shape[j]))
          throw new RangeError(
            `${this.name}.step: ${where}: the gradient of parameter ${i} is ${grad.dtype} ${fmtShape(grad.shape)}, the parameter float32 ${fmtShape(param.shape)}`,
          );
        updates.push([param, grad, group]);
      });
    });
    noGrad(() => {
      for (const [param, grad, group] of updates) {
        let state = this.state.get(param);
        if (state === undefined) {
          state = {};
          this.state.set(param, state);
        }
        this.updateParam(param, grad, state, group);
      }
    });
    return result;
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.zeroGrad();
  }

  /** A state tensor shaped like the parameter, kept out of tidy() scopes. */
  protected newState(param: Tensor, init: 'zeros' | Tensor): Tensor {
    const t = keep(Tensor.empty(param.shape, 'float32', param.device, init === 'zeros'));
    if (init !== 'zeros') t.copy_(init);
    return t;
  }

  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const indices: number[] = [];
      for (const p of group.params) {
        const s = this.state.get(p);
        if (s !== undefined && Object.keys(s).length > 0) state[index] = { ...s };
        indices.push(index++);
      }
      const { params: _params, ...options } = group;
      paramGroups.push({ ...structuredClone(options), params: indices });
    }
    return { state, paramGroups };
  }

  /** Restores options and state saved by stateDict() (of an optimizer of the same class over parameters of the
   * same shapes, in the same groups). Tensors are copied: the dict can be disposed afterwards. Validation happens
   * before anything changes. */
  loadStateDict(stateDict: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (
      stateDict === null ||
      typeof stateDict !== 'object' ||
      !Array.isArray(stateDict.paramGroups) ||
      stateDict.state === null ||
      typeof stateDict.state !== 'object'
    )
      throw new TypeError(`${op}: expected { state, paramGroups }`);
    const saved = stateDict.paramGroups;
    if (saved.length !== this.paramGroups.length)
      throw new RangeError(
        `${op}: the dict has ${saved.length} parameter groups, this optimizer ${this.paramGroups.length}`,
      );
    const params: Tensor[] = [];
    const newOptions = saved.map((g, gi) => {
      const own = this.paramGroups[gi];
      if (g === null || typeof g !== 'object' || !Array.isArray(g.params))
        throw new TypeError(`${op}: paramGroups[${gi}] must be an object with a params array`);
      if (g.params.length !== own.params.length)
        throw new RangeError(
          `${op}: paramGroups[${gi}] has ${g.params.length} parameters, this optimizer's group ${own.params.length}`,
        );
      g.params.forEach((index, j) => {
        if (index !== params.length + j)
          throw new RangeError(`${op}: paramGroups[${gi}].params[${j}] is ${index}, expected ${params.length + j}`);
      });
      params.push(...own.params);
      const { params: _indices, ...options } = g;
      const merged = { ...own, ...options, params: own.params } as ParamGroup<O>;
      this.checkOptions(merged, `paramGroups[${gi}]`);
      return merged;
    });
    const entries = Object.entries(stateDict.state).map(([key, entry]) => {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= params.length)
        throw new RangeError(`${op}: state index ${key} is not a parameter index in [0, ${params.length})`);
      const param = params[index];
      if (entry === null || typeof entry !== 'object') throw new TypeError(`${op}: state[${index}] must be an object`);
      for (const [name, spec] of Object.entries(this.stateSchema))
        if (spec.required && !(name in entry)) throw new RangeError(`${op}: state[${index}] lacks '${name}'`);
      for (const [name, value] of Object.entries(entry)) {
        const spec = this.stateSchema[name];
        if (spec === undefined)
          throw new RangeError(
            `${op}: state[${index}] has unknown entry '${name}' (expected ${Object.keys(this.stateSchema).join(', ')})`,
          );
        if (spec.kind === 'count') {
          if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
            throw new TypeError(`${op}: state[${index}].${name} must be a non-negative integer, got ${String(value)}`);
        } else {
          if (!(value instanceof Tensor) || value.isDisposed)
            throw new TypeError(`${op}: state[${index}].${name} must be a live Tensor`);
          if (
            value.dtype !== 'float32' ||
            value.size !== param.size ||
            value.shape.some((d, j) => d !== param.shape[j])
          )
            throw new RangeError(
              `${op}: state[${index}].${name} is ${value.dtype} ${fmtShape(value.shape)}, the parameter is float32 ${fmtShape(param.shape)}`,
            );
        }
      }
      return [param, entry] as const;
    });

    newOptions.forEach((merged, gi) => {
      const group = this.paramGroups[gi] as Record<string, unknown>;
      for (const key of Object.keys(group)) if (!(key in merged)) delete group[key];
      Object.assign(group, structuredClone({ ...merged, params: [] }), { params: this.paramGroups[gi].params });
    });
    this.disposeState();
    for (const [param, entry] of entries) {
      const copy: ParamState = {};
      for (const [name, value] of Object.entries(entry))
        copy[name] = value instanceof Tensor ? this.newState(param, value) : value;
      this.state.set(param, copy);
    }
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's state and scratch memory (the parameters are not touched). */
  dispose(): void {
    this.disposeState();
    this.workspace.dispose();
  }
}

/** An optimizer state dict split for storage: its tensors by name (`state.<index>.<entry>`, ready for
 * saveSafetensors) and everything else as JSON-serialisable data. */
export interface FlatStateDict {
  tensors: Record<string, Tensor>;
  json: { paramGroups: OptimizerStateDict['paramGroups']; counters: Record<number, Record<string, number>> };
}

/** Splits a state dict into safetensors-ready tensors and JSON (the tensors are the dict's, not copies). */
export function flattenStateDict(stateDict: OptimizerStateDict): FlatStateDict {
  const tensors: Record<string, Tensor> = {};
  const counters: Record<number, Record<string, number>> = {};
  for (const [index, entry] of Object.entries(stateDict.state)) {
    for (const [name, value] of Object.entries(entry)) {
      if (name.includes('.')) throw new RangeError(`flattenStateDict: state entry name '${name}' must not contain '.'`);
      if (value instanceof Tensor) tensors[`state.${index}.${name}`] = value;
      else (counters[Number(index)] ??= {})[name] = value;
    }
  }
  return { tensors, json: { paramGroups: structuredClone(stateDict.paramGroups), counters } };
}

/** Rebuilds a state dict from flattenStateDict's parts (e.g. after loadSafetensors and JSON.parse), for
 * loadStateDict. */
export function unflattenStateDict(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  json: FlatStateDict['json'],
): OptimizerStateDict {
  if (json === null || typeof json !== 'object' || !Array.isArray(json.paramGroups))
    throw new TypeError('unflattenStateDict: json must be { paramGroups, counters }');
  const state: Record<number, ParamState> = {};
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [key, t] of entries) {
    const match = /^state\.(\d+)\.([^.]+)$/.exec(key);
    if (match === null)
      throw new RangeError(`unflattenStateDict: tensor name '${key}' is not of the form state.<index>.<entry>`);
    (state[Number(match[1])] ??= {})[match[2]] = t;
  }
  for (const [index, entry] of Object.entries(json.counters ?? {})) Object.assign((state[Number(index)] ??= {}), entry);
  return { state, paramGroups: json.paramGroups };
}
