// Generation: cached == uncached decoding, beam search == exhaustive search on a tiny model, beam 1 == greedy,
// sampling (top-k 1 == greedy, seeded, the filtered distribution), streams == batch calls, batching, the
// evaluation mode, freed memory and errors.
import { GPT, Seq2SeqTransformer } from '../../src/models';
import {
  beamSearch,
  BeamHypothesis,
  generateStream,
  greedy,
  logSoftmax,
  sample,
  samplingDistribution,
} from '../../src/generation';
import { memory, noGrad, normal, tensor, Tensor, tidy } from '../../src';
import { expectError } from '../helpers';

/** Larger random weights than the initialisation, so that the next-token distributions are far from uniform
 * and no two candidates are close to a tie. */
function sharpen(model: Seq2SeqTransformer | GPT, seed: number): void {
  noGrad(() => {
    for (const p of model.parameters()) {
      if (p.ndim !== 2) continue;
      const values = normal(p.shape, 0, 1.5 / Math.sqrt(p.shape[1]), { seed: seed++ });
      p.copy_(values);
      values.dispose();
    }
  });
}

function seq2seqModel(tgtVocabSize = 9, seed = 1): Seq2SeqTransformer {
  const model = new Seq2SeqTransformer({
    srcVocabSize: 10,
    tgtVocabSize,
    dModel: 16,
    nhead: 2,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 32,
    maxLen: 16,
    seed,
  });
  sharpen(model, 100 + seed);
  return model.eval();
}

function gptModel(vocabSize = 9, seed = 2): GPT {
  const model = new GPT({ vocabSize, contextLength: 16, dModel: 16, nhead: 2, numLayers: 2, seed });
  sharpen(model, 200 + seed);
  return model.eval();
}

const liveStorages = () => memory().undisposedStorages;

const sources = [
  [3, 4, 5, 6, 7],
  [8, 2],
  [9, 9, 3],
];
const prompts = [
  [1, 2, 3],
  [4, 5, 6],
  [7, 8, 1],
];

describe('cached and uncached decoding give the same tokens', () => {
  test('Seq2SeqTransformer: greedy, sample and beam search', () => {
    const model = seq2seqModel();
    const options = { bosId: 1, eosId: 2, maxLength: 10 };
    const before = liveStorages();
    const cached = greedy(model, sources, options);
    expect(greedy(model, sources, { ...options, useCache: false })).toEqual(cached);
    expect(cached.sequences.some((s) => s.length > 3)).toBe(true);
    const sampled = sample(model, sources, { ...options, seed: 5, temperature: 1.5 });
    expect(sample(model, sources, { ...options, seed: 5, temperature: 1.5, useCache: false })).toEqual(sampled);
    const beams = beamSearch(model, sources, { ...options, beamSize: 3, numReturnSequences: 2 });
    const uncachedBeams = beamSearch(model, sources, {
      ...options,
      beamSize: 3,
      numReturnSequences: 2,
      useCache: false,
    });
    expect(uncachedBeams.sequences).toEqual(beams.sequences);
    uncachedBeams.scores.forEach((s, i) => expect(s).toBeCloseTo(beams.scores[i], 4));
    expect(liveStorages()).toBe(before);
    model.dispose();
  });

  test('GPT: greedy, sample and beam search', () => {
    const model = gptModel();
    const options = { eosId: 0, maxLength: 12 };
    const before = liveStorages();
    const cached = greedy(model, prompts, options);
    expect(greedy(model, prompts, { ...options, useCache: false })).toEqual(cached);
    const sampled = sample(model, prompts, { ...options, seed: 9, topP: 0.9 });
    expect(sample(model, prompts, { ...options, seed: 9, topP: 0.9, useCache: false })).toEqual(sampled);
    const beams = beamSearch(model, prompts, { ...options, beamSize: 4 });
    expect(beamSearch(model, prompts, { ...options, beamSize: 4, useCache: false }).sequences).toEqual(beams.sequences);
    expect(liveStorages()).toBe(before);
    model.dispose();
  });
});

