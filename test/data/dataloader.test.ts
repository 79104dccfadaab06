// DataLoader: padding and masks, per-seed/epoch shuffles, bucketing, token budgets, resumable state, LM windows.
import {
  collateSeq2Seq,
  DataLoader,
  disposeBatch,
  LanguageModelDataLoader,
  languageModelWindows,
  paddingFraction,
  Seq2SeqDataLoader,
  Seq2SeqExample,
  seq2seqLength,
} from '../../src/data/dataloader';
import { tidy } from '../../src/tensor';
import { expectError, rng } from '../helpers';

/** n examples with random lengths 1..maxLength, ids encoding (example, position) so rows can be traced. */
function makeExamples(n: number, maxLength: number, seed: number): Seq2SeqExample[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const srcLength = 1 + Math.floor(r() * maxLength);
    const tgtLength = 1 + Math.floor(r() * maxLength);
    return {
      src: Array.from({ length: srcLength }, (_, p) => 4 + ((i * 7 + p) % 50)),
      tgt: Array.from({ length: tgtLength }, (_, p) => 4 + ((i * 3 + p) % 50)),
    };
  });
}

function allIndices(loader: { plan(epoch: number): ReadonlyArray<readonly number[]> }, epoch: number): number[] {
  return loader.plan(epoch).flat();
}

describe('Seq2SeqDataLoader collate', () => {
  test('padding values, bos/eos, masks, token count', () => {
    const examples = [
      { src: [5, 6, 7], tgt: [8] },
      { src: [9], tgt: [10, 11, 12] },
    ];
    const loader = new Seq2SeqDataLoader(examples, { batchSize: 2 });
    const batches = [...loader];
    expect(batches.length).toBe(1);
    const b = batches[0];
    expect(b.src.shape).toEqual([2, 3]);
    expect(b.src.dtype).toBe('int32');
    expect(b.src.toArray()).toEqual([
      [5, 6, 7],
      [9, 0, 0],
    ]);
    expect(b.tgtIn.toArray()).toEqual([
      [1, 8, 0, 0],
      [1, 10, 11, 12],
    ]);
    expect(b.tgtOut.toArray()).toEqual([
      [8, 2, 0, 0],
      [10, 11, 12, 2],
    ]);
    expect(b.srcKeyPaddingMask.dtype).toBe('bool');
    expect(b.srcKeyPaddingMask.toArray()).toEqual([
      [false, false, false],
      [false, true, true],
    ]);
    expect(b.tgtKeyPaddingMask.toArray()).toEqual([
      [false, false, true, true],
      [false, false, false, false],
    ]);
    expect(b.numTargetTokens).toBe(6);
    expect(b.indices).toEqual([0, 1]);
    disposeBatch(b);
    expect(b.src.isDisposed && b.tgtIn.isDisposed && b.tgtKeyPaddingMask.isDisposed).toBe(true);
  });

  test('custom special ids and empty targets', () => {
    const b = collateSeq2Seq([{ src: [4], tgt: [] }], [0], { padId: 9, bosId: 7, eosId: 8 });
    expect(b.tgtIn.toArray()).toEqual([[7]]);
    expect(b.tgtOut.toArray()).toEqual([[8]]);
    expect(b.numTargetTokens).toBe(1);
    disposeBatch(b);
  });

  test('batches created inside tidy are freed by it', () => {
    const loader = new Seq2SeqDataLoader(makeExamples(10, 5, 1), { batchSize: 4 });
    const iterator = loader[Symbol.iterator]();
    let seen: { src: { isDisposed: boolean } } | undefined;
    tidy(() => {
      seen = iterator.next().value as { src: { isDisposed: boolean } };
    });
    expect(seen?.src.isDisposed).toBe(true);
  });
});

