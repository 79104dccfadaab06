/** @jest-environment ./test/io/ort-environment.js */
// io.exportOnnx checked against the library's own forward by onnxruntime-node: every model kind, random and
// trained weights, several batch sizes and lengths with padding (max relative error <= 1e-4), greedy decoding
// through the KV-cache graphs, external data, onnx.checker where Python's onnx is installed, and bad input.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { greedy } from '../../src/generation';
import { exportOnnx, UnsupportedModuleError } from '../../src/io';
import { EncoderClassifier, GPT, GPTOptions, Seq2SeqTransformer, Seq2SeqTransformerOptions } from '../../src/models';
import { Linear } from '../../src/nn';
import { expectError } from '../helpers';
import {
  attentionMask,
  crossEntropy,
  emptyPast,
  ids,
  int64,
  onnxCheck,
  onnxGreedy,
  ours,
  paddedRows,
  pythonWithOnnx,
  relativeError,
  train,
} from './onnx-helpers';

const TOLERANCE = 1e-4;
const python = pythonWithOnnx();

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-onnx-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Checks a written model with onnx.checker (full_check) where Python's onnx is installed and knows the opset. */
function check(file: string, opset = 17): void {
  if (python === null || opset > 17) return; // Debian's onnx 1.12 knows opsets up to 17
  expect(onnxCheck(python, file)).toBe('');
}

const session = (file: string) => ort.InferenceSession.create(file, { intraOpNumThreads: 1 });

const gptOptions: GPTOptions = { vocabSize: 37, contextLength: 24, dModel: 32, nhead: 4, numLayers: 2, seed: 1 };

/** logits of our GPT against the exported graph's, at every (B, T) given. */
async function compareGpt(model: GPT, file: string, shapes: Array<[number, number]>, cached: boolean) {
  const s = await session(file);
  const { nhead, dModel, numLayers, vocabSize } = model.config;
  for (const [B, T] of shapes) {
    const rows = paddedRows(B, T, vocabSize, B * 100 + T);
    const past = cached ? emptyPast(numLayers, B, nhead, dModel / nhead) : {};
    const out = await s.run({ input_ids: int64(rows), ...past });
    expect(out.logits.dims).toEqual([B, T, vocabSize]);
    const expected = ours(() => model.forward(ids(rows)));
    expect(relativeError(out.logits.data as Float32Array, expected)).toBeLessThanOrEqual(TOLERANCE);
  }
}

describe('GPT', () => {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [1, 9],
    [3, 16],
    [2, 24],
  ];

  test.each([
    ['pre-LN, gelu, tied head', {}],
    ['post-LN, relu, own head', { normFirst: false, activation: 'relu', tieEmbeddings: false }],
  ] as Array<[string, Partial<GPTOptions>]>)('random weights, %s: logits match', async (_, extra) => {
    const model = new GPT({ ...gptOptions, ...extra }).eval();
    const file = path.join(dir, 'gpt.onnx');
    expect(exportOnnx(model, file)).toEqual({ files: [path.resolve(file)] });
    check(file);
    await compareGpt(model, file, shapes, false);
    model.dispose();
  });

  test('trained weights, with the KV-cache graph and opset 20 (Gelu op)', async () => {
    const model = new GPT({ ...gptOptions, dropout: 0 });
    const rows = paddedRows(4, 13, gptOptions.vocabSize, 7);
    const input = ids(rows.map((r) => r.slice(0, 12)));
    const target = ids(rows.map((r) => r.slice(1)));
    train(model, () => crossEntropy(model.forward(input), target));
    for (const opset of [17, 20]) {
      const file = path.join(dir, `gpt-${opset}.onnx`);
      exportOnnx(model, file, { kvCache: true, opset });
      check(file, opset);
      await compareGpt(model, file, shapes, true);
    }
    model.dispose();
  });

  test('greedy decoding through the KV-cache graph gives our tokens', async () => {
    const model = new GPT({ ...gptOptions, seed: 4 }).eval();
    const file = path.join(dir, 'gpt.onnx');
    exportOnnx(model, file, { kvCache: true });
    const prompts = [
      [3, 1, 4, 1],
      [5, 9, 2, 6],
    ];
    const steps = 20;
    const expected = greedy(model, prompts, { maxLength: steps, eosId: null }).sequences;
    const { nhead, dModel, numLayers } = model.config;
    const tokens = await onnxGreedy(
      await session(file),
      prompts,
      emptyPast(numLayers, 2, nhead, dModel / nhead),
      {},
      steps,
      null,
    );
    expect(tokens).toEqual(expected);
    model.dispose();
  });

  test('external data: the weights go to <file>.data and the model runs the same', async () => {
    const model = new GPT(gptOptions).eval();
    const file = path.join(dir, 'gpt.onnx');
    const { files } = exportOnnx(model, file, { externalData: true });
    expect(files.sort()).toEqual([path.resolve(file), path.resolve(`${file}.data`)].sort());
    expect(fs.statSync(file).size).toBeLessThan(20_000); // graph only
    expect(fs.statSync(`${file}.data`).size).toBeGreaterThan(4 * 2 * 12 * 32 * 32);
    check(file);
    await compareGpt(model, file, [[2, 5]], false);
    model.dispose();
  });
});