describe('beam search', () => {
  /** Every sequence of up to maxLength tokens (ended by eos, or cut at maxLength), scored as beam search
   * scores them, from uncached forward passes. */
  function exhaustive(
    nextLogProbs: (prefix: number[]) => Float64Array,
    V: number,
    eosId: number,
    maxLength: number,
    alpha: number,
  ): BeamHypothesis[] {
    const penalty = (n: number) => ((5 + n) / 6) ** alpha;
    const out: BeamHypothesis[] = [];
    const visit = (prefix: number[], logProb: number) => {
      if (prefix.length === maxLength) {
        out.push({ tokens: prefix, score: logProb / penalty(maxLength), logProb, finished: false });
        return;
      }
      const lp = nextLogProbs(prefix);
      for (let token = 0; token < V; token++) {
        if (token === eosId)
          out.push({
            tokens: prefix,
            score: (logProb + lp[token]) / penalty(prefix.length + 1),
            logProb: logProb + lp[token],
            finished: true,
          });
        else visit([...prefix, token], logProb + lp[token]);
      }
    };
    visit([], 0);
    return out.sort((a, b) => b.score - a.score);
  }

  function expectSameHypotheses(actual: BeamHypothesis[], expected: BeamHypothesis[]): void {
    expect(actual.map((h) => [h.tokens, h.finished])).toEqual(expected.map((h) => [h.tokens, h.finished]));
    actual.forEach((h, i) => {
      expect(h.score).toBeCloseTo(expected[i].score, 4);
      expect(h.logProb).toBeCloseTo(expected[i].logProb, 4);
    });
  }

  test.each([0, 0.6, 1.5])(
    'a beam as wide as vocab^maxLength finds the exhaustive best (Seq2SeqTransformer, lengthPenalty %s)',
    (alpha) => {
      const V = 5;
      const model = seq2seqModel(V, 3);
      const source = [4, 5, 6];
      const nextLogProbs = (prefix: number[]) =>
        noGrad(() =>
          tidy(() => {
            const logits = model.forward(
              tensor([source], { dtype: 'int32' }),
              tensor([[3, ...prefix]], { dtype: 'int32' }),
              { tgtKeyPaddingMask: null },
            );
            return logSoftmax(logits.slice(1, prefix.length, prefix.length + 1).dataSync());
          }),
        );
      const expected = exhaustive(nextLogProbs, V, 1, 4, alpha);
      const result = beamSearch(model, [source], {
        bosId: 3,
        eosId: 1,
        maxLength: 4,
        beamSize: V ** 4,
        lengthPenalty: alpha,
        numReturnSequences: 8,
      });
      expectSameHypotheses(result.hypotheses[0], expected.slice(0, 8));
      expect(result.sequences[0]).toEqual(expected[0].tokens);
      model.dispose();
    },
  );

  test('the same on a GPT, and narrower beams never beat it', () => {
    const V = 5;
    const model = gptModel(V, 4);
    const prompt = [2, 3];
    const nextLogProbs = (prefix: number[]) =>
      noGrad(() =>
        tidy(() => {
          const ids = [...prompt, ...prefix];
          const logits = model.forward(tensor([ids], { dtype: 'int32' }));
          return logSoftmax(logits.slice(1, ids.length - 1, ids.length).dataSync());
        }),
      );
    const expected = exhaustive(nextLogProbs, V, 0, 4, 1);
    const result = beamSearch(model, [prompt], { eosId: 0, maxLength: 4, beamSize: V ** 4, numReturnSequences: 3 });
    expectSameHypotheses(result.hypotheses[0], expected.slice(0, 3));
    for (const beamSize of [1, 2, 3]) {
      const narrow = beamSearch(model, [prompt], { eosId: 0, maxLength: 4, beamSize });
      expect(narrow.scores[0]).toBeLessThanOrEqual(expected[0].score + 1e-6);
      // Its hypothesis is a real sequence with the score the exhaustive search gives it.
      const same = expected.find(
        (h) => h.finished === narrow.hypotheses[0][0].finished && h.tokens.join() === narrow.sequences[0].join(),
      )!;
      expect(narrow.scores[0]).toBeCloseTo(same.score, 4);
    }
    model.dispose();
  });

  test('beam 1 equals greedy (no length penalty, or early stopping)', () => {
    const model = seq2seqModel();
    const options = { bosId: 1, eosId: 2, maxLength: 12 };
    const expected = greedy(model, sources, options).sequences;
    expect(beamSearch(model, sources, { ...options, beamSize: 1, lengthPenalty: 0 }).sequences).toEqual(expected);
    expect(
      beamSearch(model, sources, { ...options, beamSize: 1, earlyStopping: true, lengthPenalty: 2 }).sequences,
    ).toEqual(expected);
    const gpt = gptModel();
    expect(beamSearch(gpt, prompts, { eosId: 0, maxLength: 8, beamSize: 1, lengthPenalty: 0 }).sequences).toEqual(
      greedy(gpt, prompts, { eosId: 0, maxLength: 8 }).sequences,
    );
    model.dispose();
    gpt.dispose();
  });

  test('a batch of inputs gives what each input gives alone; hypotheses are sorted and finished ones end in eos', () => {
    const model = seq2seqModel();
    const options = { bosId: 1, eosId: 2, maxLength: 8, beamSize: 3, numReturnSequences: 3, lengthPenalty: 0.6 };
    const batch = beamSearch(model, sources, options);
    sources.forEach((source, i) => {
      const alone = beamSearch(model, [source], options);
      expect(alone.hypotheses[0].map((h) => h.tokens)).toEqual(batch.hypotheses[i].map((h) => h.tokens));
      alone.hypotheses[0].forEach((h, j) => expect(h.score).toBeCloseTo(batch.hypotheses[i][j].score, 4));
    });
    for (const list of batch.hypotheses) {
      expect(list).toHaveLength(3);
      for (let j = 1; j < list.length; j++) expect(list[j].score).toBeLessThanOrEqual(list[j - 1].score);
      for (const h of list) expect(h.finished || h.tokens.length === 8).toBe(true);
      for (const h of list) expect(h.tokens).not.toContain(2);
    }
    model.dispose();
  });
});

