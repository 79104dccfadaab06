// Fine-tunes a Hugging Face BERT folder as a spam/ham classifier on the SpamAssassin e-mails that
// examples/classify/prepare-spam.js writes, with this library's Trainer, then saves the result as a Hugging
// Face folder (BertForSequenceClassification) that transformers loads, and scores it on the test split.
// Usage: node examples/finetune/finetune-classifier.js [--model DIR] [--data DIR] [--out DIR] [--max-train N]
//          [--max-len N] [--epochs N] [--lr X] [--batch-size N]
// --model defaults to the tiny random BERT the tests use (test/golden/hf/bert), so the run takes seconds; give a
// real folder such as bert-base-uncased (see the README) for a real classifier.
const fs = require('node:fs');
const path = require('node:path');
const { models, DataLoader, noGrad, tidy, manualSeed } = require('../..');
const { classificationBatch, fineTune, parseArgs } = require('./common');

const ROOT = path.join(__dirname, '..', '..');
const DEFAULTS = {
  model: path.join(ROOT, 'test', 'golden', 'hf', 'bert'),
  data: 'data/spam',
  out: 'runs/finetune-bert',
  maxTrain: 1000,
  maxLen: 64,
  epochs: 1,
  lr: 5e-5,
  batchSize: 16,
};

function readRows(file, limit = Infinity) {
  if (!fs.existsSync(file)) throw new Error(`${file} not found: run examples/classify/prepare-spam.js first`);
  const rows = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
  return rows.slice(0, limit);
}

async function main() {
  const o = parseArgs(process.argv.slice(2), DEFAULTS);
  manualSeed(0);
  const labels = ['ham', 'spam'];
  // An encoder folder (BertModel, BertForMaskedLM) gets a new two-way head; a classifier folder keeps its own.
  const { model, tokenizer, config } = models.fromHuggingFace(o.model, { numLabels: labels.length });
  if (tokenizer === null) throw new Error(`${o.model} has no tokenizer.json`);
  const maxLen = Math.min(o.maxLen, model.config.maxLen);
  // [CLS] text [SEP], cut to maxLen keeping [SEP].
  const encode = (text) => {
    const ids = tokenizer.encode(text, { addSpecialTokens: true });
    return ids.length <= maxLen ? ids : [...ids.slice(0, maxLen - 1), ids[ids.length - 1]];
  };
  const examples = (file, limit) =>
    readRows(path.join(o.data, file), limit).map((r) => ({ ids: encode(r.text), label: labels.indexOf(r.label) }));
  const collate = (batch, indices) => classificationBatch(batch, tokenizer.padId, indices);
  const train = new DataLoader(examples('train.jsonl', o.maxTrain), {
    batchSize: o.batchSize,
    shuffle: true,
    collate,
  });
  const test = examples('test.jsonl');
  console.log(
    `fine-tuning ${path.basename(o.model)} (${model.numParameters().toLocaleString('en-US')} parameters) on ${train.length * o.batchSize} e-mails`,
  );
  await fineTune(model, tokenizer, train, { out: o.out, lr: o.lr, epochs: o.epochs, weightDecay: 0.01 });

  model.eval();
  let correct = 0;
  noGrad(() => {
    for (let i = 0; i < test.length; i += 64)
      tidy(() => {
        const batch = collate(test.slice(i, i + 64), []);
        const predicted = model.forward(batch.input, { keyPaddingMask: batch.keyPaddingMask }).argmax(-1).toArray();
        predicted.forEach((p, j) => (correct += p === test[i + j].label ? 1 : 0));
      });
  });
  console.log(`test accuracy ${((100 * correct) / test.length).toFixed(1)}% on ${test.length} e-mails`);

  const hfDir = path.join(o.out, 'hf');
  models.saveHuggingFace(model, hfDir, {
    tokenizer,
    config: {
      ...config,
      id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
      label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    },
  });
  console.log(`saved ${hfDir} (BertForSequenceClassification)`);
  model.dispose();
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
