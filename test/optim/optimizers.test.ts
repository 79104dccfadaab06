// SGD, Adam and AdamW against torch.optim trajectories (goldens from make_optim_goldens.py), in-place updates,
// parameter groups, state dicts (including a safetensors + JSON round trip), memory, and argument errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noGrad } from '../../src/autograd';
import { loadSafetensorsFromBuffer, serializeSafetensors } from '../../src/io';
import { Adam, AdamW, flattenStateDict, Optimizer, OptimizerStateDict, SGD, unflattenStateDict } from '../../src/optim';
import { F, memory } from '../../src';
import { keep, randn, Tensor, tensor, tidy, zeros } from '../../src/tensor';
import { expectError, maxRelError } from '../helpers';

interface Packed {
  shape: number[];
  data: number[];
}
interface OptimCase {
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  options: Record<string, unknown>;
  groups: Array<{ params: number[]; options: Record<string, unknown> }> | null;
  lrChange: { beforeStep: number; group: number; factor: number } | null;
  after: Packed[][];
}
const golden = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'golden', 'optim.json'), 'utf8')) as {
  init: Packed[];
  grads: Packed[][];
  optimizers: Record<string, OptimCase>;
};

const fromPacked = (p: Packed) => tensor(Float32Array.from(p.data), { shape: p.shape });
const freshParams = () => golden.init.map((p) => fromPacked(p).requiresGrad_());
const classes = { SGD, Adam, AdamW } as const;

function makeOptimizer(c: OptimCase, params: Tensor[]): Optimizer<{ lr: number }> {
  const Cls = classes[c.optimizer] as unknown as new (p: unknown, o: unknown) => Optimizer<{ lr: number }>;
  const input =
    c.groups === null ? params : c.groups.map((g) => ({ params: g.params.map((i) => params[i]), ...g.options }));
  return new Cls(input, c.options);
}

function setGrads(params: Tensor[], step: number): void {
  params.forEach((p, i) => {
    p.zeroGrad();
    p.grad = keep(fromPacked(golden.grads[step][i]));
  });
}

describe('torch.optim trajectories', () => {
  for (const [name, c] of Object.entries(golden.optimizers)) {
    test(`${name}: ${c.optimizer} ${JSON.stringify(c.options)}${c.groups ? ' with groups' : ''} matches for 5 steps`, () => {
      const params = freshParams();
      const optimizer = makeOptimizer(c, params);
      c.after.forEach((expected, step) => {
        if (c.lrChange?.beforeStep === step) optimizer.paramGroups[c.lrChange.group].lr *= c.lrChange.factor;
        setGrads(params, step);
        optimizer.step();
        params.forEach((p, i) => {
          expect(p.shape).toEqual(expected[i].shape);
          const err = maxRelError(p.dataSync(), expected[i].data);
          if (err > 1e-5) throw new Error(`${name}: step ${step + 1}, param ${i}: relative error ${err}`);
        });
      });
      optimizer.dispose();
    });
  }
});

