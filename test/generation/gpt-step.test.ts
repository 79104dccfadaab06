// GPTStep, the decoding step on the kernels, against GPT.forward with a KV cache: the same logits bit for bit,
// step after step, for pre-LN and post-LN blocks, each activation, tied and untied heads and a batch whose size
// changes; and the models it leaves to GPT.forward.
import { GPT, GPTOptions } from '../../src/models';
import { GPTStep } from '../../src/generation/gpt_step';
import { KVCache } from '../../src/nn';
import { memory, noGrad, normal, tensor, tidy } from '../../src';

function model(options: Partial<GPTOptions>): GPT {
  const gpt = new GPT({ vocabSize: 11, contextLength: 12, dModel: 16, nhead: 2, numLayers: 2, seed: 3, ...options });
  noGrad(() => {
    let seed = 40;
    for (const p of gpt.parameters()) {
      const values = normal(p.shape, 0, 0.5, { seed: seed++ }); // nonzero biases and LayerNorm affines too
      p.copy_(values);
      values.dispose();
    }
  });
  return gpt.eval();
}

/** The last position's logits of GPT.forward on ids [B, T] over cache. */
function forwardLogits(gpt: GPT, rows: number[][], cache: KVCache): Float32Array {
  return noGrad(() =>
    tidy(() => {
      const T = rows[0].length;
      const ids = tensor(Int32Array.from(rows.flat()), { shape: [rows.length, T], dtype: 'int32' });
      const logits = gpt.forward(ids, { cache });
      return logits.slice(1, T - 1, T).dataSync() as Float32Array;
    }),
  );
}

const prompts = [
  [1, 2, 3],
  [4, 5, 6],
  [7, 8, 9],
];

describe('GPTStep', () => {
  test.each([
    ['pre-LN, gelu, tied head', {}],
    ['post-LN, relu, untied head', { normFirst: false, activation: 'relu', tieEmbeddings: false }],
    ['pre-LN, gelu_tanh, eps 1e-3', { activation: 'gelu_tanh', layerNormEps: 1e-3 }],
  ] as Array<[string, Partial<GPTOptions>]>)('%s: the logits of GPT.forward, bit for bit', (_, options) => {
    const gpt = model(options);
    const before = memory().undisposedStorages;
    const reference = new KVCache();
    const cache = new KVCache();
    forwardLogits(gpt, prompts, reference);
    forwardLogits(gpt, prompts, cache);
    const step = new GPTStep(gpt, cache);
    expect(step.supported).toBe(true);
    let tokens = [10, 0, 5];
    for (let t = 0; t < 6; t++) {
      if (t === 3) {
        // Rows leave the batch: both caches drop row 1 and the step reallocates its buffers.
        const keep = tensor(Int32Array.from([0, 2]), { dtype: 'int32' });
        reference.reorder(keep);
        cache.reorder(keep);
        keep.dispose();
        tokens = [tokens[0], tokens[2]];
      }
      const expected = forwardLogits(
        gpt,
        tokens.map((id) => [id]),
        reference,
      );
      const logits = step.step(tokens);
      expect(Buffer.from(logits.buffer)).toEqual(Buffer.from(expected.buffer));
      expect(cache.length).toBe(reference.length);
      tokens = tokens.map((id, b) => (id * 7 + b + t) % 11);
    }
    step.dispose();
    reference.dispose();
    cache.dispose();
    expect(memory().undisposedStorages).toBe(before);
    gpt.dispose();
  });

  test('training mode is left to GPT.forward (dropout applies there)', () => {
    const gpt = model({});
    const cache = new KVCache();
    const step = new GPTStep(gpt, cache);
    expect(step.supported).toBe(true);
    gpt.train();
    expect(step.supported).toBe(false);
    gpt.eval();
    gpt.transformer.layers.get(1).dropout.train();
    expect(step.supported).toBe(false);
    step.dispose();
    cache.dispose();
    gpt.dispose();
  });
});
