// The Transformer family: PyTorch's module names, layer cloning, initialisation, layouts, dropout modes,
// incremental decoding with a KV cache (== the full causal forward), flat memory over training steps, errors.
import * as nn from '../../src/nn';
import { cat, memory, noGrad, randn, Tensor, tensor, tidy } from '../../src';
import { CROSS_PATH_TOLERANCE, expectError, maxRelError, randomArray } from '../helpers';

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Non-zero biases and non-unit LayerNorm weights, so that the comparisons see them. */
function perturbVectors(m: nn.Module): void {
  noGrad(() => {
    let seed = 300;
    for (const p of m.parameters())
      if (p.ndim === 1) {
        const noise = tensor(randomArray(p.size, seed++, -0.2, 0.2));
        p.copy_(p.add(noise));
        noise.dispose();
      }
  });
}

const small = { dModel: 16, nhead: 4, dimFeedforward: 32, dropout: 0.1 };

describe('Transformer layers', () => {
  test("encoder and decoder layers have PyTorch's submodules", () => {
    const enc = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32 });
    expect(enc.namedChildren().map(([n]) => n)).toEqual([
      'self_attn',
      'linear1',
      'dropout',
      'linear2',
      'norm1',
      'norm2',
      'dropout1',
      'dropout2',
    ]);
    expect(enc.namedParameters().map(([n, p]) => `${n} [${p.shape.join(', ')}]`)).toEqual([
      'self_attn.in_proj_weight [48, 16]',
      'self_attn.in_proj_bias [48]',
      'self_attn.out_proj.weight [16, 16]',
      'self_attn.out_proj.bias [16]',
      'linear1.weight [32, 16]',
      'linear1.bias [32]',
      'linear2.weight [16, 32]',
      'linear2.bias [16]',
      'norm1.weight [16]',
      'norm1.bias [16]',
      'norm2.weight [16]',
      'norm2.bias [16]',
    ]);
    const dec = new nn.TransformerDecoderLayer(16, 4, { dimFeedforward: 32 });
    expect(dec.namedChildren().map(([n]) => n)).toEqual([
      'self_attn',
      'multihead_attn',
      'linear1',
      'dropout',
      'linear2',
      'norm1',
      'norm2',
      'norm3',
      'dropout1',
      'dropout2',
      'dropout3',
    ]);
    expect((enc.dropout1 as nn.Dropout).p).toBe(0.1);
    expectError(
      () => new nn.TransformerEncoderLayer(16, 4, { activation: 'swish' as 'gelu' }),
      'RangeError',
      /TransformerEncoderLayer: activation must be 'relu', 'gelu', 'gelu_tanh' or a function, got 'swish'/,
    );
    expectError(
      () => new nn.TransformerDecoderLayer(16, 4, { dimFeedforward: 0 }),
      'RangeError',
      /TransformerDecoderLayer: dimFeedforward must be a positive integer, got 0/,
    );
    enc.dispose();
    dec.dispose();
  });

  test('an encoder built from a layer instance starts with identical copies; a factory builds fresh layers', () => {
    const copies = new nn.TransformerEncoder(new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32 }), 3, {
      norm: new nn.LayerNorm(16),
    });
    expect(
      copies
        .namedParameters()
        .map(([n]) => n)
        .filter((n) => n.endsWith('in_proj_weight') || n.startsWith('norm')),
    ).toEqual([
      'layers.0.self_attn.in_proj_weight',
      'layers.1.self_attn.in_proj_weight',
      'layers.2.self_attn.in_proj_weight',
      'norm.weight',
      'norm.bias',
    ]);
    const [a, b] = [copies.layers.get(0), copies.layers.get(2)];
    expect(values(a.linear1.weight)).toEqual(values(b.linear1.weight));
    expect(a.linear1.weight).not.toBe(b.linear1.weight);
    const fresh = new nn.TransformerEncoder(() => new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32 }), 2);
    expect(values(fresh.layers.get(0).linear1.weight)).not.toEqual(values(fresh.layers.get(1).linear1.weight));
    expect(fresh.norm).toBeNull();
    expectError(
      () => new nn.TransformerEncoder(() => new nn.Linear(2, 2) as unknown as nn.TransformerEncoderLayer, 1),
      'TypeError',
      /TransformerEncoder: layer 0 is not a TransformerEncoderLayer/,
    );
    expectError(
      () => new nn.TransformerDecoder(() => new nn.TransformerDecoderLayer(16, 4), 0),
      'RangeError',
      /TransformerDecoder: numLayers must be a positive integer, got 0/,
    );
    copies.dispose();
    fresh.dispose();
  });

  test('sequence-first layers give the batch-first results', () => {
    const bf = new nn.TransformerDecoderLayer(16, 4, { dimFeedforward: 32, normFirst: true, seed: 1 }).eval();
    const sf = new nn.TransformerDecoderLayer(16, 4, {
      dimFeedforward: 32,
      normFirst: true,
      batchFirst: false,
      seed: 2,
    }).eval();
    perturbVectors(bf);
    const state = bf.stateDict();
    sf.loadStateDict(state);
    for (const t of state.values()) t.dispose();
    tidy(() => {
      const tgt = randn([2, 3, 16], { seed: 1 });
      const memory = randn([2, 5, 16], { seed: 2 });
      const expected = bf.forward(tgt, memory, { tgtIsCausal: true });
      const got = sf.forward(tgt.transpose(0, 1), memory.transpose(0, 1), { tgtIsCausal: true });
      expect(maxRelError(values(got.transpose(0, 1)), values(expected))).toBeLessThan(1e-5);
    });
    bf.dispose();
    sf.dispose();
  });
});

