/** @jest-environment ./test/io/ort-environment.js */
// io.exportOnnx on models loaded from Hugging Face folders (the tiny GPT-2, BERT and BART goldens), whose options
// the library's own models do not use by default: tanh GELU and GPT-2's epsilon, BERT's token types (the
// token_type_ids input, as HF's BERT exports take it) and its encoder without a head, BART's separate position
// tables offset by 2, embedding LayerNorms, no final norms and unscaled or scaled embeddings. onnxruntime-node
// runs each graph; the outputs must match our forward (max relative error 1e-4).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../../src/io';
import { EncoderClassifier, fromHuggingFace, GPT, Seq2SeqTransformer } from '../../src/models';
import { attentionMask, ids, int64, ours, paddedRows, relativeError } from './onnx-helpers';

const GOLDEN = path.join(__dirname, '..', 'golden', 'hf');
const TOLERANCE = 1e-4;
const session = (file: string) => ort.InferenceSession.create(file, { intraOpNumThreads: 1 });

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-onnx-hf-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test.each([17, 20])('GPT-2 (tanh GELU, opset %i): logits match', async (opset) => {
  const gpt = fromHuggingFace(path.join(GOLDEN, 'gpt2')).model as GPT;
  const file = path.join(dir, 'gpt2.onnx');
  exportOnnx(gpt, file, { opset });
  const rows = paddedRows(2, 9, gpt.config.vocabSize, 5);
  const out = await (await session(file)).run({ input_ids: int64(rows) });
  expect(
    relativeError(
      out.logits.data as Float32Array,
      ours(() => gpt.forward(ids(rows))),
    ),
  ).toBeLessThanOrEqual(TOLERANCE);
  gpt.dispose();
});

test.each([
  ['bert-classifier', 'logits'],
  ['bert', 'last_hidden_state'],
])('%s: token types and padding, %s match', async (name, output) => {
  const bert = fromHuggingFace(path.join(GOLDEN, name)).model as EncoderClassifier;
  const file = path.join(dir, 'bert.onnx');
  exportOnnx(bert, file);
  const rows = paddedRows(3, 8, bert.config.vocabSize, 7, [0, 3, 5], bert.config.padId);
  const types = rows.map((r) => r.map((_, t) => (t >= 4 ? 1 : 0)));
  const out = await (
    await session(file)
  ).run({
    input_ids: int64(rows),
    attention_mask: int64(attentionMask(rows, bert.config.padId)),
    token_type_ids: int64(types),
  });
  const expected = ours(() => bert.forward(ids(rows), { tokenTypeIds: ids(types) }));
  expect(relativeError(out[output].data as Float32Array, expected)).toBeLessThanOrEqual(TOLERANCE);
  bert.dispose();
});

test('BART: encoder states and decoder logits match', async () => {
  const bart = fromHuggingFace(path.join(GOLDEN, 'bart')).model as Seq2SeqTransformer;
  const folder = path.join(dir, 'bart');
  exportOnnx(bart, folder);
  const c = bart.config;
  const src = paddedRows(2, 7, c.srcVocabSize, 3, [0, 2], c.padId);
  const tgt = paddedRows(2, 5, c.tgtVocabSize, 4);
  const srcMask = int64(attentionMask(src, c.padId));
  const encoder = await session(path.join(folder, 'encoder.onnx'));
  const states = (await encoder.run({ input_ids: int64(src), attention_mask: srcMask })).last_hidden_state;
  const srcIds = ids(src);
  expect(
    relativeError(
      states.data as Float32Array,
      ours(() => bart.encode(srcIds)),
    ),
  ).toBeLessThanOrEqual(TOLERANCE);
  const decoder = await session(path.join(folder, 'decoder.onnx'));
  const feeds = { input_ids: int64(tgt), encoder_hidden_states: states, encoder_attention_mask: srcMask };
  const logits = (await decoder.run(feeds)).logits;
  const expected = ours(() =>
    bart.decode(ids(tgt), bart.encode(srcIds), { memoryKeyPaddingMask: bart.paddingMask(srcIds) }),
  );
  expect(relativeError(logits.data as Float32Array, expected)).toBeLessThanOrEqual(TOLERANCE);
  bart.dispose();
});
