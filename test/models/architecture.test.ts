// The models: configs (defaults, JSON round trip, factory, bad values), PyTorch-like parameter names, weight
// tying and sharing, output shapes, padding masks, and incremental decoding with a KV cache == the full forward.
import { EncoderClassifier, GPT, modelFromConfig, Seq2SeqTransformer } from '../../src/models';
import { KVCache } from '../../src/nn';
import { cat, io, noGrad, tensor, Tensor, tidy } from '../../src';
import { CROSS_PATH_TOLERANCE, expectError, maxRelError, rng } from '../helpers';

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

function randomIds(B: number, T: number, vocab: number, seed: number, low = 1): Tensor {
  const r = rng(seed);
  return tensor(
    Array.from({ length: B * T }, () => low + Math.floor(r() * (vocab - low))),
    { shape: [B, T], dtype: 'int32' },
  );
}

const seq2seqSmall = {
  srcVocabSize: 11,
  tgtVocabSize: 13,
  dModel: 16,
  nhead: 4,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dimFeedforward: 32,
  maxLen: 20,
};
const gptSmall = { vocabSize: 17, contextLength: 12, dModel: 16, nhead: 4, numLayers: 2 };
const classifierSmall = { vocabSize: 15, numClasses: 3, dModel: 16, nhead: 2, numLayers: 2, maxLen: 10 };

describe('configs', () => {
  test('defaults are filled in and the config survives JSON: the factory rebuilds the same weights', () => {
    const model = new Seq2SeqTransformer({
      srcVocabSize: 7,
      tgtVocabSize: 9,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dimFeedforward: 16,
      seed: 3,
    });
    expect(model.config).toEqual({
      type: 'Seq2SeqTransformer',
      srcVocabSize: 7,
      tgtVocabSize: 9,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dimFeedforward: 16,
      dropout: 0.1,
      activation: 'relu',
      normFirst: false,
      maxLen: 512,
      positional: 'sinusoidal',
      tieEmbeddings: false,
      shareEmbeddings: false,
      padId: 0,
      scaleEmbedding: true,
      positionOffset: 0,
      separatePositions: false,
      embeddingNorm: false,
      finalNorm: true,
      seed: 3,
    });
    const rebuilt = modelFromConfig(JSON.parse(JSON.stringify(model.config)));
    expect(rebuilt).toBeInstanceOf(Seq2SeqTransformer);
    const a = model.stateDict();
    const b = rebuilt.stateDict();
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(values(b.get(k)!)).toEqual(values(t));
    for (const t of [...a.values(), ...b.values()]) t.dispose();
    const gpt = modelFromConfig({ type: 'GPT', ...gptSmall });
    expect(gpt).toBeInstanceOf(GPT);
    expect(gpt.config).toEqual({
      type: 'GPT',
      ...gptSmall,
      dimFeedforward: 64,
      dropout: 0.1,
      activation: 'gelu',
      layerNormEps: 1e-5,
      normFirst: true,
      tieEmbeddings: true,
    });
    const classifier = modelFromConfig({ type: 'EncoderClassifier', ...classifierSmall });
    expect(classifier.config).toMatchObject({ pooling: 'cls', padId: 0, dimFeedforward: 64, dropout: 0.1 });
    for (const m of [model, rebuilt, gpt, classifier]) m.dispose();
  });

  test('bad configs throw errors naming the model and the value', () => {
    expectError(
      () => new Seq2SeqTransformer({ ...seq2seqSmall, nhead: 3 }),
      'RangeError',
      /Seq2SeqTransformer: dModel 16 is not divisible by nhead 3/,
    );
    expectError(
      () => new Seq2SeqTransformer({ ...seq2seqSmall, shareEmbeddings: true }),
      'RangeError',
      /shareEmbeddings needs equal vocabularies, got srcVocabSize 11 and tgtVocabSize 13/,
    );
    expectError(
      () => new Seq2SeqTransformer({ ...seq2seqSmall, positional: 'rotary' as 'learned' }),
      'RangeError',
      /positional must be one of 'sinusoidal', 'learned', got 'rotary'/,
    );
    expectError(
      () => new Seq2SeqTransformer({ ...seq2seqSmall, padId: 11 }),
      'RangeError',
      /padId 11 is outside the vocabularies/,
    );
    expectError(
      () => new GPT({ ...gptSmall, dropuot: 0.2 } as never),
      'RangeError',
      /GPT: unknown config key 'dropuot'/,
    );
    expectError(
      () => new GPT({ ...gptSmall, contextLength: 0 }),
      'RangeError',
      /GPT: contextLength must be a positive integer, got 0/,
    );
    expectError(() => new GPT({ vocabSize: 5, contextLength: 8 } as never), 'RangeError', /GPT: dModel is required/);
    expectError(
      () => new EncoderClassifier({ ...classifierSmall, dropout: 1 }),
      'RangeError',
      /EncoderClassifier: dropout must be a number in \[0, 1\), got 1/,
    );
    expectError(
      () => new EncoderClassifier({ ...classifierSmall, pooling: 'max' as 'cls' }),
      'RangeError',
      /pooling must be one of 'cls', 'mean', got 'max'/,
    );
    expectError(
      () => modelFromConfig({ type: 'LSTM' } as never),
      'RangeError',
      /modelFromConfig: unknown model type 'LSTM'/,
    );
    expectError(
      () => modelFromConfig(null as never),
      'TypeError',
      /modelFromConfig: config must be an object, got null/,
    );
  });
});

