'use strict';
// The classical baseline of the classify example: multinomial naive Bayes on lower-cased word counts with
// add-one smoothing (naive-bayes.js), trained on train.jsonl and scored on test.jsonl of the same split
// (prepare-spam.js), so its accuracy compares with `transformer-native eval --task classify` on test.jsonl.
// Usage: node examples/classify/baseline.js [DATA_DIR (default data/spam)]
const fs = require('node:fs');
const path = require('node:path');
const { predict, trainNaiveBayes } = require('./naive-bayes');

const dir = process.argv[2] ?? 'data/spam';

function readRows(name) {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) {
    console.error(`no ${file}: run node examples/classify/prepare-spam.js ${dir} first`);
    process.exit(2);
  }
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

const model = trainNaiveBayes(readRows('train.jsonl'));
const test = readRows('test.jsonl');
const correct = test.filter((row) => predict(model, row.text) === String(row.label)).length;
console.log(
  `naive Bayes (lower-cased word counts, add-one smoothing), ${model.vocabulary.size} words: ` +
    `accuracy ${(correct / test.length).toFixed(4)} on ${dir}/test.jsonl (${correct} of ${test.length})`,
);