describe('sampling', () => {
  test('topK = 1 is greedy; a seed makes draws reproducible; different seeds differ', () => {
    const model = gptModel(9, 6);
    const options = { eosId: 0, maxLength: 12 };
    expect(sample(model, prompts, { ...options, topK: 1, seed: 3, temperature: 2 })).toEqual(
      greedy(model, prompts, options),
    );
    const a = sample(model, prompts, { ...options, seed: 11, temperature: 3 });
    expect(sample(model, prompts, { ...options, seed: 11, temperature: 3 })).toEqual(a);
    const others = [12, 13, 14].map((seed) => sample(model, prompts, { ...options, seed, temperature: 3 }).sequences);
    expect(others.some((s) => JSON.stringify(s) !== JSON.stringify(a.sequences))).toBe(true);
    model.dispose();
  });

  test('the filtered distribution on a hand-made one: temperature, top-k, top-p', () => {
    const p = [0.05, 0.5, 0.1, 0.2, 0.15];
    const logits = p.map(Math.log);
    const close = (actual: Float64Array, expected: number[]) =>
      expected.forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 9));
    close(samplingDistribution(logits), p);
    close(samplingDistribution(logits, { topK: 2 }), [0, 0.5 / 0.7, 0, 0.2 / 0.7, 0]);
    // The smallest most likely set reaching p: {0.5, 0.2, 0.15} for 0.8; exactly {0.5, 0.2} for 0.7.
    close(samplingDistribution(logits, { topP: 0.8 }), [0, 0.5 / 0.85, 0, 0.2 / 0.85, 0.15 / 0.85]);
    close(samplingDistribution(logits, { topP: 0.7 }), [0, 0.5 / 0.7, 0, 0.2 / 0.7, 0]);
    close(samplingDistribution(logits, { topP: 0.3 }), [0, 1, 0, 0, 0]);
    close(samplingDistribution(logits, { topK: 3, topP: 0.9 }), [0, 0.5 / 0.85, 0, 0.2 / 0.85, 0.15 / 0.85]);
    const flat = p.map(Math.sqrt);
    const total = flat.reduce((a, b) => a + b, 0);
    close(
      samplingDistribution(logits, { temperature: 2 }),
      flat.map((v) => v / total),
    );
    expectError(
      () => samplingDistribution(logits, { topP: 0 }),
      'RangeError',
      /samplingDistribution: topP must be in \(0, 1\], got 0/,
    );
    expectError(
      () => samplingDistribution(logits, { temperature: 0 }),
      'RangeError',
      /temperature must be a positive number, got 0/,
    );
  });

  test('sampled tokens follow the filtered distribution', () => {
    // A one-layer GPT whose next-token logits do not depend on the input: its head sees only a bias-free LayerNorm
    // of constant rows, so every position has the same distribution.
    const model = new GPT({
      vocabSize: 4,
      contextLength: 64,
      dModel: 4,
      nhead: 1,
      numLayers: 1,
      tieEmbeddings: false,
      seed: 1,
    }).eval();
    const head = tensor([
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ]);
    noGrad(() => {
      for (const p of model.parameters()) p.storage.write(new Float32Array(p.size), 0);
      model.lmHead.weight.copy_(head);
      model.transformer.norm!.bias!.storage.write(new Float32Array([2, 1, 0.5, -3]), 0);
    });
    const expected = tidy(() =>
      samplingDistribution(model.forward(tensor([[0]], { dtype: 'int32' })).dataSync(), { topP: 0.9 }),
    );
    expect(expected[3]).toBe(0);
    const counts = [0, 0, 0, 0];
    const result = sample(model, [[0]], { maxLength: 60, topP: 0.9, seed: 4 });
    for (const rows of [
      result.sequences[0],
      ...[5, 6, 7, 8, 9].map((seed) => sample(model, [[0]], { maxLength: 60, topP: 0.9, seed }).sequences[0]),
    ])
      for (const t of rows) counts[t]++;
    const n = counts.reduce((a, b) => a + b, 0);
    expect(counts[3]).toBe(0);
    counts.forEach((c, i) => expect(Math.abs(c / n - expected[i])).toBeLessThan(0.08));
    head.dispose();
    model.dispose();
  });
});