describe('nn.Transformer', () => {
  test('names, final norms, xavier-initialised matrices, defaults', () => {
    const model = new nn.Transformer({ ...small, numEncoderLayers: 2, numDecoderLayers: 1, seed: 3 });
    const names = model.namedParameters().map(([n]) => n);
    expect(names.filter((n) => n.includes('norm.'))).toEqual([
      'encoder.norm.weight',
      'encoder.norm.bias',
      'decoder.norm.weight',
      'decoder.norm.bias',
    ]);
    expect(names).toContain('decoder.layers.0.multihead_attn.out_proj.weight');
    expect(model.numParameters()).toBe(2 * 2224 + 3344 + 64);
    for (const [name, p] of model.namedParameters()) {
      if (p.ndim !== 2) continue;
      const bound = Math.sqrt(6 / (p.shape[0] + p.shape[1]));
      const w = values(p);
      expect({ name, over: w.some((v) => Math.abs(v) > bound) }).toEqual({ name, over: false });
    }
    // out_proj.weight is [16, 16]: xavier's bound (0.433) exceeds the Linear init's (0.25), so the reset shows.
    expect(Math.max(...values(model.encoder.layers.get(0).selfAttn.outProj.weight).map(Math.abs))).toBeGreaterThan(0.3);
    const defaults = new nn.Transformer({ numEncoderLayers: 1, numDecoderLayers: 1 });
    expect(defaults.encoder.layers.get(0).linear1.weight.shape).toEqual([2048, 512]);
    expect(defaults.decoder.layers.get(0).selfAttn.numHeads).toBe(8);
    model.dispose();
    defaults.dispose();
  });

  test('generateSquareSubsequentMask: -Infinity above the diagonal', () => {
    const mask = nn.Transformer.generateSquareSubsequentMask(3);
    expect(mask.toArray()).toEqual([
      [0, -Infinity, -Infinity],
      [0, 0, -Infinity],
      [0, 0, 0],
    ]);
    mask.dispose();
    expectError(
      () => nn.Transformer.generateSquareSubsequentMask(0),
      'RangeError',
      /generateSquareSubsequentMask: n must be a positive integer, got 0/,
    );
  });

  test('dropout acts in training mode only', () => {
    const model = new nn.Transformer({ ...small, numEncoderLayers: 1, numDecoderLayers: 1, seed: 4 });
    tidy(() => {
      const src = randn([2, 5, 16], { seed: 1 });
      const tgt = randn([2, 4, 16], { seed: 2 });
      const a = values(model.forward(src, tgt));
      const b = values(model.forward(src, tgt));
      expect(maxRelError(a, b)).toBeGreaterThan(1e-3);
      model.eval();
      const c = values(model.forward(src, tgt));
      expect(values(model.forward(src, tgt))).toEqual(c);
    });
    model.dispose();
  });

  test.each([false, true])(
    'decoding step by step with a KVCache equals the full causal forward (normFirst %s)',
    (normFirst) => {
      const model = new nn.Transformer({
        ...small,
        numEncoderLayers: 2,
        numDecoderLayers: 2,
        normFirst,
        activation: 'gelu',
        seed: 5,
      }).eval();
      perturbVectors(model);
      noGrad(() =>
        tidy(() => {
          const src = randn([2, 6, 16], { seed: 3 });
          const tgt = randn([2, 5, 16], { seed: 4 });
          const srcPadding = tensor([
            [false, false, false, false, true, true],
            [false, false, false, false, false, false],
          ]);
          const full = model.forward(src, tgt, {
            tgtMask: nn.Transformer.generateSquareSubsequentMask(5),
            srcKeyPaddingMask: srcPadding,
            memoryKeyPaddingMask: srcPadding,
          });
          const causalFlag = model.forward(src, tgt, {
            tgtIsCausal: true,
            srcKeyPaddingMask: srcPadding,
            memoryKeyPaddingMask: srcPadding,
          });
          expect(maxRelError(values(causalFlag), values(full))).toBeLessThan(1e-5);
          const memory = model.encode(src, { srcKeyPaddingMask: srcPadding });
          const cache = new nn.KVCache();
          const steps: Tensor[] = [];
          for (let t = 0; t < 5; t++) {
            expect(cache.length).toBe(t);
            steps.push(model.decode(tgt.slice(1, t, t + 1), memory, { memoryKeyPaddingMask: srcPadding, cache }));
          }
          expect(cache.numLayers).toBe(2);
          // The memory's keys/values were projected once, on the first step.
          expect(cache.layer(1).cross.length).toBe(6);
          // Floor 1e-2, as in the models' cross-path checks: outputs reach 2.7 here, and float32 noise of a few 1e-7
          // of that on an element near 0 is not an error of 1e-4 of its size.
          expect(maxRelError(values(cat(steps, 1)), values(full), 1e-2)).toBeLessThan(CROSS_PATH_TOLERANCE);
          const cached = [cache.layer(0).self.key!, cache.layer(1).cross.value!];
          cache.dispose();
          expect(cached.every((t) => t.isDisposed)).toBe(true);
          expect(cache.length).toBe(0);
        }),
      );
      model.dispose();
    },
  );

  test('reordering the cache (beam search) equals decoding the reordered batch', () => {
    const model = new nn.Transformer({ ...small, numEncoderLayers: 1, numDecoderLayers: 2, seed: 8 }).eval();
    perturbVectors(model);
    noGrad(() =>
      tidy(() => {
        const rows = (t: Tensor, picks: number[]) =>
          cat(
            picks.map((i) => t.slice(0, i, i + 1)),
            0,
          );
        const src = randn([2, 4, 16], { seed: 1 });
        const tgt = randn([2, 5, 16], { seed: 2 });
        const beams = [1, 0, 1];
        const full = model.forward(rows(src, beams), rows(tgt, beams), { tgtIsCausal: true });
        const memory = model.encode(src);
        const cache = new nn.KVCache();
        for (let t = 0; t < 3; t++) model.decode(tgt.slice(1, t, t + 1), memory, { cache });
        cache.reorder(tensor(beams, { dtype: 'int32' }));
        expect(cache.layer(1).self.key!.shape).toEqual([3, 16, 4, 4]); // capacity 16, 3 positions valid
        expect(cache.layer(1).self.length).toBe(3);
        expect(cache.layer(0).cross.key!.shape).toEqual([3, 4, 4, 4]);
        const wideTgt = rows(tgt, beams);
        const wideMemory = rows(memory, beams);
        const last = [3, 4].map((t) => model.decode(wideTgt.slice(1, t, t + 1), wideMemory, { cache }));
        expect(maxRelError(values(cat(last, 1)), values(full.slice(1, 3, 5)), 1e-2)).toBeLessThan(CROSS_PATH_TOLERANCE);
        expectError(
          () => cache.reorder(tensor([0.5])),
          'TypeError',
          /KVCache\.reorder: indices must be a non-empty 1-D int32 tensor, got float32 \[1\]/,
        );
        cache.dispose();
      }),
    );
    model.dispose();
  });

  test('a decoder-only (GPT-style) encoder stack decodes with the same cache', () => {
    const gpt = new nn.TransformerEncoder(
      () => new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, normFirst: true }),
      3,
      { norm: new nn.LayerNorm(16) },
    ).eval();
    perturbVectors(gpt);
    noGrad(() =>
      tidy(() => {
        const x = randn([2, 7, 16], { seed: 6 });
        const full = gpt.forward(x, { isCausal: true });
        const cache = new nn.KVCache();
        // A 3-position prompt, then one position at a time.
        const parts = [gpt.forward(x.slice(1, 0, 3), { cache })];
        for (let t = 3; t < 7; t++) parts.push(gpt.forward(x.slice(1, t, t + 1), { cache }));
        expect(cache.length).toBe(7);
        expect(maxRelError(values(cat(parts, 1)), values(full), 1e-2)).toBeLessThan(CROSS_PATH_TOLERANCE);
        cache.dispose();
      }),
    );
    gpt.dispose();
  });

  test('bad inputs throw errors naming the module and the shapes', () => {
    const model = new nn.Transformer({ ...small, numEncoderLayers: 1, numDecoderLayers: 1 });
    tidy(() => {
      expectError(
        () => model.forward(randn([2, 5, 8]), randn([2, 4, 16])),
        'RangeError',
        /Transformer: src must be \[B, T, 16\] \(batch first\), got \[2, 5, 8\]/,
      );
      expectError(
        () => model.forward(randn([2, 5, 16]), randn([3, 4, 16])),
        'RangeError',
        /Transformer: the batch sizes of src\/memory \(2\) and tgt \(3\) differ/,
      );
      expectError(
        () =>
          model.forward(randn([2, 5, 16]), randn([2, 4, 16]), {
            tgtMask: nn.Transformer.generateSquareSubsequentMask(5),
          }),
        'RangeError',
        /attnMask must be \[L, S\] = \[4, 4\]/,
      );
      expectError(
        () =>
          model.decoder.forward(randn([2, 1, 16]), randn([2, 5, 16]), {
            cache: new nn.LayerKVCache() as unknown as nn.KVCache,
          }),
        'TypeError',
        /TransformerDecoder: cache must be a KVCache/,
      );
    });
    model.dispose();
  });
});