describe('updates', () => {
  test('parameters are updated in place, keep their identity and stay leaves that require grad', () => {
    const params = freshParams();
    const storages = params.map((p) => p.storage);
    const optimizer = new AdamW(params, { lr: 0.1 });
    setGrads(params, 0);
    tidy(() => optimizer.step());
    params.forEach((p, i) => {
      expect(p.storage).toBe(storages[i]);
      expect(p.isLeaf).toBe(true);
      expect(p.requiresGrad).toBe(true);
      expect(p.isDisposed).toBe(false);
    });
    expect(maxRelError(params[0].dataSync(), golden.init[0].data)).toBeGreaterThan(1e-3);
    // State created inside the tidy() above survived it.
    setGrads(params, 1);
    expect(() => optimizer.step()).not.toThrow();
  });

  test('parameters without a gradient are left alone and get no state', () => {
    const [a, b] = freshParams();
    const optimizer = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    b.grad = keep(fromPacked(golden.grads[0][1]));
    optimizer.step();
    expect(Array.from(a.dataSync())).toEqual(Array.from(Float32Array.from(golden.init[0].data)));
    expect(Object.keys(optimizer.stateDict().state)).toEqual(['1']);
  });

  test('empty parameters step without error', () => {
    for (const make of [
      (p: Tensor[]) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 }),
      (p: Tensor[]) => new AdamW(p, { amsgrad: true }),
      (p: Tensor[]) => new Adam(p),
    ]) {
      const p = zeros([0, 3]).requiresGrad_();
      p.grad = keep(zeros([0, 3]));
      const optimizer = make([p]);
      optimizer.step();
      optimizer.step();
      expect(p.shape).toEqual([0, 3]);
      optimizer.dispose();
    }
  });

  test('zeroGrad drops every gradient (set to null)', () => {
    const params = freshParams();
    const optimizer = new Adam(params);
    setGrads(params, 0);
    const grads = params.map((p) => p.grad as Tensor);
    optimizer.zeroGrad();
    expect(params.map((p) => p.grad)).toEqual([null, null]);
    expect(grads.every((g) => g.isDisposed)).toBe(true);
  });

  test('step(closure) evaluates the closure and returns its loss', () => {
    const w = tensor([3]).requiresGrad_();
    const optimizer = new SGD([w], { lr: 0.25 });
    const loss = optimizer.step(() => {
      optimizer.zeroGrad();
      const l = w.mul(w).sum();
      l.backward();
      return l.item();
    });
    expect(loss).toBe(9);
    expect(w.item()).toBeCloseTo(3 - 0.25 * 6, 6);
    optimizer.zeroGrad();
    expect(optimizer.step()).toBeUndefined(); // no gradients: nothing changes
    expect(w.item()).toBe(1.5);
    // Inside noGrad (e.g. an evaluation helper) the closure still records its graph.
    noGrad(() =>
      optimizer.step(() => {
        optimizer.zeroGrad();
        w.mul(w).sum().backward();
      }),
    );
    expect(w.item()).toBeCloseTo(1.5 - 0.25 * 3, 6);
  });

  test('Adam fits a linear regression through autograd', () => {
    const x = randn([64, 3], { seed: 11 });
    const trueW = tensor([[1.5, -2, 0.5]]);
    const y = noGrad(() => F.linear(x, trueW).add(0.3));
    const w = zeros([1, 3]).requiresGrad_();
    const b = zeros([1]).requiresGrad_();
    const optimizer = new Adam([w, b], { lr: 0.05 });
    let loss = Infinity;
    for (let i = 0; i < 300; i++) {
      loss = tidy(() => {
        optimizer.zeroGrad();
        const l = F.linear(x, w, b).sub(y).pow(2).mean();
        l.backward();
        optimizer.step();
        return l.item();
      });
    }
    expect(loss).toBeLessThan(1e-4);
    expect(maxRelError(w.dataSync(), [1.5, -2, 0.5])).toBeLessThan(1e-2);
  });

  test('memory stays flat over many steps (every temporary is freed)', () => {
    const n = 1 << 20; // 4 MiB per tensor: one leaked temporary per step would add 4 MiB
    const param = zeros([n]).requiresGrad_();
    param.grad = keep(randn([n], { seed: 3 }));
    const optimizers = [
      new AdamW([param], { amsgrad: true, weightDecay: 0.1 }),
      new Adam([param], { weightDecay: 0.1, maximize: true }),
      new SGD([param], { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.1 }),
    ];
    for (const optimizer of optimizers) optimizer.step(); // state allocated here
    // Tensors not disposed and the allocator's cache, counted exactly (RSS would depend on when the GC runs).
    const live = () => {
      const { undisposedStorages, undisposedBytes, cachedStorages, cachedBytes } = memory();
      return { undisposedStorages, undisposedBytes, cachedStorages, cachedBytes };
    };
    const before = live();
    for (let i = 0; i < 20; i++) for (const optimizer of optimizers) optimizer.step();
    expect(live()).toEqual(before);
    for (const optimizer of optimizers) optimizer.dispose();
  });
});

