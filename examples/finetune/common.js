// Pieces both fine-tuning scripts use: flags, the Trainer run, and classification batches.
const { optim, Trainer, tensor } = require('../..');

/** --name value pairs (kebab-case names of the keys of `defaults`), typed as the defaults are. */
function parseArgs(argv, defaults) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults) || argv[i + 1] === undefined) throw new Error(`unknown option or missing value: ${argv[i]}`);
    options[key] = typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return options;
}

/** Trains with AdamW and the Trainer's default loss for the loader's batches; checkpoints go to `out`. */
async function fineTune(model, tokenizer, trainLoader, { out, lr, maxSteps, epochs, weightDecay = 0 }) {
  const optimizer = new optim.AdamW(model.parameters(), { lr, weightDecay });
  const trainer = new Trainer({
    model,
    optimizer,
    trainLoader,
    maxSteps,
    epochs,
    clipGradNorm: 1,
    outDir: out,
    tokenizers: tokenizer,
    config: model.config,
    logEvery: 10,
  });
  try {
    return await trainer.train();
  } finally {
    optimizer.dispose();
  }
}

/** A classification batch of { ids, label } examples: ids padded with padId, the padding mask, the labels. */
function classificationBatch(examples, padId, indices = []) {
  const T = Math.max(...examples.map((e) => e.ids.length));
  return {
    input: tensor(
      examples.map((e) => [...e.ids, ...new Array(T - e.ids.length).fill(padId)]),
      { dtype: 'int32' },
    ),
    keyPaddingMask: tensor(
      examples.map((e) => Array.from({ length: T }, (_, t) => t >= e.ids.length)),
      { dtype: 'bool' },
    ),
    labels: tensor(
      examples.map((e) => e.label),
      { dtype: 'int32' },
    ),
    indices,
  };
}

module.exports = { classificationBatch, fineTune, parseArgs };
