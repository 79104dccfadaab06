// LR schedulers against torch.optim.lr_scheduler lr sequences (goldens), their effect on the optimizer, state
// dicts, and argument errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdamW, SGD, lrScheduler } from '../../src/optim';
import { tensor } from '../../src/tensor';
import { expectError, maxRelError } from '../helpers';

const { LambdaLR, NoamLR, StepLR, WarmupCosineLR } = lrScheduler;

interface SchedulerCase {
  base: number[];
  options?: Record<string, number>;
  lrs: number[][];
}
const golden = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'golden', 'optim.json'), 'utf8')) as {
    schedulers: Record<string, SchedulerCase>;
  }
).schedulers;

/** An SGD with one single-parameter group per base lr. */
function optimizerWith(base: number[]): SGD {
  return new SGD(
    base.map((lr) => ({ params: [tensor([0]).requiresGrad_()], lr })),
    { lr: base[0] },
  );
}

const makers: Record<string, (o: SGD, c: SchedulerCase) => lrScheduler.LRScheduler> = {
  stepLR: (o, c) => new StepLR(o, c.options as unknown as lrScheduler.StepLROptions),
  stepLRDefaultGamma: (o, c) => new StepLR(o, c.options as unknown as lrScheduler.StepLROptions),
  lambdaLR: (o) => new LambdaLR(o, [(e) => 1 / (e + 1), (e) => 0.9 ** e]),
  noam: (o, c) => new NoamLR(o, c.options as unknown as lrScheduler.NoamOptions),
  warmupCosine: (o, c) => new WarmupCosineLR(o, c.options as unknown as lrScheduler.WarmupCosineOptions),
};

describe('lr sequences match torch', () => {
  for (const [name, c] of Object.entries(golden)) {
    test(`${name} ${JSON.stringify(c.options ?? {})} over ${c.lrs.length - 1} steps`, () => {
      const optimizer = optimizerWith(c.base);
      const scheduler = makers[name](optimizer, c);
      c.lrs.forEach((expected, epoch) => {
        if (epoch > 0) {
          optimizer.step();
          scheduler.step();
        }
        expect(scheduler.lastEpoch).toBe(epoch);
        const got = scheduler.getLastLr();
        if (maxRelError(got, expected, 1e-12) > 1e-9) throw new Error(`${name}, epoch ${epoch}: ${got} vs ${expected}`);
        expect(optimizer.paramGroups.map((g) => g.lr)).toEqual(got);
      });
    });
  }
});

describe('schedules', () => {
  test("NoamLR peaks at warmupSteps with dModel^-0.5 * warmup^-0.5 * factor, whatever the groups' lrs", () => {
    const optimizer = optimizerWith([123, 0.5]);
    const scheduler = new NoamLR(optimizer, { dModel: 512, warmupSteps: 4000 });
    const lrs: number[] = [scheduler.getLastLr()[0]];
    for (let s = 1; s < 8000; s++) {
      scheduler.step();
      lrs.push(scheduler.getLastLr()[0]);
    }
    const peak = lrs.indexOf(Math.max(...lrs));
    expect(peak + 1).toBe(4000);
    expect(lrs[peak]).toBeCloseTo(512 ** -0.5 * 4000 ** -0.5, 12);
    expect(lrs[0]).toBeCloseTo(512 ** -0.5 * 4000 ** -1.5, 15);
    expect(scheduler.getLastLr()[0]).toBe(scheduler.getLastLr()[1]);
  });

  test('WarmupCosineLR starts at 0, reaches the base lr after warmup, ends and stays at minLr', () => {
    const optimizer = optimizerWith([0.1]);
    const scheduler = new WarmupCosineLR(optimizer, { warmupSteps: 4, totalSteps: 10, minLr: 0.01 });
    const lrs = [scheduler.getLastLr()[0]];
    for (let s = 0; s < 14; s++) {
      scheduler.step();
      lrs.push(scheduler.getLastLr()[0]);
    }
    expect(lrs[0]).toBe(0);
    expect(lrs[2]).toBeCloseTo(0.05, 12);
    expect(lrs[4]).toBeCloseTo(0.1, 12);
    expect(lrs[7]).toBeCloseTo(0.055, 12); // halfway through the cosine
    expect(lrs.slice(10)).toEqual([0.01, 0.01, 0.01, 0.01, 0.01]);
    const noWarmup = new WarmupCosineLR(optimizerWith([1]), { warmupSteps: 0, totalSteps: 2 });
    expect(noWarmup.getLastLr()).toEqual([1]);
  });

  test('the optimizer trains with the scheduled lr', () => {
    const w = tensor([1]).requiresGrad_();
    const optimizer = new SGD([w], { lr: 1 });
    const scheduler = new StepLR(optimizer, { stepSize: 1, gamma: 0.5 });
    const values: number[] = [];
    for (let i = 0; i < 3; i++) {
      w.grad = tensor([1]);
      optimizer.step();
      scheduler.step();
      values.push(w.item());
    }
    expect(values).toEqual([0, -0.5, -0.75]);
  });

  test('a state dict restores the schedule on a fresh optimizer and scheduler', () => {
    const c = golden.warmupCosine;
    const first = makers.warmupCosine(optimizerWith(c.base), c);
    for (let i = 0; i < 7; i++) first.step();
    const saved = JSON.parse(JSON.stringify(first.stateDict())) as lrScheduler.SchedulerStateDict;
    expect(saved).toMatchObject({ lastEpoch: 7, baseLrs: c.base, warmupSteps: 5, totalSteps: 20, minLr: 0.001 });

    // The fresh optimizer has other lrs: the schedule's base lrs come from the dict.
    const optimizer = optimizerWith([9, 9]);
    const resumed = makers.warmupCosine(optimizer, c);
    resumed.loadStateDict(saved);
    expect(resumed.getLastLr()).toEqual(c.lrs[7]);
    expect(optimizer.paramGroups.map((g) => g.lr)).toEqual(c.lrs[7]);
    for (let epoch = 8; epoch < c.lrs.length; epoch++) {
      resumed.step();
      expect(maxRelError(resumed.getLastLr(), c.lrs[epoch], 1e-12)).toBeLessThan(1e-9);
    }
  });

  test('LambdaLR state dicts carry the epoch (the functions are recreated by the caller)', () => {
    const a = new LambdaLR(optimizerWith([1]), (e) => 1 / (e + 1));
    a.step();
    a.step();
    const b = new LambdaLR(optimizerWith([1]), (e) => 1 / (e + 1));
    b.loadStateDict(a.stateDict());
    expect(b.getLastLr()).toEqual([1 / 3]);
  });

  test('schedulers drive AdamW groups too', () => {
    const optimizer = new AdamW(
      [{ params: [tensor([1]).requiresGrad_()] }, { params: [tensor([2]).requiresGrad_()], lr: 0.01 }],
      { lr: 0.1 },
    );
    const scheduler = new StepLR(optimizer, { stepSize: 2 });
    scheduler.step();
    scheduler.step();
    expect(optimizer.paramGroups.map((g) => g.lr)).toEqual([0.1 * 0.1, 0.01 * 0.1]);
  });
});