describe('EncoderClassifier', () => {
  const base = { vocabSize: 41, numClasses: 3, dModel: 32, nhead: 4, numLayers: 2, maxLen: 20, seed: 2 };

  async function compare(model: EncoderClassifier, file: string) {
    const s = await session(file);
    const { padId } = model.config;
    const cases: Array<[number, number, number[]]> = [
      [1, 1, []],
      [2, 7, [0, 3]],
      [4, 20, [0, 19, 5, 1]],
    ];
    // A row of padding only: attention over no key gives zeros in both (mean pooling refuses such a row).
    if (model.config.pooling === 'cls') cases.push([2, 4, [4, 0]]);
    for (const [B, T, pad] of cases) {
      const rows = paddedRows(B, T, model.config.vocabSize, B + T, pad, padId);
      const out = await s.run({ input_ids: int64(rows), attention_mask: int64(attentionMask(rows, padId)) });
      expect(out.logits.dims).toEqual([B, model.config.numClasses]);
      const expected = ours(() => model.forward(ids(rows)));
      expect(relativeError(out.logits.data as Float32Array, expected)).toBeLessThanOrEqual(TOLERANCE);
    }
  }

  test.each([
    ['cls pooling, post-LN, gelu', {}],
    ['mean pooling, pre-LN, relu', { pooling: 'mean', normFirst: true, activation: 'relu' }],
  ])('random weights, %s: logits match with padding', async (_, extra) => {
    const model = new EncoderClassifier({ ...base, ...(extra as object) }).eval();
    const file = path.join(dir, 'cls.onnx');
    exportOnnx(model, file);
    check(file);
    await compare(model, file);
    model.dispose();
  });

  test('trained weights (mean pooling)', async () => {
    const model = new EncoderClassifier({ ...base, pooling: 'mean', dropout: 0 });
    const rows = paddedRows(6, 9, base.vocabSize, 3, [0, 2, 4, 0, 1, 3]);
    const labels = ids([[0, 1, 2, 1, 0, 2]]).reshape(6);
    train(model, () => crossEntropy(model.forward(ids(rows)), labels));
    const file = path.join(dir, 'cls.onnx');
    exportOnnx(model, file);
    check(file);
    await compare(model, file);
    model.dispose();
  });
});

