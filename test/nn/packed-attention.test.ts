// F.packedSelfAttention: self-attention reading q, k and v in place from one [B, T, 3E] projection must match
// scaledDotProductAttention on the three parts, forward (masks, weights, dropout) and backward, on every path.
import { cat, F, Tensor, tensor, tidy } from '../../src';
import type { AttentionOptions } from '../../src/ops';
import { gradCheck } from '../gradcheck';
import { expectError, kernelPaths, maxRelError, onPath, randomArray } from '../helpers';

interface Setup {
  B: number;
  T: number;
  H: number;
  D: number;
  options: AttentionOptions;
}

/** Output and qkv gradient of the packed call and of the split one, for the same random upstream gradient. */
function bothWays({ B, T, H, D, options }: Setup): {
  packed: (Float32Array | Int32Array)[];
  split: (Float32Array | Int32Array)[];
} {
  return tidy(() => {
    const E = H * D;
    const data = randomArray(B * T * 3 * E, 3);
    const upstream = tensor(randomArray(B * T * E, 4), { shape: [B, T, E] });
    const qkv = tensor(data, { shape: [B, T, 3 * E], requiresGrad: true });
    const packedOut = options.needWeights
      ? F.packedSelfAttention(qkv, H, { ...options, needWeights: true })
      : [F.packedSelfAttention(qkv, H, options)];
    packedOut[0].backward(upstream);

    const source = tensor(data, { shape: [B, T, 3 * E] });
    const [q, k, v] = [0, 1, 2].map((i) => {
      const part = source.slice(2, i * E, (i + 1) * E).reshape(B, T, H, D);
      return tensor(Float32Array.from(part.dataSync()), { shape: [B, T, H, D], requiresGrad: true });
    });
    const splitOptions = { ...options, layout: 'bthd' as const };
    const splitOut = options.needWeights
      ? F.scaledDotProductAttention(q, k, v, { ...splitOptions, needWeights: true })
      : [F.scaledDotProductAttention(q, k, v, splitOptions)];
    splitOut[0].backward(upstream.reshape(B, T, H, D));
    const gradients = cat(
      [q, k, v].map((t) => (t.grad as Tensor).reshape(B, T, E)),
      2,
    );
    return {
      packed: [...packedOut.map((t) => t.dataSync()), (qkv.grad as Tensor).dataSync()],
      split: [...splitOut.map((t) => t.dataSync()), gradients.dataSync()],
    };
  });
}

describe('F.packedSelfAttention', () => {
  const cases: [string, Setup][] = [
    ['plain', { B: 2, T: 5, H: 3, D: 4, options: {} }],
    ['causal, one head, odd sizes', { B: 1, T: 7, H: 1, D: 3, options: { isCausal: true } }],
    [
      'float mask, key padding and weights',
      {
        B: 2,
        T: 4,
        H: 2,
        D: 5,
        options: {
          attnMask: tensor(randomArray(16, 9), { shape: [4, 4] }),
          keyPaddingMask: tensor(
            [
              [0, 0, 0, 1],
              [0, 1, 0, 0],
            ],
            { dtype: 'bool' },
          ),
          needWeights: true,
        },
      },
    ],
    ['dropout with a fixed seed', { B: 2, T: 33, H: 2, D: 8, options: { dropoutP: 0.3, seed: 1234 } }],
    ['more keys than one tile', { B: 1, T: 70, H: 2, D: 16, options: { isCausal: true } }],
  ];
  for (const [name, setup] of cases) {
    test(`${name}: output and gradient equal the split call's`, () => {
      for (const path of kernelPaths()) {
        const { packed, split } = onPath(path, () => bothWays(setup));
        expect(packed.length).toBe(split.length);
        for (let i = 0; i < packed.length; i++) expect(maxRelError(packed[i], split[i])).toBeLessThan(1e-5);
      }
    });
  }

  test('gradient check', () => {
    const TOL = 2e-2;
    expect(gradCheck((qkv) => F.packedSelfAttention(qkv, 2, { isCausal: true }), [{ shape: [2, 3, 12] }])).toBeLessThan(
      TOL,
    );
  });

  test('argument checks', () => {
    const qkv = tensor(randomArray(2 * 3 * 12, 1), { shape: [2, 3, 12] });
    expectError(() => F.packedSelfAttention(qkv, 0), 'RangeError', /numHeads must be a positive integer, got 0/);
    expectError(() => F.packedSelfAttention(qkv, 5), 'RangeError', /\[B, T, 3 \* numHeads \* D\], got \[2, 3, 12\]/);
    expectError(() => F.packedSelfAttention(qkv.reshape(6, 12), 2), 'RangeError', /got \[6, 12\]/);
    expectError(() => F.packedSelfAttention(qkv, 2, { dropoutP: 1 }), 'RangeError', /dropoutP must be in \[0, 1\)/);
    expectError(
      () => F.packedSelfAttention(qkv, 2, { keyPaddingMask: tensor([[0, 1]], { dtype: 'bool' }) }),
      'RangeError',
      /keyPaddingMask must be \[B, Tk\]/,
    );
    expectError(() => F.packedSelfAttention(tensor([[[1, 2, 3]]], { dtype: 'int32' }), 1), 'TypeError');
  });
});
