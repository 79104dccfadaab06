// nn.Module bookkeeping: registration and dotted names, traversal, train/eval, state dicts (round trip and
// every loadStateDict error), gradients, seeding, keeping and disposal.
import { cuda } from '../../src/cuda';
import * as nn from '../../src/nn';
import { manualSeed, randn, Tensor, tensor, tidy, zeros } from '../../src/tensor';
import { expectError } from '../helpers';

class Block extends nn.Module {
  readonly fc: nn.Linear;
  readonly norm: nn.LayerNorm;
  readonly scale: Tensor;
  readonly counter: Tensor;

  constructor() {
    super();
    this.fc = this.registerModule('fc', new nn.Linear(4, 3));
    this.norm = this.registerModule('norm', new nn.LayerNorm(3));
    this.scale = this.registerParameter('scale', tensor([2]));
    this.counter = this.registerBuffer('counter', zeros([1]));
    this.registerBuffer('scratch', zeros([2]), { persistent: false });
  }

  override forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x)).mul(this.scale);
  }
}

class Net extends nn.Module {
  readonly blocks: nn.ModuleList<Block>;
  readonly head: nn.Sequential;

  constructor() {
    super();
    this.blocks = this.registerModule('blocks', new nn.ModuleList([new Block(), new Block()]));
    this.head = this.registerModule(
      'head',
      new nn.Sequential(new nn.Linear(4, 2, { bias: false }), new nn.ReLU(), new nn.Dropout(0.5)),
    );
  }

  override forward(x: Tensor): Tensor {
    return this.head.forward(x);
  }
}

const netNames = [
  'blocks.0.scale',
  'blocks.0.fc.weight',
  'blocks.0.fc.bias',
  'blocks.0.norm.weight',
  'blocks.0.norm.bias',
  'blocks.1.scale',
  'blocks.1.fc.weight',
  'blocks.1.fc.bias',
  'blocks.1.norm.weight',
  'blocks.1.norm.bias',
  'head.0.weight',
];