describe('streams', () => {
  test('a stream yields the tokens of the batch call, greedy and sampled, and frees its session', async () => {
    const model = seq2seqModel();
    const gpt = gptModel();
    const before = liveStorages();
    const streamed: number[] = [];
    for await (const token of generateStream(model, [sources[0]], { bosId: 1, eosId: 2, maxLength: 10 }))
      streamed.push(token);
    expect(streamed).toEqual(greedy(model, [sources[0]], { bosId: 1, eosId: 2, maxLength: 10 }).sequences[0]);
    const sampled: number[] = [];
    const options = { eosId: 5, maxLength: 12, seed: 21, temperature: 2 };
    for await (const token of generateStream(gpt, [prompts[1]], { ...options, strategy: 'sample' }))
      sampled.push(token);
    expect(sampled).toEqual(sample(gpt, [prompts[1]], options).sequences[0]);
    expect(sampled.length).toBeGreaterThan(2);
    // Leaving early frees the cache at once.
    for await (const token of generateStream(gpt, [prompts[1]], { ...options, strategy: 'sample' }))
      if (token >= 0) break;
    expect(liveStorages()).toBe(before);
    model.dispose();
    gpt.dispose();
  });

  test('the event loop runs between streamed tokens', async () => {
    const gpt = gptModel();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let tokens = 0;
    for await (const _ of generateStream(gpt, [prompts[0]], { maxLength: 12 })) tokens++;
    clearInterval(timer);
    expect(tokens).toBe(12);
    expect(ticks).toBeGreaterThan(0);
    gpt.dispose();
  });
});

