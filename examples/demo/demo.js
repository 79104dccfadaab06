// The first demo: a small decoder-only Transformer (GPT) learns a handful of sentences in a few seconds, then
// continues "The cat sat on the" and "The dog slept on the". In the sentences cats sit and sleep on the mat and
// dogs on the rug, and "on the", "sat on the" and "slept on the" are followed by "mat" and "rug" equally often:
// only a model that looks back to the subject gets both right. Run it with `npm run demo`.
const fs = require('node:fs');
const path = require('node:path');
const { GPT, WordTokenizer, greedy, optim, F, tensor, tidy, manualSeed, noGrad } = require('../..');

manualSeed(0);
const text = fs.readFileSync(path.join(__dirname, 'sentences.txt'), 'utf8');
const sentences = text.split('\n').filter((line) => line.trim() !== '');
const tokenizer = WordTokenizer.fromCorpus(sentences, { lowercase: true });

// One stream of words with an end-of-sentence token between sentences, cut into overlapping windows.
const stream = sentences.flatMap((s) => [...tokenizer.encode(s), tokenizer.eosId]);
const contextLength = 12;
const windows = [];
for (let start = 0; start + contextLength < stream.length; start++)
  windows.push(stream.slice(start, start + contextLength + 1));

const model = new GPT({
  vocabSize: tokenizer.vocabSize,
  contextLength,
  dModel: 64,
  nhead: 4,
  numLayers: 2,
  dropout: 0,
  seed: 1,
});
const optimizer = new optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
console.log(
  `training a ${model.numParameters().toLocaleString('en-US')}-parameter GPT on ${sentences.length} sentences (${tokenizer.vocabSize} words)`,
);

// A seeded generator picks the windows, so every run trains the same way.
let state = 12345;
const random = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 4294967296;
};

const started = Date.now();
for (let step = 1; step <= 300; step++) {
  const loss = tidy(() => {
    const batch = Array.from({ length: 16 }, () => windows[Math.floor(random() * windows.length)]);
    const input = tensor(
      batch.map((w) => w.slice(0, -1)),
      { dtype: 'int32' },
    );
    const target = tensor(
      batch.map((w) => w.slice(1)),
      { dtype: 'int32' },
    );
    const logits = model.forward(input);
    const l = F.crossEntropy(logits.reshape(-1, tokenizer.vocabSize), target.reshape(-1));
    l.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return l.item();
  });
  if (step % 50 === 0) console.log(`step ${step}  loss ${loss.toFixed(3)}`);
}
console.log(`trained in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const expected = { 'The cat sat on the': 'mat', 'The dog slept on the': 'rug' };
for (const [prompt, word] of Object.entries(expected)) {
  const { sequences } = noGrad(() =>
    greedy(model, [tokenizer.encode(prompt)], { maxLength: 4, eosId: tokenizer.eosId }),
  );
  const continuation = tokenizer.decode(sequences[0]);
  console.log(`"${prompt}" -> "${prompt} ${continuation}"`);
  if (tokenizer.idToToken(sequences[0][0]) !== word) {
    console.error(`the model did not continue "${prompt}" with "${word}"`);
    process.exitCode = 1;
  }
}
model.dispose();
optimizer.dispose();
