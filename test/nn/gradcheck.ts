// Finite-difference check of a module's parameter gradients (test/gradcheck.ts covers input gradients).
import type { Module } from '../../src/nn';
import { noGrad, Tensor, tensor, tidy } from '../../src';
import { randomArray } from '../helpers';

/** Checks d(sum(forward() * r))/d(p) from backward() against central differences for every element of every
 * parameter (perturbed in place). Returns the worst relative error (|analytic - numeric| / max(|numeric|, 1e-2)). */
export function parameterGradCheck(module: Module, forward: () => Tensor, h = 1e-2): number {
  return tidy(() => {
    module.zeroGrad();
    const out = forward();
    const r = tensor(randomArray(out.size, 11), { shape: [...out.shape] });
    out.backward(r);
    const weights = r.dataSync();
    const loss = () =>
      noGrad(() =>
        tidy(() => {
          const y = forward().dataSync();
          let total = 0;
          for (let i = 0; i < y.length; i++) total += y[i] * weights[i];
          return total;
        }),
      );
    let worst = 0;
    for (const p of module.parameters()) {
      const analytic = (p.grad as Tensor).dataSync();
      const values = p.dataSync() as Float32Array;
      for (let i = 0; i < values.length; i++) {
        const original = values[i];
        p.storage.write(Float32Array.of(original + h), i);
        const plus = loss();
        p.storage.write(Float32Array.of(original - h), i);
        const minus = loss();
        p.storage.write(Float32Array.of(original), i);
        const numeric = (plus - minus) / (2 * h);
        const err = Math.abs(analytic[i] - numeric) / Math.max(Math.abs(numeric), 1e-2);
        if (!(err <= worst)) worst = err;
      }
    }
    module.zeroGrad();
    return worst;
  });
}
