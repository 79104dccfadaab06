// The library side of the G2P task: load a checkpoint trained by `transformer-native g2p train` and pronounce
// words with beam search. Usage: node examples/g2p/predict.js CHECKPOINT_DIR word [word...], where CHECKPOINT_DIR
// is one checkpoint folder: a training run's best/ (chosen on dev) or one of its checkpoints/step-N.
const { g2p, loadCheckpoint, modelFromConfig, noGrad } = require('../..');

const [dir, ...words] = process.argv.slice(2);
if (!dir || words.length === 0) {
  console.error('usage: node examples/g2p/predict.js CHECKPOINT_DIR word [word...]');
  process.exit(2);
}
const checkpoint = loadCheckpoint(dir);
const model = modelFromConfig(checkpoint.config);
model.loadStateDict(checkpoint.modelState);
model.eval();
const tokenizers = { graphemes: checkpoint.tokenizers.src, phonemes: checkpoint.tokenizers.tgt };
const phonemes = noGrad(() => g2p.predictG2P(model, tokenizers, words, { beamSize: 5 }));
words.forEach((word, i) => console.log(`${word}\t${phonemes[i].join(' ')}`));
model.dispose();
checkpoint.dispose();
