// The library side of the G2P task: load a checkpoint trained by `transformer-native g2p train` and pronounce
// words with beam search. Usage: node examples/g2p/predict.js CHECKPOINT_DIR word [word...]
const { g2p, loadCheckpoint, latestCheckpoint, modelFromConfig, noGrad } = require('../..');
const fs = require('node:fs');
const path = require('node:path');

const [dir, ...words] = process.argv.slice(2);
if (!dir || words.length === 0) {
  console.error('usage: node examples/g2p/predict.js CHECKPOINT_DIR word [word...]');
  process.exit(2);
}
// A checkpoint folder is used as is; a training folder gives its best/ (chosen on dev), else its latest checkpoint.
const isCheckpoint = (d) => fs.existsSync(path.join(d, 'trainer_state.json'));
const best = path.join(dir, 'best');
const chosen = isCheckpoint(dir) ? dir : isCheckpoint(best) ? best : latestCheckpoint(path.join(dir, 'checkpoints'));
if (chosen === null) {
  console.error(`no checkpoint in ${dir}`);
  process.exit(1);
}
const checkpoint = loadCheckpoint(chosen);
const model = modelFromConfig(checkpoint.config);
model.loadStateDict(checkpoint.modelState);
model.eval();
const tokenizers = { graphemes: checkpoint.tokenizers.src, phonemes: checkpoint.tokenizers.tgt };
const phonemes = noGrad(() => g2p.predictG2P(model, tokenizers, words, { beamSize: 5 }));
words.forEach((word, i) => console.log(`${word}\t${phonemes[i].join(' ')}`));
model.dispose();
checkpoint.dispose();