describe('batching', () => {
  const examples = makeExamples(103, 30, 2);

  test('every example exactly once per epoch; length; dropLast', () => {
    for (const options of [
      { batchSize: 10 },
      { batchSize: 10, shuffle: true, seed: 3 },
      { batchSize: 10, shuffle: true, bucketByLength: true, bucketSize: 40 },
      { maxTokens: 200, shuffle: true, bucketByLength: true },
    ]) {
      const loader = new Seq2SeqDataLoader(examples, options);
      for (const epoch of [0, 1]) {
        expect(allIndices(loader, epoch).sort((a, b) => a - b)).toEqual(examples.map((_, i) => i));
      }
    }
    const plain = new Seq2SeqDataLoader(examples, { batchSize: 10 });
    expect(plain.length).toBe(11);
    expect(plain.plan(0)[0]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const dropped = new Seq2SeqDataLoader(examples, { batchSize: 10, dropLast: true, shuffle: true });
    expect(dropped.length).toBe(10);
    expect(dropped.plan(0).every((b) => b.length === 10)).toBe(true);
  });

  test('shuffle: reproducible per seed and epoch, different across epochs and seeds', () => {
    const a = new Seq2SeqDataLoader(examples, { batchSize: 8, shuffle: true, seed: 42 });
    const b = new Seq2SeqDataLoader(examples, { batchSize: 8, shuffle: true, seed: 42 });
    const c = new Seq2SeqDataLoader(examples, { batchSize: 8, shuffle: true, seed: 43 });
    expect(a.plan(0)).toEqual(b.plan(0));
    expect(a.plan(5)).toEqual(b.plan(5));
    expect(allIndices(a, 0)).not.toEqual(allIndices(a, 1));
    expect(allIndices(a, 0)).not.toEqual(allIndices(c, 0));
    expect(allIndices(a, 0)).not.toEqual(examples.map((_, i) => i));
    // Iterating consecutive epochs yields the planned orders.
    const epoch0 = [...a].map((batch) => batch.indices);
    const epoch1 = [...a].map((batch) => batch.indices);
    expect(epoch0).toEqual(b.plan(0));
    expect(epoch1).toEqual(b.plan(1));
  });

  test('bucketing makes batches tighter than random', () => {
    const many = makeExamples(2000, 60, 5);
    const lengthOf = (i: number) => seq2seqLength(many[i]);
    const random = new Seq2SeqDataLoader(many, { batchSize: 32, shuffle: true, seed: 1 });
    const bucketed = new Seq2SeqDataLoader(many, { batchSize: 32, shuffle: true, seed: 1, bucketByLength: true });
    const randomPadding = paddingFraction(random.plan(0), lengthOf);
    const bucketedPadding = paddingFraction(bucketed.plan(0), lengthOf);
    expect(randomPadding).toBeGreaterThan(0.3);
    expect(bucketedPadding).toBeLessThan(0.05);
    // Batch order is shuffled, so lengths do not rise monotonically over the epoch.
    const firstLengths = bucketed.plan(0).map((batch) => lengthOf(batch[0]));
    expect(firstLengths).not.toEqual([...firstLengths].sort((x, y) => x - y));
    expect(bucketed.plan(0)).not.toEqual(bucketed.plan(1));
  });

  test('maxTokens is respected (padded size), with and without batchSize', () => {
    const lengthOf = (i: number) => seq2seqLength(examples[i]);
    for (const options of [
      { maxTokens: 120 },
      { maxTokens: 120, batchSize: 3 },
      { maxTokens: 64, bucketByLength: true, shuffle: true },
    ]) {
      const loader = new Seq2SeqDataLoader(examples, options);
      for (const batch of loader.plan(0)) {
        const padded = batch.length * Math.max(...batch.map(lengthOf));
        expect(padded).toBeLessThanOrEqual(options.maxTokens);
        if ('batchSize' in options) expect(batch.length).toBeLessThanOrEqual(options.batchSize as number);
      }
      for (const batch of loader) {
        expect(batch.src.size).toBeLessThanOrEqual(options.maxTokens);
        expect(batch.tgtIn.size).toBeLessThanOrEqual(options.maxTokens);
        disposeBatch(batch);
      }
    }
    // A budget the batches actually fill: more than one example per batch on average.
    expect(new Seq2SeqDataLoader(examples, { maxTokens: 120 }).length).toBeLessThan(examples.length / 2);
  });

  test('state: resuming mid-epoch continues with the same batches', () => {
    const options = { batchSize: 7, shuffle: true, seed: 9, bucketByLength: true, bucketSize: 30 };
    const reference = new Seq2SeqDataLoader(examples, options);
    const expected = [...reference.plan(2)];
    const first = new Seq2SeqDataLoader(examples, options);
    const seen: number[][] = [];
    for (const batch of first.epoch(2)) {
      seen.push(batch.indices);
      disposeBatch(batch);
      if (seen.length === 5) break;
    }
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ epoch: 2, position: 5 });
    const resumed = new Seq2SeqDataLoader(examples, options);
    resumed.loadState(saved);
    for (const batch of resumed) {
      seen.push(batch.indices);
      disposeBatch(batch);
    }
    expect(seen).toEqual(expected);
    expect(resumed.state()).toEqual({ epoch: 3, position: 0 });
    // Stopping right after the last batch still moves on to the next epoch.
    const edge = new Seq2SeqDataLoader(examples, options);
    edge.loadState({ epoch: 0, position: edge.length });
    const next = edge[Symbol.iterator]().next().value as { indices: number[] };
    expect(next.indices).toEqual(reference.plan(1)[0]);
  });

  test('a generic DataLoader with a custom collate', () => {
    const loader = new DataLoader(['a', 'bb', 'ccc', 'dddd', 'e'], {
      batchSize: 2,
      collate: (items: string[]) => items.join('+'),
    });
    expect([...loader]).toEqual(['a+bb', 'ccc+dddd', 'e']);
    expect(loader.state()).toEqual({ epoch: 1, position: 0 });
  });

  test('bad options and examples', () => {
    expectError(() => new Seq2SeqDataLoader(examples, {}), 'RangeError', /DataLoader: give batchSize or maxTokens/);
    expectError(
      () => new Seq2SeqDataLoader(examples, { batchSize: 0 }),
      'RangeError',
      /batchSize must be a positive integer, got 0/,
    );
    expectError(() => new Seq2SeqDataLoader(examples, { maxTokens: 2.5 }), 'RangeError', /maxTokens .* got 2.5/);
    expectError(
      () => new Seq2SeqDataLoader(examples, { maxTokens: 10 }),
      'RangeError',
      /example \d+ has \d+ tokens, more than maxTokens 10/,
    );
    expectError(
      () => new Seq2SeqDataLoader(examples, { maxTokens: 100, dropLast: true }),
      'RangeError',
      /dropLast needs batchSize/,
    );
    expectError(
      () => new Seq2SeqDataLoader([{ src: [1, -2], tgt: [] }], { batchSize: 1 }),
      'RangeError',
      /example 0 src\[1\] is -2/,
    );
    expectError(
      () => new Seq2SeqDataLoader([{ src: [1] } as unknown as Seq2SeqExample], { batchSize: 1 }),
      'TypeError',
      /example 0 tgt must be an array/,
    );
    expectError(
      () => new Seq2SeqDataLoader(examples, { batchSize: 2, padId: -1 }),
      'RangeError',
      /padId must be a non-negative integer, got -1/,
    );
    const loader = new Seq2SeqDataLoader(examples, { batchSize: 10 });
    expectError(() => loader.loadState({ epoch: 0, position: 12 }), 'RangeError', /position 12 is outside \[0, 11\]/);
    expectError(
      () => loader.loadState({ epoch: -1, position: 0 }),
      'RangeError',
      /epoch must be a non-negative integer/,
    );
  });
});

