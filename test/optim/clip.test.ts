// clipGradNorm against torch.nn.utils.clip_grad_norm_ (goldens), clipGradValue, and argument errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clipGradNorm, clipGradValue } from '../../src/optim';
import { keep, Tensor, tensor, zeros } from '../../src/tensor';
import { expectError, maxRelError } from '../helpers';

interface Packed {
  shape: number[];
  data: number[];
}
interface ClipCase {
  maxNorm: number;
  normType: number | 'inf';
  grads: Packed[];
  total: number;
  clipped: Packed[];
}
const golden = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'golden', 'optim.json'), 'utf8')) as {
    clipGradNorm: Record<string, ClipCase>;
  }
).clipGradNorm;

const fromPacked = (p: Packed) => tensor(Float32Array.from(p.data), { shape: p.shape });

function paramsWithGrads(grads: Array<Packed | null>): Tensor[] {
  return grads.map((g) => {
    const p = zeros(g ? g.shape : [3]).requiresGrad_();
    if (g) p.grad = keep(fromPacked(g));
    return p;
  });
}

describe('clipGradNorm matches torch', () => {
  for (const [name, c] of Object.entries(golden)) {
    test(`${name}: maxNorm ${c.maxNorm}, normType ${c.normType}`, () => {
      // The last parameter has no gradient: it is skipped, as in torch.
      const params = paramsWithGrads([...c.grads, null]);
      const grads = params.map((p) => p.grad);
      const total = clipGradNorm(params, c.maxNorm, c.normType);
      expect(Math.abs(total - c.total) / c.total).toBeLessThan(1e-5);
      c.clipped.forEach((expected, i) => {
        expect(params[i].grad).toBe(grads[i]); // scaled in place
        expect(maxRelError((params[i].grad as Tensor).dataSync(), expected.data)).toBeLessThan(1e-5);
      });
      expect(params[params.length - 1].grad).toBeNull();
    });
  }
});

describe('clipGradNorm', () => {
  test('accepts a single tensor and Infinity, returns 0 when there are no gradients', () => {
    const p = zeros([2]).requiresGrad_();
    expect(clipGradNorm(p, 1)).toBe(0);
    expect(clipGradNorm([], 1)).toBe(0);
    p.grad = keep(tensor([3, -4]));
    expect(clipGradNorm(p, 100, Infinity)).toBe(4);
    expect(clipGradNorm(p, 1)).toBeCloseTo(5, 6);
    expect(maxRelError(p.grad.dataSync(), [0.6, -0.8])).toBeLessThan(1e-5);
  });

  test('a non-finite norm propagates like torch, or throws with errorIfNonfinite', () => {
    const p = zeros([2]).requiresGrad_();
    p.grad = keep(tensor([NaN, 1]));
    expectError(
      () => clipGradNorm(p, 1, 2, { errorIfNonfinite: true }),
      'Error',
      /clipGradNorm: the total norm of order 2 of the gradients is NaN/,
    );
    expect(p.grad.toArray()).toEqual([NaN, 1]);
    expect(clipGradNorm(p, 1, Infinity)).toBeNaN();
    const q = zeros([2]).requiresGrad_();
    q.grad = keep(tensor([Infinity, 1]));
    expect(clipGradNorm(q, 1)).toBe(Infinity);
    expect(q.grad.toArray()).toEqual([NaN, 0]); // inf * 0, as in torch
  });

  test('bad arguments', () => {
    const p = zeros([2]).requiresGrad_();
    expectError(() => clipGradNorm(p, -1), 'RangeError', /clipGradNorm: maxNorm must be a number >= 0, got -1/);
    expectError(() => clipGradNorm(p, 1, 0), 'RangeError', /normType must be a number > 0 or Infinity, got 0/);
    expectError(() => clipGradNorm(p, 1, 'two' as unknown as number), 'RangeError', /normType must be/);
    expectError(
      () => clipGradNorm([p, 5 as unknown as Tensor], 1),
      'TypeError',
      /clipGradNorm: params\[1\] must be a Tensor, got number/,
    );
    expectError(
      () => clipGradNorm(null as unknown as Tensor, 1),
      'TypeError',
      /params must be a Tensor or an array of Tensors, got null/,
    );
  });
});

describe('clipGradValue', () => {
  test('clamps each gradient element into [-v, v] in place', () => {
    const a = zeros([4]).requiresGrad_();
    const b = zeros([2]).requiresGrad_();
    a.grad = keep(tensor([-3, -0.5, 0.25, 7]));
    const grad = a.grad;
    clipGradValue([a, b], 1);
    expect(a.grad).toBe(grad);
    expect(a.grad.toArray()).toEqual([-1, -0.5, 0.25, 1]);
    expect(b.grad).toBeNull();
    expectError(() => clipGradValue([a], -1), 'RangeError', /clipGradValue: clipValue must be a number >= 0, got -1/);
  });
});