describe('argument errors', () => {
  test('bad options name the scheduler and the value', () => {
    const o = optimizerWith([0.1]);
    expectError(() => new StepLR(o, { stepSize: 0 }), 'RangeError', /StepLR: options: stepSize must be >= 1, got 0/);
    expectError(
      () => new StepLR(o, { stepSize: 1.5 }),
      'TypeError',
      /StepLR: options: stepSize must be an integer, got 1.5/,
    );
    expectError(
      () => new StepLR(o, { stepSize: 2, step_size: 2 } as unknown as lrScheduler.StepLROptions),
      'TypeError',
      /StepLR: unknown option 'step_size'/,
    );
    expectError(
      () => new NoamLR(o, { dModel: 512 } as lrScheduler.NoamOptions),
      'TypeError',
      /NoamLR: options: warmupSteps must be an integer, got undefined/,
    );
    expectError(
      () => new NoamLR(o, { dModel: 512, warmupSteps: 10, factor: -1 }),
      'RangeError',
      /NoamLR: options: factor must be in/,
    );
    expectError(
      () => new WarmupCosineLR(o, { warmupSteps: 11, totalSteps: 10 }),
      'RangeError',
      /warmupSteps \(11\) exceeds totalSteps \(10\)/,
    );
    expectError(
      () => new WarmupCosineLR(o, { warmupSteps: 1, totalSteps: 10, minLr: NaN }),
      'TypeError',
      /minLr must be a finite number, got NaN/,
    );
    expectError(
      () => new LambdaLR(optimizerWith([1, 2]), [(e) => e]),
      'RangeError',
      /LambdaLR: got 1 lrLambda functions for 2 param groups/,
    );
    expectError(
      () => new LambdaLR(o, 5 as unknown as lrScheduler.LrLambda),
      'TypeError',
      /LambdaLR: lrLambda must be a function, got number/,
    );
    expectError(
      () => new LambdaLR(o, () => NaN),
      'RangeError',
      /LambdaLR.step: lrLambda\(0\) for group 0 returned NaN/,
    );
    expectError(
      () => new StepLR({} as SGD, { stepSize: 1 }),
      'TypeError',
      /StepLR: optimizer must be an optimizer with paramGroups/,
    );
  });

  test('mismatched state dicts and changed group counts are rejected', () => {
    const o = optimizerWith([0.1]);
    const s = new StepLR(o, { stepSize: 3 });
    const other = new StepLR(optimizerWith([0.1]), { stepSize: 4 });
    expectError(
      () => s.loadStateDict(other.stateDict()),
      'RangeError',
      /StepLR.loadStateDict: the dict's stepSize is 4, this scheduler's 3/,
    );
    expectError(
      () => s.loadStateDict({ ...s.stateDict(), lastEpoch: -2 }),
      'RangeError',
      /lastEpoch must be >= 0, got -2/,
    );
    expectError(
      () => s.loadStateDict({ ...s.stateDict(), baseLrs: [0.1, 0.2] }),
      'RangeError',
      /baseLrs must hold one lr per param group \(1\)/,
    );
    o.addParamGroup({ params: [tensor([1]).requiresGrad_()], lr: 0.5 });
    expectError(
      () => s.step(),
      'RangeError',
      /StepLR.step: the optimizer has 2 param groups, the scheduler was made for 1/,
    );
  });
});
