'use strict';
// The classical baseline of the lm example: an interpolated Kneser-Ney character 5-gram (discount 0.75) trained
// on train.txt and scored on valid.txt of the same split (prepare-brown.js), in bits per character. The GPT's
// validation loss in nats per character divided by ln 2 is the figure to compare.
// Usage: node examples/lm/baseline.js [DATA_DIR (default data/brown)] [--order N] [--discount D]
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { bitsPerChar, trainKneserNey } = require('./kneser-ney');

const { values, positionals } = parseArgs({
  options: { order: { type: 'string', default: '5' }, discount: { type: 'string', default: '0.75' } },
  allowPositionals: true,
});
const dir = positionals[0] ?? 'data/brown';
const read = (name) => {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) {
    console.error(`no ${file}: run node examples/lm/prepare-brown.js ${dir} first`);
    process.exit(2);
  }
  return fs.readFileSync(file, 'utf8');
};
const train = read('train.txt');
const valid = read('valid.txt');
const model = trainKneserNey(train, {
  order: Number(values.order),
  discount: Number(values.discount),
  vocabulary: valid,
});
const bits = bitsPerChar(model, valid);
console.log(
  `Kneser-Ney ${model.n}-gram (discount ${model.discount}), ${model.vocabularySize} characters: ` +
    `${bits.toFixed(4)} bits/char on ${dir}/valid.txt (${(bits * Math.LN2).toFixed(4)} nats/char)`,
);