describe('nn.Module', () => {
  test('dotted PyTorch names for parameters, buffers and modules', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual(netNames);
    expect(net.parameters()).toHaveLength(netNames.length);
    expect(net.namedBuffers().map(([n]) => n)).toEqual([
      'blocks.0.counter',
      'blocks.0.scratch',
      'blocks.1.counter',
      'blocks.1.scratch',
    ]);
    expect(net.namedChildren().map(([n]) => n)).toEqual(['blocks', 'head']);
    expect(net.children()).toEqual([net.blocks, net.head]);
    expect(net.namedModules().map(([n]) => n)).toEqual([
      '',
      'blocks',
      'blocks.0',
      'blocks.0.fc',
      'blocks.0.norm',
      'blocks.1',
      'blocks.1.fc',
      'blocks.1.norm',
      'head',
      'head.0',
      'head.1',
      'head.2',
    ]);
    expect(net.modules()[0]).toBe(net);
    expect(net.numParameters()).toBe(2 * (1 + 12 + 3 + 3 + 3) + 8);
    expect(net.blocks.get(1)).toBe(net.blocks.get(-1));
    expect([...net.blocks]).toHaveLength(2);
    expect(net.head.length).toBe(3);
    expectError(() => net.blocks.get(2), 'RangeError', /ModuleList: index 2 is out of range for 2 modules/);
    net.dispose();
  });

  test('parameters are kept leaves that require grad; tied weights are listed once', () => {
    const { model, created } = tidy(() => {
      const m = new nn.Linear(3, 2);
      return { model: m, created: randn([1]) };
    });
    expect(model.weight.isDisposed).toBe(false);
    expect(model.weight.requiresGrad).toBe(true);
    expect(model.weight.isLeaf).toBe(true);
    created.dispose();

    class Tied extends nn.Module {
      constructor() {
        super();
        const embed = this.registerModule('embed', new nn.Embedding(5, 3));
        const out = this.registerModule('out', new nn.Linear(3, 5, { bias: false }));
        out.weight.dispose(); // replaced by the shared table below
        out.registerParameter('weight', embed.weight);
      }
    }
    const tied = new Tied();
    expect(tied.namedParameters().map(([n]) => n)).toEqual(['embed.weight']);
    expect([...tied.stateDict().keys()]).toEqual(['embed.weight', 'out.weight']);
    model.dispose();
    tied.dispose();
  });

  test('registration errors name the module and the offending value', () => {
    const m = new nn.Module();
    expectError(
      () => m.registerParameter('a.b', zeros([1])),
      'TypeError',
      /Module\.registerParameter: name must be .*got 'a\.b'/,
    );
    expectError(
      () => m.registerParameter('ids', tensor([1], { dtype: 'int32' })),
      'TypeError',
      /'ids' must be float32, got int32/,
    );
    m.registerBuffer('x', zeros([1]));
    expectError(() => m.registerParameter('x', zeros([1])), 'Error', /'x' is already registered as another kind/);
    expectError(() => m.registerModule('child', {} as nn.Module), 'TypeError', /'child' must be a Module/);
    expectError(() => m.forward(), 'Error', /Module: forward\(\) is not implemented/);
    expectError(
      () => new nn.Sequential(new nn.ReLU(), 3 as unknown as nn.Module),
      'TypeError',
      /Sequential: item 1 is not a Module/,
    );
    m.dispose();
  });

  test('train() and eval() reach every submodule; dropout follows the mode', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
    net.train(false);
    expect(net.head.get(2).training).toBe(false);
    tidy(() => {
      const x = randn([64, 4], { seed: 3 });
      const evalOut = net.forward(x).dataSync();
      const linearReluOut = net.head.get(1).forward(net.head.get(0).forward(x)).dataSync();
      expect(Array.from(evalOut)).toEqual(Array.from(linearReluOut));
      net.train();
      const trainOut = net.forward(x).dataSync();
      let zeroed = 0;
      for (let i = 0; i < trainOut.length; i++) {
        if (trainOut[i] === 0 && evalOut[i] !== 0) zeroed++;
        else expect(trainOut[i]).toBeCloseTo(evalOut[i] * 2, 5);
      }
      expect(zeroed).toBeGreaterThan(10);
    });
    expectError(() => net.train('yes' as unknown as boolean), 'TypeError', /Net\.train: mode must be a boolean/);
    net.dispose();
  });

  test('forward and call() are the same', () => {
    const fc = new nn.Linear(3, 2, { seed: 5 });
    tidy(() => {
      const x = randn([2, 3], { seed: 1 });
      expect(Array.from(fc.call(x).dataSync())).toEqual(Array.from(fc.forward(x).dataSync()));
    });
    fc.dispose();
  });

  test('stateDict holds parameters and persistent buffers; a round trip reproduces the outputs', () => {
    const a = new Net().eval();
    const b = new Net().eval();
    const state = a.stateDict();
    expect([...state.keys()]).toEqual([
      'blocks.0.scale',
      'blocks.0.counter',
      'blocks.0.fc.weight',
      'blocks.0.fc.bias',
      'blocks.0.norm.weight',
      'blocks.0.norm.bias',
      'blocks.1.scale',
      'blocks.1.counter',
      'blocks.1.fc.weight',
      'blocks.1.fc.bias',
      'blocks.1.norm.weight',
      'blocks.1.norm.bias',
      'head.0.weight',
    ]);
    // Entries are detached views of the module's memory: disposing them leaves the module intact.
    const weight = state.get('head.0.weight') as Tensor;
    expect(weight).not.toBe(a.head.get(0).parameters()[0]);
    expect(weight.requiresGrad).toBe(false);
    tidy(() => {
      const x = randn([5, 4], { seed: 9 });
      expect(Array.from(b.forward(x).dataSync())).not.toEqual(Array.from(a.forward(x).dataSync()));
      expect(b.loadStateDict(state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
      expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(a.forward(x).dataSync()));
      // A plain object works too.
      expect(b.loadStateDict(Object.fromEntries(state))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    });
    for (const t of state.values()) t.dispose();
    expect(a.head.get(0).parameters()[0].isDisposed).toBe(false);
    a.dispose();
    b.dispose();
  });

  test('loadStateDict reports missing keys, unexpected keys and shape mismatches, and copies nothing then', () => {
    const net = new Net();
    const state = net.stateDict();
    const before = Array.from(net.blocks.get(0).fc.weight.dataSync());
    const bad = new Map(state);
    bad.delete('blocks.1.fc.bias');
    bad.set('extra.weight', zeros([2]));
    bad.set('blocks.0.fc.weight', zeros([4, 3]));
    bad.set('blocks.0.scale', zeros([1]));
    expectError(() => net.loadStateDict(bad), 'Error', /missing keys: 'blocks\.1\.fc\.bias'/);
    expectError(() => net.loadStateDict(bad), 'Error', /unexpected keys: 'extra\.weight'/);
    expectError(
      () => net.loadStateDict(bad),
      'Error',
      /size mismatch for 'blocks\.0\.fc\.weight': got \[4, 3\], the module has \[3, 4\]/,
    );
    expect(net.blocks.get(0).scale.item()).toBe(2); // nothing was copied
    expect(Array.from(net.blocks.get(0).fc.weight.dataSync())).toEqual(before);

    // strict: false tolerates missing and unexpected keys but never a shape mismatch.
    expectError(() => net.loadStateDict(bad, { strict: false }), 'Error', /size mismatch for 'blocks\.0\.fc\.weight'/);
    bad.delete('blocks.0.fc.weight');
    const result = net.loadStateDict(bad, { strict: false });
    expect(result).toEqual({
      missingKeys: ['blocks.0.fc.weight', 'blocks.1.fc.bias'],
      unexpectedKeys: ['extra.weight'],
    });
    expect(net.blocks.get(0).scale.item()).toBe(0);
    expectError(
      () =>
        net.loadStateDict(
          new Map([
            [
              'head.0.weight',
              tensor(
                [
                  [1, 2, 3, 4],
                  [5, 6, 7, 8],
                ],
                { dtype: 'int32' },
              ),
            ],
          ]),
          { strict: false },
        ),
      'Error',
      /dtype mismatch for 'head\.0\.weight': got int32/,
    );
    expectError(
      () => net.loadStateDict(null as unknown as Map<string, Tensor>),
      'TypeError',
      /Net\.loadStateDict: expected a Map or an object/,
    );
    expectError(
      () => net.loadStateDict({ 'head.0.weight': [1, 2] as unknown as Tensor }, { strict: false }),
      'Error',
      /'head\.0\.weight' is not a Tensor/,
    );
    for (const t of [...state.values(), ...bad.values()]) t.dispose();
    net.dispose();
  });

  test('zeroGrad drops gradients; requiresGrad_ freezes; numParameters counts trainable ones', () => {
    const fc = new nn.Linear(3, 2);
    tidy(() =>
      fc
        .forward(randn([4, 3]))
        .sum()
        .backward(),
    );
    expect(fc.parameters().every((p) => p.grad !== null)).toBe(true);
    fc.zeroGrad();
    expect(fc.parameters().every((p) => p.grad === null)).toBe(true);
    fc.requiresGrad_(false);
    expect(fc.numParameters()).toBe(8);
    expect(fc.numParameters({ onlyTrainable: true })).toBe(0);
    fc.dispose();
  });

  test('dispose frees every parameter, buffer and gradient', () => {
    const net = new Net();
    tidy(() =>
      net
        .forward(randn([2, 4]))
        .sum()
        .backward(),
    );
    const grad = net.head.get(0).parameters()[0].grad as Tensor;
    const tensors = [...net.parameters(), ...net.buffers()];
    net.dispose();
    expect(tensors.every((t) => t.isDisposed)).toBe(true);
    expect(grad.isDisposed).toBe(true);
  });

  test("to('cpu') keeps the same tensors; a bad device or a missing GPU changes nothing", () => {
    const net = new Net();
    tidy(() =>
      net
        .forward(randn([2, 4], { seed: 1 }))
        .sum()
        .backward(),
    );
    const tensors = [...net.parameters(), ...net.buffers()];
    const before = tensors.map((t) => Array.from(t.dataSync()));
    expect(net.to('cpu')).toBe(net);
    expect(net.cpu()).toBe(net);
    expect([...net.parameters(), ...net.buffers()]).toEqual(tensors);
    expectError(() => net.to('gpu' as never), 'TypeError', /Net\.to: device must be 'cpu' or 'cuda', got "gpu"/);
    if (!cuda.isAvailable()) expect(() => net.to('cuda')).toThrow(/CUDA/);
    expect(tensors.every((t) => t.device === 'cpu' && !t.isDisposed)).toBe(true);
    expect(tensors.map((t) => Array.from(t.dataSync()))).toEqual(before);
    expect(net.head.get(0).parameters()[0].grad?.device).toBe('cpu');
    tidy(() => net.forward(randn([2, 4])));
    net.dispose();
  });

  test('initialisation is seeded by manualSeed or an explicit seed', () => {
    manualSeed(42);
    const a = new nn.Linear(8, 4);
    manualSeed(42);
    const b = new nn.Linear(8, 4);
    const c = new nn.Linear(8, 4);
    const d = new nn.Linear(8, 4, { seed: 7 });
    const e = new nn.Linear(8, 4, { seed: 7 });
    const values = (m: nn.Module) => m.parameters().map((p) => Array.from(p.dataSync()));
    expect(values(a)).toEqual(values(b));
    expect(values(c)).not.toEqual(values(a));
    expect(values(d)).toEqual(values(e));
    expect(values(d)).not.toEqual(values(a));
    expectError(
      () => new nn.Linear(2, 2, { seed: -1 }),
      'RangeError',
      /Linear: seed must be an integer in \[0, 2\^53\), got -1/,
    );
    for (const m of [a, b, c, d, e]) m.dispose();
  });

  test('toString lists the children', () => {
    const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.GELU());
    expect(seq.toString()).toBe('Sequential(\n  (0): Linear(inFeatures=2, outFeatures=3, bias=true)\n  (1): GELU()\n)');
    seq.dispose();
  });
});