test('a checkpoint (config as JSON + state dict as safetensors) rebuilds a tied, shared model with the same outputs', () => {
  const model = new Seq2SeqTransformer({
    ...seq2seqSmall,
    srcVocabSize: 13,
    shareEmbeddings: true,
    tieEmbeddings: true,
    positional: 'learned',
    seed: 1,
  }).eval();
  const state = model.stateDict();
  const saved = io.serializeSafetensors(state, { config: JSON.stringify(model.config) });
  for (const t of state.values()) t.dispose();
  const loaded = io.loadSafetensorsFromBuffer(saved);
  const config = JSON.parse(loaded.metadata.config);
  const restored = modelFromConfig({ ...config, seed: 99 }).eval();
  restored.loadStateDict(loaded.tensors);
  for (const t of loaded.tensors.values()) t.dispose();
  const restoredS2S = restored as Seq2SeqTransformer;
  expect(restoredS2S.generator.weight).toBe(restoredS2S.srcEmbedding.weight);
  noGrad(() =>
    tidy(() => {
      const src = randomIds(2, 5, 13, 1);
      const tgt = randomIds(2, 4, 13, 2);
      expect(values(restored.forward(src, tgt))).toEqual(values(model.forward(src, tgt)));
    }),
  );
  model.dispose();
  restored.dispose();
});

