// Central finite-difference gradient checks for ops built on the Tensor API.
import { noGrad, Tensor, tensor, tidy } from '../src';
import { randomArray } from './helpers';

export interface GradInput {
  shape: number[];
  /** Values; random in [-1, 1) when omitted. */
  data?: Float32Array;
}

/** Checks d(sum(fn(x) * r))/dx from backward() against finite differences, for every float input.
 * Returns the worst relative error (|analytic - numeric| / max(|numeric|, 1e-2)). */
export function gradCheck(fn: (...inputs: Tensor[]) => Tensor, specs: GradInput[], seed = 7, h = 1e-2): number {
  return tidy(() => {
    const values = specs.map(
      (s, i) =>
        s.data ??
        randomArray(
          s.shape.reduce((p, d) => p * d, 1),
          seed + i,
        ),
    );
    const inputs = specs.map((s, i) => tensor(values[i], { shape: s.shape, requiresGrad: true }));
    const out = fn(...inputs);
    const r = randomArray(out.size, seed + 100);
    out.backward(tensor(r, { shape: [...out.shape] }));
    const lossAt = (perturbed: Float32Array[]): number =>
      noGrad(() =>
        tidy(() => {
          const y = fn(...perturbed.map((v, i) => tensor(v, { shape: specs[i].shape }))).dataSync();
          let total = 0;
          for (let i = 0; i < y.length; i++) total += y[i] * r[i];
          return total;
        }),
      );
    let worst = 0;
    inputs.forEach((input, which) => {
      const analytic = (input.grad as Tensor).dataSync();
      for (let i = 0; i < values[which].length; i++) {
        const plus = values.map((v) => v.slice());
        const minus = values.map((v) => v.slice());
        plus[which][i] += h;
        minus[which][i] -= h;
        const numeric = (lossAt(plus) - lossAt(minus)) / (2 * h);
        const err = Math.abs(analytic[i] - numeric) / Math.max(Math.abs(numeric), 1e-2);
        if (!(err <= worst)) worst = err;
      }
    });
    return worst;
  });
}