describe('parameter groups', () => {
  test('groups take their own options over the defaults, and lr is mutable per group', () => {
    const [a, b] = freshParams();
    const optimizer = new AdamW([{ params: [a] }, { params: [b], lr: 0.5, weightDecay: 0 }], {
      lr: 0.01,
      betas: [0.8, 0.9],
    });
    expect(optimizer.paramGroups.map((g) => [g.lr, g.weightDecay, g.betas])).toEqual([
      [0.01, 0.01, [0.8, 0.9]],
      [0.5, 0, [0.8, 0.9]],
    ]);
    expect(optimizer.paramGroups[1].params[0]).toBe(b);
    optimizer.paramGroups[0].lr = 0;
    setGrads([a, b], 0);
    optimizer.step();
    expect(Array.from(a.dataSync())).toEqual(Array.from(Float32Array.from(golden.init[0].data)));
    expect(maxRelError(b.dataSync(), golden.init[1].data)).toBeGreaterThan(1e-2);
  });

  test('addParamGroup adds parameters with their options', () => {
    const [a, b] = freshParams();
    const optimizer = new SGD([a], { lr: 0.1 });
    optimizer.addParamGroup({ params: [b], lr: 0.2, momentum: 0.5 });
    expect(optimizer.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([
      [0.1, 0],
      [0.2, 0.5],
    ]);
    expectError(
      () => optimizer.addParamGroup({ params: [a] }),
      'Error',
      /SGD: param group 2: params\[0\] appears more than once/,
    );
  });
});

describe('state dicts', () => {
  function runSteps(
    optimizer: Optimizer<{ lr: number }>,
    params: Tensor[],
    from: number,
    to: number,
    c?: OptimCase,
  ): void {
    for (let k = from; k < to; k++) {
      if (c?.lrChange?.beforeStep === k) optimizer.paramGroups[c.lrChange.group].lr *= c.lrChange.factor;
      setGrads(params, k);
      optimizer.step();
    }
  }

  for (const name of ['adamwAmsgrad', 'sgdGroups', 'adam']) {
    test(`${name}: saving after 2 steps and resuming elsewhere continues the same trajectory`, () => {
      const c = golden.optimizers[name];
      const params = freshParams();
      const optimizer = makeOptimizer(c, params);
      runSteps(optimizer, params, 0, 2, c);
      const saved = optimizer.stateDict();
      expect(saved.paramGroups.map((g) => g.params)).toEqual(c.groups === null ? [[0, 1]] : [[0], [1]]);

      // Through a checkpoint: state tensors into safetensors, the rest into JSON.
      const flat = flattenStateDict(saved);
      expect(Object.keys(flat.tensors).sort()).toEqual(
        Object.entries(saved.state)
          .flatMap(([i, e]) =>
            Object.keys(e)
              .filter((k) => e[k] instanceof Tensor)
              .map((k) => `state.${i}.${k}`),
          )
          .sort(),
      );
      const bytes = serializeSafetensors(flat.tensors);
      const json = JSON.stringify(flat.json);

      const restoredParams = params.map((p) => keep(p.detach().clone()).requiresGrad_());
      const restored = makeOptimizer(c, restoredParams);
      const { tensors } = loadSafetensorsFromBuffer(bytes);
      restored.loadStateDict(unflattenStateDict(tensors, JSON.parse(json)));
      for (const t of tensors.values()) t.dispose(); // the optimizer copied them

      runSteps(restored, restoredParams, 2, 5, c);
      runSteps(optimizer, params, 2, 5, c);
      restoredParams.forEach((p, i) => expect(maxRelError(p.dataSync(), c.after[4][i].data)).toBeLessThan(1e-5));
      expect(restored.paramGroups.map((g) => g.lr)).toEqual(optimizer.paramGroups.map((g) => g.lr));
    });
  }

  test('loading restores group options (lr included) and replaces the state', () => {
    const params = freshParams();
    const a = new Adam(params, { lr: 0.01 });
    a.paramGroups[0].lr = 0.123;
    runSteps(a, params, 0, 1);
    const b = new Adam(freshParams(), { lr: 0.5, amsgrad: true });
    b.loadStateDict(a.stateDict());
    expect(b.paramGroups[0].lr).toBe(0.123);
    expect(b.paramGroups[0].amsgrad).toBe(false);
    expect(b.stateDict().state[0].step).toBe(1);
  });

  test('unflattenStateDict rejects tensor names it did not make', () => {
    expectError(
      () => unflattenStateDict({ 'layer.weight': tensor([1]) }, { paramGroups: [], counters: {} }),
      'RangeError',
      /tensor name 'layer.weight' is not of the form state.<index>.<entry>/,
    );
    expectError(
      () => unflattenStateDict({}, null as unknown as ReturnType<typeof flattenStateDict>['json']),
      'TypeError',
      /json must be \{ paramGroups, counters \}/,
    );
  });

  test('mismatched dicts are rejected before anything changes', () => {
    const params = freshParams();
    const adam = new Adam(params, { lr: 0.01 });
    runSteps(adam, params, 0, 1);
    const good = adam.stateDict();
    const sgd = new SGD(freshParams(), { lr: 0.1, momentum: 0.9 });
    expectError(() => sgd.loadStateDict(good), 'RangeError', /SGD.loadStateDict: state\[0\] has unknown entry 'step'/);
    const one = new Adam([freshParams()[0]]);
    expectError(
      () => one.loadStateDict(good),
      'RangeError',
      /Adam.loadStateDict: paramGroups\[0\] has 2 parameters, this optimizer's group 1/,
    );
    const twoGroups = new Adam([{ params: [freshParams()[0]] }, { params: [freshParams()[1]] }]);
    expectError(() => twoGroups.loadStateDict(good), 'RangeError', /the dict has 1 parameter groups, this optimizer 2/);
    const swapped = new Adam(freshParams().reverse());
    expectError(
      () => swapped.loadStateDict(good),
      'RangeError',
      /state\[0\].expAvg is float32 \[3, 4\], the parameter is float32 \[5\]/,
    );
    const target = new Adam(freshParams(), { lr: 0.7 });
    const badLr = { ...good, paramGroups: [{ ...good.paramGroups[0], lr: -1 }] };
    expectError(
      () => target.loadStateDict(badLr),
      'RangeError',
      /Adam: paramGroups\[0\]: lr must be in \[0, Infinity\], got -1/,
    );
    const missing = { ...good, state: { 0: { step: 1, expAvg: good.state[0].expAvg } } };
    expectError(() => target.loadStateDict(missing), 'RangeError', /state\[0\] lacks 'expAvgSq'/);
    expectError(
      () => target.loadStateDict({ ...good, state: { 0: { ...good.state[0], step: 1.5 } } }),
      'TypeError',
      /state\[0\].step must be a non-negative integer, got 1.5/,
    );
    expectError(
      () => target.loadStateDict({ ...good, state: { 7: good.state[0] } }),
      'RangeError',
      /state index 7 is not a parameter index in \[0, 2\)/,
    );
    expectError(
      () => target.loadStateDict(null as unknown as OptimizerStateDict),
      'TypeError',
      /expected \{ state, paramGroups \}/,
    );
    expect(target.paramGroups[0].lr).toBe(0.7);
    expect(target.stateDict().state).toEqual({});
  });
});

describe('argument errors', () => {
  test('bad parameter lists', () => {
    expectError(() => new SGD([], { lr: 0.1 }), 'RangeError', /SGD: got an empty parameter list/);
    expectError(() => new Adam(null as unknown as Tensor[]), 'TypeError', /Adam: params must be an array/);
    const p = tensor([1]).requiresGrad_();
    expectError(() => new Adam([p, p]), 'Error', /params\[1\] appears more than once/);
    expectError(() => new Adam([p, 3 as unknown as Tensor]), 'TypeError', /not a mix/);
    expectError(
      () => new Adam([{ params: [p] }, { params: [1 as unknown as Tensor] }]),
      'TypeError',
      /Adam: param group 1: params\[0\] must be a Tensor, got number/,
    );
    expectError(() => new Adam([{ params: p as unknown as Tensor[] }]), 'TypeError', /got a single Tensor/);
    expectError(
      () => new Adam([tensor([1], { dtype: 'int32' })]),
      'TypeError',
      /params\[0\] must be float32, got int32/,
    );
    expectError(() => new Adam([p.mul(2)]), 'Error', /params\[0\] is not a leaf tensor/);
    const gone = tensor([1]);
    gone.dispose();
    expectError(() => new Adam([gone]), 'Error', /params\[0\] was disposed/);
  });

  test('bad options name the optimizer, the group and the value', () => {
    const p = () => [tensor([1]).requiresGrad_()];
    expectError(() => new SGD(p(), {} as { lr: number }), 'TypeError', /SGD: options.lr is required/);
    expectError(
      () => new SGD(p(), { lr: -0.1 }),
      'RangeError',
      /SGD: options: lr must be in \[0, Infinity\], got -0.1/,
    );
    expectError(() => new SGD(p(), { lr: NaN }), 'TypeError', /SGD: options: lr must be a finite number, got NaN/);
    expectError(
      () => new SGD(p(), { lr: 0.1, nesterov: true }),
      'RangeError',
      /nesterov needs momentum > 0 and dampening 0/,
    );
    expectError(
      () => new SGD(p(), { lr: 0.1, weight_decay: 0.1 } as { lr: number }),
      'TypeError',
      /SGD: unknown option 'weight_decay'/,
    );
    expectError(
      () => new Adam(p(), { betas: [0.9, 1] }),
      'RangeError',
      /Adam: options: betas\[1\] must be in \[0, 1\), got 1/,
    );
    expectError(
      () => new Adam(p(), { betas: [0.9] as unknown as [number, number] }),
      'TypeError',
      /betas must be \[beta1, beta2\]/,
    );
    expectError(() => new AdamW(p(), { eps: -1 }), 'RangeError', /AdamW: options: eps must be in/);
    expectError(() => new AdamW(p(), { amsgrad: 1 as unknown as boolean }), 'TypeError', /amsgrad must be a boolean/);
    expectError(
      () => new AdamW([{ params: p(), weight_decay: 0 }]),
      'TypeError',
      /AdamW: param group 0: unknown option 'weight_decay' \(did you mean 'weightDecay'\?\)/,
    );
    expectError(() => new AdamW([{ params: p(), lr: -1 }]), 'RangeError', /AdamW: param group 0: lr must be in/);
  });

  test('invalid lr set on a group, or a gradient of the wrong shape, fail at step()', () => {
    const w = tensor([1, 2]).requiresGrad_();
    const first = tensor([5]).requiresGrad_();
    const optimizer = new SGD([first, w], { lr: 0.1 });
    first.grad = keep(tensor([1]));
    w.grad = keep(tensor([1, 2, 3]));
    expectError(
      () => optimizer.step(),
      'RangeError',
      /SGD.step: param group 0: the gradient of parameter 1 is float32 \[3\], the parameter float32 \[2\]/,
    );
    expect(first.item()).toBe(5); // checked before anything changed
    optimizer.zeroGrad();
    optimizer.paramGroups[0].lr = NaN;
    expectError(() => optimizer.step(), 'TypeError', /SGD: param group 0: lr must be a finite number, got NaN/);
  });
});