describe('Seq2SeqTransformer', () => {
  test('PyTorch-like names; tied and shared embeddings are one tensor listed once', () => {
    const model = new Seq2SeqTransformer({
      ...seq2seqSmall,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      positional: 'learned',
    });
    const names = model.namedParameters().map(([n]) => n);
    expect(names.slice(0, 3)).toEqual(['src_embedding.weight', 'tgt_embedding.weight', 'positional_encoding.weight']);
    expect(names).toContain('transformer.encoder.layers.0.self_attn.in_proj_weight');
    expect(names).toContain('transformer.decoder.layers.0.multihead_attn.in_proj_weight');
    expect(names).toContain('transformer.decoder.norm.weight');
    expect(names.slice(-2)).toEqual(['generator.weight', 'generator.bias']);
    model.dispose();

    const tied = new Seq2SeqTransformer({
      ...seq2seqSmall,
      srcVocabSize: 13,
      shareEmbeddings: true,
      tieEmbeddings: true,
    });
    expect(tied.tgtEmbedding).toBe(tied.srcEmbedding);
    expect(tied.generator.weight).toBe(tied.srcEmbedding.weight);
    const tiedNames = tied.namedParameters().map(([n]) => n);
    expect(tiedNames).not.toContain('generator.weight');
    expect(tiedNames).toContain('generator.bias');
    const state = tied.stateDict();
    expect(state.has('generator.weight')).toBe(true);
    for (const t of state.values()) t.dispose();
    // Sinusoidal positions are a non-persistent buffer: nothing to save.
    expect([...state.keys()].some((k) => k.startsWith('positional_encoding'))).toBe(false);
    tied.dispose();
  });

  test('forward gives [B, T, V] logits; the padding masks make a padded batch row equal the row alone', () => {
    const model = new Seq2SeqTransformer({ ...seq2seqSmall, dropout: 0, seed: 1 }).eval();
    noGrad(() =>
      tidy(() => {
        const src = tensor(
          [
            [3, 4, 5, 6, 0, 0],
            [7, 8, 9, 10, 2, 3],
          ],
          { dtype: 'int32' },
        );
        const tgt = tensor(
          [
            [1, 5, 6, 0],
            [1, 2, 3, 4],
          ],
          { dtype: 'int32' },
        );
        const logits = model.forward(src, tgt);
        expect(logits.shape).toEqual([2, 4, 13]);
        const alone = model.forward(
          tensor([[3, 4, 5, 6]], { dtype: 'int32' }),
          tensor([[1, 5, 6]], { dtype: 'int32' }),
        );
        expect(maxRelError(values(logits.slice(0, 0, 1).slice(1, 0, 3)), values(alone))).toBeLessThan(
          CROSS_PATH_TOLERANCE,
        );
        // Without the masks the padding is attended to, and the row changes.
        const unmasked = model.forward(src, tgt, { srcKeyPaddingMask: null, tgtKeyPaddingMask: null });
        expect(maxRelError(values(unmasked.slice(0, 0, 1).slice(1, 0, 3)), values(alone))).toBeGreaterThan(1e-3);
        // Causality: later target tokens do not change earlier logits.
        const changed = model.forward(
          src,
          tensor(
            [
              [1, 5, 6, 0],
              [1, 2, 9, 9],
            ],
            { dtype: 'int32' },
          ),
        );
        expect(values(changed.slice(1, 0, 2))).toEqual(values(logits.slice(1, 0, 2)));
      }),
    );
    model.dispose();
  });

  test.each(['sinusoidal', 'learned'] as const)(
    'decoding with a KV cache equals the full forward (%s positions)',
    (positional) => {
      const model = new Seq2SeqTransformer({
        ...seq2seqSmall,
        positional,
        normFirst: positional === 'learned',
        seed: 4,
      }).eval();
      noGrad(() =>
        tidy(() => {
          const src = tensor(
            [
              [3, 4, 5, 6, 0],
              [7, 8, 9, 10, 2],
            ],
            { dtype: 'int32' },
          );
          const tgt = randomIds(2, 6, 13, 9);
          const full = model.forward(src, tgt, { tgtKeyPaddingMask: null });
          const memoryMask = model.paddingMask(src);
          const memory = model.encode(src);
          const cache = new KVCache();
          // A two-token start, then one token at a time.
          const parts = [model.decode(tgt.slice(1, 0, 2), memory, { memoryKeyPaddingMask: memoryMask, cache })];
          for (let t = 2; t < 6; t++)
            parts.push(model.decode(tgt.slice(1, t, t + 1), memory, { memoryKeyPaddingMask: memoryMask, cache }));
          expect(cache.length).toBe(6);
          expect(maxRelError(values(cat(parts, 1)), values(full), 1e-2)).toBeLessThan(CROSS_PATH_TOLERANCE);
          cache.dispose();
        }),
      );
      model.dispose();
    },
  );

  test('bad inputs throw errors naming the method and the shapes', () => {
    const model = new Seq2SeqTransformer({ ...seq2seqSmall, maxLen: 6 });
    tidy(() => {
      const src = randomIds(2, 4, 11, 1);
      expectError(
        () => model.forward(src, randomIds(3, 2, 13, 2)),
        'RangeError',
        /Seq2SeqTransformer.forward: src \[2, 4\] and tgtIn \[3, 2\] have different batch sizes/,
      );
      expectError(
        () => model.forward(src.float(), randomIds(2, 2, 13, 2)),
        'TypeError',
        /Seq2SeqTransformer.forward: src must be a non-empty int32 Tensor \[B, T\], got float32 \[2, 4\]/,
      );
      expectError(
        () => model.encode(randomIds(1, 7, 11, 3)),
        'RangeError',
        /Seq2SeqTransformer.encode: positions 0..6 exceed maxLen 6/,
      );
      expectError(
        () => model.forward(src, randomIds(2, 2, 13, 2), { srcKeyPaddingMask: tensor([[true, false]]) }),
        'RangeError',
        /srcKeyPaddingMask must be \[B, T\] = \[2, 4\], got \[1, 2\]/,
      );
      const memory = model.encode(src);
      expectError(
        () => model.decode(randomIds(2, 1, 13, 2), memory, { memoryKeyPaddingMask: tensor([[true]]) }),
        'RangeError',
        /Seq2SeqTransformer.decode: memoryKeyPaddingMask must be \[B, T\] = \[2, 4\]/,
      );
    });
    model.dispose();
  });
});