describe('memory', () => {
  test('forward/backward/update steps of a small Transformer inside tidy keep the live native bytes flat', () => {
    // Bytes of tensors created and not disposed: exact whatever the GC does meanwhile.
    const base = memory().undisposedBytes;
    const live = () => memory().undisposedBytes - base;
    {
      const model = new nn.Transformer({ ...small, numEncoderLayers: 1, numDecoderLayers: 1, seed: 7 });
      expect(live()).toBe(model.numParameters() * 4);
      const src = randn([2, 5, 16], { seed: 1 });
      const tgt = randn([2, 4, 16], { seed: 2 });
      const target = randn([2, 4, 16], { seed: 3 });
      const tgtMask = nn.Transformer.generateSquareSubsequentMask(4);
      const losses: number[] = [];
      const step = () =>
        tidy(() => {
          const out = model.forward(src, tgt, { tgtMask });
          const loss = out.sub(target).pow(2).mean();
          loss.backward();
          noGrad(() => {
            for (const p of model.parameters()) p.copy_(p.sub(p.grad!.mul(0.05)));
          });
          model.zeroGrad();
          losses.push(loss.item());
        });
      for (let i = 0; i < 5; i++) step();
      const before = live();
      for (let i = 0; i < 40; i++) step();
      expect(live()).toBe(before);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0]); // the steps do train

      // Cached decoding: each step's temporaries go with its tidy(); the cache holds the rest until disposed.
      model.eval();
      const cache = new nn.KVCache();
      const encoded = noGrad(() => tidy(() => model.encode(src)));
      for (let t = 0; t < 4; t++)
        noGrad(() => tidy(() => void model.decode(tgt.slice(1, t, t + 1), encoded, { cache })));
      // Per layer: self keys+values [2, 16, 4, 4] (capacity 16) and cross keys+values [2, 5, 4, 4], 4 bytes each.
      expect(live() - before).toBe(encoded.size * 4 + (2 * 2 * 16 * 4 * 4 + 2 * 2 * 5 * 4 * 4) * 4);
      cache.dispose();
      encoded.dispose();
      expect(live()).toBe(before);
      for (const t of [src, tgt, target, tgtMask]) t.dispose();
      model.dispose();
      expect(live()).toBe(0);
    }
  });
});
