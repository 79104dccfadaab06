// Fine-tunes a Hugging Face GPT-2 folder on the demo's sentences (examples/demo/sentences.txt, in the repo) with
// this library's Trainer, shows a greedy continuation before and after, and saves the result as a Hugging Face
// folder (GPT2LMHeadModel) that transformers loads.
// Usage: node examples/finetune/finetune-gpt2.js [--model DIR] [--out DIR] [--steps N] [--lr X] [--block N]
// --model defaults to the tiny random GPT-2 the tests use (test/golden/hf/gpt2), so the run takes seconds; give a
// real folder such as gpt2 (see the README) to tune the real model.
const fs = require('node:fs');
const path = require('node:path');
const { models, LanguageModelDataLoader, greedy, noGrad, manualSeed } = require('../..');
const { fineTune, parseArgs } = require('./common');

const ROOT = path.join(__dirname, '..', '..');
const DEFAULTS = {
  model: path.join(ROOT, 'test', 'golden', 'hf', 'gpt2'),
  out: 'runs/finetune-gpt2',
  steps: 400,
  lr: 3e-3,
  block: 16,
};
const PROMPT = 'The cat sat on the';

function continuation(model, tokenizer) {
  const prompt = tokenizer.encode(PROMPT);
  const { sequences } = noGrad(() => greedy(model, [prompt], { maxLength: 4, eosId: null }));
  return tokenizer.decode(sequences[0]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2), DEFAULTS);
  manualSeed(0);
  const { model, tokenizer, config } = models.fromHuggingFace(o.model);
  if (tokenizer === null) throw new Error(`${o.model} has no tokenizer.json`);
  const sentences = fs
    .readFileSync(path.join(ROOT, 'examples', 'demo', 'sentences.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  // One stream with GPT-2's end-of-text token between sentences, as its pre-training documents were joined.
  const eos = typeof config.eos_token_id === 'number' ? config.eos_token_id : tokenizer.eosId;
  const stream = sentences.flatMap((s) => [...tokenizer.encode(s), eos]);
  const block = Math.min(o.block, model.config.contextLength);
  const loader = new LanguageModelDataLoader(stream, { blockSize: block, batchSize: 8, shuffle: true });
  console.log(`before: "${PROMPT}" -> "${PROMPT}${continuation(model, tokenizer)}"`);
  await fineTune(model, tokenizer, loader, { out: o.out, lr: o.lr, maxSteps: o.steps });
  model.eval();
  console.log(`after:  "${PROMPT}" -> "${PROMPT}${continuation(model, tokenizer)}"`);
  const hfDir = path.join(o.out, 'hf');
  models.saveHuggingFace(model, hfDir, { tokenizer, config });
  console.log(`saved ${hfDir} (GPT2LMHeadModel)`);
  model.dispose();
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
