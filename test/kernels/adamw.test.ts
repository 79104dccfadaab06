// adamwStep vs a float64 transcription of torch.optim.AdamW (decoupled weight decay, bias correction).
import { addon } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, storageOf } from '../helpers';
import { relError, uniformArray } from './elementwise_util';

// Bound once: `Math.x` inside jest's vm context is a slow global lookup in these loops.
const { sqrt } = Math;

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

function adamwRef(
  param: Float64Array,
  grad: Float32Array,
  m: Float64Array,
  v: Float64Array,
  h: Hyper,
  step: number,
): void {
  const bias1 = 1 - h.beta1 ** step,
    bias2 = 1 - h.beta2 ** step;
  for (let i = 0; i < param.length; i++) {
    param[i] *= 1 - h.lr * h.weightDecay;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * grad[i];
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * grad[i] * grad[i];
    const mhat = m[i] / bias1,
      vhat = v[i] / bias2;
    param[i] -= (h.lr * mhat) / (sqrt(vhat) + h.eps);
  }
}

describe('adamwStep', () => {
  const settings: Hyper[] = [
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    { lr: 3e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0 },
    { lr: 0, beta1: 0, beta2: 0, eps: 0.1, weightDecay: 0.5 },
  ];
  for (const n of [1, 7, 257, 40001]) {
    test(`matches torch.optim.AdamW over several steps, n = ${n}, on every path`, () => {
      settings.forEach((h, k) => {
        for (const path of kernelPaths()) {
          const p0 = uniformArray(n, n + k);
          const param = Float64Array.from(p0),
            m = new Float64Array(n),
            v = new Float64Array(n);
          const ps = storageOf(p0),
            ms = emptyStorage(n),
            vs = emptyStorage(n),
            gs = emptyStorage(n);
          addon.fill(ms, 0, n, 0);
          addon.fill(vs, 0, n, 0);
          for (let step = 1; step <= 5; step++) {
            const g = uniformArray(n, 1000 * step + k, -0.1, 0.1);
            gs.write(g, 0);
            adamwRef(param, g, m, v, h, step);
            onPath(path, () => addon.adamwStep(ps, gs, ms, vs, n, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, step));
          }
          expect({ n, k, path, ok: relError(ps.readFloat32(0, n), param, 1e-2) < 1e-5 }).toEqual({
            n,
            k,
            path,
            ok: true,
          });
          expect(relError(ms.readFloat32(0, n), m, 1e-3)).toBeLessThan(1e-5);
          expect(relError(vs.readFloat32(0, n), v, 1e-5)).toBeLessThan(1e-4);
        }
      });
    });
  }

  test('rejects bad arguments', () => {
    const s = emptyStorage(4);
    const ok = [s, s, s, s, 4, 1e-3, 0.9, 0.999, 1e-8, 0, 1] as const;
    const call = (patch: Record<number, unknown>) => () => {
      const a = [...ok] as unknown[];
      for (const [i, value] of Object.entries(patch)) a[Number(i)] = value;
      (addon.adamwStep as (...args: unknown[]) => void)(...a);
    };
    expectError(call({ 4: 5 }), 'RangeError', /adamwStep: param holds 4/);
    expectError(call({ 3: emptyStorage(2) }), 'RangeError', /adamwStep: v holds 2/);
    expectError(call({ 10: 0 }), 'RangeError', /adamwStep: step must be in/);
    expectError(call({ 10: 1.5 }), 'RangeError', /adamwStep: step must be an integer/);
    expectError(call({ 5: -1 }), 'RangeError', /adamwStep: lr must be >= 0/);
    expectError(call({ 6: 1 }), 'RangeError', /adamwStep: beta1 must be in \[0, 1\)/);
    expectError(call({ 7: -0.5 }), 'RangeError', /adamwStep: beta2 must be in \[0, 1\)/);
    expectError(call({ 8: -1 }), 'RangeError', /adamwStep: eps must be >= 0/);
    expectError(call({ 9: -1 }), 'RangeError', /adamwStep: weightDecay must be >= 0/);
    expectError(call({ 5: NaN }), 'RangeError', /adamwStep: lr must be finite/);
    expectError(call({ 1: 'g' }), 'TypeError', /adamwStep: grad must be a Storage/);
  });
});