describe('Seq2SeqTransformer', () => {
  const base: Seq2SeqTransformerOptions = {
    srcVocabSize: 29,
    tgtVocabSize: 31,
    dModel: 32,
    nhead: 4,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 64,
    maxLen: 24,
    seed: 3,
  };

  /** Encoder states and decoder logits at several sizes, padded sources, uncached or with empty caches. */
  async function compare(model: Seq2SeqTransformer, folder: string, cached: boolean) {
    const encoder = await session(path.join(folder, 'encoder.onnx'));
    const decoder = await session(path.join(folder, 'decoder.onnx'));
    const c = model.config;
    for (const [B, S, T, pad] of [
      [1, 1, 1, []],
      [3, 8, 5, [0, 4, 7]],
      [2, 24, 24, [10, 0]],
      [2, 5, 3, [5, 0]], // a source of padding only
    ] as Array<[number, number, number, number[]]>) {
      const src = paddedRows(B, S, c.srcVocabSize, S, pad, c.padId);
      const tgt = paddedRows(B, T, c.tgtVocabSize, T + 1);
      const srcMask = int64(attentionMask(src, c.padId));
      const states = (await encoder.run({ input_ids: int64(src), attention_mask: srcMask })).last_hidden_state;
      const srcIds = ids(src);
      const memory = ours(() => model.encode(srcIds));
      expect(relativeError(states.data as Float32Array, memory)).toBeLessThanOrEqual(TOLERANCE);
      const past = cached ? emptyPast(c.numDecoderLayers, B, c.nhead, c.dModel / c.nhead) : {};
      const feeds = { input_ids: int64(tgt), encoder_hidden_states: states, encoder_attention_mask: srcMask };
      const logits = (await decoder.run({ ...feeds, ...past })).logits;
      expect(logits.dims).toEqual([B, T, c.tgtVocabSize]);
      const expected = ours(() =>
        model.decode(ids(tgt), model.encode(srcIds), { memoryKeyPaddingMask: model.paddingMask(srcIds) }),
      );
      expect(relativeError(logits.data as Float32Array, expected)).toBeLessThanOrEqual(TOLERANCE);
    }
  }

  test.each([
    ['post-LN, relu, sinusoidal', {}],
    [
      'pre-LN, gelu, learned positions, shared and tied embeddings',
      {
        normFirst: true,
        activation: 'gelu',
        positional: 'learned',
        srcVocabSize: 31,
        shareEmbeddings: true,
        tieEmbeddings: true,
      },
    ],
  ] as Array<[string, Partial<Seq2SeqTransformerOptions>]>)('random weights, %s', async (_, extra) => {
    const model = new Seq2SeqTransformer({ ...base, ...extra }).eval();
    const folder = path.join(dir, 'model');
    const { files } = exportOnnx(model, folder);
    expect(files).toEqual([path.resolve(folder, 'encoder.onnx'), path.resolve(folder, 'decoder.onnx')]);
    for (const file of files) check(file);
    await compare(model, folder, false);
    model.dispose();
  });

  test('trained weights, KV-cache decoder: logits match and greedy decoding gives our tokens', async () => {
    const model = new Seq2SeqTransformer({ ...base, dropout: 0 });
    const src = paddedRows(4, 7, base.srcVocabSize, 11, [0, 2, 1, 3]);
    const tgt = paddedRows(4, 6, base.tgtVocabSize, 12);
    const tgtIn = ids(tgt.map((r) => [1, ...r.slice(0, 5)]));
    train(model, () => crossEntropy(model.forward(ids(src), tgtIn, { tgtKeyPaddingMask: null }), ids(tgt)));
    const folder = path.join(dir, 'model');
    exportOnnx(model, folder, { kvCache: true });
    for (const file of ['encoder.onnx', 'decoder.onnx']) check(path.join(folder, file));
    await compare(model, folder, true);

    const options = { bosId: 1, eosId: 2, maxLength: 12 };
    const expected = greedy(model, src, options).sequences;
    expect(expected.some((s) => s.length > 3)).toBe(true);
    const c = model.config;
    const srcMask = int64(attentionMask(src, c.padId));
    const encoder = await session(path.join(folder, 'encoder.onnx'));
    const states = (await encoder.run({ input_ids: int64(src), attention_mask: srcMask })).last_hidden_state;
    const tokens = await onnxGreedy(
      await session(path.join(folder, 'decoder.onnx')),
      src.map(() => [options.bosId]),
      emptyPast(c.numDecoderLayers, src.length, c.nhead, c.dModel / c.nhead),
      { encoder_hidden_states: states, encoder_attention_mask: srcMask },
      options.maxLength,
      options.eosId,
    );
    expect(tokens).toEqual(expected);
    model.dispose();
  });
});

test('onnx.checker (where installed) rejects a model whose graph is broken, so its pass means something', () => {
  if (python === null) return;
  const model = new GPT(gptOptions);
  const file = path.join(dir, 'gpt.onnx');
  exportOnnx(model, file);
  const bytes = fs.readFileSync(file);
  // Rename an initializer that nodes read: the graph then uses an undefined value.
  const at = bytes.indexOf(Buffer.from('lm_head.weight'));
  const renamed = at >= 0 ? at : bytes.indexOf(Buffer.from('token_embedding.weight'));
  bytes[renamed] = 'X'.charCodeAt(0);
  fs.writeFileSync(file, bytes);
  expect(onnxCheck(python, file)).toMatch(/ValidationError|InferenceError|not.*(found|output)/i);
  model.dispose();
});

