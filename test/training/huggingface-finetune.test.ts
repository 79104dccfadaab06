// Trainer fine-tunes models loaded from Hugging Face folders (the tiny GPT-2, BERT and BART goldens) with its
// default loss for each batch type, and the result goes back to an HF folder that reads back with the same
// outputs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataLoader, LanguageModelDataLoader, Seq2SeqDataLoader } from '../../src/data/dataloader';
import { Tokenizer } from '../../src/data/tokenizers';
import { EncoderClassifier, fromHuggingFace, GPT, saveHuggingFace } from '../../src/models';
import type { HuggingFaceModel } from '../../src/models';
import { AdamW } from '../../src/optim';
import { noGrad } from '../../src/autograd';
import { tensor, Tensor } from '../../src/tensor';
import { Trainer } from '../../src/training';
import type { TrainerOptions } from '../../src/training';
import type { ClassificationBatch } from '../../src/training/losses';

const GOLDEN = path.join(__dirname, '..', 'golden', 'hf');
const SENTENCES = ['the cat sat on the mat.', 'the dog slept on the rug.', 'a cat and a dog sat on the mat.'];

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-hf-finetune-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Right-padded ids (pad id 0), the padding mask and the labels. */
function padded(batch: Array<{ ids: number[]; label: number }>, indices: number[]): ClassificationBatch {
  const T = Math.max(...batch.map((e) => e.ids.length));
  const ids = new Int32Array(batch.length * T);
  const padding = new Uint8Array(batch.length * T).fill(1);
  batch.forEach((e, b) => {
    ids.set(e.ids, b * T);
    padding.fill(0, b * T, b * T + e.ids.length);
  });
  return {
    input: tensor(ids, { shape: [batch.length, T], dtype: 'int32' }),
    keyPaddingMask: tensor(
      Array.from(padding, (p) => p === 1),
      { shape: [batch.length, T], dtype: 'bool' },
    ),
    labels: tensor(
      Int32Array.from(batch, (e) => e.label),
      { dtype: 'int32' },
    ),
    indices,
  };
}

/** Trains for `steps` steps; returns the first and last losses. */
async function fineTune<B>(model: HuggingFaceModel, trainLoader: TrainerOptions<B>['trainLoader'], steps: number) {
  const losses: number[] = [];
  const optimizer = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const trainer = new Trainer<B>({
    model,
    optimizer,
    trainLoader,
    maxSteps: steps,
    logEvery: 1,
    progress: 'none',
    onStep: (info) => losses.push(info.loss),
  });
  await trainer.train();
  optimizer.dispose();
  return { first: losses[0], last: losses[losses.length - 1] };
}

/** Saves the tuned model as an HF folder, reads it back and checks it computes the same outputs. */
function roundTrip(model: HuggingFaceModel, tokenizer: Tokenizer | null, run: (m: HuggingFaceModel) => Tensor): void {
  const out = path.join(dir, 'tuned');
  saveHuggingFace(model, out, { tokenizer });
  const reloaded = fromHuggingFace(out).model;
  model.eval();
  noGrad(() => expect(run(reloaded).dataSync()).toEqual(run(model).dataSync()));
  reloaded.dispose();
}

test('GPT-2: language-model batches', async () => {
  const { model, tokenizer } = fromHuggingFace(path.join(GOLDEN, 'gpt2'));
  const stream = SENTENCES.flatMap((s) => tokenizer!.encode(` ${s}`));
  const loader = new LanguageModelDataLoader(stream, { blockSize: 8, batchSize: 4, shuffle: true });
  const { first, last } = await fineTune(model, loader, 40);
  expect(last).toBeLessThan(first * 0.5);
  roundTrip(model, tokenizer, (m) => (m as GPT).forward(tensor([stream.slice(0, 8)], { dtype: 'int32' })));
  model.dispose();
}, 60000);

test('BERT: a new classification head on the encoder, classification batches', async () => {
  const { model, tokenizer } = fromHuggingFace(path.join(GOLDEN, 'bert'), { numLabels: 2 });
  const examples = [...SENTENCES, 'a dog sat.', 'the cat slept.'].map((text) => ({
    ids: tokenizer!.encode(text, { addSpecialTokens: true }),
    label: text.includes('cat') ? 1 : 0,
  }));
  const loader = new DataLoader(examples, {
    batchSize: 5,
    collate: (batch, indices) => padded(batch, indices),
  });
  const { first, last } = await fineTune(model, loader, 40);
  expect(last).toBeLessThan(first * 0.5);
  roundTrip(model, tokenizer, (m) => (m as EncoderClassifier).forward(tensor([examples[0].ids], { dtype: 'int32' })));
  model.dispose();
}, 60000);

test('BART: sequence-to-sequence batches with the decoder start token', async () => {
  const { model, tokenizer, config } = fromHuggingFace(path.join(GOLDEN, 'bart'));
  const examples = SENTENCES.map((text) => {
    const ids = tokenizer!.encode(text, { addSpecialTokens: true });
    return { src: ids, tgt: ids.slice(0, -1) }; // copy the text: tgtIn = </s> <s> text, tgtOut = <s> text </s>
  });
  const loader = new Seq2SeqDataLoader(examples, {
    batchSize: 3,
    padId: config.pad_token_id as number,
    bosId: config.decoder_start_token_id as number,
    eosId: config.eos_token_id as number,
  });
  const { first, last } = await fineTune(model, loader, 40);
  expect(last).toBeLessThan(first * 0.5);
  const src = tensor([examples[0].src], { dtype: 'int32' });
  roundTrip(model, tokenizer, (m) => m.forward(src, tensor([[2, ...examples[0].tgt]], { dtype: 'int32' })));
  model.dispose();
}, 60000);