describe('language modelling', () => {
  test('windows: chunking, sliding, short tails, separate streams', () => {
    const stream = Array.from({ length: 10 }, (_, i) => 10 + i);
    expect(languageModelWindows(stream, { blockSize: 4 }).map((w) => Array.from(w))).toEqual([
      [10, 11, 12, 13, 14],
      [14, 15, 16, 17, 18],
      [18, 19],
    ]);
    expect(languageModelWindows(stream, { blockSize: 4, stride: 3 }).map((w) => Array.from(w))).toEqual([
      [10, 11, 12, 13, 14],
      [13, 14, 15, 16, 17],
      [16, 17, 18, 19],
    ]);
    expect(languageModelWindows([[1, 2, 3], [4], [5, 6]], { blockSize: 8 }).map((w) => Array.from(w))).toEqual([
      [1, 2, 3],
      [5, 6],
    ]);
    expectError(
      () => languageModelWindows(stream, { blockSize: 4, stride: 5 }),
      'RangeError',
      /stride must be an integer in \[1, blockSize 4\], got 5/,
    );
  });

  test('every token is a target exactly once with stride = blockSize', () => {
    const stream = Array.from({ length: 1000 }, (_, i) => i);
    const loader = new LanguageModelDataLoader(stream, { blockSize: 16, batchSize: 8, shuffle: true, seed: 4 });
    const targets: number[] = [];
    for (const batch of loader) {
      expect(batch.input.shape[1]).toBe(16);
      const input = batch.input.toArray() as number[][];
      const target = batch.target.toArray() as number[][];
      input.forEach((row, b) =>
        row.forEach((v, t) => {
          if (target[b][t] !== -100) expect(target[b][t]).toBe(v + 1); // the next token of the stream
        }),
      );
      for (const v of batch.target.dataSync()) if (v !== -100) targets.push(v);
      disposeBatch(batch);
    }
    expect(targets.sort((a, b) => a - b)).toEqual(stream.slice(1));
  });

  test('short windows are padded: input with padId, target with ignoreIndex', () => {
    const loader = new LanguageModelDataLoader(
      [
        [5, 6, 7, 8],
        [9, 10],
      ],
      { blockSize: 3, batchSize: 2 },
    );
    const [batch] = [...loader];
    expect(batch.input.toArray()).toEqual([
      [5, 6, 7],
      [9, 0, 0],
    ]);
    expect(batch.target.toArray()).toEqual([
      [6, 7, 8],
      [10, -100, -100],
    ]);
    expect(batch.numTargetTokens).toBe(4);
    disposeBatch(batch);
  });
});