describe('bad input', () => {
  const gpt = () => new GPT(gptOptions);

  test('an unsupported module is named', () => {
    const linear = new Linear(2, 3);
    const file = path.join(dir, 'x.onnx');
    expect(() => exportOnnx(linear, file)).toThrow(UnsupportedModuleError);
    expect(() => exportOnnx(linear, file)).toThrow(
      /^exportOnnx: unsupported module Linear \(supported: GPT, EncoderClassifier, Seq2SeqTransformer\)$/,
    );
    expect(() => exportOnnx(null as never, file)).toThrow(/unsupported module null/);
    expect(new UnsupportedModuleError('X')).toBeInstanceOf(TypeError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('bad options and paths are named', () => {
    const model = gpt();
    const file = path.join(dir, 'x.onnx');
    expectError(
      () => exportOnnx(model, file, { opset: 16 }),
      'RangeError',
      /opset must be an integer from 17 to 20, got 16/,
    );
    expectError(() => exportOnnx(model, file, { opset: 17.5 }), 'RangeError', /opset .* got 17.5/);
    expectError(() => exportOnnx(model, file, { kvCache: 'yes' as never }), 'TypeError', /kvCache must be a boolean/);
    expectError(() => exportOnnx(model, file, { externalData: 'x' as never }), 'TypeError', /externalData must be/);
    expectError(() => exportOnnx(model, file, { opSet: 17 } as never), 'TypeError', /unknown option 'opSet'/);
    expectError(() => exportOnnx(model, file, null as never), 'TypeError', /options must be an object, got null/);
    expectError(() => exportOnnx(model, '' as never), 'TypeError', /path must be a non-empty string, got ''/);
    expectError(() => exportOnnx(model, 3 as never), 'TypeError', /path must be a non-empty string, got number/);
    const classifier = new EncoderClassifier({ vocabSize: 5, numClasses: 2, dModel: 8, nhead: 2, numLayers: 1 });
    expectError(() => exportOnnx(classifier, file, { kvCache: true }), 'RangeError', /kvCache applies to decoders/);
    expect(fs.readdirSync(dir)).toEqual([]);
    model.dispose();
    classifier.dispose();
  });

  test('a path that cannot be written gives an error and leaves no file, partial or temporary', () => {
    const model = gpt();
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expect(() => exportOnnx(model, path.join(dir, 'file', 'model.onnx'))).toThrow(/ENOTDIR/);
    expect(() => exportOnnx(model, path.join(dir, 'missing', 'model.onnx'))).toThrow(/ENOENT/);
    // A directory in the way is found before anything is written.
    fs.mkdirSync(path.join(dir, 'taken.onnx'));
    expect(() => exportOnnx(model, path.join(dir, 'taken.onnx'), { externalData: true })).toThrow(/is a directory/);
    expect(fs.readdirSync(dir).sort()).toEqual(['file', 'taken.onnx']);
    expect(fs.readdirSync(path.join(dir, 'taken.onnx'))).toEqual([]);
    // An earlier export stays whole when a later one fails.
    const good = path.join(dir, 'good.onnx');
    exportOnnx(model, good);
    const before = fs.readFileSync(good);
    expect(() => exportOnnx(new Linear(1, 1), good)).toThrow(UnsupportedModuleError);
    expect(fs.readFileSync(good).equals(before)).toBe(true);
    model.dispose();
  });

  test('a Seq2SeqTransformer needs a folder: a file path is an error, an unwritable one leaves nothing', () => {
    const model = new Seq2SeqTransformer({
      srcVocabSize: 5,
      tgtVocabSize: 5,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
    });
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expectError(
      () => exportOnnx(model, path.join(dir, 'file')),
      'RangeError',
      /written to a folder, and .*file is a file/,
    );
    expect(() => exportOnnx(model, path.join(dir, 'file', 'sub'))).toThrow(/ENOTDIR|EEXIST/);
    expect(fs.readdirSync(dir)).toEqual(['file']);
    model.dispose();
  });
});
