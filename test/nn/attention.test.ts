// nn.MultiheadAttention: PyTorch's parameters and init, layouts (batch-first, sequence-first, unbatched),
// masks and weights, dropout in training only, gradient checks, and the append cache == full causal attention.
import * as nn from '../../src/nn';
import { F, noGrad, randn, Tensor, tensor, tidy } from '../../src';
import { gradCheck } from '../gradcheck';
import { parameterGradCheck } from './gradcheck';
import { linearRows } from '../../src/nn/projection';
import { CROSS_PATH_TOLERANCE, expectError, maxRelError, randomArray } from '../helpers';

/** Non-zero biases, so that the checks see them. */
function perturbBiases(m: nn.Module): void {
  noGrad(() => {
    let seed = 100;
    for (const p of m.parameters()) if (p.ndim === 1) p.copy_(tensor(randomArray(p.size, seed++, -0.2, 0.2)));
  });
}

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

describe('nn.MultiheadAttention', () => {
  test("PyTorch's parameters and initialisation", () => {
    const mha = new nn.MultiheadAttention(32, 4, { seed: 1 });
    expect(mha.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['in_proj_weight', [96, 32]],
      ['in_proj_bias', [96]],
      ['out_proj.weight', [32, 32]],
      ['out_proj.bias', [32]],
    ]);
    expect(values(mha.inProjBias!).every((v) => v === 0)).toBe(true);
    expect(values(mha.outProj.bias!).every((v) => v === 0)).toBe(true);
    const bound = Math.sqrt(6 / (96 + 32)); // xavier_uniform_ on [3E, E]
    const w = values(mha.inProjWeight!);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const separate = new nn.MultiheadAttention(8, 2, { kdim: 5, vdim: 3, bias: false });
    expect(separate.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['q_proj_weight', [8, 8]],
      ['k_proj_weight', [8, 5]],
      ['v_proj_weight', [8, 3]],
      ['out_proj.weight', [8, 8]],
    ]);
    expectError(
      () => new nn.MultiheadAttention(10, 3),
      'RangeError',
      /MultiheadAttention: embedDim 10 is not divisible by numHeads 3/,
    );
    expectError(
      () => new nn.MultiheadAttention(8, 2, { dropout: 1 }),
      'RangeError',
      /MultiheadAttention: dropout must be below 1/,
    );
    mha.dispose();
    separate.dispose();
  });

  test('shapes, averaged and per-head weights, masks', () => {
    const mha = new nn.MultiheadAttention(8, 2, { seed: 2 }).eval();
    tidy(() => {
      const q = randn([2, 3, 8], { seed: 1 });
      const kv = randn([2, 5, 8], { seed: 2 });
      const padding = tensor([
        [false, false, false, true, true],
        [false, false, false, false, false],
      ]);
      const { output, weights } = mha.forward(q, kv, kv, { keyPaddingMask: padding });
      expect(output.shape).toEqual([2, 3, 8]);
      expect(weights!.shape).toEqual([2, 3, 5]);
      const w = values(weights!);
      for (let row = 0; row < 6; row++) {
        const r = w.slice(row * 5, row * 5 + 5);
        expect(r.reduce((a, b) => a + b)).toBeCloseTo(1, 5);
        if (row < 3) expect(r.slice(3)).toEqual([0, 0]); // padded keys of batch 0
      }
      const perHead = mha.forward(q, kv, kv, { keyPaddingMask: padding, averageAttnWeights: false }).weights!;
      expect(perHead.shape).toEqual([2, 2, 3, 5]);
      expect(maxRelError(values(perHead.mean(1)), w)).toBeLessThan(1e-6);
      expect(mha.forward(q, kv, kv, { needWeights: false }).weights).toBeNull();

      // isCausal == a causal bool mask == a causal float mask (self-attention).
      const x = randn([2, 4, 8], { seed: 3 });
      const causal = mha.forward(x, x, x, { isCausal: true }).output;
      const boolMask = tensor(
        [0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0].map((v) => v === 1),
        { shape: [4, 4] },
      );
      expect(maxRelError(values(mha.forward(x, x, x, { attnMask: boolMask }).output), values(causal))).toBeLessThan(
        1e-6,
      );
      const floatMask = nn.Transformer.generateSquareSubsequentMask(4);
      expect(maxRelError(values(mha.forward(x, x, x, { attnMask: floatMask }).output), values(causal))).toBeLessThan(
        1e-6,
      );
    });
    mha.dispose();
  });

  test('sequence-first and unbatched inputs give the batch-first results', () => {
    const batchFirst = new nn.MultiheadAttention(8, 4, { seed: 3 });
    const seqFirst = new nn.MultiheadAttention(8, 4, { seed: 4, batchFirst: false });
    perturbBiases(batchFirst);
    const state = batchFirst.stateDict();
    seqFirst.loadStateDict(state);
    for (const t of state.values()) t.dispose();
    tidy(() => {
      const q = randn([2, 3, 8], { seed: 5 });
      const k = randn([2, 4, 8], { seed: 6 });
      const v = randn([2, 4, 8], { seed: 7 });
      const expected = batchFirst.forward(q, k, v);
      const got = seqFirst.forward(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1));
      expect(got.output.shape).toEqual([3, 2, 8]);
      expect(maxRelError(values(got.output.transpose(0, 1)), values(expected.output))).toBeLessThan(1e-6);
      expect(maxRelError(values(got.weights!), values(expected.weights!))).toBeLessThan(1e-6);
      const single = batchFirst.forward(
        q.slice(0, 1, 2).squeeze(0),
        k.slice(0, 1, 2).squeeze(0),
        v.slice(0, 1, 2).squeeze(0),
      );
      expect(single.output.shape).toEqual([3, 8]);
      expect(single.weights!.shape).toEqual([3, 4]);
      expect(maxRelError(values(single.output), values(expected.output.slice(0, 1, 2)))).toBeLessThan(1e-6);
    });
    batchFirst.dispose();
    seqFirst.dispose();
  });

  test('attention dropout acts in training mode only', () => {
    const mha = new nn.MultiheadAttention(8, 2, { dropout: 0.5, seed: 5 });
    tidy(() => {
      const x = randn([2, 6, 8], { seed: 8 });
      const a = values(mha.forward(x, x, x).output);
      const b = values(mha.forward(x, x, x).output);
      expect(maxRelError(a, b)).toBeGreaterThan(1e-3);
      mha.eval();
      const c = values(mha.forward(x, x, x).output);
      expect(values(mha.forward(x, x, x).output)).toEqual(c);
      const noDropout = new nn.MultiheadAttention(8, 2, { seed: 5 }).eval();
      expect(maxRelError(values(noDropout.forward(x, x, x).output), c)).toBeLessThan(1e-6);
      noDropout.dispose();
    });
    mha.dispose();
  });

  test('gradient check: query, key, value and every parameter (packed and kdim/vdim)', () => {
    const mha = new nn.MultiheadAttention(4, 2, { seed: 6 });
    perturbBiases(mha);
    const fn = (q: Tensor, k: Tensor, v: Tensor) => mha.forward(q, k, v, { needWeights: false }).output;
    expect(gradCheck(fn, [{ shape: [2, 3, 4] }, { shape: [2, 2, 4] }, { shape: [2, 2, 4] }])).toBeLessThan(2e-2);
    expect(
      gradCheck((x: Tensor) => mha.forward(x, x, x, { isCausal: true }).output, [{ shape: [1, 3, 4] }]),
    ).toBeLessThan(2e-2);
    const x = tensor(randomArray(12, 3), { shape: [1, 3, 4] });
    const mem = tensor(randomArray(8, 4), { shape: [1, 2, 4] });
    expect(parameterGradCheck(mha, () => mha.forward(x, x, x).output)).toBeLessThan(2e-2);
    expect(parameterGradCheck(mha, () => mha.forward(x, mem, mem).output)).toBeLessThan(2e-2);
    const separate = new nn.MultiheadAttention(4, 2, { kdim: 3, vdim: 2, seed: 7 });
    perturbBiases(separate);
    const k = tensor(randomArray(6, 5), { shape: [1, 2, 3] });
    const v = tensor(randomArray(4, 6), { shape: [1, 2, 2] });
    expect(parameterGradCheck(separate, () => separate.forward(x, k, v).output)).toBeLessThan(2e-2);
    for (const t of [x, mem, k, v]) t.dispose();
    mha.dispose();
    separate.dispose();
  });

  // needWeights false takes the decoding path (one packed q/k/v product, k and v copied into the cache, q read in
  // place); needWeights true projects q, k and v separately.
  test.each([false, true])(
    'an append cache fed a few positions at a time equals full causal self-attention (needWeights %s)',
    (needWeights) => {
      const mha = new nn.MultiheadAttention(8, 2, { seed: 8 }).eval();
      perturbBiases(mha);
      noGrad(() =>
        tidy(() => {
          const T = 21;
          const x = randn([2, T, 8], { seed: 9 });
          const full = values(mha.forward(x, x, x, { isCausal: true, needWeights: false }).output);
          const cache = new nn.AttentionCache();
          const steps: number[] = [];
          // Two positions, then one at a time, then three: query i sees cached keys j <= i + past. The capacity
          // starts at 16 and doubles, which moves the cached positions once.
          const cuts = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, T];
          for (let c = 1; c < cuts.length; c++) {
            const step = x.slice(1, cuts[c - 1], cuts[c]);
            steps.push(
              ...values(mha.forward(step, step, step, { isCausal: true, cache, needWeights }).output.permute(1, 0, 2)),
            );
            expect(cache.length).toBe(cuts[c]);
            expect(cache.key!.shape).toEqual([2, cuts[c] <= 16 ? 16 : 32, 2, 4]);
          }
          const fullByTime = values(tensor(full, { shape: [2, T, 8] }).permute(1, 0, 2));
          expect(maxRelError(steps, fullByTime)).toBeLessThan(CROSS_PATH_TOLERANCE);
          const kept = cache.key!;
          cache.dispose();
          expect(kept.isDisposed).toBe(true);
          expect(cache.length).toBe(0);
        }),
      );
      mha.dispose();
    },
  );

  test('cached self-attention: both paths give the same outputs and gradients, with a padding mask', () => {
    const mha = new nn.MultiheadAttention(8, 2, { seed: 12 }).eval();
    perturbBiases(mha);
    const run = (needWeights: boolean) =>
      tidy(() => {
        const x = randn([2, 5, 8], { seed: 13 });
        const step = x.slice(1, 3, 5).detach().requiresGrad_();
        const keyPaddingMask = tensor([
          [false, true, false, false, false],
          [false, false, false, false, true],
        ]);
        const cache = new nn.AttentionCache();
        noGrad(() =>
          mha.forward(x.slice(1, 0, 3), x.slice(1, 0, 3), x.slice(1, 0, 3), { isCausal: true, cache, needWeights }),
        );
        const out = mha.forward(step, step, step, { isCausal: true, cache, needWeights, keyPaddingMask }).output;
        out
          .mul(tensor(randomArray(out.size, 14), { shape: out.shape }))
          .sum()
          .backward();
        const grads = [step.grad!, ...mha.parameters().map((p) => p.grad!)].map(values);
        cache.dispose();
        mha.zeroGrad();
        return { out: values(out), grads };
      });
    const packed = run(false);
    const separate = run(true);
    expect(maxRelError(packed.out, separate.out)).toBeLessThan(1e-6);
    packed.grads.forEach((g, i) => expect(maxRelError(g, separate.grads[i])).toBeLessThan(1e-5));
    // Keys and values come from the detached cache: only the query rows of in_proj get a gradient.
    const inProjGrad = packed.grads[1];
    expect(inProjGrad.slice(8 * 8).every((v) => v === 0)).toBe(true);
    expect(inProjGrad.slice(0, 8 * 8).some((v) => v !== 0)).toBe(true);
    mha.dispose();
  });

  test('AttentionCache.appendPacked equals append of the key and value parts, and checks its input', () => {
    tidy(() => {
      const [B, T, H, D] = [2, 3, 2, 4];
      const E = H * D;
      const qkv = tensor(randomArray(B * T * 3 * E, 15), { shape: [B, T, 3 * E] });
      const part = (i: number) => qkv.slice(2, i * E, (i + 1) * E).reshape(B, T, H, D);
      const packed = new nn.AttentionCache();
      const separate = new nn.AttentionCache();
      for (let step = 0; step < 7; step++) {
        packed.appendPacked(qkv, H);
        separate.append(part(1), part(2));
      }
      expect(packed.length).toBe(21);
      const valid = (t: Tensor) => values(t.slice(1, 0, 21)); // past the length the buffers hold no data yet
      expect(valid(packed.key!)).toEqual(valid(separate.key!));
      expect(valid(packed.value!)).toEqual(valid(separate.value!));
      expectError(
        () => packed.appendPacked(qkv, 3),
        'RangeError',
        /appendPacked: qkv must be a non-empty float32 \[B, T, 3 \* numHeads \* D\], got float32 \[2, 3, 24\] with numHeads 3/,
      );
      expectError(
        () => packed.appendPacked(tensor(randomArray(3 * 24, 1), { shape: [3, 1, 24] }), H),
        'RangeError',
        /new keys \[3, 1, 2, 4\] do not continue the cached \[2, 32, 2, 4\]/,
      );
      expectError(() => new nn.AttentionCache('static').appendPacked(qkv, H), 'Error', /this cache is 'static'/);
      packed.dispose();
      separate.dispose();
    });
  });

  test('linearRows equals F.linear on copied row blocks, gradients included', () => {
    tidy(() => {
      const x = tensor(randomArray(2 * 3 * 5, 1), { shape: [2, 3, 5], requiresGrad: true });
      const w = tensor(randomArray(9 * 5, 2), { shape: [9, 5], requiresGrad: true });
      const b = tensor(randomArray(12, 3), { requiresGrad: true });
      const r = tensor(randomArray(2 * 3 * 4, 4), { shape: [2, 3, 4] });
      const y = linearRows(x, w, 3, b, 7, 4);
      y.backward(r);
      const [gx, gw, gb] = [x, w, b].map((t) => values(t.grad!));
      for (const t of [x, w, b]) t.zeroGrad();
      const reference = F.linear(x, w.slice(0, 3, 7), b.slice(0, 7, 11));
      reference.backward(r);
      expect(maxRelError(values(y), values(reference))).toBeLessThan(1e-6);
      expect(maxRelError(gx, values(x.grad!))).toBeLessThan(1e-6);
      expect(maxRelError(gw, values(w.grad!))).toBeLessThan(1e-6);
      expect(maxRelError(gb, values(b.grad!))).toBeLessThan(1e-6);
      expect(gw.slice(0, 15).every((v) => v === 0) && gw.slice(35).every((v) => v === 0)).toBe(true);
      expectError(
        () => linearRows(x, w, 6, b, 0, 4),
        'RangeError',
        /linearRows: rows 6\.\.9 are outside the weight \[9, 5\]/,
      );
      expectError(
        () => linearRows(x, w, 0, b, 9, 4),
        'RangeError',
        /linearRows: entries 9\.\.12 are outside the bias \[12\]/,
      );
    });
  });

  test('bad inputs throw errors naming the module and the shapes', () => {
    const mha = new nn.MultiheadAttention(8, 2, { kdim: 6 });
    tidy(() => {
      const q = randn([2, 3, 8]);
      const k = randn([2, 4, 6]);
      const v = randn([2, 4, 8]);
      expectError(
        () => mha.forward(randn([2, 3, 7]), k, v),
        'RangeError',
        /MultiheadAttention: query must have 8 features, got \[2, 3, 7\]/,
      );
      expectError(
        () => mha.forward(q, v, v),
        'RangeError',
        /MultiheadAttention: key must have kdim = 6 features, got \[2, 4, 8\]/,
      );
      expectError(
        () => mha.forward(q, randn([1, 4, 6]), v),
        'RangeError',
        /MultiheadAttention: batch or length mismatch/,
      );
      expectError(
        () => mha.forward(q, k, v, { attnMask: randn([3, 3]) }),
        'RangeError',
        /attnMask must be \[L, S\] = \[3, 4\] or \[B \* numHeads, L, S\] = \[4, 3, 4\], got \[3, 3\]/,
      );
      expectError(
        () => mha.forward(q, k, v, { keyPaddingMask: randn([2, 3]) }),
        'RangeError',
        /keyPaddingMask must be \[B, S\] = \[2, 4\], got \[2, 3\]/,
      );
      expectError(() => mha.forward(q, k, randn([4, 8])), 'RangeError', /must all be 3-D \(batched\) or 2-D/);
      expectError(
        () => mha.forward(q, k, v, { cache: {} as nn.AttentionCache }),
        'TypeError',
        /cache must be an AttentionCache/,
      );
    });
    mha.dispose();
  });
});