describe('GPT', () => {
  test('names, tied LM head, GPT-2 initialisation and [B, T, V] logits', () => {
    const model = new GPT({ ...gptSmall, seed: 2 });
    const names = model.namedParameters().map(([n]) => n);
    expect(names.slice(0, 2)).toEqual(['token_embedding.weight', 'position_embedding.weight']);
    expect(names).toContain('transformer.layers.1.self_attn.in_proj_weight');
    expect(names).toContain('transformer.norm.weight');
    expect(names).not.toContain('lm_head.weight');
    expect(model.lmHead.weight).toBe(model.tokenEmbedding.weight);
    const std = (t: Tensor) => {
      const v = values(t);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    };
    expect(std(model.tokenEmbedding.weight)).toBeCloseTo(0.02, 2);
    expect(std(model.transformer.layers.get(0).linear2.weight)).toBeCloseTo(0.01, 2); // 0.02 / sqrt(2 * 2 layers)
    expect(values(model.transformer.layers.get(0).linear1.bias!).every((v) => v === 0)).toBe(true);
    const untied = new GPT({ ...gptSmall, tieEmbeddings: false });
    expect(untied.namedParameters().map(([n]) => n)).toContain('lm_head.weight');
    tidy(() => expect(model.forward(randomIds(3, 5, 17, 1, 0)).shape).toEqual([3, 5, 17]));
    model.dispose();
    untied.dispose();
  });

  test('a prompt and then one token at a time through the KV cache equals the full forward', () => {
    const model = new GPT({ ...gptSmall, seed: 6 }).eval();
    noGrad(() =>
      tidy(() => {
        const ids = randomIds(2, 9, 17, 4, 0);
        const full = model.forward(ids);
        const cache = new KVCache();
        const parts = [model.forward(ids.slice(1, 0, 4), { cache })];
        for (let t = 4; t < 9; t++) parts.push(model.forward(ids.slice(1, t, t + 1), { cache }));
        expect(cache.length).toBe(9);
        expect(cache.numLayers).toBe(2);
        expect(maxRelError(values(cat(parts, 1)), values(full), 1e-2)).toBeLessThan(1e-5);
        expectError(
          () => model.forward(randomIds(2, 4, 17, 1), { cache }),
          'RangeError',
          /GPT.forward: positions 9..12 exceed contextLength 12/,
        );
        cache.dispose();
      }),
    );
    model.dispose();
  });
});

describe('EncoderClassifier', () => {
  test.each(['cls', 'mean'] as const)('%s pooling: [B, numClasses] logits that ignore padding', (pooling) => {
    const model = new EncoderClassifier({ ...classifierSmall, pooling, seed: 5 }).eval();
    const names = model.namedParameters().map(([n]) => n);
    expect(names.slice(0, 4)).toEqual([
      'token_embedding.weight',
      'position_embedding.weight',
      'embedding_norm.weight',
      'embedding_norm.bias',
    ]);
    expect(names.slice(-4)).toEqual(['pooler.weight', 'pooler.bias', 'classifier.weight', 'classifier.bias']);
    noGrad(() =>
      tidy(() => {
        const ids = tensor(
          [
            [1, 5, 6, 7, 0, 0],
            [1, 8, 9, 10, 11, 12],
          ],
          { dtype: 'int32' },
        );
        const logits = model.forward(ids);
        expect(logits.shape).toEqual([2, 3]);
        const alone = model.forward(tensor([[1, 5, 6, 7]], { dtype: 'int32' }));
        expect(maxRelError(values(logits.slice(0, 0, 1)), values(alone))).toBeLessThan(1e-5);
        expectError(
          () => model.forward(randomIds(1, 11, 15, 1)),
          'RangeError',
          /EncoderClassifier.forward: sequence length 11 exceeds maxLen 10/,
        );
      }),
    );
    model.dispose();
  });
});