describe('batching, modes, memory and errors', () => {
  test('batched greedy decoding of ragged sources equals decoding each alone; finished flags follow eos', () => {
    const model = seq2seqModel();
    const options = { bosId: 1, eosId: 2, maxLength: 9 };
    const batch = greedy(model, sources, options);
    sources.forEach((s, i) => expect(greedy(model, [s], options).sequences[0]).toEqual(batch.sequences[i]));
    batch.sequences.forEach((s, i) => expect(batch.finished[i]).toBe(s.length < 9));
    // A tensor input (padded with padId) gives the same.
    const padded = tensor(
      [
        [3, 4, 5, 6, 7],
        [8, 2, 0, 0, 0],
        [9, 9, 3, 0, 0],
      ],
      { dtype: 'int32' },
    );
    expect(greedy(model, padded, options)).toEqual(batch);
    padded.dispose();
    model.dispose();
  });

  test('generation runs with dropout off and restores the training mode', () => {
    const model = new GPT({
      vocabSize: 9,
      contextLength: 16,
      dModel: 16,
      nhead: 2,
      numLayers: 2,
      dropout: 0.5,
      seed: 3,
    });
    sharpen(model, 50);
    expect(model.training).toBe(true);
    const a = greedy(model, prompts, { maxLength: 8 });
    expect(greedy(model, prompts, { maxLength: 8 })).toEqual(a);
    expect(model.training).toBe(true);
    expect(model.transformer.layers.get(1).training).toBe(true);
    model.eval();
    expect(greedy(model, prompts, { maxLength: 8 })).toEqual(a);
    expect(model.training).toBe(false);
    model.dispose();
  });

  test('nothing leaks, inside an outer tidy() too', () => {
    const model = seq2seqModel();
    const gpt = gptModel();
    greedy(model, sources, { bosId: 1, maxLength: 3 }); // warm the allocator's cache
    const before = liveStorages();
    tidy(() => {
      beamSearch(model, sources, { bosId: 1, eosId: 2, maxLength: 6, beamSize: 3 });
      sample(gpt, prompts, { maxLength: 5, seed: 1 });
    });
    greedy(gpt, prompts, { maxLength: 5, useCache: false });
    expect(liveStorages()).toBe(before);
    model.dispose();
    gpt.dispose();
  });

  test('bad inputs and options throw errors naming the function and the value', async () => {
    const model = seq2seqModel();
    const gpt = gptModel();
    expectError(() => greedy(model, sources), 'RangeError', /greedy: a Seq2SeqTransformer needs bosId/);
    expectError(
      () => greedy(model, sources, { bosId: 9 }),
      'RangeError',
      /greedy: bosId must be a token id in \[0, 9\), got 9/,
    );
    expectError(
      () => greedy(model, sources, { bosId: 1, maxLength: 17 }),
      'RangeError',
      /greedy: maxLength 17 exceeds 16, the model's maxLen/,
    );
    expectError(
      () => greedy(model, [[1, 10]], { bosId: 1 }),
      'RangeError',
      /greedy: input\[0\]\[1\] = 10 is not a token id in \[0, 10\)/,
    );
    expectError(
      () => greedy(gpt, [[1, 2], [3]]),
      'RangeError',
      /greedy: GPT prompts of a batch must have equal lengths, got 2, 1/,
    );
    expectError(
      () => greedy(gpt, [[1, 2, 3]], { maxLength: 15 }),
      'RangeError',
      /greedy: maxLength 15 exceeds 14, contextLength 16 - prompt length 3 \+ 1/,
    );
    expectError(() => greedy(gpt, [[1]], { bosId: 1 }), 'RangeError', /greedy: bosId applies to a Seq2SeqTransformer/);
    expectError(
      () => greedy({} as never, [[1]]),
      'TypeError',
      /greedy: model must be a Seq2SeqTransformer or a GPT, got Object/,
    );
    expectError(
      () => sample(gpt, prompts, { topK: -1 }),
      'RangeError',
      /sample: topK must be a non-negative integer, got -1/,
    );
    expectError(
      () => beamSearch(gpt, prompts, { beamSize: 2, numReturnSequences: 3 }),
      'RangeError',
      /beamSearch: numReturnSequences must be an integer in \[1, beamSize = 2\], got 3/,
    );
    tidy(() =>
      expectError(
        () => greedy(gpt, tensor([[1.5]]) as Tensor),
        'TypeError',
        /greedy: input must be a non-empty int32 Tensor \[B, T\], got float32 \[1, 1\]/,
      ),
    );
    await expect(generateStream(gpt, prompts).next()).rejects.toThrow(
      /generateStream: streams one input at a time, got a batch of 3/,
    );
    model.dispose();
    gpt.dispose();
  });
});
