/** @jest-environment ./test/io/ort-environment.js */
// `transformer-native export --checkpoint DIR --format onnx --out FILE`: checkpoints of each model kind exported
// and run in onnxruntime-node against the checkpoint's model, and every flag checked with an error naming it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { EncoderClassifier, GPT, Seq2SeqTransformer } from '../../src/models';
import { Module } from '../../src/nn';
import { saveCheckpoint } from '../../src/training/checkpoint';
import { emptyPast, ids, int64, ours, relativeError } from '../io/onnx-helpers';
import { runMain } from './run-main';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-cli-export-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const run = runMain;

function checkpointOf(name: string, model: Module & { config: object }, task: string): string {
  const dir = path.join(root, name);
  saveCheckpoint(dir, { model, config: model.config, metadata: { task } });
  return dir;
}

const rows = [
  [3, 5, 7, 2, 9],
  [4, 4, 1, 8, 6],
];

test('an lm checkpoint: one .onnx file with the KV-cache graph, logits as the model computes them', async () => {
  const model = new GPT({ vocabSize: 20, contextLength: 16, dModel: 16, nhead: 2, numLayers: 2, seed: 5 }).eval();
  const checkpoint = checkpointOf('lm', model, 'lm');
  const out = path.join(root, 'lm.onnx');
  const result = await run('export', '--checkpoint', checkpoint, '--format', 'onnx', '--out', out, '--kv-cache');
  expect(result).toEqual({
    code: 0,
    stdout: `exported GPT from ${checkpoint} to ${path.resolve(out)}\n`,
    stderr: '',
  });
  const session = await ort.InferenceSession.create(out);
  expect(session.inputNames).toEqual([
    'input_ids',
    'past_key_values.0.key',
    'past_key_values.0.value',
    'past_key_values.1.key',
    'past_key_values.1.value',
  ]);
  expect(session.outputNames).toEqual([
    'logits',
    'present.0.key',
    'present.0.value',
    'present.1.key',
    'present.1.value',
  ]);
  const logits = (await session.run({ input_ids: int64(rows), ...emptyPast(2, 2, 2, 8) })).logits;
  expect(
    relativeError(
      logits.data as Float32Array,
      ours(() => model.forward(ids(rows))),
    ),
  ).toBeLessThanOrEqual(1e-4);
  model.dispose();
});

test('a classify checkpoint (a training folder) and a g2p-like Seq2SeqTransformer checkpoint (a folder out)', async () => {
  const classifier = new EncoderClassifier({ vocabSize: 12, numClasses: 2, dModel: 16, nhead: 2, numLayers: 1 }).eval();
  const training = path.join(root, 'cls-run');
  saveCheckpoint(path.join(training, 'best'), {
    model: classifier,
    config: classifier.config,
    metadata: { task: 'classify' },
  });
  const clsOut = path.join(root, 'cls.onnx');
  expect((await run('export', '--checkpoint', training, '--format=onnx', '--out', clsOut, '--opset', '20')).code).toBe(
    0,
  );
  const session = await ort.InferenceSession.create(clsOut);
  const feeds = {
    input_ids: int64(rows.map((r) => r.map((v) => v % 12))),
    attention_mask: int64(rows.map((r) => r.map(() => 1))),
  };
  const logits = (await session.run(feeds)).logits;
  const expected = ours(() => classifier.forward(ids(rows.map((r) => r.map((v) => v % 12)))));
  expect(relativeError(logits.data as Float32Array, expected)).toBeLessThanOrEqual(1e-4);

  const seq2seq = new Seq2SeqTransformer({
    srcVocabSize: 10,
    tgtVocabSize: 10,
    dModel: 16,
    nhead: 2,
    numEncoderLayers: 1,
    numDecoderLayers: 1,
  });
  const folder = path.join(root, 'g2p-onnx');
  const r = await run(
    'export',
    '--checkpoint',
    checkpointOf('g2p', seq2seq, 'g2p'),
    '--format',
    'onnx',
    '--out',
    folder,
  );
  expect(r.code).toBe(0);
  expect(fs.readdirSync(folder).sort()).toEqual(['decoder.onnx', 'encoder.onnx']);
  classifier.dispose();
  seq2seq.dispose();
});

describe('bad flags name what is wrong', () => {
  let checkpoint: string;
  beforeAll(() => {
    const model = new GPT({ vocabSize: 8, contextLength: 8, dModel: 8, nhead: 2, numLayers: 1 });
    checkpoint = checkpointOf('small', model, 'lm');
    model.dispose();
  });

  test.each([
    [['--format', 'onnx', '--out', 'x.onnx'], 2, /missing required option --checkpoint/],
    [['--checkpoint', 'C', '--out', 'x.onnx'], 2, /missing required option --format/],
    [['--checkpoint', 'C', '--format', 'onnx'], 2, /missing required option --out/],
    [
      ['--checkpoint', 'C', '--format', 'tflite', '--out', 'x'],
      2,
      /invalid value "tflite" for --format: expected one of onnx/,
    ],
    [['--checkpoint', 'C', '--format', 'onnx', '--out', 'x', '--opset', '16'], 2, /invalid value "16" for --opset/],
    [
      ['--checkpoint', 'C', '--format', 'onnx', '--out', 'x', '--opsett', '17'],
      2,
      /unknown option '--opsett'.*did you mean --opset/,
    ],
    [['--checkpoint', 'C', '--format', 'onnx', '--out', 'x', 'stray'], 2, /unexpected argument 'stray' for 'export'/],
    [['--checkpoint', 'NOPE', '--format', 'onnx', '--out', 'x'], 1, /checkpoint not found: .*nope/],
  ] as Array<[string[], number, RegExp]>)('%j', async (args, code, message) => {
    const argv = args.map((a) => (a === 'C' ? checkpoint : a === 'NOPE' ? path.join(root, 'nope') : a));
    const result = await run('export', ...argv);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^transformer-native: error: /);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    if (code === 2) expect(result.stderr).toContain("Run 'transformer-native export --help' for usage.");
  });

  test('--out that cannot be written, or is a folder, fails and leaves nothing', async () => {
    const exportTo = (out: string) => run('export', '--checkpoint', checkpoint, '--format', 'onnx', '--out', out);
    fs.writeFileSync(path.join(root, 'plain'), 'x');
    const bad = await exportTo(path.join(root, 'plain', 'm.onnx'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ENOTDIR/);
    fs.mkdirSync(path.join(root, 'folder'));
    const folder = await exportTo(path.join(root, 'folder'));
    expect(folder.stderr).toMatch(/--out .*folder is a folder; a GPT is written to one .onnx file/);
    expect(fs.readdirSync(path.join(root, 'folder'))).toEqual([]);
    expect((await run('lm', 'export')).stderr).toMatch(/'export' takes no task/);
  });

  test('--help lists the flags', async () => {
    const help = await run('export', '--help');
    expect(help.code).toBe(0);
    for (const flag of ['--checkpoint DIR', '--format', '--out FILE', '--opset', '--kv-cache', '--external-data'])
      expect(help.stdout).toContain(flag);
    expect((await run('--help')).stdout).toMatch(/export\s+write a checkpoint as ONNX/);
  });
});
